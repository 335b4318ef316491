package caddymodule

import (
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/sollol-go/sollol/lbpolicy"
)

func TestDecisionLogReadsBackWhatItHolds(t *testing.T) {
	var l decisionLog
	up, node, model := "10.0.0.1:11434", "gpu-a", "llama3:latest"
	at := time.Unix(1_800_000_000, 0)
	d := lbpolicy.Decision{Reason: lbpolicy.ReasonMakeRoom, Defaults: lbpolicy.DefaultedSlots | lbpolicy.DefaultedMemory,
		Wait: 1.5, Load: 4, Run: 10, Saved: 2, Evict: 0.25, FreeMB: 1200, ReservedMB: 5000}
	d.Seconds = d.Wait + d.Load + d.Run - d.Saved + d.Evict
	l.add(&up, &node, &model, &d, sourceOllama, at)
	l.add(&up, nil, nil, &lbpolicy.Decision{Reason: lbpolicy.ReasonFallbackNoFreshStats, FreeMB: math.NaN()}, sourceNone, at.Add(time.Second))
	got := l.recent(5)
	if len(got) != 2 {
		t.Fatalf("recent(5) gave %d decisions, want 2", len(got))
	}
	free := 1200.0
	want := Decision{Time: at, Upstream: up, Node: node, Model: model, Reason: "make-room", Source: "ollama",
		Seconds: 13.75, WaitS: 1.5, LoadS: 4, RunS: 10, SavedS: 2, EvictS: 0.25, Defaults: d.Defaults.String(),
		FreeMB: &free, ReservedMB: 5000}
	if !reflect.DeepEqual(got[1], want) {
		t.Errorf("older decision:\n got %+v\nwant %+v", got[1], want)
	}
	if g := got[0]; g.Reason != lbpolicy.ReasonFallbackNoFreshStats.String() || g.Source != "" || g.Node != "" || g.FreeMB != nil || g.Seconds != 0 {
		t.Errorf("newer decision: %+v", g)
	}
}
