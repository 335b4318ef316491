package caddymodule_test

import (
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sollol-go/sollol/internal/redistest"
)

// TestHundredReloadsUnderLoad reloads the configuration 100 times while clients keep sending requests and a
// reporter keeps publishing: every response is a 200, and afterwards this project's goroutines, the Redis
// connections and the heap are back to where they were. Connections that Caddy's server closes while it swaps
// configurations (a keep-alive connection closed as the client reuses it) are counted but are not the policy's
// doing: they happen with any policy.
func TestHundredReloadsUnderLoad(t *testing.T) {
	rds := redistest.Start(t)
	a, b := newOllama(t, "a"), newOllama(t, "b")
	stopReports, _ := reporterLoop(t, rds, a, b, 100*time.Millisecond)
	policy := func(i int) string {
		return fmt.Sprintf("redis %s\nstale_after %ds\nollama_poll off", rds.URL(), 10+i%2)
	}
	g := startGateway(t, policy(0), a, b)
	until(t, "b", func() string { return g.post("/api/version", "") })

	clients := redisClients(t, rds)
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	baseClients, baseGoroutines, baseHeap := clients(), ourGoroutines(), heap()

	var sent, failed, dropped atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				sent.Add(1)
				resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/api/chat", g.httpPort), "application/json",
					strings.NewReader(chatBody("llama3.1:8b")))
				if err != nil {
					dropped.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failed.Add(1)
				}
			}
		}()
	}
	for i := range 100 {
		g.load(policy(i+1), "", a, b)
	}
	close(done)
	wg.Wait()
	stopReports()
	t.Logf("%d requests during 100 reloads: %d answered with an error, %d connections dropped by the server swap",
		sent.Load(), failed.Load(), dropped.Load())
	if sent.Load()-dropped.Load() < 100 || failed.Load() != 0 {
		t.Fatalf("%d of %d requests answered with an error during the reloads", failed.Load(), sent.Load())
	}

	deadline := time.Now().Add(10 * time.Second)
	for {
		c, gr, h := clients(), ourGoroutines(), heap()
		if c <= baseClients && gr <= baseGoroutines && h < baseHeap+32<<20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 100 reloads: %d Redis clients (was %d), %d goroutines of ours (was %d), heap %d MiB (was %d MiB)",
				c, baseClients, gr, baseGoroutines, h>>20, baseHeap>>20)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
