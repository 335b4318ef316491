package caddymodule_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/chromedp/chromedp"

	"github.com/sollol-go/sollol/caddymodule"
	"github.com/sollol-go/sollol/gpustats"
	"github.com/sollol-go/sollol/internal/redistest"
)

// fleetHash is bcrypt("fleet-password", cost 4), as `caddy hash-password` would give it (cheaper, for tests).
const fleetHash = "$2a$04$.ZzDfqy0QRPzW.64wOT/ruu2UwChzrkXhHWlhcujZi9SaMb5e7IDy"

// statusFleet is a gateway with three upstreams and their reports, the status page mounted twice: behind
// basic_auth under handle_path /fleet/*, and as a bare directive matching /ops* (which tests its order before
// reverse_proxy and a prefix that is not stripped).
type statusFleet struct {
	*gateway
	rds     *redistest.Server
	a, b, c *ollama
}

func startStatusFleet(t *testing.T) *statusFleet {
	f := &statusFleet{rds: redistest.Start(t), a: newOllama(t, "a"), b: newOllama(t, "b"), c: newOllama(t, "c")}
	f.gateway = &gateway{t: t, adminPort: freePort(t), httpPort: freePort(t)}
	f.tester = caddytest.NewTester(t).WithDefaultOverrides(caddytest.Config{AdminPort: f.adminPort})
	f.tester.InitServer(fmt.Sprintf(`{
	admin localhost:%d
	http_port %d
	skip_install_trust
}
http://127.0.0.1:%d {
	handle_path /fleet/* {
		basic_auth {
			admin %s
		}
		vram_aware_status
	}
	vram_aware_status /ops*
	reverse_proxy %s %s %s {
		lb_policy vram_aware {
			redis %s
			fallback first
		}
	}
}`, f.adminPort, f.httpPort, f.httpPort, fleetHash, f.a.addr(), f.b.addr(), f.c.addr(), f.rds.URL()), "caddyfile")

	now := gpustats.Timestamp(time.Now())
	gpu := func(i int, name string, total, free, util, temp, power float64) gpustats.GPU {
		return gpustats.GPU{Index: i, Name: name, MemoryTotalMB: gpustats.Measure(total), MemoryFreeMB: gpustats.Measure(free),
			MemoryUsedMB: gpustats.Measure(total - free), UtilizationPct: gpustats.Measure(util),
			TemperatureC: gpustats.Measure(temp), PowerW: gpustats.Measure(power)}
	}
	installed := func(names ...string) []gpustats.InstalledModel {
		out := make([]gpustats.InstalledModel, len(names))
		for i, n := range names {
			out[i] = gpustats.InstalledModel{Name: n, SizeMB: 4700}
		}
		return out
	}
	reports := []*gpustats.Report{
		{Vendor: gpustats.VendorNVIDIA, NodeID: f.a.addr(), Hostname: "gpu-a", Timestamp: now, Schema: gpustats.Schema,
			GPUs: []gpustats.GPU{gpu(0, "NVIDIA GeForce RTX 4090", 24564, 18900, 63, 61, 282.5),
				gpu(1, "NVIDIA GeForce RTX 4090", 24564, 23800, 4, 44, 31)},
			Ollama: &gpustats.Ollama{Reachable: true,
				Loaded:    []gpustats.LoadedModel{{Name: "llama3.1:8b", SizeMB: 5600, SizeVRAMMB: 5600}},
				Installed: installed("llama3.1:8b", "mistral:7b", "nomic-embed-text:latest")}},
		{Vendor: gpustats.VendorNVIDIA, NodeID: f.b.addr(), Hostname: "gpu-b", Timestamp: now, Schema: gpustats.Schema,
			GPUs: []gpustats.GPU{gpu(0, "NVIDIA A100 80GB PCIe", 81920, 52000, 88, 67, 301)},
			Ollama: &gpustats.Ollama{Reachable: true,
				Loaded:    []gpustats.LoadedModel{{Name: "qwen2.5:32b", SizeMB: 24000, SizeVRAMMB: 24000}},
				Installed: installed("qwen2.5:32b", "llama3.1:8b", "phi3:mini")}},
		{Vendor: gpustats.VendorNVIDIA, NodeID: f.c.addr(), Hostname: "gpu-c", Timestamp: now, Schema: gpustats.Schema,
			Draining: true, GPUs: []gpustats.GPU{gpu(0, "NVIDIA GeForce RTX 3090", 24576, 1300, 97, 78, 341)},
			Ollama: &gpustats.Ollama{Reachable: true,
				Loaded:    []gpustats.LoadedModel{{Name: "llama3.1:70b", SizeMB: 42000, SizeVRAMMB: 23000}},
				Installed: installed("llama3.1:70b")}},
	}
	p := gpustats.NewPublisher(f.rds.Client(), gpustats.PublisherOptions{})
	for _, r := range reports {
		if err := p.Publish(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		waitForReport(t, r.NodeID, r.Timestamp)
	}
	// Reports travel through Redis asynchronously: wait until the policy routes by them (the fallback would
	// choose a).
	until(t, "b", func() string { return f.post("/api/generate", `{"model":"qwen2.5:32b"}`) })
	if got := f.post("/api/chat", `{"model":"llama3.1:8b"}`); got != "a" {
		t.Fatalf("llama3.1:8b went to %s", got)
	}
	return f
}

// get fetches path from the gateway, with the page's basic_auth credentials when auth is set.
func (f *statusFleet) get(path string, auth bool) (*http.Response, []byte) {
	f.t.Helper()
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", f.httpPort, path), nil)
	if err != nil {
		f.t.Fatal(err)
	}
	if auth {
		req.SetBasicAuth("admin", "fleet-password")
	}
	// No redirects followed, so that the test sees them.
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return resp, body
}

func TestStatusPage(t *testing.T) {
	f := startStatusFleet(t)
	t.Run("json", func(t *testing.T) { testStatusJSON(t, f) })
	t.Run("files", func(t *testing.T) { testStatusFiles(t, f) })
	t.Run("browser", func(t *testing.T) { testStatusBrowser(t, f) })
}

func testStatusJSON(t *testing.T, f *statusFleet) {
	if resp, _ := f.get("/fleet/nodes.json", false); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without credentials: status %d, want 401", resp.StatusCode)
	}
	for _, path := range []string{"/fleet/nodes.json", "/ops/nodes.json"} {
		resp, body := f.get(path, true)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("%s: status %d, type %q: %s", path, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		var targets []caddymodule.Target
		if err := json.Unmarshal(body, &targets); err != nil {
			t.Fatalf("%s: %v: %s", path, err, body)
		}
		if len(targets) != 1 || !targets[0].Connected || len(targets[0].Nodes) != 3 || targets[0].Accepted < 3 {
			t.Fatalf("%s: %s", path, body)
		}
		nodes := map[string]caddymodule.NodeState{}
		for _, n := range targets[0].Nodes {
			nodes[n.ID] = n
		}
		a, c := nodes[f.a.addr()], nodes[f.c.addr()]
		if a.Report == nil || len(a.Report.GPUs) != 2 || a.Report.Hostname != "gpu-a" || a.TotalMB != 2*24564 || a.Stale ||
			a.Report.Ollama.Loaded[0].Name != "llama3.1:8b" || len(a.Report.Ollama.Installed) != 3 {
			t.Errorf("%s: node a: %+v", path, a)
		}
		if !c.Draining || c.FreeMB != 1300 {
			t.Errorf("%s: node c: %+v", path, c)
		}
	}

	_, body := f.get("/fleet/decisions.json?limit=2", true)
	var decisions []caddymodule.Decision
	if err := json.Unmarshal(body, &decisions); err != nil {
		t.Fatal(err)
	}
	if len(decisions) != 2 || decisions[0].Upstream != f.a.addr() || decisions[0].Model != "llama3.1:8b" ||
		decisions[0].Reason != "resident" || decisions[1].Model != "qwen2.5:32b" || decisions[0].Time.Before(decisions[1].Time) {
		t.Fatalf("decisions, newest first: %s", body)
	}
	if resp, _ := f.get("/fleet/decisions.json?limit=none", true); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("limit=none: status %d, want 400", resp.StatusCode)
	}
}

func testStatusFiles(t *testing.T, f *statusFleet) {
	for _, tc := range []struct {
		path, wantType, wantBody string
		status                   int
	}{
		{"/fleet/", "text/html; charset=utf-8", `<script src="status.js"`, 200},
		{"/fleet/index.html", "text/html; charset=utf-8", `<link rel="stylesheet" href="status.css">`, 200},
		{"/fleet/status.js", "text/javascript; charset=utf-8", `getJSON("nodes.json")`, 200},
		{"/fleet/status.css", "text/css; charset=utf-8", ".bar", 200},
		{"/ops/", "text/html; charset=utf-8", "<title>", 200},
		{"/fleet/missing.png", "", "", 404},
	} {
		resp, body := f.get(tc.path, true)
		if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != tc.wantType || !strings.Contains(string(body), tc.wantBody) {
			t.Errorf("%s: status %d, type %q, body %.80q", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	}
	resp, _ := f.get("/fleet/", true)
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("page CSP %q", csp)
	}
	// The mount path without its slash goes under it, relative to where the browser is.
	if resp, _ := f.get("/ops", true); resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "ops/" {
		t.Errorf("/ops: status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/ops/nodes.json", f.httpPort), nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
}

// testStatusBrowser opens the page behind basic_auth in headless Chromium, checks that it shows the nodes and the
// decisions, sends one more request and waits for the page to show it, and saves a screenshot. With
// SOLLOL_STATUS_SCREENSHOT set it also writes the screenshot there (docs/status-page.png is made that way).
func testStatusBrowser(t *testing.T, f *statusFleet) {
	ctx := browser(t)
	// Credentials in the URL, as an operator may type them: the browser authenticates the page with them, and
	// the page's fetches must work without them (fetch refuses URLs that carry credentials).
	page := fmt.Sprintf("http://admin:fleet-password@127.0.0.1:%d/fleet/", f.httpPort)
	if err := chromedp.Do(ctx, chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS(`tr[data-reason="resident"]`))); err != nil {
		t.Fatalf("page at %s: %v", page, err)
	}
	nodes, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("article.node")].map(e => e.dataset.node)`))
	if err != nil {
		t.Fatal(err)
	}
	// In the order of their host names, gpu-a, gpu-b, gpu-c.
	if strings.Join(nodes, " ") != strings.Join([]string{f.a.addr(), f.b.addr(), f.c.addr()}, " ") {
		t.Errorf("page shows nodes %q", nodes)
	}
	targets, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#targets")))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"gpu-a", "NVIDIA A100 80GB PCIe", "draining", "llama3.1:8b", "phi3:mini", "connected"} {
		if !strings.Contains(targets, want) {
			t.Errorf("page does not show %q:\n%s", want, targets)
		}
	}
	// Traffic after the page loaded shows up on its own: mistral:7b is installed on a and fits there.
	if got := f.post("/api/chat", `{"model":"mistral:7b"}`); got != "a" {
		t.Fatalf("mistral:7b went to %s", got)
	}
	// Wait for this decision's own row: the list may hold other "fits" decisions already.
	rowJS := `[...document.querySelectorAll('tr[data-reason="fits"]')].map(r => r.textContent).find(t => t.includes("mistral:7b")) || ""`
	row, err := chromedp.Run(ctx, chromedp.Poll[string](rowJS, chromedp.WithPollingTimeout(10*time.Second)))
	if err != nil {
		t.Fatalf("the new decision did not appear: %v", err)
	}
	if !strings.Contains(row, f.a.addr()) {
		t.Errorf("decision row %q", row)
	}
	if err := chromedp.Do(ctx, chromedp.Sleep(500*time.Millisecond)); err != nil { // let the bars and rows settle
		t.Fatal(err)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "status-page.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Log("screenshot:", path)
	if out := os.Getenv("SOLLOL_STATUS_SCREENSHOT"); out != "" {
		if err := os.WriteFile(out, shot, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Log("screenshot also written to", out)
	}
}

// browser starts headless Chromium for the test. Without Chromium the test is skipped, except on CI (CI=true),
// where scripts/need-chromium.sh must have installed it and its absence is a failure.
func browser(t *testing.T) context.Context {
	t.Helper()
	exe, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is not installed, and CI=true: run scripts/need-chromium.sh first")
		}
		t.Skip("chromium is not installed (apt-get install chromium, or scripts/need-chromium.sh): skipping the browser test")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelBrowser := chromedp.NewContext(actx)
	// Start the browser outside the timeout below: a Run under a context that ends would kill it.
	if err := chromedp.Do(ctx); err != nil {
		cancelBrowser()
		cancelAlloc()
		t.Fatalf("starting %s: %v", exe, err)
	}
	tctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() {
		cancelTimeout()
		cancelBrowser() // closes the browser and waits for it, before t.TempDir removes its profile
		cancelAlloc()
	})
	return tctx
}

// TestStatusRedirectAfterStrip: with handle_path /fleet*, a request for /fleet reaches the handler as an empty
// path; the original request says the browser is at /fleet, so it is sent to fleet/.
func TestStatusRedirectAfterStrip(t *testing.T) {
	orig := httptest.NewRequest(http.MethodGet, "/fleet", nil)
	r := orig.Clone(context.WithValue(orig.Context(), caddyhttp.OriginalRequestCtxKey, *orig))
	r.URL.Path = ""
	w := httptest.NewRecorder()
	if err := (caddymodule.Status{}).ServeHTTP(w, r, nil); err != nil {
		t.Fatal(err)
	}
	if w.Code != http.StatusFound || w.Header().Get("Location") != "fleet/" {
		t.Fatalf("status %d, Location %q", w.Code, w.Header().Get("Location"))
	}
}
