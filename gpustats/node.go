package gpustats

import (
	"strings"
	"time"
)

// Node is an accepted report with the figures the policy needs worked out once, when the report arrives, so
// that choosing an upstream only reads them.
type Node struct {
	Report *Report
	// Updated is the report's own timestamp; Received is when this process accepted it.
	Updated, Received time.Time
	// GPU is true when the node has at least one GPU and is not a CPU-only node.
	GPU bool
	// MemoryKnown is true when every GPU reported its total and free memory.
	MemoryKnown bool
	// TotalMB and FreeMB sum the GPUs with known memory; MaxGPUFreeMB is the most free on any one of them.
	TotalMB, FreeMB, MaxGPUFreeMB float64
	// UtilizationPct is the mean utilisation of the GPUs that report one.
	UtilizationPct float64

	loaded    map[string]LoadedModel
	installed map[string]float64
}

// NewNode derives a Node from a validated report.
func NewNode(r *Report, received time.Time) *Node {
	n := &Node{Report: r, Updated: r.Time(), Received: received, MemoryKnown: len(r.GPUs) > 0}
	n.GPU = len(r.GPUs) > 0 && r.Vendor != VendorNone
	var utilSum float64
	var utilN int
	for _, g := range r.GPUs {
		if g.MemoryTotalMB.Known() && g.MemoryFreeMB.Known() {
			n.TotalMB += float64(g.MemoryTotalMB)
			n.FreeMB += float64(g.MemoryFreeMB)
			n.MaxGPUFreeMB = max(n.MaxGPUFreeMB, float64(g.MemoryFreeMB))
		} else {
			n.MemoryKnown = false
		}
		if g.UtilizationPct.Known() {
			utilSum += float64(g.UtilizationPct)
			utilN++
		}
	}
	if utilN > 0 {
		n.UtilizationPct = utilSum / float64(utilN)
	}
	if o := r.Ollama; o != nil {
		n.loaded = make(map[string]LoadedModel, len(o.Loaded))
		for _, m := range o.Loaded {
			n.loaded[CanonicalModel(m.Name)] = m
		}
		if o.Installed != nil {
			n.installed = make(map[string]float64, len(o.Installed))
			for _, m := range o.Installed {
				n.installed[CanonicalModel(m.Name)] = m.SizeMB
			}
		}
	}
	return n
}

// Age is how old the report is at now.
func (n *Node) Age(now time.Time) time.Duration { return now.Sub(n.Updated) }

// Loaded returns the loaded model named model (canonical, see CanonicalModel).
func (n *Node) Loaded(model string) (LoadedModel, bool) {
	m, ok := n.loaded[model]
	return m, ok
}

// Installed says whether the node has model (canonical) on disk, and its size. known is false when the node did
// not report its installed models, in which case installed is meaningless.
func (n *Node) Installed(model string) (sizeMB float64, installed, known bool) {
	if n.installed == nil {
		return 0, false, false
	}
	sizeMB, installed = n.installed[model]
	return sizeMB, installed, true
}

// ModelSizeMB is the memory model (canonical) takes on this node when loaded, as far as the node knows: the loaded
// size when resident, else the size on disk.
func (n *Node) ModelSizeMB(model string) (float64, bool) {
	if m, ok := n.loaded[model]; ok {
		return m.SizeMB, true
	}
	s, ok := n.installed[model]
	return s, ok
}

// CanonicalModel spells a model name the way Ollama lists it: lower case, with the tag ":latest" when none is
// given. "Llama3" and "llama3:latest" are the same model; "llama3:8b" is another.
func CanonicalModel(name string) string {
	name = strings.ToLower(strings.TrimSpace(name))
	if name == "" {
		return ""
	}
	if strings.LastIndexByte(name, ':') <= strings.LastIndexByte(name, '/') {
		name += ":latest"
	}
	return name
}
