package caddymodule_test

import (
	"bytes"
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
	"sync"
	"testing"
	"time"

	"github.com/sollol-go/sollol/caddymodule"
	"github.com/sollol-go/sollol/gpustats"
	"github.com/sollol-go/sollol/internal/redistest"
)

// TestGatewaysTwoProcesses runs two gateways, each the cmd/caddy binary in a process of its own (Caddy keeps one
// instance per process), in front of the same two nodes and on one Redis, and shows that each decides on what
// the other does: a request held in flight through gateway A steers B's requests to the other node, a cold load
// that A starts is joined by B's next request for the model (the herd guard across gateways), a killed A drops
// out of B's picture within its key's TTL, and with Redis down B warns once and keeps deciding.
func TestGatewaysTwoProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cmd/caddy")
	}
	rds := redistest.Start(t)
	bin := buildCaddy(t)
	release := make(chan struct{})
	var once sync.Once
	unhold := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unhold)
	n1, n2 := newHoldingOllama(t, "n1", release), newHoldingOllama(t, "n2", release)
	pub := gpustats.NewPublisher(rds.Client(), gpustats.PublisherOptions{})
	for _, o := range []*httptest.Server{n1, n2} {
		r := rtxReport(&ollama{srv: o}, 20000, time.Now(), "m")
		if err := pub.Publish(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	// Both processes have the same Caddy instance id, as two on one machine would (in data directories of their
	// own, as Caddy's local CA must not be created by two processes at once).
	const instance = "0b6a4e2c-5d8f-4c1a-9e3b-7f2d1c0a9b8e"
	// A slow prefill makes a cached prompt count more than what each gateway learned of the nodes.
	a := startCaddyProcess(t, bin, caddyData(t, instance), "gateway_id gw-a\nprefill_speed 10", rds.URL(), n1, n2)
	b := startCaddyProcess(t, bin, caddyData(t, instance), "prefill_speed 10", rds.URL(), n1, n2)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gateway A's log:\n%s", a.log.String())
		}
	})
	bID := b.waitPeer(t, "gw-a")
	if a.waitPeer(t, bID) == "" || !strings.HasPrefix(bID, instance+"-") {
		t.Fatalf("B's default id %q", bID)
	}
	name := map[string]string{n1.Listener.Addr().String(): "n1", n2.Listener.Addr().String(): "n2"}

	// A request held in flight through A makes B send its requests for the same model to the other node.
	held := make(chan string, 1)
	go func() {
		c, err := a.tryDecide(`{"model":"m","hold":true}`)
		if err != nil {
			t.Error(err)
		}
		held <- c.upstream
	}()
	busy := b.waitFor(t, "A's request in flight", func(g caddymodule.GatewayTarget) string {
		for _, o := range g.Others {
			for up, n := range o.InFlight {
				if o.ID == "gw-a" && n == 1 {
					return up
				}
			}
		}
		return ""
	})
	for i := range 5 {
		if d := b.decide(t, `{"model":"m"}`); d.upstream == busy {
			t.Fatalf("request %d through B went to %s, busy with A's request (%+v)", i, name[busy], d)
		}
	}
	unhold()
	if got := <-held; got != busy {
		t.Fatalf("A's held request went to %s, B saw it in flight at %s", got, busy)
	}

	// A cold load started through A is joined by B's next request for that model.
	da := a.decide(t, `{"model":"cold"}`)
	if da.reason != "fits" {
		t.Fatalf("A's first request for a cold model: %+v, want a cold load (fits)", da)
	}
	b.waitFor(t, "A's pending load", func(g caddymodule.GatewayTarget) string {
		for _, o := range g.Others {
			if o.ID == "gw-a" && o.Loads > 0 {
				return "seen"
			}
		}
		return ""
	})
	if db := b.decide(t, `{"model":"cold"}`); db.upstream != da.upstream || db.reason != "loading" {
		t.Fatalf("B's request for the model A is loading on %s: %+v, want to join the load (loading)", name[da.upstream], db)
	}

	// A conversation's turn 1 through A steers its turn 2 through B to the same node (affinity).
	prompt := strings.Repeat("tell me about gateways and their fleets. ", 30)
	t1 := a.decide(t, `{"model":"m","prompt":"`+prompt+`"}`)
	b.waitFor(t, "A's prompt", func(g caddymodule.GatewayTarget) string {
		for _, o := range g.Others {
			if o.ID == "gw-a" && o.Prompts > 0 {
				return "seen"
			}
		}
		return ""
	})
	if t2 := b.decide(t, `{"model":"m","prompt":"`+prompt+`and then?"}`); t2.upstream != t1.upstream || t2.reason != "cached" {
		t.Fatalf("turn 2 through B: %+v, want %s (turn 1 through A) with reason cached", t2, name[t1.upstream])
	}

	// A killed gateway drops out of the other's picture within its key's TTL.
	ttl, err := time.ParseDuration(b.gateways(t).TTL)
	if err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	a.cmd.Process.Kill()
	b.waitFor(t, "A to drop out", func(g caddymodule.GatewayTarget) string {
		if len(g.Others) == 0 {
			return "gone"
		}
		return ""
	})
	if took := time.Since(killed); took > ttl+time.Second {
		t.Errorf("killed gateway dropped out after %s, beyond its TTL %s", took, ttl)
	}

	// Redis down: B warns once and decides alone.
	rds.Stop()
	b.waitFor(t, "failed exchanges", func(g caddymodule.GatewayTarget) string {
		if !g.Connected && g.Failures >= 10 {
			return "down"
		}
		return ""
	})
	for range 3 {
		if d := b.decide(t, `{"model":"m"}`); d.upstream == "" {
			t.Fatalf("no decision with Redis down: %+v", d)
		}
	}
	warnings := 0
	for _, line := range strings.Split(b.log.String(), "\n") {
		if strings.Contains(line, `"level":"warn"`) && strings.Contains(line, "Redis") {
			warnings++
		}
	}
	if n := strings.Count(b.log.String(), "cannot share state with the other gateways"); n != 1 || warnings != 1 {
		t.Errorf("with Redis down: %d warnings about Redis, want 1, and %d notes that the gateway decides alone, want 1:\n%s",
			warnings, n, b.log.String())
	}
}

// caddyData returns a data directory (XDG_DATA_HOME) whose Caddy instance id is instance.
func caddyData(t *testing.T, instance string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "caddy"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "caddy", "instance.uuid"), []byte(instance), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// buildCaddy builds cmd/caddy into the test's temporary directory.
func buildCaddy(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "caddy")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/caddy").CombinedOutput()
	if err != nil {
		t.Fatalf("go build ./cmd/caddy: %v\n%s", err, out)
	}
	return bin
}

// newHoldingOllama is a stand-in Ollama that answers with its name, and holds a request whose body says "hold"
// until release closes.
func newHoldingOllama(t *testing.T, name string, release <-chan struct{}) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if bytes.Contains(body, []byte(`"hold"`)) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"upstream":%q}`, name)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// caddyProcess is one gateway: the caddy binary running a Caddyfile, its log kept.
type caddyProcess struct {
	cmd         *exec.Cmd
	admin, http int
	log         *syncBuffer
}

func startCaddyProcess(t *testing.T, bin, data, extra, redisURL string, ups ...*httptest.Server) *caddyProcess {
	t.Helper()
	p := &caddyProcess{admin: freePort(t), http: freePort(t), log: new(syncBuffer)}
	addrs := make([]string, len(ups))
	for i, u := range ups {
		addrs[i] = u.Listener.Addr().String()
	}
	cfg := fmt.Sprintf(`{
	admin 127.0.0.1:%d
	http_port %d
	skip_install_trust
}
http://127.0.0.1:%d {
	reverse_proxy %s {
		lb_policy vram_aware {
			redis %s
			stale_after 1m
			ollama_poll off
			share_state 50ms
			decision_header X-Decision
			%s
		}
	}
}
`, p.admin, p.http, p.http, strings.Join(addrs, " "), redisURL, extra)
	path := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin, "run", "--config", path, "--adapter", "caddyfile")
	p.cmd.Env = append(os.Environ(), "HOME="+data, "XDG_DATA_HOME="+data, "XDG_CONFIG_HOME="+data)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		p.cmd.Wait()
	})
	return p
}

// gateways returns the process's only Redis target of GET /vram_aware/gateways, zero while it has none.
func (p *caddyProcess) gateways(t *testing.T) caddymodule.GatewayTarget {
	t.Helper()
	var out []caddymodule.GatewayTarget
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/vram_aware/gateways", p.admin))
	if err != nil {
		return caddymodule.GatewayTarget{}
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || len(out) != 1 {
		return caddymodule.GatewayTarget{}
	}
	return out[0]
}

// waitFor waits (at most 15 s) until f of the process's gateways answers something, and returns it.
func (p *caddyProcess) waitFor(t *testing.T, what string, f func(caddymodule.GatewayTarget) string) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		g := p.gateways(t)
		if v := f(g); v != "" {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: gateways %+v\nlog:\n%s", what, g, p.log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitPeer waits until the process sees the gateway id among the others (any, when id is empty, but itself) and
// returns its own id.
func (p *caddyProcess) waitPeer(t *testing.T, id string) string {
	t.Helper()
	return p.waitFor(t, "gateway "+id, func(g caddymodule.GatewayTarget) string {
		for _, o := range g.Others {
			if o.ID == id {
				return g.ID
			}
		}
		return ""
	})
}

type choice struct{ upstream, node, reason string }

// decide sends a generate request with body through the gateway and returns its decision.
func (p *caddyProcess) decide(t *testing.T, body string) choice {
	t.Helper()
	c, err := p.tryDecide(body)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (p *caddyProcess) tryDecide(body string) (choice, error) {
	var c choice
	resp, err := testClient.Post(fmt.Sprintf("http://127.0.0.1:%d/api/generate", p.http), "application/json", strings.NewReader(body))
	if err != nil {
		return c, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	for part := range strings.SplitSeq(resp.Header.Get("X-Decision"), "; ") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "upstream":
			c.upstream = v
		case "node":
			c.node = v
		case "reason":
			c.reason = v
		}
	}
	if resp.StatusCode != http.StatusOK {
		return c, fmt.Errorf("%s: status %d (%+v)", body, resp.StatusCode, c)
	}
	return c, nil
}

// syncBuffer is a bytes.Buffer safe for a process's output and the test reading it at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
