package caddymodule_test

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

	"github.com/sollol-go/sollol/caddymodule"
	"github.com/sollol-go/sollol/gpustats"
	"github.com/sollol-go/sollol/internal/redistest"
)

// BenchmarkSelect compares vram_aware with Caddy's least_conn and random_choose 2 on the same UpstreamPool, with a
// fresh report for every upstream and a model named in a header. vram_aware_reporting is vram_aware while every
// node sends a new report each second, as a live fleet does (here from a goroutine of this process, through the
// same Redis). `make bench` prints the ratios.
func BenchmarkSelect(b *testing.B) {
	rds := redistest.Start(b)
	// Log at INFO, as Caddy does by default: a debug line per decision is a choice an operator makes.
	if err := caddy.Load([]byte(`{"admin":{"disabled":true},"logging":{"logs":{"default":{"level":"INFO"}}}}`), false); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { caddy.Stop() })
	for _, n := range []int{4, 16, 128, 1024} {
		pool, p := benchFleet(b, rds, n)
		req := httptest.NewRequest(http.MethodPost, "/api/chat", strings.NewReader(`{}`))
		req.Header.Set("X-Model", "llama3:latest")
		rc := &reverseproxy.RandomChoiceSelection{Choose: 2}
		policies := []struct {
			name      string
			sel       reverseproxy.Selector
			reporting bool
		}{{"vram_aware", p, false}, {"vram_aware_reporting", p, true}, {"least_conn", reverseproxy.LeastConnSelection{}, false},
			{"random_choose_2", rc, false}}
		for _, pol := range policies {
			b.Run(fmt.Sprintf("upstreams=%d/%s", n, pol.name), func(b *testing.B) {
				if pol.reporting {
					stop := reportEverySecond(b, rds, n)
					defer stop()
				}
				b.ReportAllocs()
				for b.Loop() {
					if pol.sel.Select(pool, req, nil) == nil {
						b.Fatal("no upstream")
					}
				}
			})
		}
	}
}

// reportEverySecond publishes a new report from each of benchFleet's n nodes once a second, one node after
// another, until stop is called.
func reportEverySecond(b *testing.B, rds *redistest.Server, n int) (stop func()) {
	pub := gpustats.NewPublisher(rds.Client(), gpustats.PublisherOptions{Names: gpustats.Names{Prefix: fmt.Sprintf("bench%d:", n)}})
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(time.Second / time.Duration(n))
		defer tick.Stop()
		for i := 0; ; i = (i + 1) % n {
			select {
			case <-done:
				return
			case <-tick.C:
				if err := pub.Publish(context.Background(), benchReport(i)); err != nil {
					b.Error(err)
					return
				}
			}
		}
	}()
	return func() { close(done); <-finished }
}

// benchReport is the report of benchFleet's node i: every fifth node holds the model, so that Select weighs
// residency, free memory and scores.
func benchReport(i int) *gpustats.Report {
	var loaded []string
	if i%5 == 0 {
		loaded = append(loaded, "llama3:latest")
	}
	return nodeReport(benchDial(i), float64(4000+i%7*2000), loaded...)
}

func benchDial(i int) string { return fmt.Sprintf("10.%d.%d.%d:11434", i/65536, i/256%256, i%256) }

// benchFleet publishes a fresh report for n upstreams and returns them with a policy that has seen every report.
func benchFleet(b *testing.B, rds *redistest.Server, n int) (reverseproxy.UpstreamPool, *caddymodule.VRAMAware) {
	prefix := fmt.Sprintf("bench%d:", n)
	// A long stale_after keeps the reports fresh for the whole run.
	p := &caddymodule.VRAMAware{Redis: rds.URL(), Prefix: prefix, ModelFrom: "header", ModelHeader: "X-Model",
		StaleAfter: caddy.Duration(time.Hour)}
	// A context of the loaded config, so that the policy logs at the config's level, not a test's debug level.
	ctx, cancel := caddy.NewContext(caddy.ActiveContext())
	b.Cleanup(cancel)
	if err := p.Provision(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Cleanup() })
	pub := gpustats.NewPublisher(rds.Client(), gpustats.PublisherOptions{Names: gpustats.Names{Prefix: prefix}})
	dials := make([]string, n)
	for i := range n {
		dials[i] = benchDial(i)
		if err := pub.Publish(context.Background(), benchReport(i)); err != nil {
			b.Fatal(err)
		}
	}
	pool := upstreams(dials...)
	deadline := time.Now().Add(10 * time.Second)
	for {
		var targets int
		for _, t := range caddymodule.Targets() {
			if t.Prefix == prefix && len(t.Nodes) == n {
				targets++
			}
		}
		if targets == 1 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("watcher did not see %d nodes", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return pool, p
}
