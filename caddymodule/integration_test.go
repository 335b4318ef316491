package caddymodule_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"

	"github.com/sollol-go/sollol/caddymodule"
	"github.com/sollol-go/sollol/gpustats"
	"github.com/sollol-go/sollol/internal/redistest"
)

// ollama is a stand-in Ollama server that answers with its name and keeps every body it received.
type ollama struct {
	name string
	srv  *httptest.Server
	api  ollamaAPI
	mu   sync.Mutex
	got  [][]byte
}

func newOllama(t *testing.T, name string) *ollama {
	o := &ollama{name: name}
	o.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o.api.serve(w, r) {
			return
		}
		body, _ := io.ReadAll(r.Body)
		o.mu.Lock()
		o.got = append(o.got, body)
		o.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"upstream":%q}`, o.name)
	}))
	t.Cleanup(o.srv.Close)
	return o
}

func (o *ollama) addr() string { return o.srv.Listener.Addr().String() }

func (o *ollama) last() []byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.got[len(o.got)-1]
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// gateway is Caddy in-process with vram_aware in front of the upstreams.
type gateway struct {
	t         *testing.T
	tester    *caddytest.Tester
	adminPort int
	httpPort  int
}

func startGateway(t *testing.T, policy string, ups ...*ollama) *gateway {
	g := &gateway{t: t, adminPort: freePort(t), httpPort: freePort(t)}
	g.tester = caddytest.NewTester(t).WithDefaultOverrides(caddytest.Config{AdminPort: g.adminPort})
	g.load(policy, "", ups...)
	return g
}

func (g *gateway) config(policy, extra string, ups ...*ollama) string {
	addrs := make([]string, len(ups))
	for i, u := range ups {
		addrs[i] = u.addr()
	}
	return fmt.Sprintf(`{
	admin localhost:%d
	http_port %d
	skip_install_trust
}
http://127.0.0.1:%d {
	reverse_proxy %s {
		lb_policy vram_aware {
%s
		}
		%s
	}
}`, g.adminPort, g.httpPort, g.httpPort, strings.Join(addrs, " "), policy, extra)
}

func (g *gateway) load(policy, extra string, ups ...*ollama) {
	g.tester.InitServer(g.config(policy, extra, ups...), "caddyfile")
}

// testClient opens a connection per request: a kept-alive connection that Caddy's server closes while a reload
// swaps configurations would fail the next POST on it (EOF), which is no concern of the policy's.
var testClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}

// post sends body to path through the gateway and returns the upstream's name.
func (g *gateway) post(path, body string) string {
	g.t.Helper()
	resp, err := testClient.Post(fmt.Sprintf("http://127.0.0.1:%d%s", g.httpPort, path), "application/json", strings.NewReader(body))
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Upstream string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		g.t.Fatalf("status %d, decode error %v", resp.StatusCode, err)
	}
	return out.Upstream
}

func (g *gateway) admin(path string, v any) {
	g.t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://localhost:%d%s", g.adminPort, path))
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		g.t.Fatal(err)
	}
}

// steer names a model of the default size (4 GiB), which a node with 500 MiB free cannot hold and one with
// 20000 MiB free can: the tests steer requests with free memory through it.
const steer = `{"model":"m"}`

type nodeSpec struct {
	free   float64
	loaded []string
	age    time.Duration
}

// rtxReport is a report of o's node: one RTX 4090 with free MiB free, taken at at, with the models loaded (5000 MiB
// each).
func rtxReport(o *ollama, free float64, at time.Time, loaded ...string) *gpustats.Report {
	r := &gpustats.Report{Vendor: gpustats.VendorNVIDIA, NodeID: o.addr(), Timestamp: gpustats.Timestamp(at),
		Schema: gpustats.Schema, GPUs: []gpustats.GPU{{Index: 0, Name: "RTX 4090", MemoryTotalMB: 24564,
			MemoryFreeMB: gpustats.Measure(free), MemoryUsedMB: gpustats.Measure(24564 - free),
			UtilizationPct: 0, TemperatureC: 40}},
		Ollama: &gpustats.Ollama{Reachable: true, Loaded: []gpustats.LoadedModel{}}}
	for _, m := range loaded {
		r.Ollama.Loaded = append(r.Ollama.Loaded, gpustats.LoadedModel{Name: m, SizeMB: 5000, SizeVRAMMB: 5000})
	}
	return r
}

func publish(t *testing.T, srv *redistest.Server, ups map[*ollama]nodeSpec) {
	t.Helper()
	p := gpustats.NewPublisher(srv.Client(), gpustats.PublisherOptions{})
	for o, s := range ups {
		r := rtxReport(o, s.free, time.Now().Add(-s.age), s.loaded...)
		if err := p.Publish(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		waitForReport(t, r.NodeID, r.Timestamp)
	}
}

// waitForReport waits until the policy holds a report of node taken at ts or later, so that a test's first
// request does not race the report through Redis (and a lucky fallback choice does not pass for a routed one).
func waitForReport(t *testing.T, node string, ts float64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, target := range caddymodule.Targets() {
			for _, n := range target.Nodes {
				if n.ID == node && n.Report.Timestamp >= ts {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the policy never saw the report of %s", node)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// until retries f until it returns want or 5 s pass, as reports travel through Redis asynchronously.
func until(t *testing.T, want string, f func() string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	got := f()
	for got != want {
		if time.Now().After(deadline) {
			t.Fatalf("got %q, want %q", got, want)
		}
		time.Sleep(20 * time.Millisecond)
		got = f()
	}
}

func TestReportSwitchesUpstream(t *testing.T) {
	rds := redistest.Start(t)
	a, b := newOllama(t, "a"), newOllama(t, "b")
	g := startGateway(t, "redis "+rds.URL()+"\nfallback first", a, b)
	publish(t, rds, map[*ollama]nodeSpec{a: {free: 500}, b: {free: 20000}})
	until(t, "b", func() string { return g.post("/api/chat", steer) })
	for range 10 {
		if got := g.post("/api/chat", steer); got != "b" {
			t.Fatalf("request went to %s, the overwhelmed node", got)
		}
	}
	publish(t, rds, map[*ollama]nodeSpec{a: {free: 20000}, b: {free: 500}})
	until(t, "a", func() string { return g.post("/api/chat", steer) })

	var targets []struct {
		Connected bool
		Nodes     []struct {
			NodeID string `json:"node_id"`
		}
	}
	g.admin("/vram_aware/nodes", &targets)
	if len(targets) != 1 || !targets[0].Connected || len(targets[0].Nodes) != 2 {
		t.Fatalf("admin nodes: %+v", targets)
	}
	var decisions []struct{ Upstream, Reason string }
	g.admin("/vram_aware/decisions?limit=1", &decisions)
	if len(decisions) != 1 || decisions[0].Upstream != a.addr() || decisions[0].Reason != "fits" {
		t.Fatalf("admin decisions: %+v", decisions)
	}
}

func TestModelInBodyRoutesToResidentNode(t *testing.T) {
	rds := redistest.Start(t)
	a, b := newOllama(t, "a"), newOllama(t, "b")
	g := startGateway(t, "redis "+rds.URL()+"\nfallback first", a, b)
	// b has more free memory, but a holds llama3.1:8b.
	publish(t, rds, map[*ollama]nodeSpec{a: {free: 12000, loaded: []string{"llama3.1:8b"}}, b: {free: 20000, loaded: []string{"qwen2.5:7b"}}})
	chat := func(model string) string {
		return fmt.Sprintf(`{"messages":[{"role":"user","content":"say \"model\": \"decoy\""}],"model":%q,"stream":false}`, model)
	}
	until(t, "a", func() string { return g.post("/api/chat", chat("llama3.1:8b")) })
	for _, tc := range []struct{ path, model, want string }{
		{"/api/chat", "llama3.1:8b", "a"},
		{"/api/generate", "qwen2.5:7b", "b"},
		{"/v1/chat/completions", "LLAMA3.1:8B", "a"},
		{"/api/embed", "qwen2.5:7b", "b"},
	} {
		body := chat(tc.model)
		if got := g.post(tc.path, body); got != tc.want {
			t.Errorf("%s %s went to %s, want %s", tc.path, tc.model, got, tc.want)
		}
		up := map[string]*ollama{"a": a, "b": b}[tc.want]
		if !bytes.Equal(up.last(), []byte(body)) {
			t.Errorf("%s: upstream got %q, want %q", tc.path, up.last(), body)
		}
	}
}

func TestBodyReachesUpstreamUnchanged(t *testing.T) {
	rds := redistest.Start(t)
	a, b := newOllama(t, "a"), newOllama(t, "b")
	g := startGateway(t, "redis "+rds.URL()+"\nmax_body 64KiB", a, b)
	publish(t, rds, map[*ollama]nodeSpec{a: {free: 12000, loaded: []string{"big:latest"}}, b: {free: 20000}})
	// Larger than max_body: the model is found in the first 64 KiB, the rest streams on untouched.
	big := `{"model":"big","prompt":"` + strings.Repeat("0123456789abcdef", 20000) + `"}`
	until(t, "a", func() string { return g.post("/api/generate", big) })
	if !bytes.Equal(a.last(), []byte(big)) {
		t.Fatalf("upstream got %d bytes, want the %d sent", len(a.last()), len(big))
	}
	// The same with request_buffers, where Caddy buffers the body before the policy reads it.
	g.load("redis "+rds.URL(), "request_buffers 1MiB", a, b)
	until(t, "a", func() string { return g.post("/api/generate", big) })
	if !bytes.Equal(a.last(), []byte(big)) {
		t.Fatalf("with request_buffers: upstream got %d bytes, want %d", len(a.last()), len(big))
	}
}

func TestStaleStatsFallBack(t *testing.T) {
	rds := redistest.Start(t)
	a, b := newOllama(t, "a"), newOllama(t, "b")
	g := startGateway(t, "redis "+rds.URL()+"\nstale_after 2s\nfallback first", a, b)
	publish(t, rds, map[*ollama]nodeSpec{a: {free: 500}, b: {free: 20000}})
	until(t, "b", func() string { return g.post("/api/chat", steer) })
	// Reports from 10 s ago: not trusted, so the fallback (first) picks a although b looks better.
	publish(t, rds, map[*ollama]nodeSpec{a: {free: 500, age: 10 * time.Second}, b: {free: 20000, age: 10 * time.Second}})
	time.Sleep(200 * time.Millisecond)
	// The watcher ignores older reports than it holds; the fresh ones go stale after 2 s.
	until(t, "a", func() string { return g.post("/api/chat", steer) })
	var decisions []struct{ Reason string }
	g.admin("/vram_aware/decisions?limit=1", &decisions)
	if decisions[0].Reason != "fallback:no-fresh-stats" {
		t.Fatalf("reason %q", decisions[0].Reason)
	}
}

func TestNoRedisUsesFallback(t *testing.T) {
	a, b := newOllama(t, "a"), newOllama(t, "b")
	// Nothing listens on this port: the config loads and the fallback serves every request.
	g := startGateway(t, fmt.Sprintf("redis redis://127.0.0.1:%d\nfallback first", freePort(t)), a, b)
	for range 5 {
		if got := g.post("/api/chat", `{"model":"x"}`); got != "a" {
			t.Fatalf("went to %s", got)
		}
	}
}

func TestReloadsLeakNothing(t *testing.T) {
	rds := redistest.Start(t)
	a, b := newOllama(t, "a"), newOllama(t, "b")
	g := startGateway(t, "redis "+rds.URL(), a, b)
	publish(t, rds, map[*ollama]nodeSpec{a: {free: 20000}, b: {free: 500}})
	until(t, "a", func() string { return g.post("/api/chat", steer) })
	waitSharing(t)
	clients := redisClients(t, rds)
	baseClients, baseGoroutines := clients(), ourGoroutines()
	for i := range 20 {
		// Alternate two configurations so that every load really replaces the previous one.
		g.load("redis "+rds.URL()+fmt.Sprintf("\nstale_after %ds", 10+i%2), "", a, b)
		if got := g.post("/api/chat", steer); got != "a" {
			t.Fatalf("reload %d: went to %s", i, got)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for clients() > baseClients || ourGoroutines() > baseGoroutines {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("after 20 reloads: %d Redis clients (was %d), %d goroutines (was %d):\n%s", clients(), baseClients,
				ourGoroutines(), baseGoroutines, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitSharing waits until the gateway shares state with the others (share_state), so that its connection counts.
func waitSharing(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if g := caddymodule.Gateways(); len(g) == 1 && g[0].Exchanges > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the gateway never shared state: %+v", caddymodule.Gateways())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// redisClients returns a function counting the clients connected to srv (its own connection included).
func redisClients(t *testing.T, srv *redistest.Server) func() int {
	admin := srv.Client()
	return func() int {
		list, err := admin.ClientList(context.Background()).Result()
		if err != nil {
			t.Fatal(err)
		}
		return strings.Count(list, "\n")
	}
}

// ourGoroutines counts the goroutines of this project and of go-redis. Caddy's own (HTTP transports of replaced
// configs closing their idle connections in their own time) are not ours to count.
func ourGoroutines() int {
	buf := make([]byte, 4<<20)
	n := 0
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if strings.Contains(g, "sollol-go/sollol/gpustats") || strings.Contains(g, "sollol-go/sollol/caddymodule.") ||
			strings.Contains(g, "redis/go-redis") {
			n++
		}
	}
	return n
}

func TestAdaptCaddyfileExample(t *testing.T) {
	in, err := readFile("../Caddyfile.example")
	if err != nil {
		t.Fatal(err)
	}
	want, err := readFile("testdata/Caddyfile.example.json")
	if err != nil {
		t.Fatal(err)
	}
	caddytest.AssertAdapt(t, in, "caddyfile", want)
}

func TestDecisionHeader(t *testing.T) {
	rds := redistest.Start(t)
	a, b := newOllama(t, "a"), newOllama(t, "b")
	g := startGateway(t, "redis "+rds.URL()+"\ndecision_header X-Vram-Aware", a, b)
	publish(t, rds, map[*ollama]nodeSpec{a: {free: 12000, loaded: []string{"llama3.1:8b"}}, b: {free: 20000}})
	want := "node=" + a.addr() + "; reason=resident; upstream=" + a.addr() + "; source=redis"
	until(t, want, func() string {
		resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/api/chat", g.httpPort), "application/json",
			strings.NewReader(`{"model":"llama3.1:8b"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get("X-Vram-Aware")
	})
}
