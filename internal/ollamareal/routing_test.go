//go:build ollama

package ollamareal_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/sollol-go/sollol/gpustats"
	"github.com/sollol-go/sollol/internal/ollamareal"
	"github.com/sollol-go/sollol/internal/redistest"
	"github.com/sollol-go/sollol/reporter"
)

// routesToHolders sends requests for each model through g and checks, in each server's own log, that every one
// was answered 200 by the server that holds the model and that the other server never saw one.
func routesToHolders(t *testing.T, g *gateway, holder map[string]*ollamareal.Server, servers ...*ollamareal.Server) {
	t.Helper()
	before := map[*ollamareal.Server]map[int]int{}
	for _, s := range servers {
		before[s] = served(t, s, "/api/chat")
	}
	want := map[*ollamareal.Server]int{}
	for name, s := range holder {
		for range 5 {
			msgs := []ollamareal.Message{{Role: "user", Content: "route me"}}
			if _, err := ollamareal.Chat(ctx(t), g.URL, name, msgs, nil); err != nil {
				t.Fatalf("%s through the gateway: %v", name, err)
			}
		}
		want[s] += 5
	}
	for _, s := range servers {
		after := served(t, s, "/api/chat")
		ok, other := after[200]-before[s][200], 0
		for status, n := range after {
			if status != 200 {
				other += n - before[s][status]
			}
		}
		if ok != want[s] || other != 0 {
			t.Errorf("%s answered %d chats 200 and %d otherwise, want %d and 0", s.Addr, ok, other, want[s])
		}
	}
}

// TestPolledRouting: vram_aware with no Redis polls each upstream's real Ollama and sends a model only to the
// server that holds it. The one without the model is listed first, so that a fallback to `first` would show.
func TestPolledRouting(t *testing.T) {
	a := start(t, ollamareal.Options{}, tiny)
	b := start(t, ollamareal.Options{}, other)
	warm(t, a, tiny)
	g := startGateway(t, "ollama_poll 200ms\nfallback first", "", b, a)
	// The poller learns the upstreams from the requests the policy sees: one that names no model starts it.
	resp, err := http.Get(g.URL + "/api/version")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	eventually(t, 10*time.Second, func() string {
		return policySees([]*ollamareal.Server{a, b}, func(s *ollamareal.Server, loaded []string) bool {
			return s != a || slices.Contains(loaded, tiny.Name)
		})
	})
	routesToHolders(t, g, map[string]*ollamareal.Server{tiny.Name: a, other.Name: b}, a, b)
}

// TestReportedRouting: the same through Redis, with gpu-reporter's report loop reading each real Ollama; and a
// model unloaded with keep_alive 0 through the gateway is gone from the policy's view at the next report.
func TestReportedRouting(t *testing.T) {
	rds := redistest.Start(t)
	a := start(t, ollamareal.Options{}, tiny, other)
	b := start(t, ollamareal.Options{}, other)
	warm(t, a, tiny)
	for _, s := range []*ollamareal.Server{a, b} {
		runReporter(t, rds, s)
	}
	g := startGateway(t, "redis "+rds.URL()+"\nfallback first", "", b, a)
	eventually(t, 10*time.Second, func() string {
		return policySees([]*ollamareal.Server{a, b}, func(s *ollamareal.Server, loaded []string) bool {
			return s != a || slices.Contains(loaded, tiny.Name)
		})
	})
	// other is on both; tiny only on a, where it is loaded.
	routesToHolders(t, g, map[string]*ollamareal.Server{tiny.Name: a}, a, b)

	status, body, err := ollamareal.Post(ctx(t), g.URL+"/api/chat", map[string]any{"model": tiny.Name,
		"stream": false, "keep_alive": 0, "messages": []ollamareal.Message{{Role: "user", Content: "bye"}}})
	if err != nil || status != 200 {
		t.Fatalf("keep_alive 0 through the gateway: %d %s %v", status, body, err)
	}
	eventually(t, 10*time.Second, func() string {
		return policySees([]*ollamareal.Server{a}, func(_ *ollamareal.Server, loaded []string) bool {
			return !slices.Contains(loaded, tiny.Name)
		})
	})
}

// runReporter publishes s's reports (no GPU, its real Ollama) to rds every 200 ms until the test ends.
func runReporter(t *testing.T, rds *redistest.Server, s *ollamareal.Server) {
	t.Helper()
	sampler, err := reporter.Open(context.Background(), "none", reporter.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- reporter.Run(c, reporter.Config{NodeID: s.Addr, Sampler: sampler, Interval: 200 * time.Millisecond,
			Ollama:    &reporter.OllamaProbe{URL: s.URL, TagsEvery: time.Second},
			Publisher: gpustats.NewPublisher(rds.Client(), gpustats.PublisherOptions{})})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && c.Err() == nil {
			t.Errorf("reporter of %s: %v", s.Addr, err)
		}
	})
}
