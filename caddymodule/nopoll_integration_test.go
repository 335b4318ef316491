package caddymodule_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"

	"github.com/sollol-go/sollol/caddymodule"
)

// ollamaAPI is what an ollama stand-in answers on Ollama's own API, GET /api/ps and /api/tags. Until holds sets
// them it answers 404 there, as a server that is not Ollama does, so that polling leaves the stand-in to Redis and
// the fallback.
type ollamaAPI struct {
	ps, tags         atomic.Pointer[string]
	psHits, tagsHits atomic.Int32
	// failAPI makes /api/ps and /api/tags answer 500; failOther makes every other path answer 500.
	failAPI, failOther atomic.Bool
}

func (a *ollamaAPI) serve(w http.ResponseWriter, r *http.Request) bool {
	var body *string
	switch r.URL.Path {
	case "/api/ps":
		a.psHits.Add(1)
		body = a.ps.Load()
	case "/api/tags":
		a.tagsHits.Add(1)
		body = a.tags.Load()
	default:
		if a.failOther.Load() {
			http.Error(w, `{"error":"boom"}`, http.StatusInternalServerError)
			return true
		}
		return false
	}
	switch {
	case a.failAPI.Load():
		http.Error(w, `{"error":"boom"}`, http.StatusInternalServerError)
	case body == nil:
		http.NotFound(w, r)
	default:
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(*body))
	}
	return true
}

// holds makes o an Ollama that has loaded in GPU memory and installed on disk (loaded models count as installed).
func (o *ollama) holds(loaded []string, installed ...string) {
	o.api.ps.Store(ptr(modelsJSON(true, loaded)))
	o.api.tags.Store(ptr(modelsJSON(false, append(append([]string(nil), loaded...), installed...))))
}

func modelsJSON(ps bool, names []string) string {
	items := make([]string, len(names))
	for i, n := range names {
		if ps {
			items[i] = fmt.Sprintf(`{"name":%q,"model":%q,"size":5242880000,"size_vram":5242880000,"expires_at":"2099-01-01T00:00:00Z"}`, n, n)
		} else {
			items[i] = fmt.Sprintf(`{"name":%q,"model":%q,"size":4718592000}`, n, n)
		}
	}
	return `{"models":[` + strings.Join(items, ",") + `]}`
}

func ptr[T any](v T) *T { return &v }

type decision struct{ Upstream, Reason, Source, Node string }

func (g *gateway) lastDecision() decision {
	g.t.Helper()
	var ds []decision
	g.admin("/vram_aware/decisions?limit=1", &ds)
	if len(ds) != 1 {
		g.t.Fatalf("decisions: %+v", ds)
	}
	return ds[0]
}

type polled struct {
	Upstream, State string
	Report          *struct {
		NodeID string `json:"node_id"`
	}
}

func (g *gateway) polled() map[string]polled {
	g.t.Helper()
	var list []polled
	g.admin("/vram_aware/ollama", &list)
	m := map[string]polled{}
	for _, p := range list {
		m[p.Upstream] = p
	}
	return m
}

// tryPost is post that returns "" where the request fails, for the moments until Caddy's health checks see it.
func (g *gateway) tryPost(path, body string) string {
	resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d%s", g.httpPort, path), "application/json", strings.NewReader(body))
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var out struct{ Upstream string }
	if json.NewDecoder(resp.Body).Decode(&out) != nil || resp.StatusCode != http.StatusOK {
		return ""
	}
	return out.Upstream
}

func chatBody(model string) string {
	return fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":"hi"}],"stream":false}`, model)
}

// TestBarePolicyPolls: "lb_policy vram_aware" with no options and no Redis routes by what each upstream's Ollama
// holds.
func TestBarePolicyPolls(t *testing.T) {
	a, b := newOllama(t, "a"), newOllama(t, "b")
	a.holds(nil, "llama3.1:8b")
	b.holds([]string{"llama3.1:8b"})
	g := &gateway{t: t, adminPort: freePort(t), httpPort: freePort(t)}
	g.tester = caddytest.NewTester(t).WithDefaultOverrides(caddytest.Config{AdminPort: g.adminPort})
	g.tester.InitServer(fmt.Sprintf(`{
	admin localhost:%d
	http_port %d
	skip_install_trust
}
http://127.0.0.1:%d {
	reverse_proxy %s %s {
		lb_policy vram_aware
	}
}`, g.adminPort, g.httpPort, g.httpPort, a.addr(), b.addr()), "caddyfile")
	// The first request may come before the first poll's answer; the fallback decides that one.
	until(t, "b resident ollama", func() string { return g.route("/api/chat", chatBody("llama3.1:8b")) })

	// The status page lists the polled upstreams with what their Ollama holds.
	w := httptest.NewRecorder()
	if err := (caddymodule.Status{}).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/fleet/ollama.json", nil), nil); err != nil {
		t.Fatal(err)
	}
	var polled []caddymodule.PolledUpstream
	if err := json.Unmarshal(w.Body.Bytes(), &polled); err != nil {
		t.Fatal(err)
	}
	states := map[string]string{}
	for _, p := range polled {
		states[p.Upstream] = p.State
		if p.Upstream == b.addr() && (p.Report == nil || len(p.Report.Ollama.Loaded) != 1) {
			t.Errorf("ollama.json: %s without its loaded model: %+v", b.addr(), p.Report)
		}
	}
	if states[a.addr()] != "ok" || states[b.addr()] != "ok" {
		t.Errorf("ollama.json states %v, want both upstreams ok", states)
	}
}

// route posts body to path and returns the upstream, the reason and the source of the stats, space-separated.
func (g *gateway) route(path, body string) string {
	g.t.Helper()
	up := g.post(path, body)
	d := g.lastDecision()
	return up + " " + d.Reason + " " + d.Source
}

func TestPollFollowsResidency(t *testing.T) {
	a, b := newOllama(t, "a"), newOllama(t, "b")
	a.holds([]string{"llama3.1:8b"}, "qwen2.5:7b")
	b.holds([]string{"qwen2.5:7b"}, "llama3.1:8b", "mistral:7b")
	g := startGateway(t, "ollama_poll 100ms\nfallback first", a, b)
	until(t, "a resident ollama", func() string { return g.route("/api/chat", chatBody("llama3.1:8b")) })
	// Both polled: until then, b, which has llama3.1:8b installed, would rank above a, which has no stats yet.
	until(t, "b resident ollama", func() string { return g.route("/api/chat", chatBody("qwen2.5:7b")) })
	for _, tc := range []struct{ path, model, want, reason string }{
		{"/api/chat", "llama3.1:8b", "a", "resident"},
		{"/api/generate", "qwen2.5:7b", "b", "resident"},
		{"/v1/chat/completions", "LLAMA3.1:8B", "a", "resident"},
		// Installed on b only; a lists its models without it. Free memory is unknown in this mode: the first
		// request loads it on b cold (memory-unknown), the next ones join that load until the next poll of b,
		// taken after it, shows no such load (the fake never loads it) and ends the herd guard's hold.
		{"/api/chat", "mistral:7b", "b", "loading"},
	} {
		var reasons []string
		for range 5 {
			if got := g.post(tc.path, chatBody(tc.model)); got != tc.want {
				t.Fatalf("%s %s went to %s, want %s", tc.path, tc.model, got, tc.want)
			}
			d := g.lastDecision()
			if d.Source != "ollama" {
				t.Errorf("%s: decision %+v, want one from ollama", tc.model, d)
			}
			reasons = append(reasons, d.Reason)
		}
		if !slices.Contains(reasons[1:], tc.reason) {
			t.Errorf("%s: decisions %v, want %s after the first", tc.model, reasons, tc.reason)
		}
	}
	// Ollama unloads llama3.1:8b on a and b loads it: requests follow within a poll or two.
	a.holds([]string{"qwen2.5:7b"}, "llama3.1:8b")
	b.holds([]string{"llama3.1:8b"}, "mistral:7b")
	until(t, "b", func() string { return g.post("/api/chat", chatBody("llama3.1:8b")) })
	time.Sleep(500 * time.Millisecond)
	if b.api.tagsHits.Load() != 1 || b.api.psHits.Load() < 5 {
		t.Errorf("b answered /api/ps %d times and /api/tags %d times: want tags asked far less often",
			b.api.psHits.Load(), b.api.tagsHits.Load())
	}
}

func TestPollSkipsFailingUpstream(t *testing.T) {
	a, b := newOllama(t, "a"), newOllama(t, "b")
	a.holds([]string{"llama3.1:8b"})
	b.holds(nil, "llama3.1:8b", "mistral:7b")
	gw := startGateway(t, "ollama_poll 100ms\nfallback first", a, b)
	post := func() string { return gw.tryPost("/api/chat", chatBody("llama3.1:8b")) }
	until(t, "a resident ollama", func() string { return gw.route("/api/chat", chatBody("llama3.1:8b")) })
	until(t, "b memory-unknown ollama", func() string { return gw.route("/api/chat", chatBody("mistral:7b")) })

	// a's Ollama API fails while its other paths still answer: the poller drops what it knew of a, so b, which has
	// the model installed, ranks above a, which has no stats.
	a.api.failAPI.Store(true)
	until(t, "b", post)
	if st := gw.polled()[a.addr()]; st.State != "failing" || st.Report != nil {
		t.Errorf("a polled as %+v, want failing without a report", st)
	}
	for range 5 {
		if got := post(); got != "b" {
			t.Fatalf("went to %s while a's API fails", got)
		}
	}
	a.api.failAPI.Store(false)
	until(t, "a", post)
	if st := gw.polled()[a.addr()]; st.State != "ok" {
		t.Errorf("a polled as %+v after it recovered", st)
	}

	// Now a answers its API but fails everything else: Caddy's active health checks take it out, although its
	// stats say it holds the model.
	gw.load("ollama_poll 100ms\nfallback first",
		"health_uri /api/version\nhealth_interval 50ms\nhealth_timeout 1s", a, b)
	until(t, "a", post)
	a.api.failOther.Store(true)
	until(t, "b", post)
	if st := gw.polled()[a.addr()]; st.State != "ok" {
		t.Errorf("a polled as %+v: want ok, its API still answers", st)
	}
	for range 5 {
		if got := post(); got != "b" {
			t.Fatalf("went to %s, which health checks should have taken out", got)
		}
	}
	// And a stops altogether: closed, neither the poller nor the health checks reach it.
	a.srv.Close()
	deadline := time.Now().Add(5 * time.Second)
	for gw.polled()[a.addr()].State != "failing" {
		if time.Now().After(deadline) {
			t.Fatalf("a polled as %+v after it closed", gw.polled()[a.addr()])
		}
		time.Sleep(20 * time.Millisecond)
	}
	for range 5 {
		if got := post(); got != "b" {
			t.Fatalf("went to %s after a closed", got)
		}
	}
}

// TestPollNonOllamaMarkedOnce: an upstream that is not Ollama is asked once, not every interval, and gets no stats.
func TestPollNonOllamaMarkedOnce(t *testing.T) {
	a := newOllama(t, "a")
	a.holds([]string{"llama3.1:8b"})
	notFound := newOllama(t, "web") // answers 404 on /api/ps
	var htmlHits atomic.Int32
	html := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/ps" || r.URL.Path == "/api/tags" {
			htmlHits.Add(1)
		}
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, "<html><body>a web server</body></html>")
	}))
	t.Cleanup(html.Close)
	htmlUp := &ollama{name: "html", srv: html}

	g := startGateway(t, "ollama_poll 100ms\nfallback first", a, notFound, htmlUp)
	until(t, "a", func() string { return g.post("/api/chat", chatBody("llama3.1:8b")) })
	// Ten intervals and more.
	for end := time.Now().Add(1200 * time.Millisecond); time.Now().Before(end); {
		if got := g.post("/api/chat", chatBody("llama3.1:8b")); got != "a" {
			t.Fatalf("went to %s, an upstream without stats, over a with stats", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := notFound.api.psHits.Load() + notFound.api.tagsHits.Load(); n != 1 {
		t.Errorf("the 404 upstream was asked %d times, want once", n)
	}
	if n := htmlHits.Load(); n != 1 {
		t.Errorf("the HTML upstream was asked %d times, want once", n)
	}
	st := g.polled()
	for _, up := range []*ollama{notFound, htmlUp} {
		if s := st[up.addr()]; s.State != "not_ollama" || s.Report != nil {
			t.Errorf("%s polled as %+v, want not_ollama", up.name, s)
		}
	}
	if a.api.psHits.Load() < 8 {
		t.Errorf("a was asked %d times in 1.2s at 100ms", a.api.psHits.Load())
	}

	// With only such upstreams, the fallback decides.
	g.load("ollama_poll 100ms\nfallback first", "", notFound, htmlUp)
	if got := g.post("/api/chat", chatBody("llama3.1:8b")); got != "web" {
		t.Fatalf("went to %s, want the fallback's first", got)
	}
	if d := g.lastDecision(); d.Reason != "fallback:no-fresh-stats" {
		t.Errorf("decision %+v", d)
	}
}

// TestPollerEndsOnReload: a reload that changes the polling configuration stops the old poller, and one that turns
// polling off stops it altogether.
func TestPollerEndsOnReload(t *testing.T) {
	a, b := newOllama(t, "a"), newOllama(t, "b")
	a.holds([]string{"llama3.1:8b"})
	b.holds(nil, "llama3.1:8b")
	g := startGateway(t, "ollama_poll 100ms", a, b)
	until(t, "a", func() string { return g.post("/api/chat", chatBody("llama3.1:8b")) })
	base := ourGoroutines()
	for i := range 20 {
		g.load(fmt.Sprintf("ollama_poll %dms", 100+i%2*50), "", a, b)
		// A reload may close the connection a request was about to reuse.
		until(t, "a", func() string { return g.tryPost("/api/chat", chatBody("llama3.1:8b")) })
	}
	waitGoroutines(t, "after 20 reloads", func() bool { return ourGoroutines() <= base && pollerGoroutines() == 1 })

	g.load("ollama_poll off\nfallback first", "", a, b)
	waitGoroutines(t, "with ollama_poll off", func() bool { return pollerGoroutines() == 0 })
	hits := a.api.psHits.Load()
	time.Sleep(300 * time.Millisecond)
	if n := a.api.psHits.Load(); n != hits {
		t.Errorf("a was asked %d times after polling was turned off", n-hits)
	}
	if got := g.tryPost("/api/chat", chatBody("llama3.1:8b")); got != "a" {
		t.Errorf("went to %s, want the fallback's first", got)
	}
}

func pollerGoroutines() int {
	buf := make([]byte, 4<<20)
	n := 0
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if strings.Contains(g, "sollol-go/sollol/caddymodule.(*poller)") {
			n++
		}
	}
	return n
}

func waitGoroutines(t *testing.T, when string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%s: %d poller goroutines, %d of ours:\n%s", when, pollerGoroutines(), ourGoroutines(),
				buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAdaptNoRedisExample(t *testing.T) {
	in, err := readFile("../Caddyfile.no-redis.example")
	if err != nil {
		t.Fatal(err)
	}
	want, err := readFile("testdata/Caddyfile.no-redis.example.json")
	if err != nil {
		t.Fatal(err)
	}
	caddytest.AssertAdapt(t, in, "caddyfile", want)
}
