package caddymodule_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/sollol-go/sollol/internal/redistest"
)

// chatTurns is a conversation's request bodies, turn by turn: each resends the messages so far with the answer
// and a new question, as chat clients do.
func chatTurns(tag string, turns int) []string {
	type message struct{ Role, Content string }
	msgs := []message{{"system", strings.Repeat("You answer briefly and "+tag+". ", 60)}}
	var bodies []string
	for i := range turns {
		msgs = append(msgs, message{"user", fmt.Sprintf("question %d of %s: %s", i, tag, strings.Repeat("why? ", 40))})
		b, _ := json.Marshal(map[string]any{"model": "llama3.1:8b", "messages": msgs, "stream": false})
		bodies = append(bodies, strings.ReplaceAll(string(b), `"Role"`, `"role"`))
		msgs = append(msgs, message{"assistant", strings.Repeat("because. ", 30)})
	}
	return bodies
}

// affinityHits reads caddy_vram_aware_affinity_total{result="hit"} from the admin endpoint's metrics.
func (g *gateway) affinityHits() int {
	g.t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://localhost:%d/metrics", g.adminPort))
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`caddy_vram_aware_affinity_total\{result="hit"\} (\d+)`).FindSubmatch(b)
	if m == nil {
		g.t.Fatalf("no affinity metric in /metrics")
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// TestAffinityFollowsTheConversation: two nodes alike, both holding the model with two slots each; every turn of
// a conversation goes where its first turn went (by chance, one in 2⁷ for eight turns), with reason cached;
// with affinity off no decision is.
func TestAffinityFollowsTheConversation(t *testing.T) {
	rds := redistest.Start(t)
	a, b := newOllama(t, "a"), newOllama(t, "b")
	g := startGateway(t, "redis "+rds.URL()+"\nnum_parallel 2", a, b)
	publish(t, rds, map[*ollama]nodeSpec{a: {free: 12000, loaded: []string{"llama3.1:8b"}}, b: {free: 12000, loaded: []string{"llama3.1:8b"}}})
	hits := g.affinityHits()
	for _, conv := range []string{"kindly", "curtly"} {
		turns := chatTurns(conv, 8)
		first := g.post("/api/chat", turns[0])
		for i, body := range turns[1:] {
			if got := g.post("/api/chat", body); got != first {
				t.Fatalf("%s turn %d went to %s, turn 1 to %s", conv, i+2, got, first)
			}
			var decisions []struct{ Reason string }
			g.admin("/vram_aware/decisions?limit=1", &decisions)
			if len(decisions) != 1 || decisions[0].Reason != "cached" {
				t.Fatalf("%s turn %d: decisions %+v, want reason cached", conv, i+2, decisions)
			}
		}
	}
	if got := g.affinityHits() - hits; got != 14 {
		t.Errorf("affinity hits counted %d, want 14", got)
	}

	g.load("redis "+rds.URL()+"\nnum_parallel 2\naffinity off", "", a, b)
	hits = g.affinityHits()
	for _, body := range chatTurns("off", 6) {
		g.post("/api/chat", body)
		var decisions []struct{ Reason string }
		g.admin("/vram_aware/decisions?limit=1", &decisions)
		if decisions[0].Reason != "resident" {
			t.Fatalf("affinity off: reason %s, want resident", decisions[0].Reason)
		}
	}
	if got := g.affinityHits() - hits; got != 0 {
		t.Errorf("affinity off: %d hits counted", got)
	}
}
