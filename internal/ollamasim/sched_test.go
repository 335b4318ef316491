package ollamasim

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestEvictsLeastRecentlyUsedForMemory(t *testing.T) {
	n := startNode(t, 1000, nil)
	generate(t, n, "mid:8b", "")   // 9000 MiB
	generate(t, n, "big:14b", "")  // 10000 MiB, 19000 used
	generate(t, n, "mid:8b", "")   // mid is now the most recently used
	generate(t, n, "small:1b", "") // 1000 MiB fits: 20000 used
	if got := loaded(t, n); !slices.Equal(got, []string{"small:1b", "mid:8b", "big:14b"}) {
		t.Fatalf("loaded %v", got)
	}
	// 24576-20000 < 9000: another 9 GB model needs room; big:14b is the least recently used.
	n.cfg.Models = append(n.cfg.Models, Model{Name: "other:8b", SizeMB: 9000})
	n.models["other:8b"] = &n.cfg.Models[len(n.cfg.Models)-1]
	generate(t, n, "other:8b", "")
	if got := loaded(t, n); !slices.Equal(got, []string{"other:8b", "small:1b", "mid:8b"}) {
		t.Fatalf("loaded %v, want big:14b evicted", got)
	}
	if s := n.Stats(); s.ColdLoads != 4 || s.Evictions != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestMaxLoadedModelsEvictsLeastRecentlyUsed(t *testing.T) {
	n := startNode(t, 1000, func(c *Config) { c.MaxLoaded = 2 })
	generate(t, n, "small:1b", "")
	generate(t, n, "mid:8b", "")
	generate(t, n, "small:1b", "")
	generate(t, n, "big:14b", "")
	if got := loaded(t, n); !slices.Equal(got, []string{"big:14b", "small:1b"}) {
		t.Fatalf("loaded %v, want mid:8b evicted", got)
	}
}

func TestKeepAlive(t *testing.T) {
	n := startNode(t, 1000, nil)
	generate(t, n, "small:1b", `,"keep_alive":0`)
	if got := loaded(t, n); len(got) != 0 {
		t.Fatalf("keep_alive 0 left %v loaded", got)
	}
	generate(t, n, "small:1b", `,"keep_alive":"20s"`)
	generate(t, n, "mid:8b", `,"keep_alive":-1`)
	if got := loaded(t, n); len(got) != 2 {
		t.Fatalf("loaded %v", got)
	}
	time.Sleep(40 * time.Millisecond) // 40 simulated seconds
	if got := loaded(t, n); !slices.Equal(got, []string{"mid:8b"}) {
		t.Fatalf("after the keep-alive: loaded %v, want only the model kept forever", got)
	}
	n2 := startNode(t, 1000, func(c *Config) { c.KeepAlive = 10 * time.Second })
	generate(t, n2, "small:1b", "")
	time.Sleep(30 * time.Millisecond)
	if got := loaded(t, n2); len(got) != 0 {
		t.Fatalf("node keep-alive 10s: still loaded %v", got)
	}
}

// totals runs k generate requests of model at once and returns their total_duration, shortest first.
func totals(t *testing.T, n *Node, model string, tokens, k int) []time.Duration {
	var mu sync.Mutex
	var out []time.Duration
	var wg sync.WaitGroup
	for range k {
		wg.Go(func() {
			f := askOK(t, n, "/api/generate", fmt.Sprintf(`{"model":%q,"prompt":"x","stream":false,"options":{"num_predict":%d}}`, model, tokens))
			mu.Lock()
			out = append(out, time.Duration(f.Total))
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.Sort(out)
	return out
}

func TestNumParallelQueues(t *testing.T) {
	// A 100-token answer of small:1b (100 tokens/s) takes 1 s. With one slot, the fourth request waits for three
	// answers; with four, none waits.
	n := startNode(t, 20, fast)
	generate(t, n, "small:1b", "")
	if got := totals(t, n, "small:1b", 100, 4); got[3] < 3500*time.Millisecond {
		t.Errorf("with one slot the last of 4 took %s, want about 4s", got[3])
	}
	n4 := startNode(t, 20, func(c *Config) { c.NumParallel = 4; fast(c) })
	generate(t, n4, "small:1b", "")
	if got := totals(t, n4, "small:1b", 100, 4); got[3] > 2500*time.Millisecond {
		t.Errorf("with four slots the last of 4 took %s, want about 1s × 4/2.5", got[3])
	}
}

func TestColdLoadTakesTimeProportionalToSize(t *testing.T) {
	n := startNode(t, 100, func(c *Config) { c.LoadBase = time.Nanosecond; c.LoadMBps = 1000 })
	body := `{"model":"mid:8b","prompt":"x","stream":false,"options":{"num_predict":1}}`
	if f := askOK(t, n, "/api/generate", body); !near(time.Duration(f.Load), 9*time.Second, 0.1) {
		t.Fatalf("cold load of 9000 MiB at 1000 MiB/s: load_duration %s, want 9s", time.Duration(f.Load))
	}
	if f := askOK(t, n, "/api/generate", body); time.Duration(f.Load) > 500*time.Millisecond {
		t.Fatalf("warm request: load_duration %s", time.Duration(f.Load))
	}
}

func TestLoadWaitsForBusyModelsToMakeRoom(t *testing.T) {
	n := startNode(t, 100, func(c *Config) { c.GPUs = []GPU{{Name: "12G", VRAMMB: 12288}} })
	done := make(chan struct{})
	go func() {
		defer close(done)
		// 10000 MiB busy for 2000 tokens / 40 per s = 50 s simulated, 0.5 s real.
		status, _, body := post(t, n, "/api/generate", `{"model":"big:14b","prompt":"x","stream":false,"options":{"num_predict":2000}}`)
		if status != 200 {
			t.Errorf("big: %d %s", status, body)
		}
	}()
	for len(loaded(t, n)) == 0 {
		time.Sleep(time.Millisecond)
	}
	generate(t, n, "mid:8b", "") // cannot fit beside big:14b: waits for it, then evicts it
	select {
	case <-done:
	default:
		t.Fatal("mid:8b was served while big:14b still held the memory")
	}
	if got := loaded(t, n); !slices.Equal(got, []string{"mid:8b"}) {
		t.Fatalf("loaded %v", got)
	}
}

func TestSplitsAModelAcrossGPUs(t *testing.T) {
	n := startNode(t, 1000, func(c *Config) { c.GPUs = []GPU{{Name: "a", VRAMMB: 8192}, {Name: "b", VRAMMB: 8192}} })
	generate(t, n, "big:14b", "")
	st := n.State()
	if st.GPUs[0].MemoryUsedMB != 5000 || st.GPUs[1].MemoryUsedMB != 5000 {
		t.Fatalf("10000 MiB over two empty 8 GiB GPUs: %+v", st.GPUs)
	}
}
