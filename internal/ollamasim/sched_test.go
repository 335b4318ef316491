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

// timed runs k generate requests of model at once and returns their wall-clock durations, in order of finishing.
func timed(t *testing.T, n *Node, model string, tokens, k int) []time.Duration {
	var mu sync.Mutex
	var out []time.Duration
	var wg sync.WaitGroup
	for range k {
		wg.Go(func() {
			start := time.Now()
			status, _, body := post(t, n, "/api/generate", fmt.Sprintf(`{"model":%q,"prompt":"x","stream":false,"options":{"num_predict":%d}}`, model, tokens))
			if status != 200 {
				t.Errorf("%d %s", status, body)
			}
			d := time.Since(start)
			mu.Lock()
			out = append(out, d)
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.Sort(out)
	return out
}

func TestNumParallelQueues(t *testing.T) {
	// At scale 20 a 100-token answer of small:1b (100 tokens/s) takes 1 s simulated, 50 ms real. With one slot,
	// the fourth request waits for three answers.
	n := startNode(t, 20, func(c *Config) { c.NumParallel = 1; c.LoadBase = 0; c.LoadMBps = 1e9 })
	generate(t, n, "small:1b", "") // loaded
	single := timed(t, n, "small:1b", 100, 1)[0]
	got := timed(t, n, "small:1b", 100, 4)
	if got[3] < 3*single {
		t.Errorf("with one slot the last of 4 took %s, want ≥ 3×%s", got[3], single)
	}
	n4 := startNode(t, 20, func(c *Config) { c.NumParallel = 4; c.LoadBase = 0; c.LoadMBps = 1e9 })
	generate(t, n4, "small:1b", "")
	if got := timed(t, n4, "small:1b", 100, 4); got[3] > 3*single {
		t.Errorf("with four slots the last of 4 took %s, want about %s", got[3], single)
	}
}

func TestColdLoadTakesTimeProportionalToSize(t *testing.T) {
	n := startNode(t, 100, func(c *Config) { c.LoadBase = 0; c.LoadMBps = 1000 }) // 1 GB: 1 s simulated, 10 ms real
	start := time.Now()
	generate(t, n, "mid:8b", "") // 9000 MiB: 9 s simulated, 90 ms real
	if d := time.Since(start); d < 90*time.Millisecond {
		t.Fatalf("cold load of 9000 MiB at 1000 MiB/s took %s real at scale 100, want ≥ 90ms", d)
	}
	start = time.Now()
	generate(t, n, "mid:8b", "")
	if d := time.Since(start); d > 60*time.Millisecond {
		t.Fatalf("warm request took %s", d)
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
