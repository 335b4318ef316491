package caddymodule_test

import (
	"context"
	"testing"
	"time"

	"github.com/sollol-go/sollol/caddymodule"
	"github.com/sollol-go/sollol/gpustats"
	"github.com/sollol-go/sollol/internal/redistest"
)

// Two Ollama servers on one host (127.0.0.1, two ports), a reporter each; a model is installed on b only. Once b's
// reporter has shut down cleanly, upstream b has no report, and never takes a's, which says the model is not
// installed: every request for the model still goes to b.
func TestStoppedReporterNeighbourNotTaken(t *testing.T) {
	rds := redistest.Start(t)
	a, b := newOllama(t, "a"), newOllama(t, "b")
	g := startGateway(t, "redis "+rds.URL()+"\nfallback first", a, b)
	p := gpustats.NewPublisher(rds.Client(), gpustats.PublisherOptions{})
	for o, model := range map[*ollama]string{a: "llama3.2:3b", b: "only-on-b:7b"} {
		r := rtxReport(o, 20000, time.Now())
		r.Ollama.Installed = []gpustats.InstalledModel{{Name: model, SizeMB: 4000}}
		if err := p.Publish(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		waitForReport(t, r.NodeID, r.Timestamp)
	}
	const body = `{"model":"only-on-b:7b","prompt":"p"}`
	until(t, "b", func() string { return g.post("/api/generate", body) })
	if err := p.Tombstone(context.Background(), b.addr()); err != nil {
		t.Fatal(err)
	}
	waitForNoReport(t, b.addr())
	for range 12 {
		if got := g.post("/api/generate", body); got != "b" {
			t.Fatalf("a request for a model installed only on b went to %s", got)
		}
	}
}

// waitForNoReport waits until the policy holds no report of node.
func waitForNoReport(t *testing.T, node string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for held(node) {
		if time.Now().After(deadline) {
			t.Fatalf("the policy still holds the report of %s", node)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// held reports whether any target's watcher holds a report of node.
func held(node string) bool {
	for _, target := range caddymodule.Targets() {
		for _, n := range target.Nodes {
			if n.ID == node {
				return true
			}
		}
	}
	return false
}
