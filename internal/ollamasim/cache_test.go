package ollamasim

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"
)

// conversation is a chat's messages, as a client keeps them.
type conversation []nativeMessage

func (c conversation) body(tokens int) string {
	b, _ := json.Marshal(map[string]any{"model": "small:1b", "messages": c, "stream": false,
		"options": map[string]int{"num_predict": tokens}})
	return string(b)
}

// turn sends the conversation with a new user message and appends that and the answer, as a client would.
func (c *conversation) turn(t *testing.T, n *Node, user string) final {
	return c.turnOf(t, n, user, 50)
}

func (c *conversation) turnOf(t *testing.T, n *Node, user string, tokens int) final {
	t.Helper()
	*c = append(*c, nativeMessage{Role: "user", Content: user})
	f := askOK(t, n, "/api/chat", c.body(tokens))
	*c = append(*c, nativeMessage{Role: "assistant", Content: Answer(f.EvalCount)})
	return f
}

// prefillOf is small:1b's prefill time for tokens on a node of speed 1: DefaultPrefillFactor × 100 tokens/s.
func prefillOf(tokens int) time.Duration {
	return time.Duration(float64(tokens) / (DefaultPrefillFactor * 100) * float64(time.Second))
}

func TestPromptCacheServesTheNextTurn(t *testing.T) {
	n := startNode(t, 1000, fast)
	conv := conversation{{Role: "system", Content: strings.Repeat("be kind. ", 200)}}
	first := conv.turn(t, n, strings.Repeat("tell me more. ", 220)) // about 1 200 tokens
	if first.PromptEvalCount < 1000 || time.Duration(first.PromptEvalDuration) != prefillOf(first.PromptEvalCount) {
		t.Fatalf("turn 1 read cold: %+v, want %s for %d tokens", first, prefillOf(first.PromptEvalCount), first.PromptEvalCount)
	}
	second := conv.turn(t, n, "and then?")

	// The same second turn on a node that never saw the first.
	fresh := startNode(t, 1000, fast)
	cold := askOK(t, fresh, "/api/chat", conv[:len(conv)-1].body(50))

	if second.PromptEvalCount != cold.PromptEvalCount || second.PromptEvalCount <= first.PromptEvalCount+first.EvalCount {
		t.Errorf("prompt_eval_count %d cached, %d cold: want the whole prompt both times, as Ollama reports it",
			second.PromptEvalCount, cold.PromptEvalCount)
	}
	if time.Duration(cold.PromptEvalDuration) != prefillOf(cold.PromptEvalCount) {
		t.Errorf("cold turn 2: prefill %s, want %s", time.Duration(cold.PromptEvalDuration), prefillOf(cold.PromptEvalCount))
	}
	// Only the new message (and its role) is read: a few tokens, not a thousand.
	if d := time.Duration(second.PromptEvalDuration); d <= 0 || d > prefillOf(10) {
		t.Errorf("turn 2 after turn 1: prefill %s, want at most %s (ten tokens)", d, prefillOf(10))
	}
}

func TestOneSlotLosesTheCacheToAnotherConversation(t *testing.T) {
	n := startNode(t, 1000, fast)
	a := conversation{{Role: "system", Content: strings.Repeat("be brief. ", 300)}}
	b := conversation{{Role: "system", Content: strings.Repeat("be long. ", 300)}}
	a.turn(t, n, "hello")
	b.turn(t, n, "hi") // the one slot now holds b
	again := a.turn(t, n, "more")
	if d := time.Duration(again.PromptEvalDuration); d < prefillOf(again.PromptEvalCount*9/10) {
		t.Errorf("a's second turn after b on one slot: prefill %s, want about cold %s", d, prefillOf(again.PromptEvalCount))
	}
}

// TestSlotsAsOllamasRunner: with two slots, a request takes the free slot with the longest common prefix, the first
// one on a tie, as Ollama's runner without OLLAMA_MULTIUSER_CACHE. Two conversations served one after the other
// therefore share a slot and evict each other; two served at the same time keep one slot each.
func TestSlotsAsOllamasRunner(t *testing.T) {
	n := startNode(t, 200, func(c *Config) { c.NumParallel = 2; fast(c) })
	a := conversation{{Role: "system", Content: strings.Repeat("be brief. ", 300)}}
	b := conversation{{Role: "user", Content: strings.Repeat("be long. ", 300)}}
	a.turn(t, n, "hello")
	b.turn(t, n, "hi")
	if again := a.turn(t, n, "more"); time.Duration(again.PromptEvalDuration) < prefillOf(again.PromptEvalCount*9/10) {
		t.Errorf("one after the other, the second took the first's slot: a's next turn should read cold, read in %s",
			time.Duration(again.PromptEvalDuration))
	}

	c := conversation{{Role: "system", Content: strings.Repeat("be calm. ", 300)}}
	d := conversation{{Role: "system", Content: strings.Repeat("be wild. ", 300)}}
	var wg sync.WaitGroup
	wg.Go(func() { c.turnOf(t, n, "one", 2000) }) // 20 s simulated
	waitFor(t, n, "c generating", func() bool { return n.running == 1 })
	d.turn(t, n, "two")
	wg.Wait()
	for name, conv := range map[string]*conversation{"c": &c, "d": &d} {
		if f := conv.turn(t, n, "next"); time.Duration(f.PromptEvalDuration) > prefillOf(10) {
			t.Errorf("%s, served beside the other: next turn read in %s, want a cache hit", name, time.Duration(f.PromptEvalDuration))
		}
	}
}

// TestMultiUserCache: with OLLAMA_MULTIUSER_CACHE, conversations behind one system prompt served one after the
// other keep a slot each, the least recently used giving way, and a new conversation still finds the shared
// system prompt cached.
func TestMultiUserCache(t *testing.T) {
	n := startNode(t, 200, func(c *Config) { c.NumParallel = 2; c.MultiUserCache = true; fast(c) })
	system := nativeMessage{Role: "system", Content: strings.Repeat("be brief. ", 300)}
	a, b, c := conversation{system}, conversation{system}, conversation{system}
	a.turn(t, n, "hello")
	b.turn(t, n, "hi")
	// a, then b: a is now the least recently used.
	for _, c := range []struct {
		name string
		conv *conversation
	}{{"a", &a}, {"b", &b}} {
		if f := c.conv.turn(t, n, "next"); time.Duration(f.PromptEvalDuration) > prefillOf(10) {
			t.Errorf("%s after the other on two slots: next turn read in %s, want a cache hit", c.name, time.Duration(f.PromptEvalDuration))
		}
	}
	// c takes a's slot (the least recently used), with the system prompt copied from b's.
	if f := c.turn(t, n, "hey"); time.Duration(f.PromptEvalDuration) > prefillOf(f.PromptEvalCount/3) {
		t.Errorf("new conversation behind the shared system prompt read in %s, want the prompt cached", time.Duration(f.PromptEvalDuration))
	}
	if f := b.turn(t, n, "more"); time.Duration(f.PromptEvalDuration) > prefillOf(10) {
		t.Errorf("b kept its slot: next turn read in %s, want a cache hit", time.Duration(f.PromptEvalDuration))
	}
	if f := a.turn(t, n, "more"); time.Duration(f.PromptEvalDuration) < prefillOf(20) {
		t.Errorf("a, least recently used, gave its slot to c: next turn read in %s, want more than its new message", time.Duration(f.PromptEvalDuration))
	}
}

func TestPrefillScalesWithPromptAndNodeSpeed(t *testing.T) {
	n := startNode(t, 1000, func(c *Config) {
		c.Speed = 2
		c.Models = []Model{{Name: "p:1b", SizeMB: 100, TokensPerSec: 10, PrefillTokensPerSec: 400}}
		fast(c)
	})
	prompt := strings.Repeat("abcd", 3999) // with "user\n…\n": 16 002 bytes, 4000 tokens
	f := askOK(t, n, "/api/generate", `{"model":"p:1b","prompt":"`+prompt+`","stream":false,"options":{"num_predict":1}}`)
	if want := time.Duration(float64(f.PromptEvalCount) / 800 * float64(time.Second)); f.PromptEvalCount != 4000 ||
		time.Duration(f.PromptEvalDuration) != want {
		t.Errorf("%d tokens read in %s, want 4000 in %s (400 tokens/s × speed 2)", f.PromptEvalCount, time.Duration(f.PromptEvalDuration), want)
	}
}
