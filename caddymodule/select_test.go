package caddymodule_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/sollol-go/sollol/caddymodule"
	"github.com/sollol-go/sollol/gpustats"
	"github.com/sollol-go/sollol/internal/redistest"
)

// provision sets the policy up as Caddy would, outside a server.
func provision(t testing.TB, p *caddymodule.VRAMAware) {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := p.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Cleanup() })
}

func upstreams(dials ...string) reverseproxy.UpstreamPool {
	pool := make(reverseproxy.UpstreamPool, len(dials))
	for i, d := range dials {
		pool[i] = &reverseproxy.Upstream{Dial: d, Host: new(reverseproxy.Host)}
	}
	return pool
}

func nodeReport(id string, free float64, loaded ...string) *gpustats.Report {
	r := &gpustats.Report{Vendor: gpustats.VendorNVIDIA, NodeID: id, Timestamp: gpustats.Timestamp(time.Now()),
		GPUs: []gpustats.GPU{{Index: 0, Name: "L4", MemoryTotalMB: 23034, MemoryFreeMB: gpustats.Measure(free),
			MemoryUsedMB: gpustats.Measure(23034 - free), UtilizationPct: 0, TemperatureC: 40}},
		Ollama: &gpustats.Ollama{Reachable: true}}
	for _, m := range loaded {
		r.Ollama.Loaded = append(r.Ollama.Loaded, gpustats.LoadedModel{Name: m, SizeMB: 4000, SizeVRAMMB: 4000})
	}
	return r
}

// TestSelectWithRealPool drives Select through Caddy's own types: a real UpstreamPool with health state and
// in-flight counts, and reports from a real Redis.
func TestSelectWithRealPool(t *testing.T) {
	rds := redistest.Start(t)
	// Polling is off: these upstreams are not on this machine.
	p := &caddymodule.VRAMAware{Redis: rds.URL(), ModelFrom: "header", ModelHeader: "X-Model", OllamaPollOff: true}
	provision(t, p)
	pool := upstreams("10.1.0.1:11434", "10.1.0.2:11434", "gpu3.example:11434")
	pub := gpustats.NewPublisher(rds.Client(), gpustats.PublisherOptions{})
	ctx := context.Background()
	for _, r := range []*gpustats.Report{
		nodeReport("10.1.0.1:11434", 3000, "llama3:latest"),
		nodeReport("10.1.0.2:11434", 20000),
		// Reported under another id: found through the announced addresses.
		func() *gpustats.Report {
			r := nodeReport("node-3:11434", 18000, "qwen2:7b")
			r.Addresses = []string{"gpu3.example"}
			return r
		}(),
	} {
		if err := pub.Publish(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	req := func(model string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/api/chat", strings.NewReader(`{}`))
		if model != "" {
			r.Header.Set("X-Model", model)
		}
		return r
	}
	pick := func(model string) string {
		if up := p.Select(pool, req(model), httptest.NewRecorder()); up != nil {
			return up.Dial
		}
		return "<nil>"
	}
	nodes := func() int {
		for _, tg := range caddymodule.Targets() {
			if tg.Redis == gpustats.Redact(rds.URL()) {
				return len(tg.Nodes)
			}
		}
		return 0
	}
	deadline := time.Now().Add(5 * time.Second)
	for nodes() < 3 || pick("llama3") != "10.1.0.1:11434" {
		if time.Now().After(deadline) {
			t.Fatal("reports never reached the policy")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := pick("qwen2:7b"); got != "gpu3.example:11434" {
		t.Errorf("qwen2:7b: %s, want the node that holds it, mapped by its announced address", got)
	}
	// Health and in-flight counts are Caddy's unexported state: lbpolicy's tables cover them, and the caddytest
	// integration tests cover them through a running server.
}

func TestSelectWithoutReportsUsesFallback(t *testing.T) {
	rds := redistest.Start(t)
	p := &caddymodule.VRAMAware{Redis: rds.URL(), FallbackRaw: json.RawMessage(`{"policy":"first"}`), OllamaPollOff: true}
	provision(t, p)
	pool := upstreams("10.2.0.1:11434", "10.2.0.2:11434")
	for range 20 {
		if up := p.Select(pool, httptest.NewRequest(http.MethodGet, "/api/tags", nil), nil); up != pool[0] {
			t.Fatalf("fallback chose %v", up)
		}
	}
}
