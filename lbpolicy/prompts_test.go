package lbpolicy

import (
	"bytes"
	"fmt"
	"math"
	"testing"
	"time"
)

// chat is a conversation's messages as a chat client sends them, about n bytes, tagged so that two chats differ
// from their first byte.
func chat(tag string, n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, `{"role":"user","content":"%s %d"},`, tag, i)
	}
	return b.Bytes()[:n]
}

func TestPromptsMatch(t *testing.T) {
	p := NewPrompts(64)
	a, b := new(State), new(State)
	turn1 := chat("one", 1000) // three whole chunks
	m := p.Match(llama, turn1, nil)
	if m.Known() || m.key == 0 {
		t.Fatalf("first turn: known %v key %x, want unknown with a key", m.Known(), m.key)
	}
	p.record(&m, a, a.prompt(modelKey(llama)), t0.UnixNano())

	turn2 := append(append([]byte{}, turn1...), chat("two", 600)...)
	if m := p.Match(llama, turn2, nil); m.by != a || m.Tokens != 3*PromptChunk/bytesPerToken {
		t.Errorf("second turn: by %p (a %p) tokens %v, want a and %d", m.by, a, m.Tokens, 3*PromptChunk/bytesPerToken)
	}
	// The same text split between system and prompt hashes the same.
	if m := p.Match(llama, turn2[:100], turn2[100:]); m.by != a {
		t.Errorf("second turn in two parts: by %p, want a", m.by)
	}
	if m := p.Match("qwen2:7b", turn2, nil); m.Known() {
		t.Error("the same conversation for another model matched")
	}
	if m := p.Match(llama, chat("other", 1600), nil); m.Known() {
		t.Error("another conversation matched")
	}
	// Shorter than a chunk: nothing to match or record.
	short := p.Match(llama, turn1[:PromptChunk-1], nil)
	p.record(&short, b, 1, t0.UnixNano())
	if short.key != 0 || short.Known() {
		t.Errorf("prompt shorter than a chunk: key %x known %v", short.key, short.Known())
	}
	// Turn 2 sent to b: turn 3 now matches b, with turn 2's length.
	m = p.Match(llama, turn2, nil)
	p.record(&m, b, b.prompt(modelKey(llama)), t0.UnixNano())
	turn3 := append(append([]byte{}, turn2...), chat("three", 300)...)
	if m := p.Match(llama, turn3, nil); m.by != b || m.Tokens != 6*PromptChunk/bytesPerToken {
		t.Errorf("third turn: by %p (b %p) tokens %v, want b and %d", m.by, b, m.Tokens, 6*PromptChunk/bytesPerToken)
	}
}

// TestPromptsBound: the table holds a fixed number of prompts; the least recently sent of a set gives way.
func TestPromptsBound(t *testing.T) {
	p := NewPrompts(3)
	if p.Len() != promptWays {
		t.Fatalf("Len = %d, want one set of %d", p.Len(), promptWays)
	}
	st := new(State)
	for i := range promptWays + 1 {
		m := p.Match(llama, chat(fmt.Sprint("chat", i), 2*PromptChunk), nil)
		p.record(&m, st, 1, t0.Add(time.Duration(i)*time.Second).UnixNano())
	}
	for i := range promptWays + 1 {
		text := append(chat(fmt.Sprint("chat", i), 2*PromptChunk), "more"...)
		if known, want := p.Match(llama, text, nil).Known(), i > 0; known != want {
			t.Errorf("chat %d known %v, want %v", i, known, want)
		}
	}
	if n := NewPrompts(10000).Len(); n < 10000 || n >= 20000 {
		t.Errorf("NewPrompts(10000).Len() = %d", n)
	}
}

// conversationOn sends one turn of chat (n bytes) for llama to cs[i] as Select would record it, and returns the
// next turn's text.
func conversationOn(p *Prompts, cs []Candidate, i int, tag string) []byte {
	turn := chat(tag, 4000)
	m := p.Match(llama, turn, nil)
	p.record(&m, cs[i].State, cs[i].State.prompt(modelKey(llama)), t0.UnixNano())
	return append(turn, chat(tag+" next", 200)...)
}

// Affinity: the node that still holds the conversation reads only what is new. 4000 bytes cached is 15 chunks,
// 960 tokens: at 4000 tokens/s for a 4096 MiB model, 0.28s saved on the 5000 MiB llama (its run is 12.2s).
func TestRuleAffinity(t *testing.T) {
	resident := func() *Candidate {
		c := up(node("n", free(15000), loaded(llama, 5000, 5000), parallel(2)))
		return &c
	}
	cases := []struct {
		name     string
		cfg      Config
		cands    func() []Candidate
		on       int // where the conversation's last turn went
		between  int // requests for llama sent there since
		want     int
		reason   Reason
		minSaved float64
	}{
		{name: "the node that holds the conversation wins over an idle twin",
			cands: func() []Candidate { return withState(*resident(), *resident()) },
			on:    1, want: 1, reason: ReasonCached, minSaved: 0.28},
		{name: "it wins with a queue shorter than the prefill saved",
			cfg:   Config{PrefillSpeed: 100}, // 11s saved
			cands: func() []Candidate { a, b := *resident(), *resident(); b.InFlight = 2; return withState(a, b) },
			on:    1, want: 1, reason: ReasonCached, minSaved: 10},
		{name: "it loses with a queue longer than the prefill saved",
			cands: func() []Candidate { a, b := *resident(), *resident(); b.InFlight = 2; return withState(a, b) },
			on:    1, want: 0, reason: ReasonResident},
		{name: "two requests since on its two slots: the conversation is gone",
			cfg:   Config{PrefillSpeed: 100},
			cands: func() []Candidate { return withState(*resident(), *resident()) },
			on:    1, between: 2, want: 0, reason: ReasonResident},
		{name: "one request since on two slots: still there",
			cfg:   Config{PrefillSpeed: 100},
			cands: func() []Candidate { return withState(*resident(), *resident()) },
			on:    1, between: 1, want: 1, reason: ReasonCached, minSaved: 10},
		{name: "the model was unloaded there: no cache, the resident node wins",
			cfg: Config{PrefillSpeed: 100},
			cands: func() []Candidate {
				return withState(*resident(), up(node("m", free(20000), installed(model(llama, 4700)))))
			},
			on: 1, want: 0, reason: ReasonResident},
		{name: "never where it cannot be served: draining",
			cfg: Config{PrefillSpeed: 100},
			cands: func() []Candidate {
				return withState(*resident(), up(node("n", free(15000), loaded(llama, 5000, 5000), draining)))
			},
			on: 1, want: 0, reason: ReasonResident},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := NewPrompts(64)
			cs := tc.cands()
			next := conversationOn(p, cs, tc.on, "chat")
			for range tc.between {
				cs[tc.on].State.prompt(modelKey(llama))
			}
			s := NewSelector(tc.cfg, keepFirst)
			d := s.Select(cs, Request{Model: llama, Now: t0, Prompt: p.Match(llama, next, nil), Prompts: p})
			if d.Index != tc.want || d.Reason != tc.reason || d.Saved < tc.minSaved || tc.minSaved == 0 && d.Saved != 0 {
				t.Errorf("Select = index %d reason %s (%.2fs = wait %.2f + run %.2f - saved %.2f), want index %d reason %s, saved ≥ %.2f",
					d.Index, d.Reason, d.Seconds, d.Wait, d.Run, d.Saved, tc.want, tc.reason, tc.minSaved)
			}
		})
	}
}

// Each model's slots hold its own conversations: requests for another model on the node take none of them,
// even for two models whose names hash alike.
func TestOtherModelsTakeNoSlotOfAConversation(t *testing.T) {
	const a, b = "llama3.1:8b", "qwen2.5:14b"
	if modelKey(a)%maxChatModels != modelKey(b)%maxChatModels {
		t.Fatalf("%s and %s no longer share a record slot: pick two names that do", a, b)
	}
	p, s := NewPrompts(64), NewSelector(Config{}, nil)
	cs := withState(up(node("n", free(15000), parallel(2), loaded(a, 5000, 5000), loaded(b, 5000, 5000))))
	turn := chat("chat", 3000)
	s.Select(cs, Request{Model: a, Now: t0, Prompt: p.Match(a, turn, nil), Prompts: p})
	for i := range 3 {
		s.Select(cs, Request{Model: b, Now: t0, Prompt: p.Match(b, chat(fmt.Sprint("other ", i), 3000), nil), Prompts: p})
	}
	turn = append(turn, chat("next", 300)...)
	if d := s.Select(cs, Request{Model: a, Now: t0, Prompt: p.Match(a, turn, nil), Prompts: p}); d.Reason != ReasonCached {
		t.Errorf("after three requests for %s on the node: reason %s, want cached", b, d.Reason)
	}
	if share, held := cs[0].State.thrash(modelKey(b)); share != 0 || held != 0 {
		t.Errorf("%s's conversations: share %v evicted, %v tokens held; want none, as none came back", b, share, held)
	}
}

// TestSelectFollowsTheConversation: Select records where it sends each turn, so every turn of a conversation
// goes where the one before went, while another conversation between two turns on a one-slot node breaks it.
func TestSelectFollowsTheConversation(t *testing.T) {
	p, s := NewPrompts(64), NewSelector(Config{}, nil)
	cs := withState(up(node("a", free(15000), loaded(llama, 5000, 5000))), up(node("b", free(15000), loaded(llama, 5000, 5000))))
	conv := chat("chat", 1000)
	first := s.Select(cs, Request{Model: llama, Now: t0, Prompt: p.Match(llama, conv, nil), Prompts: p})
	for turn := range 5 {
		conv = append(conv, chat(fmt.Sprint("turn", turn), 300)...)
		d := s.Select(cs, Request{Model: llama, Now: t0, Prompt: p.Match(llama, conv, nil), Prompts: p})
		if d.Index != first.Index || d.Reason != ReasonCached {
			t.Fatalf("turn %d: index %d reason %s, want %d cached", turn+2, d.Index, d.Reason, first.Index)
		}
	}
	s.Select([]Candidate{cs[first.Index]}, Request{Model: llama, Now: t0, Prompt: p.Match(llama, chat("other", 1000), nil), Prompts: p})
	conv = append(conv, "more"...)
	if d := s.Select(cs, Request{Model: llama, Now: t0, Prompt: p.Match(llama, conv, nil), Prompts: p}); d.Reason != ReasonResident {
		t.Errorf("after another conversation on the one slot: reason %s, want resident", d.Reason)
	}
}

func TestMatchAndSelectDoNotAllocate(t *testing.T) {
	p, s := NewPrompts(1024), NewSelector(Config{}, nil)
	cs := fleet(16)
	text := chat("chat", 30000)
	if a := testing.AllocsPerRun(100, func() {
		s.Select(cs, Request{Model: llama, Now: t0, Prompt: p.Match(llama, text, nil), Prompts: p})
	}); a != 0 {
		t.Errorf("Match and Select allocate %v times per call", a)
	}
}

// BenchmarkMatch measures hashing and looking up a long conversation's prompt (32 KiB, about 8 000 tokens).
func BenchmarkMatch(b *testing.B) {
	p := NewPrompts(DefaultPromptEntries)
	text := chat("chat", 32<<10)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		p.Match(llama, text, nil)
	}
}

// Ollama frees the least recently used slot, whether the request that takes it is a new conversation or the
// next turn of one: two conversations share two slots, then a third joins, and from then on each finds its slot
// taken by the other two, so none is credited a cached prompt.
func TestConversationsCyclingOnFewerSlotsAreNotCached(t *testing.T) {
	p, s := NewPrompts(64), NewSelector(Config{}, nil)
	cs := withState(up(node("a", free(15000), parallel(2), loaded(llama, 5000, 5000))))
	convs := [][]byte{chat("a", 1000), chat("b", 1000), chat("c", 1000)}
	send := func(i int, round int) Decision {
		convs[i] = append(convs[i], chat(fmt.Sprint("turn", round), 300)...)
		return s.Select(cs, Request{Model: llama, Now: t0, Prompt: p.Match(llama, convs[i], nil), Prompts: p})
	}
	for round := range 2 {
		for i := range 2 {
			if d := send(i, round); round > 0 && d.Reason != ReasonCached {
				t.Fatalf("round %d, conversation %d alone with one other on two slots: reason %s, want cached", round, i, d.Reason)
			}
		}
	}
	send(2, 0)
	for round := 2; round < 5; round++ {
		for i := range convs {
			if d := send(i, round); d.Reason != ReasonResident {
				t.Fatalf("round %d, conversation %d: reason %s, want resident (two others ran on its two slots since)", round, i, d.Reason)
			}
		}
	}
}

// Where the conversations that come back keep finding their slot taken, one more request there costs each of
// the slots' worth of them its prompt: a new conversation goes to a node that loads the model without taking
// anyone's slot, when that costs less. Where they find their slots, it takes the resident node's free slot.
func TestThrashingSlotsSendNewConversationsElsewhere(t *testing.T) {
	for _, convs := range []int{2, 3} {
		p, s := NewPrompts(64), NewSelector(Config{PrefillSpeed: 100}, keepFirst)
		cs := withState(up(node("a", free(15000), parallel(2), installed(model(llama, 4700)), loaded(llama, 5000, 5000))),
			up(node("b", free(20000), parallel(2), installed(model(llama, 4700)))))
		turns := make([][]byte, convs)
		for round := range 4 {
			for i := range turns {
				turns[i] = append(turns[i], chat(fmt.Sprint("chat ", i, " turn ", round), 3000)...)
				s.Select(cs[:1], Request{Model: llama, Now: t0, Prompt: p.Match(llama, turns[i], nil), Prompts: p})
			}
		}
		d := s.Select(cs, Request{Model: llama, Now: t0, Prompt: p.Match(llama, chat("new", 3000), nil), Prompts: p})
		want, reason := 0, ReasonResident
		if convs > 2 {
			want, reason = 1, ReasonFits
		}
		if d.Index != want || d.Reason != reason || convs == 2 && d.Evict != 0 {
			t.Errorf("%d conversations on two slots: a new one went to %d, reason %s (%.1fs: run %.1f + load %.1f + evict %.1f), want %d %s",
				convs, d.Index, d.Reason, d.Seconds, d.Run, d.Load, d.Evict, want, reason)
		}
	}
}

// A retried turn is the same turn: the node that served the conversation counts it once in what it learns of
// its slots, whichever node the first try went to.
func TestRetriedTurnCountsOnce(t *testing.T) {
	p, s := NewPrompts(64), NewSelector(Config{}, keepFirst)
	cs := withState(up(node("a", free(15000), parallel(1), loaded(llama, 5000, 5000))),
		up(node("b", free(15000), parallel(1), loaded(llama, 5000, 5000))))
	turn := chat("a", 1000)
	s.Select(cs[:1], Request{Model: llama, Now: t0, Prompt: p.Match(llama, turn, nil), Prompts: p})
	s.Select(cs[:1], Request{Model: llama, Now: t0, Prompt: p.Match(llama, chat("other", 1000), nil), Prompts: p})
	turn = append(turn, chat("turn 2", 300)...)
	prompt := p.Match(llama, turn, nil)
	s.Select(cs, Request{Model: llama, Now: t0, Prompt: prompt, Prompts: p})
	share, _ := cs[0].State.thrash(modelKey(llama))
	cs[1].Tried = true
	s.Select(cs, Request{Model: llama, Now: t0, Prompt: prompt, Prompts: p})
	if again, _ := cs[0].State.thrash(modelKey(llama)); share != evictionShare || again != share {
		t.Errorf("share of turns that found their slot taken: %v after the turn, %v after its retry; want %v both",
			share, again, evictionShare)
	}
}

// Conversations behind one system prompt share it: every node that serves them holds it, so holding this
// conversation saves only the prompt past it.
func TestSharedSystemPromptIsNotSaved(t *testing.T) {
	p, s := NewPrompts(64), NewSelector(Config{}, keepFirst)
	cs := withState(up(node("a", free(15000), parallel(4), loaded(llama, 5000, 5000))),
		up(node("b", free(15000), parallel(4), loaded(llama, 5000, 5000))))
	system := chat("system", 4096) // 16 chunks, 1024 tokens
	turn := append(append([]byte{}, system...), chat("hi", 1000)...)
	s.Select(cs[:1], Request{Model: llama, Now: t0, Prompt: p.Match(llama, turn, nil), Prompts: p})
	turn = append(turn, chat("more", 300)...)
	whole := p.Match(llama, turn, nil)
	shared := whole
	shared.SetShared(len(system))
	dw := s.Select(cs, Request{Model: llama, Now: t0, Prompt: whole})
	ds := s.Select(cs, Request{Model: llama, Now: t0, Prompt: shared})
	if dw.Reason != ReasonCached || ds.Reason != ReasonCached || shared.Shared != 1024 ||
		math.Abs(ds.Saved-dw.Saved*(whole.Tokens-1024)/whole.Tokens) > 1e-9 {
		t.Errorf("saved %.3fs of %v tokens, %.3fs with %v of them shared (%s, %s); want in proportion to the tokens past the system prompt",
			dw.Saved, whole.Tokens, ds.Saved, shared.Shared, dw.Reason, ds.Reason)
	}
}

// A State tells apart the conversations of maxChatModels models; one more takes another's record, whose
// conversations then look evicted rather than cached.
func TestChatRecordsBound(t *testing.T) {
	st := new(State)
	for i := range maxChatModels + 1 {
		key := modelKey(fmt.Sprint("model", i))
		if n := st.prompt(key); n != 1 {
			t.Fatalf("model %d: count %d, want 1", i, n)
		}
	}
	kept := 0
	for i := range maxChatModels + 1 {
		if st.promptSeq(modelKey(fmt.Sprint("model", i))) == 1 {
			kept++
		}
	}
	if kept != maxChatModels {
		t.Errorf("%d models' counts kept, want %d", kept, maxChatModels)
	}
	gone := Prompt{by: st, seq: 1}
	for i := range maxChatModels {
		if key := modelKey(fmt.Sprint("model", i)); st.promptSeq(key) == 0 && !gone.evicted(key, 4) {
			t.Errorf("model %d lost its record, but its conversation still looks cached", i)
		}
	}
}
