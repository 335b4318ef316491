package reporter

import (
	"context"
	"time"

	"github.com/sollol-go/sollol/gpustats"
)

// Notes a report may carry.
const (
	// NoteCPUOnly is SOLLOL's note for a node without a GPU.
	NoteCPUOnly = "CPU-only mode"
	// NoteOllamaOnCPU says that the node has GPUs but Ollama holds its loaded models in system memory.
	NoteOllamaOnCPU = "Ollama runs its loaded models on the CPU (size_vram 0)"
	// NoteGPUUnseen says that Ollama holds models in GPU memory that no sampler could read.
	NoteGPUUnseen = "Ollama holds models in GPU memory, but the GPU sampler sees no GPU"
)

// Collect samples the GPUs, probes Ollama and returns the report for this moment. It does not fail: a sampler
// error gives a report with vendor "unknown", no GPU and the error as its note, which is the truth as far as the
// reporter knows it.
func (r *Reporter) Collect(ctx context.Context) *gpustats.Report {
	reading, err := r.cfg.Sampler.Sample(ctx)
	rep := &gpustats.Report{
		Schema:    gpustats.Schema,
		NodeID:    r.cfg.NodeID,
		Hostname:  r.cfg.Hostname,
		Addresses: r.cfg.Addresses,
		IntervalS: r.cfg.Interval.Seconds(),
		Vendor:    reading.Vendor,
		GPUs:      reading.GPUs,
	}
	if err != nil {
		rep.Vendor, rep.GPUs = gpustats.VendorUnknown, nil
		rep.Note = truncate("GPU sampler "+r.cfg.Sampler.Name()+" failed: "+err.Error(), gpustats.MaxNoteLen)
	}
	if rep.Vendor == "" {
		rep.Vendor = gpustats.VendorUnknown
	}
	if rep.GPUs == nil {
		rep.GPUs = []gpustats.GPU{}
	}
	if r.cfg.Ollama != nil {
		rep.Ollama = r.cfg.Ollama.Probe(ctx)
	}
	if err == nil {
		classify(rep)
	}
	if r.cfg.Draining != nil {
		rep.Draining = r.cfg.Draining()
	}
	rep.Timestamp = gpustats.Timestamp(time.Now())
	r.cfg.Metrics.observe(rep)
	return rep
}

// classify sets the note, and the vendor where the GPUs and Ollama disagree, as SOLLOL would: a node without a GPU
// is "none" with the note "CPU-only mode". Unlike SOLLOL, a GPU with no model loaded stays a GPU.
func classify(rep *gpustats.Report) {
	var loaded, inVRAM int
	if rep.Ollama != nil && rep.Ollama.Reachable {
		for _, m := range rep.Ollama.Loaded {
			loaded++
			if m.SizeVRAMMB > 0 {
				inVRAM++
			}
		}
	}
	switch {
	case len(rep.GPUs) == 0 && inVRAM > 0:
		rep.Vendor, rep.Note = gpustats.VendorUnknown, NoteGPUUnseen
	case len(rep.GPUs) == 0:
		rep.Vendor, rep.Note = gpustats.VendorNone, NoteCPUOnly
	case loaded > 0 && inVRAM == 0:
		rep.Note = NoteOllamaOnCPU
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
