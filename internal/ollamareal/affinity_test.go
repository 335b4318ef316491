//go:build ollama

package ollamareal_test

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/sollol-go/sollol/internal/ollamareal"
)

// servedChats counts the chats each server answered 200.
func servedChats(t *testing.T, servers ...*ollamareal.Server) []int {
	out := make([]int, len(servers))
	for i, s := range servers {
		out[i] = served(t, s, "/api/chat")[200]
	}
	return out
}

// TestAffinityThroughTheGateway: a conversation's second turn sent through the gateway goes to the server that
// answered its first, and prefills faster there than the same turn sent to the other server.
func TestAffinityThroughTheGateway(t *testing.T) {
	m := tiny
	servers := []*ollamareal.Server{start(t, ollamareal.Options{}, m), start(t, ollamareal.Options{}, m)}
	for _, s := range servers {
		warm(t, s, m)
	}
	g := startGateway(t, "ollama_poll 200ms", "", servers...)
	// The poller learns the upstreams from the requests the policy sees.
	resp, err := http.Get(g.URL + "/api/version")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	eventually(t, 10*time.Second, func() string {
		return policySees(servers, func(_ *ollamareal.Server, loaded []string) bool { return slices.Contains(loaded, m.Name) })
	})

	before := servedChats(t, servers...)
	turn1 := []ollamareal.Message{{Role: "user", Content: longMessage("gateway", 1200)}}
	r1, err := ollamareal.Chat(ctx(t), g.URL, m.Name, turn1, nil)
	if err != nil {
		t.Fatal(err)
	}
	after := servedChats(t, servers...)
	first := -1
	for i := range servers {
		if after[i] == before[i]+1 {
			first = i
		}
	}
	if first < 0 {
		t.Fatalf("turn 1: chats answered before %v, after %v", before, after)
	}
	turn2 := append(turn1, r1.Message, ollamareal.Message{Role: "user", Content: "and then?"})
	hit, err := ollamareal.Chat(ctx(t), g.URL, m.Name, turn2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if now := servedChats(t, servers...); now[first] != after[first]+1 {
		t.Fatalf("turn 2 through the gateway: chats answered %v after turn 1's %v, want server %d's one more", now, after, first)
	}
	var decisions []struct{ Reason string }
	g.admin("/vram_aware/decisions?limit=1", &decisions)
	miss, err := ollamareal.Chat(ctx(t), servers[1-first].URL, m.Name, turn2, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("figures: turn 2 through the gateway (reason %v) prefilled %d tokens in %.0f ms; on the other server in %.0f ms (%.1fx)",
		decisions, hit.PromptEvalCount, ms(hit.PromptEvalDuration), ms(miss.PromptEvalDuration),
		float64(miss.PromptEvalDuration)/float64(hit.PromptEvalDuration))
	if len(decisions) != 1 || decisions[0].Reason != "cached" {
		t.Errorf("turn 2's decision %+v, want reason cached", decisions)
	}
	if hit.PromptEvalDuration*2 > miss.PromptEvalDuration {
		t.Errorf("turn 2 prefilled in %v through the gateway, %v on the other server: want less than half",
			time.Duration(hit.PromptEvalDuration), time.Duration(miss.PromptEvalDuration))
	}
}
