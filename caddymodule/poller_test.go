package caddymodule

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/sollol-go/sollol/gpustats"
)

// fakeOllama answers /api/ps and /api/tags with settable bodies (or statuses) and counts the requests.
type fakeOllama struct {
	srv              *httptest.Server
	ps, tags         atomic.Pointer[string]
	status           atomic.Int32 // non-zero: every answer has this status
	psHits, tagsHits atomic.Int32
	inFlight         atomic.Int32
	delay            time.Duration
}

func newFakeOllama(t *testing.T, ps, tags string) *fakeOllama {
	f := &fakeOllama{}
	f.ps.Store(&ps)
	f.tags.Store(&tags)
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.inFlight.Add(1)
		defer f.inFlight.Add(-1)
		if f.delay > 0 {
			select {
			case <-time.After(f.delay):
			case <-r.Context().Done():
				return
			}
		}
		var body *string
		switch r.URL.Path {
		case "/api/ps":
			f.psHits.Add(1)
			body = f.ps.Load()
		case "/api/tags":
			f.tagsHits.Add(1)
			body = f.tags.Load()
		default:
			http.NotFound(w, r)
			return
		}
		if s := f.status.Load(); s != 0 {
			w.WriteHeader(int(s))
		}
		w.Write([]byte(*body))
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeOllama) dial() string { return f.srv.Listener.Addr().String() }

const (
	psLlama   = `{"models":[{"name":"llama3.1:8b","model":"llama3.1:8b","size":5452595200,"size_vram":5452595200}]}`
	psCPU     = `{"models":[{"name":"qwen2.5:7b","model":"qwen2.5:7b","size":4718592000,"size_vram":0}]}`
	tagsThree = `{"models":[{"name":"llama3.1:8b","size":4920000000},{"name":"qwen2.5:7b","size":4683087332},{"name":"mistral:7b","size":4100000000}]}`
)

func startPoller(t *testing.T, opts pollOptions) *poller {
	t.Helper()
	if opts.Interval == 0 {
		opts.Interval = 50 * time.Millisecond
	}
	p := newPoller(newPollerKey(opts.Interval, opts.VRAM), opts, zap.NewNop())
	p.start()
	t.Cleanup(func() { p.Destruct() })
	return p
}

// waitNode calls lookup, as Select does, until check accepts the node or 5 s pass.
func waitNode(t *testing.T, p *poller, dial string, what string, check func(*gpustats.Node) bool) *gpustats.Node {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := p.lookup(dial, p.opts.Clock.Now())
		if check(n) {
			return n
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s never came; status %+v", dial, what, p.status(dial))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (p *poller) status(dial string) *pollStatus {
	if t := p.index.Load().targets[dial]; t != nil {
		return t.status.Load()
	}
	return nil
}

func TestPollerBuildsNodes(t *testing.T) {
	a := newFakeOllama(t, psLlama, tagsThree)
	b := newFakeOllama(t, psCPU, tagsThree)
	p := startPoller(t, pollOptions{VRAM: map[string]int64{b.dial(): 24 << 30}})

	if n := p.lookup(a.dial(), time.Now()); n != nil {
		t.Fatalf("a node before any poll: %+v", n)
	}
	na := waitNode(t, p, a.dial(), "a node", func(n *gpustats.Node) bool { return n != nil })
	if !na.GPU || na.MemoryKnown || na.Report.NodeID != a.dial() || na.Report.Vendor != gpustats.VendorUnknown {
		t.Errorf("a: GPU %v, memory known %v, id %q, vendor %q: want a GPU node of unknown memory named by its dial address",
			na.GPU, na.MemoryKnown, na.Report.NodeID, na.Report.Vendor)
	}
	if m := na.Model("llama3.1:8b"); !m.Loaded || m.SizeVRAMMB != 5200 {
		t.Errorf("a loaded llama3.1:8b: %+v", m)
	}
	if m := na.Model("mistral:7b"); !na.InstalledKnown || !m.Installed || m.DiskMB != 3910 {
		t.Errorf("a installed mistral:7b: %+v, known %v", m, na.InstalledKnown)
	}
	if m := na.Model("phi3:latest"); m.Installed {
		t.Errorf("a installed phi3: %+v, want not installed", m)
	}
	if err := na.Report.Validate(na.Updated, time.Second); err != nil {
		t.Errorf("the polled report would not pass as a real one: %v", err)
	}

	// With vram, free memory is the total less what the loaded models hold in GPU memory (none here: on the CPU).
	nb := waitNode(t, p, b.dial(), "b node", func(n *gpustats.Node) bool { return n != nil })
	if !nb.MemoryKnown || nb.TotalMB != 24576 || nb.FreeMB != 24576 {
		t.Errorf("b: memory known %v, total %v, free %v", nb.MemoryKnown, nb.TotalMB, nb.FreeMB)
	}
	b.ps.Store(ptrTo(psLlama))
	waitNode(t, p, b.dial(), "b with llama loaded", func(n *gpustats.Node) bool { return n != nil && n.FreeMB == 24576-5200 })
}

func ptrTo(s string) *string { return &s }

func TestPolledNodeMemory(t *testing.T) {
	now := time.Now()
	loaded := []gpustats.LoadedModel{{Name: "a", SizeMB: 6000, SizeVRAMMB: 5000}, {Name: "b", SizeMB: 3000, SizeVRAMMB: 3000}}
	for _, tc := range []struct {
		vram        int64
		known       bool
		total, free float64
	}{
		{0, false, 0, 0},
		{24 << 30, true, 24576, 24576 - 8000},
		// The models hold more than the stated total (a wrong vram line, or spilled onto a second GPU): none free.
		{4 << 30, true, 4096, 0},
	} {
		n := polledNode("h:1", loaded, nil, tc.vram, now, nil)
		if n.MemoryKnown != tc.known || n.TotalMB != tc.total || n.FreeMB != tc.free || !n.GPU {
			t.Errorf("vram %d: known %v total %v free %v gpu %v", tc.vram, n.MemoryKnown, n.TotalMB, n.FreeMB, n.GPU)
		}
		if n.InstalledKnown {
			t.Errorf("vram %d: installed models known without /api/tags", tc.vram)
		}
		if err := n.Report.Validate(now, time.Second); err != nil {
			t.Errorf("vram %d: %v", tc.vram, err)
		}
	}
}

// TestPollerFailingUpstream: an upstream whose API fails loses its node at once, and gets it back when it answers.
func TestPollerFailingUpstream(t *testing.T) {
	f := newFakeOllama(t, psLlama, tagsThree)
	p, c := startFakePoller(t, pollOptions{})
	waitNode(t, p, f.dial(), "node", func(n *gpustats.Node) bool { return n != nil })
	f.status.Store(500)
	c.round(t, p)
	if n := p.lookup(f.dial(), c.Now()); n != nil {
		t.Errorf("a node after a failed poll: %+v", n)
	}
	if st := p.status(f.dial()); st.state != pollFailing || !strings.Contains(st.err, "500") || st.failures != 1 {
		t.Errorf("status %+v", st)
	}
	// Still asked every round: a failing Ollama may come back any time.
	hits := f.psHits.Load()
	for range 3 {
		c.round(t, p)
	}
	if n := f.psHits.Load() - hits; n != 3 || p.status(f.dial()).failures != 4 {
		t.Errorf("asked %d times in 3 rounds, status %+v", n, p.status(f.dial()))
	}
	f.status.Store(0)
	c.round(t, p)
	if p.lookup(f.dial(), c.Now()) == nil {
		t.Error("no node after Ollama answered again")
	}

	// Closed: connection refused.
	f.srv.Close()
	c.round(t, p)
	if st := p.status(f.dial()); p.lookup(f.dial(), c.Now()) != nil || st.state != pollFailing || st.failures != 1 {
		t.Errorf("after close: status %+v", st)
	}
}

// TestPollerNotOllama: 404 or an answer that is not Ollama's is asked once, then left alone for NotOllamaRetry.
func TestPollerNotOllama(t *testing.T) {
	for name, set := range map[string]func(f *fakeOllama){
		"404":          func(f *fakeOllama) { f.status.Store(404) },
		"html":         func(f *fakeOllama) { f.ps.Store(ptrTo("<html>hello</html>")) },
		"another JSON": func(f *fakeOllama) { f.ps.Store(ptrTo(`{"status":"ok"}`)) },
	} {
		t.Run(name, func(t *testing.T) {
			f := newFakeOllama(t, psLlama, tagsThree)
			set(f)
			p, c := startFakePoller(t, pollOptions{NotOllamaRetry: 400 * time.Millisecond})
			deadline := time.Now().Add(5 * time.Second)
			for st := p.status(f.dial()); st == nil || st.state != pollNotOllama; st = p.status(f.dial()) {
				if p.lookup(f.dial(), c.Now()) != nil || time.Now().After(deadline) {
					t.Fatalf("status %+v", st)
				}
				time.Sleep(5 * time.Millisecond)
			}
			refused := c.Now()
			for range 5 {
				c.round(t, p)
			}
			if n := f.psHits.Load() + f.tagsHits.Load(); n != 1 {
				t.Errorf("asked %d times in 5 rounds within NotOllamaRetry, want once", n)
			}
			// Once NotOllamaRetry has passed it is asked again, and may have become an Ollama meanwhile.
			f.status.Store(0)
			f.ps.Store(ptrTo(psLlama))
			for p.lookup(f.dial(), c.Now()) == nil {
				if c.since(refused) > 450*time.Millisecond {
					t.Fatalf("no node %s after the refusal", c.since(refused))
				}
				c.round(t, p)
			}
			if d := c.since(refused); d < 400*time.Millisecond {
				t.Errorf("asked again %s after the refusal, before NotOllamaRetry", d)
			}
		})
	}
}

func TestPollerTagsLessOften(t *testing.T) {
	f := newFakeOllama(t, psLlama, tagsThree)
	p, c := startFakePoller(t, pollOptions{TagsEvery: time.Hour})
	waitNode(t, p, f.dial(), "node", func(n *gpustats.Node) bool { return n != nil })
	for range 4 {
		c.round(t, p)
	}
	if f.tagsHits.Load() != 1 || f.psHits.Load() != 5 {
		t.Errorf("in the first poll and 4 rounds: ps %d, tags %d; want 5 and 1", f.psHits.Load(), f.tagsHits.Load())
	}
}

// TestPollerTagsFailing: /api/tags failing keeps the installed models last listed; a 404 there makes them unknown.
func TestPollerTagsFailing(t *testing.T) {
	var tagsStatus, tagsHits atomic.Int32
	dial := serveFunc(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/tags" {
			tagsHits.Add(1)
			if s := tagsStatus.Load(); s != 0 {
				http.Error(w, "no", int(s))
				return
			}
			w.Write([]byte(tagsThree))
			return
		}
		w.Write([]byte(psLlama))
	})
	p, c := startFakePoller(t, pollOptions{TagsEvery: 30 * time.Millisecond})
	waitNode(t, p, dial, "installed models", func(n *gpustats.Node) bool { return n != nil && n.InstalledKnown })
	// Every round is at least 40ms, beyond TagsEvery: each asks /api/tags.
	tagsStatus.Store(500)
	for range 3 {
		c.round(t, p)
	}
	if n := p.lookup(dial, c.Now()); tagsHits.Load() != 4 || n == nil || !n.InstalledKnown {
		t.Errorf("after 3 failed /api/tags (%d asked in all): node %v, want the installed models kept", tagsHits.Load(), n)
	}
	tagsStatus.Store(404)
	c.round(t, p)
	if n := p.lookup(dial, c.Now()); n == nil || n.InstalledKnown {
		t.Errorf("after /api/tags answered 404: node %v, want the installed models unknown", n)
	}
}

func serveFunc(t *testing.T, h http.HandlerFunc) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// TestPollerForgetsGoneUpstreams: an upstream no request considers any more (a dynamic upstream that went away) is
// dropped, and no longer asked.
func TestPollerForgetsGoneUpstreams(t *testing.T) {
	f := newFakeOllama(t, psLlama, tagsThree)
	p, c := startFakePoller(t, pollOptions{Forget: 300 * time.Millisecond})
	waitNode(t, p, f.dial(), "node", func(n *gpustats.Node) bool { return n != nil })
	seen := c.Now()
	for p.status(f.dial()) != nil {
		if c.since(seen) > 300*time.Millisecond {
			t.Fatalf("still polled %s after a request last considered it", c.since(seen))
		}
		c.round(t, p)
	}
	if c.since(seen) <= 300*time.Millisecond-50*time.Millisecond {
		t.Errorf("forgotten %s after it was last considered, before Forget", c.since(seen))
	}
	hits := f.psHits.Load()
	for range 3 {
		c.round(t, p)
	}
	if f.psHits.Load() != hits {
		t.Errorf("asked %d times after it was forgotten", f.psHits.Load()-hits)
	}
	// Seen again: polled again.
	waitNode(t, p, f.dial(), "node after it came back", func(n *gpustats.Node) bool { return n != nil })
}

func TestPollerConcurrencyBounded(t *testing.T) {
	var most, inFlight atomic.Int32
	slow := func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(20 * time.Millisecond)
		if r.URL.Path == "/api/ps" {
			w.Write([]byte(psLlama))
		} else {
			w.Write([]byte(tagsThree))
		}
	}
	var dials []string
	for range 10 {
		dials = append(dials, serveFunc(t, slow))
	}
	p := startPoller(t, pollOptions{Interval: 200 * time.Millisecond, Concurrency: 3})
	for _, d := range dials {
		p.lookup(d, time.Now())
	}
	for _, d := range dials {
		waitNode(t, p, d, "node", func(n *gpustats.Node) bool { return n != nil })
	}
	if m := most.Load(); m > 3 || m < 2 {
		t.Errorf("at most %d requests in flight, want 3 at most (and more than one)", m)
	}
}

// TestPollerUnsupportedDials: addresses the poller cannot reach over TCP are never asked.
func TestPollerUnsupportedDials(t *testing.T) {
	p := startPoller(t, pollOptions{})
	for _, d := range []string{"{http.request.host}:11434", "unix//run/ollama.sock", "localhost", ":11434"} {
		p.lookup(d, time.Now())
		deadline := time.Now().Add(5 * time.Second)
		for p.status(d) == nil {
			if time.Now().After(deadline) {
				t.Fatalf("%s: never seen", d)
			}
			p.lookup(d, time.Now())
			time.Sleep(5 * time.Millisecond)
		}
		if st := p.status(d); st.state != pollUnsupported {
			t.Errorf("%s: %+v", d, st)
		}
	}
}

// TestPollerStops: Destruct ends every goroutine of the poller, requests in flight included, at once.
func TestPollerStops(t *testing.T) {
	f := newFakeOllama(t, psLlama, tagsThree)
	f.delay = time.Hour
	base := pollerGoroutines()
	p := newPoller(newPollerKey(50*time.Millisecond, nil), pollOptions{Interval: 50 * time.Millisecond, Timeout: time.Hour},
		zap.NewNop())
	p.start()
	p.lookup(f.dial(), time.Now())
	deadline := time.Now().Add(5 * time.Second)
	for f.inFlight.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("never asked")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if pollerGoroutines() < base+2 {
		t.Fatalf("%d poller goroutines: want the loop and a poll", pollerGoroutines())
	}
	start := time.Now()
	p.Destruct()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Destruct took %s", d)
	}
	if n := pollerGoroutines(); n > base {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d poller goroutines after Destruct, %d before start:\n%s", n, base, buf[:runtime.Stack(buf, true)])
	}
}

func pollerGoroutines() int {
	buf := make([]byte, 4<<20)
	n := 0
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if strings.Contains(g, "caddymodule.(*poller)") {
			n++
		}
	}
	return n
}

// TestPollerMetrics: Prometheus sees the polled upstreams by state, through the pollers in use.
func TestPollerMetrics(t *testing.T) {
	ok := newFakeOllama(t, psLlama, tagsThree)
	web := newFakeOllama(t, psLlama, tagsThree)
	web.status.Store(404)
	p, err := acquirePoller(pollOptions{Interval: 50 * time.Millisecond}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { releasePoller(p) })
	waitNode(t, p, ok.dial(), "node", func(n *gpustats.Node) bool { return n != nil })
	deadline := time.Now().Add(5 * time.Second)
	for st := p.status(web.dial()); st == nil || st.state != pollNotOllama; st = p.status(web.dial()) {
		if p.lookup(web.dial(), time.Now()); time.Now().After(deadline) {
			t.Fatalf("status %+v", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
	reg := prometheus.NewRegistry()
	if err := registerMetrics(reg); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		if f.GetName() == "caddy_vram_aware_ollama_upstreams" {
			for _, m := range f.GetMetric() {
				got[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
			}
		}
	}
	if got["ok"] != 1 || got["not_ollama"] != 1 || got["failing"] != 0 || len(got) != 5 {
		t.Errorf("caddy_vram_aware_ollama_upstreams: %v", got)
	}
}

func TestPollerJitter(t *testing.T) {
	p := newPoller(pollerKey{}, pollOptions{Interval: 5 * time.Second}, zap.NewNop())
	seen := map[time.Duration]bool{}
	for range 1000 {
		d := p.jitter()
		if d < 4*time.Second || d > 5*time.Second {
			t.Fatalf("jitter %s outside [4s, 5s]", d)
		}
		seen[d] = true
	}
	if len(seen) < 100 {
		t.Errorf("only %d distinct delays in 1000", len(seen))
	}
}

func TestPollerKey(t *testing.T) {
	a := newPollerKey(time.Second, map[string]int64{"a:1": 1, "b:1": 2})
	b := newPollerKey(time.Second, map[string]int64{"b:1": 2, "a:1": 1})
	if a != b {
		t.Errorf("same configuration, different keys: %v %v", a, b)
	}
	for _, other := range []pollerKey{
		newPollerKey(2*time.Second, map[string]int64{"a:1": 1, "b:1": 2}),
		newPollerKey(time.Second, map[string]int64{"a:1": 1, "b:1": 3}),
		newPollerKey(time.Second, map[string]int64{"a:1=1;": 2}),
		newPollerKey(time.Second, nil),
	} {
		if other == a {
			t.Errorf("different configurations share the key %v", a)
		}
	}
}

func TestPollURL(t *testing.T) {
	for dial, want := range map[string]string{
		"127.0.0.1:11434":   "http://127.0.0.1:11434",
		"localhost:11435":   "http://localhost:11435",
		"[::1]:11434":       "http://[::1]:11434",
		"gpu1.lan:80":       "http://gpu1.lan:80",
		"localhost":         "",
		"unix//x.sock":      "",
		"{upstream}:11434":  "",
		":11434":            "",
		"tcp/127.0.0.1:1":   "",
		"127.0.0.1:1-2":     "",
		"10.0.0.5:11434/ab": "",
	} {
		got, ok := pollURL(dial)
		if got != want || ok != (want != "") {
			t.Errorf("pollURL(%q) = %q, %v; want %q", dial, got, ok, want)
		}
	}
}
