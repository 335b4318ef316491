package caddymodule_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"

	"github.com/sollol-go/sollol/gpustats"
	"github.com/sollol-go/sollol/internal/redistest"
)

// startLoggedGateway is startGateway with Caddy's default log written, as JSON, to the returned file.
func startLoggedGateway(t *testing.T, policy string, ups ...*ollama) (*gateway, string) {
	logFile := filepath.Join(t.TempDir(), "caddy.log")
	g := &gateway{t: t, adminPort: freePort(t), httpPort: freePort(t)}
	g.tester = caddytest.NewTester(t).WithDefaultOverrides(caddytest.Config{AdminPort: g.adminPort})
	cfg := strings.Replace(g.config(policy, "", ups...), "\tskip_install_trust\n",
		"\tskip_install_trust\n\tlog {\n\t\toutput file "+logFile+"\n\t\tformat json\n\t\tlevel INFO\n\t}\n", 1)
	g.tester.InitServer(cfg, "caddyfile")
	return g, logFile
}

// logCount counts the lines of the log file that contain every one of parts.
func logCount(t *testing.T, file string, parts ...string) int {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		all := line != ""
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			n++
		}
	}
	return n
}

// target returns the admin API's state of the only Redis target.
func (g *gateway) target() (connected bool, lastError string, rejected map[string]uint64) {
	g.t.Helper()
	var targets []struct {
		Connected bool              `json:"connected"`
		LastError string            `json:"last_error"`
		Rejected  map[string]uint64 `json:"reports_rejected"`
	}
	g.admin("/vram_aware/nodes", &targets)
	if len(targets) != 1 {
		g.t.Fatalf("%d Redis targets, want 1", len(targets))
	}
	return targets[0].Connected, targets[0].LastError, targets[0].Rejected
}

// lastReason is the reason of the latest decision.
func (g *gateway) lastReason() string {
	var decisions []struct{ Reason string }
	g.admin("/vram_aware/decisions?limit=1", &decisions)
	if len(decisions) == 0 {
		return ""
	}
	return decisions[0].Reason
}

func TestRedisDownAtStartOneWarningThenStatsFlow(t *testing.T) {
	rds := redistest.Start(t)
	rds.Stop() // its port is known and nothing listens there
	a, b := newOllama(t, "a"), newOllama(t, "b")
	// The default resync (10s): the watcher retries at most that far apart.
	g, logFile := startLoggedGateway(t, "redis "+rds.URL()+"\nfallback first", a, b)
	// The configuration loaded; the fallback serves every request.
	for range 50 {
		if got := g.post("/api/chat", `{"model":"x"}`); got != "a" {
			t.Fatalf("went to %s with Redis down, want the fallback's choice a", got)
		}
	}
	if r := g.lastReason(); r != "fallback:no-fresh-stats" {
		t.Fatalf("reason %q", r)
	}
	if connected, lastErr, _ := g.target(); connected || !strings.Contains(lastErr, "connection refused") {
		t.Fatalf("admin: connected %v, last error %q", connected, lastErr)
	}
	// Several retries happened meanwhile (0.1 s, 0.2 s, 0.4 s, …): one warning, none per request or per retry.
	time.Sleep(800 * time.Millisecond)
	if n := logCount(t, logFile, `"level":"warn"`, "Redis"); n != 1 {
		b, _ := os.ReadFile(logFile)
		t.Fatalf("%d warnings about Redis, want 1:\n%s", n, b)
	}
	// Redis comes up on that port with a report making b the better node: it routes within one resync interval.
	rds.Restart()
	up := time.Now()
	publish(t, rds, map[*ollama]nodeSpec{a: {free: 500}, b: {free: 20000}})
	deadline := up.Add(gpustats.DefaultResync)
	for g.post("/api/chat", `{"model":"x"}`) != "b" {
		if time.Now().After(deadline) {
			t.Fatalf("stats not used %s after Redis came up", gpustats.DefaultResync)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("stats flowed %s after Redis came up", time.Since(up).Round(time.Millisecond))
	if n := logCount(t, logFile, "connected to Redis"); n != 1 {
		t.Fatalf("%d connection logs, want 1", n)
	}
}

// reporterLoop publishes a report making b the better node every interval until stop is called, ignoring errors
// (Redis may be down), as gpu-reporter does.
func reporterLoop(t *testing.T, rds *redistest.Server, a, b *ollama, interval time.Duration) (stop func(), last func() time.Time) {
	c := rds.Client()
	p := gpustats.NewPublisher(c, gpustats.PublisherOptions{})
	var lastOK atomic.Int64
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			now := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), interval)
			errA := p.Publish(ctx, rtxReport(a, 500, now))
			errB := p.Publish(ctx, rtxReport(b, 20000, now))
			cancel()
			if errA == nil && errB == nil {
				lastOK.Store(now.UnixNano())
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { close(done); <-stopped }) }
	t.Cleanup(stop)
	return stop, func() time.Time { return time.Unix(0, lastOK.Load()) }
}

type sample struct {
	at       time.Time
	upstream string
	// status is the response's status code, 0 when no response came (a transport error).
	status int
	err    error
}

// load sends requests from workers goroutines, each pausing pause between requests, until stop is called, and
// returns every result.
func load(g *gateway, workers int, pause time.Duration) (stop func() []sample) {
	var (
		mu      sync.Mutex
		samples []sample
		wg      sync.WaitGroup
		done    = make(chan struct{})
	)
	client := &http.Client{Timeout: 5 * time.Second}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				s := sample{at: time.Now()}
				resp, err := client.Post(fmt.Sprintf("http://127.0.0.1:%d/api/chat", g.httpPort), "application/json",
					strings.NewReader(steer))
				if err == nil {
					s.status = resp.StatusCode
					var out struct{ Upstream string }
					buf := make([]byte, 256)
					n, _ := resp.Body.Read(buf)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						err = fmt.Errorf("status %d: %s", resp.StatusCode, buf[:n])
					} else if _, e := fmt.Sscanf(strings.TrimPrefix(string(buf[:n]), `{"upstream":`), "%q", &out.Upstream); e != nil {
						err = fmt.Errorf("body %q: %v", buf[:n], e)
					}
					s.upstream = out.Upstream
				}
				s.err = err
				mu.Lock()
				samples = append(samples, s)
				mu.Unlock()
				time.Sleep(pause)
			}
		}()
	}
	return func() []sample {
		close(done)
		wg.Wait()
		return samples
	}
}

func TestRedisOutageUnderLoad(t *testing.T) {
	rds := redistest.Start(t)
	a, b := newOllama(t, "a"), newOllama(t, "b")
	const staleAfter = 3 * time.Second
	g := startGateway(t, fmt.Sprintf("redis %s\nstale_after %s\nresync 1s\nfallback first", rds.URL(), staleAfter), a, b)
	_, lastReport := reporterLoop(t, rds, a, b, 200*time.Millisecond)
	until(t, "b", func() string { return g.post("/api/chat", steer) })

	// Redis is killed for 30 s under hundreds of requests a second.
	const outage = 30 * time.Second
	stopLoad := load(g, 8, 5*time.Millisecond)
	time.Sleep(500 * time.Millisecond)
	rds.Stop()
	killed := time.Now()
	last := lastReport()
	time.Sleep(outage)
	rds.Restart() // empty: the reporter's next report fills it
	restarted := time.Now()
	var recovered time.Time
	deadline := restarted.Add(5 * time.Second)
	for recovered.IsZero() && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		if cd, _, _ := g.target(); cd && g.post("/api/chat", steer) == "b" {
			recovered = time.Now()
		}
	}
	time.Sleep(300 * time.Millisecond)
	samples := stopLoad()
	if recovered.IsZero() {
		t.Fatal("routing on stats did not resume within 5 s of Redis restarting")
	}

	var failed, before, lastKnown, fallback, after int
	for _, s := range samples {
		switch {
		case s.err != nil:
			failed++
			t.Errorf("request at %s failed: %v", s.at.Sub(killed).Round(time.Millisecond), s.err)
		case s.at.Before(killed):
			before++
			if s.upstream != "b" {
				t.Errorf("before the outage a request went to %s", s.upstream)
			}
		case s.at.Before(last.Add(staleAfter - 500*time.Millisecond)):
			// Last known stats, still fresh: b.
			lastKnown++
			if s.upstream != "b" {
				t.Errorf("%s into the outage (stats still fresh) a request went to %s", s.at.Sub(killed).Round(time.Millisecond), s.upstream)
			}
		case s.at.After(last.Add(staleAfter+200*time.Millisecond)) && s.at.Before(restarted):
			// Stale: the fallback (first) picks a.
			fallback++
			if s.upstream != "a" {
				t.Errorf("%s into the outage (stats stale) a request went to %s", s.at.Sub(killed).Round(time.Millisecond), s.upstream)
			}
		case s.at.After(recovered):
			after++
			if s.upstream != "b" {
				t.Errorf("after recovery a request went to %s", s.upstream)
			}
		}
	}
	t.Logf("%d requests: %d failed; %d before the outage, %d on last known stats, %d by the fallback, %d after recovery (%s after restart)",
		len(samples), failed, before, lastKnown, fallback, after, recovered.Sub(restarted).Round(time.Millisecond))
	if lastKnown == 0 || fallback == 0 || after == 0 {
		t.Fatalf("no requests in some phase")
	}
	if rate := float64(lastKnown+fallback) / outage.Seconds(); rate < 100 {
		t.Fatalf("%.0f requests/s during the outage: want hundreds", rate)
	}
}

func TestReporterKilledGoesStaleThenTrustedAgain(t *testing.T) {
	rds := redistest.Start(t)
	a, b := newOllama(t, "a"), newOllama(t, "b")
	const staleAfter = 2 * time.Second
	g := startGateway(t, fmt.Sprintf("redis %s\nstale_after %s\nfallback first", rds.URL(), staleAfter), a, b)
	stop, lastReport := reporterLoop(t, rds, a, b, 200*time.Millisecond)
	until(t, "b", func() string { return g.post("/api/chat", steer) })
	stop() // killed: no tombstone, its keys stay in Redis with their TTL
	last := lastReport()
	var staleAt time.Time
	for staleAt.IsZero() {
		switch got := g.post("/api/chat", steer); {
		case got == "a":
			staleAt = time.Now()
		case time.Since(last) > staleAfter+time.Second:
			t.Fatalf("still routing on stats %s after the last report", time.Since(last))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if d := staleAt.Sub(last); d < staleAfter-300*time.Millisecond || d > staleAfter+500*time.Millisecond {
		t.Fatalf("stats stopped being trusted %s after the last report, want about stale_after (%s)", d, staleAfter)
	}
	if r := g.lastReason(); r != "fallback:no-fresh-stats" {
		t.Fatalf("reason %q", r)
	}
	// Restarted: trusted again with its first report.
	reporterLoop(t, rds, a, b, 200*time.Millisecond)
	until(t, "b", func() string { return g.post("/api/chat", steer) })
	if r := g.lastReason(); r != "fits" && r != "loading" {
		t.Fatalf("reason %q after the reporter came back", r)
	}
}

func TestSignedTelemetryThroughCaddy(t *testing.T) {
	rds := redistest.Start(t)
	a, b := newOllama(t, "a"), newOllama(t, "b")
	t.Setenv("SOLLOL_TEST_HMAC_KEY", "old-key-0123456789")
	keyFile := filepath.Join(t.TempDir(), "hmac-key.txt") // caddytest rewrites paths ending in .key
	if err := os.WriteFile(keyFile, []byte("new-key-9876543210\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rotating := fmt.Sprintf("redis %s\nhmac_key {env.SOLLOL_TEST_HMAC_KEY}\nhmac_key_file %s\nfallback first", rds.URL(), keyFile)
	g := startGateway(t, rotating, a, b)
	// Publish only once the watcher has subscribed and read the keys: a report it met both on the channel and
	// in its first resync would be counted twice.
	until(t, "true", func() string { connected, _, _ := g.target(); return fmt.Sprint(connected) })
	pub := func(key string, freeA, freeB float64, at time.Time) [][]byte {
		t.Helper()
		var k []byte
		if key != "" {
			k = []byte(key)
		}
		p := gpustats.NewPublisher(rds.Client(), gpustats.PublisherOptions{Key: k})
		var payloads [][]byte
		for o, free := range map[*ollama]float64{a: freeA, b: freeB} {
			r := rtxReport(o, free, at)
			if err := p.Publish(context.Background(), r); err != nil {
				t.Fatal(err)
			}
			payload, _ := gpustats.Encode(r, k)
			payloads = append(payloads, payload)
		}
		return payloads
	}
	rejected := func(reason string) uint64 { _, _, r := g.target(); return r[reason] }
	waitRejected := func(reason string, n uint64) {
		t.Helper()
		until(t, fmt.Sprint(n), func() string { return fmt.Sprint(rejected(reason)) })
	}
	now := time.Now().Add(-5 * time.Second)

	// Unsigned and wrongly signed reports saying b is better: ignored, counted; the fallback keeps choosing a.
	pub("", 500, 20000, now)
	waitRejected(gpustats.RejectUnsigned, 2)
	pub("attacker-key", 500, 20000, now.Add(time.Second))
	waitRejected(gpustats.RejectBadSignature, 2)
	for range 5 {
		if got := g.post("/api/chat", steer); got != "a" {
			t.Fatalf("an unsigned or forged report steered a request to %s", got)
		}
	}
	// Signed with the old key (from {env.…}): trusted.
	old := pub("old-key-0123456789", 500, 20000, now.Add(2*time.Second))
	until(t, "b", func() string { return g.post("/api/chat", steer) })
	// The reporters switch to the new key (from hmac_key_file) during the rotation: trusted too. (Taken now, after
	// the load that the requests to b started there, which an earlier report would not show.)
	pub("new-key-9876543210", 20000, 500, time.Now())
	until(t, "a", func() string { return g.post("/api/chat", steer) })
	if r := g.lastReason(); r != "fits" {
		t.Fatalf("reason %q, want a decision on the signed stats", r)
	}
	// A replay of an older, validly signed report: ignored as out of order.
	c := rds.Client()
	for _, p := range old {
		c.Publish(context.Background(), gpustats.DefaultPrefix+"updates", p)
	}
	waitRejected(gpustats.RejectOutOfOrder, 2)
	if got := g.post("/api/chat", steer); got != "a" {
		t.Fatalf("a replayed report steered a request to %s", got)
	}

	// Rotation done: only the new key is configured; reports signed with the old one are rejected.
	g.load(fmt.Sprintf("redis %s\nhmac_key_file %s\nfallback first", rds.URL(), keyFile), "", a, b)
	// The new watcher (its keys changed) first reads the keys, which hold the reports signed with the new key. Publish
	// only after that, so that the retired-key reports meet a watcher that already knows both nodes.
	until(t, "true", func() string { connected, _, _ := g.target(); return fmt.Sprint(connected) })
	pub("old-key-0123456789", 500, 20000, time.Now())
	// The new watcher counts from zero. It sees the two reports on the channel, or in the keys when a resync runs
	// after the publish, or both: at least two.
	deadline := time.Now().Add(5 * time.Second)
	for rejected(gpustats.RejectBadSignature) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("retired-key reports rejected: %d, want at least 2", rejected(gpustats.RejectBadSignature))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := g.post("/api/chat", steer); got != "a" {
		t.Fatalf("a report signed with the retired key steered a request to %s", got)
	}
}
