package gpustats

import "testing"

func TestNewNode(t *testing.T) {
	r := &Report{Vendor: VendorNVIDIA, NodeID: "n:1", Timestamp: 1764230000.5, Draining: true,
		GPUs: []GPU{{MemoryTotalMB: 24576, MemoryFreeMB: 20000, UtilizationPct: 20},
			{MemoryTotalMB: 24576, MemoryFreeMB: 1000, UtilizationPct: 60}},
		Ollama: &Ollama{Reachable: true, NumParallel: 4, RAMMB: 64206,
			Loaded:    []LoadedModel{{Name: "Llama3", SizeMB: 5200, SizeVRAMMB: 5000}},
			Installed: []InstalledModel{{Name: "llama3:latest", SizeMB: 4700}, {Name: "qwen2.5:7b", SizeMB: 4500}}}}
	n := NewNode(r, nil)
	if !n.GPU || !n.MemoryKnown || n.TotalMB != 49152 || n.FreeMB != 21000 || n.UtilizationPct != 40 || !n.Draining ||
		!n.InstalledKnown || n.NumParallel != 4 || n.RAMMB != 64206 || n.UpdatedUnixNano() != 1764230000500000000 {
		t.Errorf("node %+v", n)
	}
	if m := n.Model("llama3:latest"); m != (ModelInfo{SizeMB: 5200, SizeVRAMMB: 5000, DiskMB: 4700, Loaded: true, Installed: true}) {
		t.Errorf("llama3: %+v", m)
	}
	if m := n.Model("qwen2.5:7b"); m != (ModelInfo{DiskMB: 4500, Installed: true}) {
		t.Errorf("qwen2.5: %+v", m)
	}

	// A report without the ollama member, or a member without the new fields (SOLLOL's, older reporters): unknown.
	r.Ollama = &Ollama{Reachable: true}
	if n := NewNode(r, nil); n.NumParallel != 0 || n.RAMMB != 0 || n.InstalledKnown {
		t.Errorf("node without the members: %+v", n)
	}
	r.Ollama, r.GPUs[1].MemoryFreeMB = nil, Unknown
	if n := NewNode(r, nil); n.MemoryKnown || n.TotalMB != 24576 || n.Model("llama3:latest").Loaded {
		t.Errorf("node without ollama, one GPU's memory unknown: %+v", n)
	}
}

// A model loaded in reports in a row is loaded since the first of them; a report without it starts over.
func TestLoadedSince(t *testing.T) {
	report := func(ts float64, loaded ...string) *Report {
		o := &Ollama{Reachable: true}
		for _, m := range loaded {
			o.Loaded = append(o.Loaded, LoadedModel{Name: m, SizeMB: 5000, SizeVRAMMB: 5000})
		}
		return &Report{Vendor: VendorNVIDIA, NodeID: "n:1", Timestamp: ts, Ollama: o}
	}
	a := NewNode(report(100, "llama3"), nil)
	b := NewNode(report(105, "llama3", "qwen2.5:7b"), a)
	c := NewNode(report(110, "qwen2.5:7b"), b)
	d := NewNode(report(115, "llama3", "qwen2.5:7b"), c)
	for _, tc := range []struct {
		n     *Node
		model string
		want  int64
	}{{a, "llama3:latest", 100}, {b, "llama3:latest", 100}, {b, "qwen2.5:7b", 105}, {c, "llama3:latest", 0},
		{c, "qwen2.5:7b", 105}, {d, "llama3:latest", 115}, {d, "qwen2.5:7b", 105}} {
		if got := tc.n.LoadedSinceNS(tc.model); got != tc.want*1e9 {
			t.Errorf("report at %v: %s loaded since %d, want %d s", tc.n.Report.Timestamp, tc.model, got, tc.want)
		}
	}
}
