package caddymodule

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"go.uber.org/zap"

	"github.com/sollol-go/sollol/gpustats"
	"github.com/sollol-go/sollol/internal/redistest"
)

func provisionPolicy(t testing.TB, p *VRAMAware) {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := p.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Cleanup() })
	// Debug logging allocates by nature; whether it is on depends on the tests that ran before.
	p.log = zap.NewNop()
}

func pool(dials ...string) reverseproxy.UpstreamPool {
	out := make(reverseproxy.UpstreamPool, len(dials))
	for i, d := range dials {
		out[i] = &reverseproxy.Upstream{Dial: d, Host: new(reverseproxy.Host)}
	}
	return out
}

func modelRequest(model string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/api/chat", strings.NewReader(`{}`))
	r.Header.Set("X-Model", model)
	return r
}

// waitChoice calls Select until it chooses want for the reason and source given.
func waitChoice(t *testing.T, p *VRAMAware, ups reverseproxy.UpstreamPool, r *http.Request, want, reason, source string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		up := p.Select(ups, r, nil)
		d := decisions.recent(1)[0]
		if up != nil && up.Dial == want && d.Reason == reason && d.Source == source {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("chose %v for %s (%s): want %s for %s (%s)", up, d.Reason, d.Source, want, reason, source)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSelectPolledAllocations: with polled nodes, and with Redis reports and polled nodes mixed, Select allocates
// nothing.
func TestSelectPolledAllocations(t *testing.T) {
	a := newFakeOllama(t, psCPU, tagsThree)
	b := newFakeOllama(t, psLlama, tagsThree)
	// b by another name of the loopback host, so that its upstream is found by neither a's address nor a's host.
	bDial := strings.Replace(b.dial(), "127.0.0.1", "localhost", 1)
	ups := pool(a.dial(), bDial)
	r := modelRequest("llama3.1:8b")

	t.Run("polled only", func(t *testing.T) {
		p := &VRAMAware{ModelFrom: modelFromHeader, ModelHeader: "X-Model", OllamaPoll: caddy.Duration(100 * time.Millisecond)}
		provisionPolicy(t, p)
		waitChoice(t, p, ups, r, bDial, "resident", "ollama")
		checkNoAllocs(t, func() { p.Select(ups, r, nil) })
	})
	t.Run("redis and polled", func(t *testing.T) {
		rds := redistest.Start(t)
		p := &VRAMAware{Redis: rds.URL(), ModelFrom: modelFromHeader, ModelHeader: "X-Model",
			OllamaPoll: caddy.Duration(100 * time.Millisecond)}
		provisionPolicy(t, p)
		// a reports to Redis (more free memory than anything), b is only polled, and holds the model.
		publishIdle(t, rds, a.dial())
		waitChoice(t, p, ups, r, bDial, "resident", "ollama")
		waitChoice(t, p, ups, modelRequest("mistral:7b"), a.dial(), "fits", "redis")
		checkNoAllocs(t, func() { p.Select(ups, r, nil) })
	})
}

// publishIdle publishes a fresh report of node id: one L4 with all but 34 MiB free and no model loaded.
func publishIdle(t *testing.T, rds *redistest.Server, id string) { publishL4(t, rds, id, 23000) }

// publishL4 publishes a fresh report of node id: one L4 with freeMB free, holding the models loaded (5000 MiB each).
func publishL4(t *testing.T, rds *redistest.Server, id string, freeMB float64, loaded ...string) {
	t.Helper()
	rep := &gpustats.Report{Vendor: gpustats.VendorNVIDIA, NodeID: id, Timestamp: gpustats.Timestamp(time.Now()),
		GPUs: []gpustats.GPU{{Name: "L4", MemoryTotalMB: 23034, MemoryFreeMB: gpustats.Measure(freeMB),
			MemoryUsedMB: gpustats.Measure(23034 - freeMB), UtilizationPct: 0, TemperatureC: 40}},
		Ollama: &gpustats.Ollama{Reachable: true}}
	for _, m := range loaded {
		rep.Ollama.Loaded = append(rep.Ollama.Loaded, gpustats.LoadedModel{Name: m, SizeMB: 5000, SizeVRAMMB: 5000})
	}
	if err := gpustats.NewPublisher(rds.Client(), gpustats.PublisherOptions{}).Publish(context.Background(), rep); err != nil {
		t.Fatal(err)
	}
}

func checkNoAllocs(t *testing.T, f func()) {
	t.Helper()
	if raceEnabled {
		t.Log("allocations not checked under the race detector")
		return
	}
	if n := testing.AllocsPerRun(1000, f); n != 0 {
		t.Errorf("Select allocates %v times per call", n)
	}
}

// TestRedisReportWinsOverPoll: where an upstream has a fresh report, its report decides and it is not polled;
// when the report goes stale, the poller takes over.
func TestRedisReportWinsOverPoll(t *testing.T) {
	a := newFakeOllama(t, psLlama, tagsThree) // Ollama says llama is loaded…
	rds := redistest.Start(t)
	p := &VRAMAware{Redis: rds.URL(), ModelFrom: modelFromHeader, ModelHeader: "X-Model",
		OllamaPoll: caddy.Duration(100 * time.Millisecond), StaleAfter: caddy.Duration(time.Second)}
	provisionPolicy(t, p)
	// …the report says nothing is: the report wins while fresh.
	publishIdle(t, rds, a.dial())
	deadline := time.Now().Add(5 * time.Second)
	for p.snapshot().Lookup(a.dial()) == nil {
		if time.Now().After(deadline) {
			t.Fatal("the report never reached the policy")
		}
		time.Sleep(5 * time.Millisecond)
	}
	ups := pool(a.dial())
	r := modelRequest("llama3.1:8b")
	waitChoice(t, p, ups, r, a.dial(), "fits", "redis")
	if n := a.psHits.Load(); n != 0 {
		t.Errorf("an upstream with a fresh report was polled %d times", n)
	}
	waitChoice(t, p, ups, r, a.dial(), "resident", "ollama")
}

// BenchmarkSelectPolled compares vram_aware over polled nodes with least_conn on the same pool. The nodes are put
// in the poller directly, as its loop would.
func BenchmarkSelectPolled(b *testing.B) {
	for _, n := range []int{4, 16, 128} {
		p := &VRAMAware{ModelFrom: modelFromHeader, ModelHeader: "X-Model", OllamaPoll: caddy.Duration(time.Hour),
			StaleAfter: caddy.Duration(3 * time.Hour)}
		provisionPolicy(b, p)
		dials := make([]string, n)
		idx := &pollIndex{targets: map[string]*pollTarget{}}
		now := time.Now()
		for i := range n {
			dials[i] = fmt.Sprintf("127.0.0.1:%d", 20000+i)
			var loaded []gpustats.LoadedModel
			if i%5 == 0 {
				loaded = append(loaded, gpustats.LoadedModel{Name: "llama3:latest", SizeMB: 5000, SizeVRAMMB: 5000})
			}
			t := &pollTarget{dial: dials[i]}
			t.retryAt.Store(1<<63 - 1)
			t.seen.Store(now.Add(time.Hour).UnixNano())
			t.node.Store(polledNode(dials[i], loaded, []gpustats.InstalledModel{{Name: "llama3:latest", SizeMB: 4700}}, 0, now, nil))
			t.status.Store(&pollStatus{state: pollOK, at: now})
			idx.targets[dials[i]] = t
		}
		p.poller.index.Store(idx)
		ups := pool(dials...)
		r := modelRequest("llama3:latest")
		for _, pol := range []struct {
			name string
			sel  reverseproxy.Selector
		}{{"vram_aware", p}, {"least_conn", reverseproxy.LeastConnSelection{}}} {
			b.Run(fmt.Sprintf("upstreams=%d/%s", n, pol.name), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if pol.sel.Select(ups, r, nil) == nil {
						b.Fatal("no upstream")
					}
				}
			})
		}
	}
}
