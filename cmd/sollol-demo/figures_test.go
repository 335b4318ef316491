package main

import (
	"testing"
	"time"

	"github.com/sollol-go/sollol/internal/ollamasim"
)

func TestHotSpots(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	nodes := []NodeRun{
		// a: one running from 0, two more waiting from 10 to 30, idle from 40.
		{Name: "a", Activity: []ollamasim.Activity{{At: at(0), Running: 1}, {At: at(10), Running: 1, Waiting: 2},
			{At: at(30), Running: 1}, {At: at(40)}}},
		// b: idle but for 15–20; c: never any activity.
		{Name: "b", Activity: []ollamasim.Activity{{At: at(15), Running: 1}, {At: at(20)}}},
		{Name: "c"},
	}
	// a waits 10–30: c idle all 20 s, b idle 15 of them (not 15–20).
	if got := hotSpots(nodes, t0, at(60)); got != 35*time.Second {
		t.Errorf("hot spots %s, want 35s", got)
	}
	// The window cuts it: from 20 to 25, both b and c idle.
	if got := hotSpots(nodes, at(20), at(25)); got != 10*time.Second {
		t.Errorf("hot spots %s, want 10s", got)
	}
	if got := hotSpots(nodes[1:], t0, at(60)); got != 0 {
		t.Errorf("nobody waits: %s", got)
	}
}

func TestIdeal(t *testing.T) {
	sc, err := ParseScenario([]byte(smallScenario))
	if err != nil {
		t.Fatal(err)
	}
	sc.Models[0].PrefillTokensPerSec = 3600 // llama3.1:8b
	sc.Models[1].PrefillTokensPerSec = 5600 // llama3.2:3b
	reqs := []Request{
		// The fastest node that holds it, a (speed 1): 3600/3600 + 90/90.
		{Model: "llama3.1:8b", Tokens: 90, Prompt: 3600},
		// Only c (speed 0.7) holds the 70B: 84/(12×0.7) and a prefill of a few tokens.
		{Model: "llama3.3:70b", Tokens: 84},
		// A chat's fourth turn prefills its new message only, not the system prompt: 5600/5600 + 140/140.
		{Model: "llama3.2:3b", Tokens: 140, Chat: 1, Turn: 3, Prompt: 5600, System: true},
	}
	s := idealRun(sc, reqs)
	if s.OK != 3 || len(s.Latencies) != 3 {
		t.Fatalf("%+v", s)
	}
	within := func(d, want time.Duration) bool { return d >= want && d < want+20*time.Millisecond }
	if !within(s.Latencies[0], 2*time.Second) || !within(s.Latencies[1], 2*time.Second) || !within(s.Latencies[2], 10*time.Second) {
		t.Errorf("ideal latencies %v", s.Latencies)
	}
	if !within(s.TTFTs[1], time.Second) || !within(s.TTFTs[2], time.Second) || s.TTFTs[0] > 20*time.Millisecond {
		t.Errorf("ideal TTFTs %v", s.TTFTs)
	}
	reqs[0].Model = "nope"
	if s := idealRun(sc, reqs); s.OK != 2 || s.Requests != 3 {
		t.Errorf("a model no node holds counts as not served: %+v", s.Figures)
	}
}

func TestClairvoyant(t *testing.T) {
	// Two one-slot nodes of 24 GiB and two models that cannot share one: a 16 GiB and a 12 GiB that decode 10
	// tokens a second with a negligible prefill.
	sc, err := ParseScenario([]byte(`{"name": "t", "duration": "1m", "rate": 1, "models": [
		{"name": "big:1b", "size_mb": 15000, "vram_mb": 16000, "tokens_per_s": 10, "prefill_tokens_per_s": 1e9},
		{"name": "mid:1b", "size_mb": 11000, "vram_mb": 12000, "tokens_per_s": 10, "prefill_tokens_per_s": 1e9}],
		"nodes": [{"name": "a", "gpus": [{"name": "g", "vram_mb": 24000}]}, {"name": "b", "gpus": [{"name": "g", "vram_mb": 24000}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	sec := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
	got := func(reqs []Request) []time.Duration {
		t.Helper()
		s := clairvoyantRun(sc, reqs)
		if s.OK != float64(len(reqs)) {
			t.Fatalf("served %v of %d", s.OK, len(reqs))
		}
		out := make([]time.Duration, len(s.Latencies))
		for i, l := range s.Latencies {
			out[i] = l.Round(100 * time.Millisecond)
		}
		return out
	}
	want := func(name string, got []time.Duration, want ...float64) {
		t.Helper()
		for i, w := range want {
			if got[i] != sec(w) {
				t.Errorf("%s: latencies %v, want %v s", name, got, want)
				return
			}
		}
	}
	// Three 10 s requests at once on two nodes: the third waits for the first to end.
	want("queue", got([]Request{{Model: "big:1b", Tokens: 100}, {Model: "big:1b", Tokens: 100}, {Model: "big:1b", Tokens: 100}}),
		10, 10, 20)
	// mid fits no card beside big: it waits for the node that frees first.
	want("memory", got([]Request{{Model: "big:1b", Tokens: 100}, {Model: "big:1b", Tokens: 50}, {Model: "mid:1b", Tokens: 100}}),
		5, 10, 15)
	// Two slots: two requests for a model run side by side, and one for the other model waits for them to end.
	sc.Nodes = sc.Nodes[:1]
	sc.Nodes[0].NumParallel = 2
	want("slots", got([]Request{{Model: "big:1b", Tokens: 100}, {Model: "big:1b", Tokens: 100}, {Model: "mid:1b", Tokens: 100}}),
		10, 10, 20)
	// A chat's second turn comes its think time after the first answer: 10 s, then 5 s of thought, then
	// behind the single request that came meanwhile (at 12 s, until 22 s).
	want("chat", got([]Request{{Model: "big:1b", Tokens: 100, Chat: 1}, {Model: "big:1b", Tokens: 100, Chat: 1, Turn: 1, At: sec(5)},
		{Model: "mid:1b", Tokens: 100, At: sec(12)}}), 10, 10, 17)
}

// A failed request counts in the percentiles as the timeout: a policy that fails the slow requests must not look
// faster for it.
func TestPercentilesCountFailures(t *testing.T) {
	sc, err := ParseScenario([]byte(smallScenario))
	if err != nil {
		t.Fatal(err)
	}
	sc.Timeout = duration(time.Minute)
	reqs := []Request{{Model: "llama3.1:8b", Stream: true}, {Model: "llama3.1:8b", Stream: true}, {Model: "llama3.3:70b"}}
	run := &Run{Policy: "p", Results: []Result{
		{Outcome: OK, Latency: time.Second, TTFT: time.Second / 2},
		{Outcome: NotInstalled, TTFT: -1},
		{Outcome: Timeout, TTFT: -1},
	}}
	s := summarise(sc, reqs, run, nil)
	if s.P50 != 60 || s.P95 != 60 || s.TTFTP50 != 0.5 || s.TTFTP95 != 60 {
		t.Errorf("p50 %v p95 %v, TTFT p50 %v p95 %v; want 60 60 0.5 60", s.P50, s.P95, s.TTFTP50, s.TTFTP95)
	}
	if m := s.ByModel["llama3.1:8b"]; m.OK != 1 || m.Requests-m.OK != 1 {
		t.Errorf("%+v", m)
	}
}
