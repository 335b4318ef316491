package caddymodule_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/sollol-go/sollol/internal/redistest"
)

// refusing is an upstream that answers every generation request as Ollama does when it cannot do it: status
// with body, counting the requests.
func refusing(t *testing.T, name string, status int, body string) (*ollama, *atomic.Int64) {
	var hits atomic.Int64
	o := &ollama{name: name}
	o.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(o.srv.Close)
	return o, &hits
}

// retries are Caddyfile.example's retry settings.
const retries = "lb_retries 2\nlb_retry_match {\n\texpression `{rp.status_code} in [500, 503]`\n}\nrequest_buffers 1MiB"

// A node whose stats say it holds the model but that answers Ollama's out-of-memory 500: the retry goes to the
// other node, and later requests for the model avoid the node that refused it.
func TestRetryAfterOOMGoesElsewhere(t *testing.T) {
	rds := redistest.Start(t)
	oom, hits := refusing(t, "oom", http.StatusInternalServerError,
		`{"error":"model requires more system memory (44.1 GiB) than is available (20.3 GiB)"}`)
	b := newOllama(t, "b")
	g := startGateway(t, "redis "+rds.URL()+"\nfallback first", oom, b)
	g.load("redis "+rds.URL()+"\nfallback first", retries, oom, b)
	// The stats favour oom: the model is resident there, b would load it cold.
	publish(t, rds, map[*ollama]nodeSpec{oom: {free: 15000, loaded: []string{"m:latest"}}, b: {free: 20000}})
	for i := range 10 {
		if got := g.post("/api/chat", steer); got != "b" {
			t.Fatalf("request %d answered by %s", i, got)
		}
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("the node that refused the model got %d attempts of 10 requests, want 1 (then it is ranked below)", n)
	}
}

// A node whose load queue is full (503 "server busy") is avoided for new loads.
func TestRetryAfterBusyAvoidsNewLoads(t *testing.T) {
	rds := redistest.Start(t)
	busy, hits := refusing(t, "busy", http.StatusServiceUnavailable,
		`{"error":"server busy, please try again.  maximum pending requests exceeded"}`)
	b := newOllama(t, "b")
	g := startGateway(t, "redis "+rds.URL()+"\nfallback first", busy, b)
	g.load("redis "+rds.URL()+"\nfallback first", retries, busy, b)
	// Both would load the model cold; b would have to unload another model first.
	publish(t, rds, map[*ollama]nodeSpec{busy: {free: 22000}, b: {free: 4000, loaded: []string{"other:latest"}}})
	for i := range 6 {
		if got := g.post("/api/chat", steer); got != "b" {
			t.Fatalf("request %d answered by %s", i, got)
		}
	}
	if n := hits.Load(); n > 1 {
		t.Errorf("the busy node got %d attempts, want at most 1", n)
	}
}
