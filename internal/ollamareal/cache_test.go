//go:build ollama

package ollamareal_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sollol-go/sollol/internal/ollamareal"
)

// longMessage is about n bytes of text, which the byte-level vocabulary makes about n tokens (a space takes three).
func longMessage(topic string, n int) string {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "%s-%d;", topic, i)
	}
	return b.String()
}

func ms(ns int64) float64 { return float64(ns) / 1e6 }

// TestSecondTurnPrefill: Ollama's runner keeps its slot's last prompt, so a conversation's second turn prefills
// only what is new on the server that answered its first turn, and all of it on another server; on a one-slot
// server one other conversation in between takes the slot. The figures (prefill per token, hit and miss) are
// logged for BENCHMARKS.md.
func TestSecondTurnPrefill(t *testing.T) {
	m := tiny
	a := start(t, ollamareal.Options{}, m)
	b := start(t, ollamareal.Options{}, m)
	warm(t, a, m)
	warm(t, b, m)

	turn1 := []ollamareal.Message{{Role: "user", Content: longMessage("first", 1200)}}
	r1, err := ollamareal.Chat(ctx(t), a.URL, m.Name, turn1, nil)
	if err != nil {
		t.Fatal(err)
	}
	turn2 := append(turn1, r1.Message, ollamareal.Message{Role: "user", Content: "and then?"})
	hit, err := ollamareal.Chat(ctx(t), a.URL, m.Name, turn2, nil)
	if err != nil {
		t.Fatal(err)
	}
	miss, err := ollamareal.Chat(ctx(t), b.URL, m.Name, turn2, nil)
	if err != nil {
		t.Fatal(err)
	}
	// One other conversation on b, then this one's turn 2 again: the one slot now holds the other prompt.
	if _, err := ollamareal.Chat(ctx(t), b.URL, m.Name, []ollamareal.Message{{Role: "user",
		Content: longMessage("other", 1200)}}, nil); err != nil {
		t.Fatal(err)
	}
	evicted, err := ollamareal.Chat(ctx(t), b.URL, m.Name, turn2, nil)
	if err != nil {
		t.Fatal(err)
	}

	t.Logf("figures: turn 1 prefilled %d tokens in %.0f ms (%.3f ms/token); turn 2 on the same server %d tokens in %.0f ms, "+
		"on another %d tokens in %.0f ms (%.3f ms/token, %.1fx the hit), after another conversation %d tokens in %.0f ms; "+
		"decode %.1f ms/token",
		r1.PromptEvalCount, ms(r1.PromptEvalDuration), ms(r1.PromptEvalDuration)/float64(r1.PromptEvalCount),
		hit.PromptEvalCount, ms(hit.PromptEvalDuration), miss.PromptEvalCount, ms(miss.PromptEvalDuration),
		ms(miss.PromptEvalDuration)/float64(miss.PromptEvalCount),
		float64(miss.PromptEvalDuration)/float64(hit.PromptEvalDuration), evicted.PromptEvalCount, ms(evicted.PromptEvalDuration),
		ms(miss.EvalDuration)/float64(max(miss.EvalCount, 1)))

	// Ollama counts every prompt token in prompt_eval_count, cached or not; the time tells them apart.
	if r1.PromptEvalCount < 1200 || miss.PromptEvalCount != hit.PromptEvalCount {
		t.Errorf("prompt_eval_count: turn 1 %d, turn 2 %d where turn 1 was served and %d elsewhere",
			r1.PromptEvalCount, hit.PromptEvalCount, miss.PromptEvalCount)
	}
	if evicted.PromptEvalDuration < hit.PromptEvalDuration*2 {
		t.Errorf("turn 2 prefilled in %v after another conversation on the one slot, %v on the slot that held it: "+
			"want the cache lost", time.Duration(evicted.PromptEvalDuration), time.Duration(hit.PromptEvalDuration))
	}
	if hit.PromptEvalDuration*2 > miss.PromptEvalDuration {
		t.Errorf("turn 2 prefilled in %v where turn 1 was served, %v elsewhere: want less than half",
			time.Duration(hit.PromptEvalDuration), time.Duration(miss.PromptEvalDuration))
	}
}

// TestLoadTime logs how long cold loads of two sizes take (load_duration), for the simulator's load speed.
func TestLoadTime(t *testing.T) {
	s := start(t, ollamareal.Options{}, tiny, large)
	small, big := warm(t, s, tiny), warm(t, s, large)
	mib := func(m ollamareal.Model) float64 { return float64(4*m.Llama.Params()) / (1 << 20) }
	perMiB := (ms(big.LoadDuration) - ms(small.LoadDuration)) / (mib(large) - mib(tiny))
	t.Logf("figures: cold load of %.1f MiB in %.0f ms, of %.1f MiB in %.0f ms: %.1f ms per MiB beyond a fixed %.0f ms",
		mib(tiny), ms(small.LoadDuration), mib(large), ms(big.LoadDuration), perMiB, ms(small.LoadDuration)-perMiB*mib(tiny))
	// Loaded now: a second request does not load again.
	again := warm(t, s, large)
	if small.LoadDuration <= 0 || big.LoadDuration <= 0 || again.LoadDuration*10 > big.LoadDuration {
		t.Errorf("load_duration: %v, %v cold; %v warm", time.Duration(small.LoadDuration),
			time.Duration(big.LoadDuration), time.Duration(again.LoadDuration))
	}
}
