package caddymodule

import (
	"fmt"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/sollol-go/sollol/internal/redistest"
	"github.com/sollol-go/sollol/lbpolicy"
)

// TestRankDecidesAsDecide: where every upstream has a fresh report and the plans hold, Select decides in one pass
// (rank), with the decision that the full path (decide) gives; where a report changed what it says of the model,
// or went stale, rank gives way to decide.
func TestRankDecidesAsDecide(t *testing.T) {
	rds := redistest.Start(t)
	p := &VRAMAware{Redis: rds.URL(), ModelFrom: modelFromHeader, ModelHeader: "X-Model", OllamaPollOff: true,
		StaleAfter: caddy.Duration(2 * time.Second)}
	provisionPolicy(t, p)
	dials := make([]string, 6)
	for i := range dials {
		dials[i] = fmt.Sprintf("10.9.0.%d:11434", i+1)
		var loaded []string
		if i%3 == 1 {
			loaded = append(loaded, "llama3:latest")
		}
		publishL4(t, rds, dials[i], float64(8000+1000*i), loaded...)
	}
	ups := pool(dials...)
	deadline := time.Now().Add(5 * time.Second)
	for p.snapshot().Len() < len(dials) {
		if time.Now().After(deadline) {
			t.Fatal("the reports never reached the policy")
		}
		time.Sleep(5 * time.Millisecond)
	}

	// Models resident somewhere and none at all: neither reserves memory, so both paths see the same state.
	for _, model := range []string{"llama3:latest", ""} {
		req := lbpolicy.Request{Model: model, Now: wallClock.now()}
		var byRank, byDecide choice
		if p.rank(ups, req, &byRank) {
			t.Fatalf("model %q: rank decided before any plan was made", model)
		}
		p.decide(ups, req, &byDecide) // maps the upstreams (once for all models)
		p.decide(ups, req, &byDecide) // makes the plan
		if !p.rank(ups, req, &byRank) {
			t.Fatalf("model %q: rank gave way although the plan holds", model)
		}
		if byRank != byDecide || byRank.Node == nil || byRank.src != sourceRedis || byRank.counts == nil {
			t.Errorf("model %q: rank chose %+v, decide %+v", model, byRank, byDecide)
		}
	}

	// A new report from one node that says the same of the model: rank decides, on a new plan entry for it.
	republish := func(freeMB float64, loaded ...string) {
		t.Helper()
		before := p.snapshot().Lookup(dials[0])
		publishL4(t, rds, dials[0], freeMB, loaded...)
		for p.snapshot().Lookup(dials[0]) == before {
			if time.Now().After(deadline) {
				t.Fatal("the new report never reached the policy")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	republish(22000)
	req := lbpolicy.Request{Now: wallClock.now()} // no model: the most free memory wins
	var byRank, byDecide choice
	if !p.rank(ups, req, &byRank) || byRank.NodeID != dials[0] {
		t.Errorf("after a new report with the most free memory: rank decided %t, for %s", byRank.Index >= 0, byRank.NodeID)
	}
	if p.decide(ups, req, &byDecide); byDecide != byRank {
		t.Errorf("after a new report: rank chose %+v, decide %+v", byRank, byDecide)
	}
	// One that says something else of the model (it loaded it): rank gives way.
	republish(12000, "llama3:latest")
	var c choice
	if p.rank(ups, lbpolicy.Request{Model: "llama3:latest", Now: wallClock.now()}, &c) {
		t.Error("rank decided over a report that changed what the node holds")
	}

	// Stale reports: rank gives way, and decide falls back.
	stale := lbpolicy.Request{Model: "llama3:latest", Now: wallClock.now().Add(time.Minute)}
	p.decide(ups, stale, &c)
	if p.rank(ups, stale, &c) {
		t.Error("rank decided over stale reports")
	}
	if c.Index >= 0 || !c.Reason.Fallback() {
		t.Errorf("decide over stale reports: %+v", c.Decision)
	}
}
