package lbpolicy

import (
	"testing"
	"time"

	"github.com/sollol-go/sollol/gpustats"
)

// t0 is when every test's reports are taken unless aged; requests are routed at t0 too unless said otherwise.
var t0 = time.Unix(1_764_230_000, 0)

type opt func(*gpustats.Report)

// node builds a fresh report from an NVIDIA node whose Ollama is reachable and did not list installed models.
func node(id string, opts ...opt) *gpustats.Node {
	r := &gpustats.Report{Vendor: gpustats.VendorNVIDIA, NodeID: id, Timestamp: gpustats.Timestamp(t0),
		Ollama: &gpustats.Ollama{Reachable: true}}
	for _, o := range opts {
		o(r)
	}
	return gpustats.NewNode(r, nil)
}

// gpu adds a GPU with total and free MiB.
func gpu(totalMB, freeMB float64) opt {
	return func(r *gpustats.Report) {
		r.GPUs = append(r.GPUs, gpustats.GPU{Index: len(r.GPUs), Name: "test",
			MemoryTotalMB: gpustats.Measure(totalMB), MemoryFreeMB: gpustats.Measure(freeMB),
			MemoryUsedMB: gpustats.Measure(totalMB - freeMB), UtilizationPct: gpustats.Unknown,
			TemperatureC: gpustats.Unknown, PowerW: gpustats.Unknown})
	}
}

// free adds a 24 GiB GPU with freeMB free.
func free(freeMB float64) opt { return gpu(24576, freeMB) }

// memoryUnknown adds a GPU that reports no memory figures.
func memoryUnknown(r *gpustats.Report) {
	r.GPUs = append(r.GPUs, gpustats.GPU{Index: len(r.GPUs), Name: "test", MemoryTotalMB: gpustats.Unknown,
		MemoryFreeMB: gpustats.Unknown, MemoryUsedMB: gpustats.Unknown, UtilizationPct: gpustats.Unknown,
		TemperatureC: gpustats.Unknown, PowerW: gpustats.Unknown})
}

func cpuOnly(r *gpustats.Report) {
	r.Vendor, r.GPUs, r.Note = gpustats.VendorNone, nil, "CPU-only mode"
}

func draining(r *gpustats.Report) { r.Draining = true }

func noOllama(r *gpustats.Report) { r.Ollama = nil }

// util sets every GPU's utilisation; use after the GPUs.
func util(pct float64) opt {
	return func(r *gpustats.Report) {
		for i := range r.GPUs {
			r.GPUs[i].UtilizationPct = gpustats.Measure(pct)
		}
	}
}

// age makes the report d old at t0; negative d puts it in the future.
func age(d time.Duration) opt {
	return func(r *gpustats.Report) { r.Timestamp = gpustats.Timestamp(t0.Add(-d)) }
}

func loaded(name string, sizeMB, vramMB float64) opt {
	return func(r *gpustats.Report) {
		r.Ollama.Loaded = append(r.Ollama.Loaded, gpustats.LoadedModel{Name: name, SizeMB: sizeMB, SizeVRAMMB: vramMB})
	}
}

// installed lists models on disk; with no arguments it reports that the node has none.
func installed(models ...gpustats.InstalledModel) opt {
	return func(r *gpustats.Report) { r.Ollama.Installed = append([]gpustats.InstalledModel{}, models...) }
}

func model(name string, sizeMB float64) gpustats.InstalledModel {
	return gpustats.InstalledModel{Name: name, SizeMB: sizeMB}
}

// parallel sets the report's num_parallel.
func parallel(n int) opt { return func(r *gpustats.Report) { r.Ollama.NumParallel = n } }

// ram sets the report's ram_mb.
func ram(mb float64) opt { return func(r *gpustats.Report) { r.Ollama.RAMMB = mb } }

// up is an available upstream.
func up(n *gpustats.Node) Candidate { return Candidate{Node: n, Available: true} }

func busy(n *gpustats.Node, inFlight int) Candidate {
	return Candidate{Node: n, Available: true, InFlight: inFlight}
}

func down(n *gpustats.Node) Candidate { return Candidate{Node: n} }

func tried(c Candidate) Candidate { c.Tried = true; return c }

// withState gives every candidate a State of its own.
func withState(cs ...Candidate) []Candidate {
	for i := range cs {
		cs[i].State = new(State)
	}
	return cs
}

// keepFirst is a tie-breaker that keeps the first of tied candidates, for deterministic tables.
func keepFirst() uint64 { return 1 }

type selectCase struct {
	name   string
	cfg    Config
	model  string
	cands  []Candidate
	want   int
	reason Reason
}

func runCases(t *testing.T, cases []selectCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := NewSelector(tc.cfg, keepFirst)
			d := s.Select(tc.cands, Request{Model: tc.model, Now: t0})
			if d.Index != tc.want || d.Reason != tc.reason {
				t.Errorf("Select = index %d reason %s (%.2fs = wait %.2f + load %.2f + run %.2f), want index %d reason %s",
					d.Index, d.Reason, d.Seconds, d.Wait, d.Load, d.Run, tc.want, tc.reason)
			}
		})
	}
}
