package ollamasim

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/sollol-go/sollol/reporter"
)

// TestRealReporterReportsTheSimulation runs the reporter's sim sampler and Ollama probe against a node.
func TestRealReporterReportsTheSimulation(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state.json")
	n := startNode(t, 1000, func(c *Config) { c.StateFile = state; c.NumParallel = 1 })
	generate(t, n, "mid:8b", `,"keep_alive":-1`)

	ctx := context.Background()
	s, err := reporter.Open(ctx, "sim", reporter.Options{SimState: state})
	if err != nil {
		t.Fatal(err)
	}
	r, err := reporter.New(reporter.Config{NodeID: n.Addr(), Sampler: s, Ollama: &reporter.OllamaProbe{URL: n.URL()}})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		rep := r.Collect(ctx)
		if err := rep.Validate(time.Now(), time.Second); err != nil {
			t.Fatal(err)
		}
		g := rep.GPUs[0]
		if g.MemoryUsedMB == 9000 {
			if g.MemoryTotalMB != 24576 || g.MemoryFreeMB != 24576-9000 || g.Name != "Sim 24G" || rep.Vendor != "nvidia" {
				t.Fatalf("%+v", g)
			}
			o := rep.Ollama
			if !o.Reachable || len(o.Loaded) != 1 || o.Loaded[0].Name != "mid:8b" || o.Loaded[0].SizeVRAMMB != 9000 ||
				len(o.Installed) != len(testModels) {
				t.Fatalf("%+v", o)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("state never showed the loaded model: %+v", g)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
