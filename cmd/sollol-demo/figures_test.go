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
