package ollamasim

import (
	"slices"
	"testing"
	"time"
)

// TestSpillsToSystemMemoryWhenLargerThanTheGPUs loads a 40000 MiB model on a 24 GiB GPU with the default 32 GiB
// of system memory: 24576 MiB on the GPU, the rest on the CPU, which /api/ps and the reporter's state show, and
// it generates slower by the share on the CPU.
func TestSpillsToSystemMemoryWhenLargerThanTheGPUs(t *testing.T) {
	n := startNode(t, 1000, fast)
	f := askOK(t, n, "/api/generate", `{"model":"huge:70b","prompt":"x","stream":false,"options":{"num_predict":100}}`)
	var ps struct{ Models []psEntry }
	getJSON(t, n, "/api/ps", &ps)
	if len(ps.Models) != 1 || ps.Models[0].Size != 40000<<20 || ps.Models[0].SizeVRAM != 24576<<20 {
		t.Fatalf("/api/ps %+v: want size 40000 MiB, size_vram 24576 MiB", ps.Models)
	}
	if g := n.State().GPUs[0]; g.MemoryUsedMB != 24576 || g.MemoryFreeMB != 0 {
		t.Errorf("GPU state %+v: only the part on the GPU counts", g)
	}
	share := (40000.0 - 24576) / 40000
	want := time.Duration(100.0 / 10 * (1 + (CPUSlowdown-1)*share) * float64(time.Second)) // 10 tokens/s on the GPU
	if got := time.Duration(f.EvalDuration); !near(got, want, 1e-6) {
		t.Errorf("100 tokens with %.0f%% on the CPU took %s, want %s", 100*share, got, want)
	}
}

// TestSpillsOnlyOnceAlone: as Ollama's scheduler, a model that cannot fit the GPUs beside others makes the idle
// ones unload before it spills, and waits for busy ones to finish.
func TestSpillsOnlyOnceAlone(t *testing.T) {
	n := startNode(t, 100, fast)
	generate(t, n, "small:1b", "")
	generate(t, n, "mid:8b", "")
	done := make(chan struct{})
	go func() {
		defer close(done)
		askOK(t, n, "/api/generate", `{"model":"mid:8b","prompt":"x","stream":false,"options":{"num_predict":500}}`) // 10 s
	}()
	waitFor(t, n, "mid:8b busy", func() bool { return n.running == 1 })
	generate(t, n, "huge:70b", "")
	select {
	case <-done:
	default:
		t.Fatal("huge:70b loaded beside a busy mid:8b")
	}
	if got := loaded(t, n); !slices.Equal(got, []string{"huge:70b"}) {
		t.Fatalf("loaded %v, want huge:70b alone", got)
	}
	if s := n.Stats(); s.Evictions != 2 {
		t.Errorf("stats %+v, want both others unloaded", s)
	}
}
