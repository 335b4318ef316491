package gpustats

import (
	"strings"
	"time"
	"unicode/utf8"
)

// Node is an accepted report with the figures the policy needs worked out once, when the report arrives, so
// that choosing an upstream only reads them. Make one with NewNode and do not change it: every Select may be
// reading it. The fields that Select reads for every node come first, next to one another.
type Node struct {
	Report *Report
	models map[string]ModelInfo
	// TotalMB and FreeMB sum the GPUs with known memory.
	TotalMB, FreeMB float64
	// UtilizationPct is the mean utilisation of the GPUs that report one.
	UtilizationPct float64
	updatedNS      int64
	// GPU is true when the node has at least one GPU and is not a CPU-only node.
	GPU bool
	// MemoryKnown is true when every GPU reported its total and free memory.
	MemoryKnown bool
	// InstalledKnown is true when the node reported its installed models.
	InstalledKnown bool
	// Draining is the report's Draining.
	Draining bool

	// NumParallel is how many requests one loaded model serves at once (the report's ollama.num_parallel), and
	// RAMMB the node's system memory (ollama.ram_mb); each 0 when the report does not say.
	NumParallel int
	RAMMB       float64
	// Updated is the report's own timestamp.
	Updated time.Time
	// Polled is true for a node that the gateway made from the upstream's own Ollama API rather than from a
	// reporter's report (the Caddy module's ollama_poll); NewNode leaves it false.
	Polled bool
	// loadedNS is, per loaded model, when the first of the reports in a row that show it loaded was taken;
	// loaded lists them.
	loadedNS map[string]int64
	loaded   []string
}

// ModelInfo is what a node's report says about one model.
type ModelInfo struct {
	// SizeMB is the model's footprint when loaded, and SizeVRAMMB the part of it in GPU memory.
	SizeMB, SizeVRAMMB float64
	// DiskMB is the model's size on disk when installed.
	DiskMB float64
	// Loaded is true when Ollama holds the model in memory, Installed when the model is on disk.
	//
	// They come last so that the struct is 32 bytes, which the compiler copies in two moves that do not
	// overlap: Select reads one ModelInfo per node, and overlapping copies stalled it.
	Loaded, Installed bool
}

// NewNode derives a Node from a validated report. prev is the node's Node from its previous report, or nil: a
// model that both show loaded keeps the time prev first showed it (see LoadedSinceNS).
func NewNode(r *Report, prev *Node) *Node {
	n := &Node{Report: r, Updated: r.Time(), MemoryKnown: len(r.GPUs) > 0, Draining: r.Draining}
	n.updatedNS = n.Updated.UnixNano()
	n.GPU = len(r.GPUs) > 0 && r.Vendor != VendorNone
	var utilSum float64
	var utilN int
	for _, g := range r.GPUs {
		if g.MemoryTotalMB.Known() && g.MemoryFreeMB.Known() {
			n.TotalMB += float64(g.MemoryTotalMB)
			n.FreeMB += float64(g.MemoryFreeMB)
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
		n.NumParallel, n.RAMMB = o.NumParallel, o.RAMMB
		n.InstalledKnown = o.Installed != nil
		n.loadedNS = make(map[string]int64, len(o.Loaded))
		n.models = make(map[string]ModelInfo, len(o.Loaded)+len(o.Installed))
		for _, m := range o.Installed {
			name := CanonicalModel(m.Name)
			info := n.models[name]
			info.Installed, info.DiskMB = true, m.SizeMB
			n.models[name] = info
		}
		for _, m := range o.Loaded {
			name := CanonicalModel(m.Name)
			info := n.models[name]
			info.Loaded, info.SizeMB, info.SizeVRAMMB = true, m.SizeMB, m.SizeVRAMMB
			n.models[name] = info
			n.loadedNS[name] = n.updatedNS
			n.loaded = append(n.loaded, name)
			if since := prev.LoadedSinceNS(name); since != 0 && since < n.updatedNS {
				n.loadedNS[name] = since
			}
		}
	}
	return n
}

// LoadedModels names the models the report shows loaded (canonical, see CanonicalModel). The slice is the
// Node's: do not change it.
func (n *Node) LoadedModels() []string { return n.loaded }

// LoadedSinceNS is when the first of the node's reports in a row that show model loaded was taken (nanoseconds
// since the Unix epoch), 0 when the latest does not show it. A load that the policy started ended about half a
// report interval before it, which is how the policy learns load speeds even when the next request for the model
// comes much later.
func (n *Node) LoadedSinceNS(model string) int64 {
	if n == nil {
		return 0
	}
	return n.loadedNS[model]
}

// UpdatedUnixNano is Updated in nanoseconds since the Unix epoch, which Select compares on every node for every
// request faster than it would compare times.
func (n *Node) UpdatedUnixNano() int64 { return n.updatedNS }

// Age is how old the report is at now.
func (n *Node) Age(now time.Time) time.Duration { return now.Sub(n.Updated) }

// Model returns what the report says about model (canonical, see CanonicalModel), in one lookup.
func (n *Node) Model(model string) ModelInfo { return n.models[model] }

// CanonicalModel spells a model name the way Ollama lists it: lower case, with the tag ":latest" when none is
// given. "Llama3" and "llama3:latest" are the same model; "llama3:8b" is another.
func CanonicalModel(name string) string {
	if isCanonical(name) {
		return name
	}
	name = strings.ToLower(strings.TrimSpace(name))
	if name == "" {
		return ""
	}
	if strings.LastIndexByte(name, ':') <= strings.LastIndexByte(name, '/') {
		name += ":latest"
	}
	return name
}

// isCanonical reports, in one pass over its bytes, whether name is spelled as CanonicalModel spells it: the common
// case, since clients name models as Ollama lists them, and one that Caddy meets on every request. Names with
// anything but printable ASCII go the long way.
func isCanonical(name string) bool {
	colon, slash := -1, -1
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c <= ' ' || c >= utf8.RuneSelf || 'A' <= c && c <= 'Z':
			return false
		case c == ':':
			colon = i
		case c == '/':
			slash = i
		}
	}
	return colon > slash
}
