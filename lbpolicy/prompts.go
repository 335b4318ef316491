package lbpolicy

import (
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
)

// PromptChunk is the size in bytes of the pieces a prompt is hashed in: a prompt is known to extend an earlier
// one up to the last whole chunk they share, about 64 tokens.
const PromptChunk = 256

// bytesPerToken is the estimate of a prompt's tokens from its bytes.
const bytesPerToken = 4

// DefaultPromptEntries is how many prompts a Prompts table holds by default: one per conversation in progress,
// 24 bytes each.
const DefaultPromptEntries = 16384

// promptWays is how many prompts share a set of the table; the least recently sent of them gives way.
const promptWays = 4

// Prompts remembers which upstream each recent prompt was sent to, so that the next turn of a conversation, which
// resends the conversation so far, can go where Ollama still holds it in a slot's prompt cache. It keeps a hash
// of each prompt per model, never its text, in a fixed number of entries; the least recently sent prompts give
// way. It is safe for concurrent use, takes no locks and allocates nothing after NewPrompts. Two requests
// recording at the same instant may lose one entry, which costs a cache hit, never a wrong answer.
type Prompts struct {
	sets []promptSet
	mask uint64
}

type promptSet [promptWays]promptEntry

// promptEntry is one prompt: key its hash (0: empty), st the upstream it was sent to, and meta that upstream's
// count of requests for the model when it was sent (high 32 bits) and the second it was sent (low 32 bits).
type promptEntry struct {
	key, meta atomic.Uint64
	st        atomic.Pointer[State]
}

// NewPrompts returns a table of at least entries prompts (at least promptWays), rounded up to a power of two.
func NewPrompts(entries int) *Prompts {
	sets := 1
	for sets*promptWays < entries {
		sets *= 2
	}
	return &Prompts{sets: make([]promptSet, sets), mask: uint64(sets - 1)}
}

// Len is how many prompts the table holds at most.
func (p *Prompts) Len() int { return len(p.sets) * promptWays }

// Prompt is what a request's prompt shares with the prompts sent before it. The zero Prompt knows nothing.
type Prompt struct {
	// key is the hash of the model and the prompt's whole chunks, 0 when it has none.
	key uint64
	// Tokens is the estimate of the tokens of the longest earlier prompt that this one extends, 0 when none;
	// Shared of those at its start that it shares with other conversations (see SetShared).
	Tokens, Shared float64
	// by is the upstream that prompt was sent to, seq its count of requests for the model then.
	by  *State
	seq uint32
}

// Key is the prompt's hash up to its last whole chunk, 0 when it has none; the same in every process, for the
// gateways to exchange (Prompts.Import).
func (p Prompt) Key() uint64 { return p.key }

// Import records that another gateway sent the prompt whose Key is key, for the model whose ModelKey is model, to
// the upstream whose State is st at at: the next turn of the conversation then goes there, as after this
// gateway's own, until this gateway sends the slots' worth of other requests for the model there.
func (p *Prompts) Import(key, model uint64, st *State, at time.Time) {
	p.record(&Prompt{key: key}, st, st.promptSeq(model), at.UnixNano())
}

// SetShared says that the first bytes of the prompt text are a system prompt that other conversations share.
// A node that serves them holds it whichever of them it served last, as Ollama reads a prompt's start from the
// slot that shares the most of it: so a node saves only the prompt past it by holding this conversation, and
// loses only that when another takes its slot.
func (p *Prompt) SetShared(bytes int) {
	p.Shared = min(float64(bytes/PromptChunk*PromptChunk/bytesPerToken), p.Tokens)
}

// Known reports whether the prompt extends one that was sent before.
func (p Prompt) Known() bool { return p.by != nil }

// Match hashes the prompt text, the concatenation of first and then, for model in chunks of PromptChunk bytes
// (the text as the request carries it: the JSON of a chat's messages, or a generate request's system and
// prompt), and finds the longest earlier prompt in the table that it extends. The text is not kept.
func (p *Prompts) Match(model string, first, then []byte) Prompt {
	var r Prompt
	var d xxhash.Digest
	d.Reset()
	d.WriteString(model)
	d.WriteString("\x00")
	chunks, fill := 0, 0
	for _, text := range [2][]byte{first, then} {
		for len(text) > 0 {
			n := min(len(text), PromptChunk-fill)
			d.Write(text[:n])
			text, fill = text[n:], fill+n
			if fill == PromptChunk {
				chunks, fill = chunks+1, 0
				r.key = d.Sum64() | 1
				if e := p.find(r.key); e != nil {
					if st := e.st.Load(); st != nil {
						r.by, r.seq = st, uint32(e.meta.Load()>>32)
						r.Tokens = float64(chunks * PromptChunk / bytesPerToken)
					}
				}
			}
		}
	}
	return r
}

func (p *Prompts) find(key uint64) *promptEntry {
	set := &p.sets[key&p.mask]
	for i := range set {
		if set[i].key.Load() == key {
			return &set[i]
		}
	}
	return nil
}

// record remembers that the prompt r was sent to st, whose count of requests for its model was then seq.
func (p *Prompts) record(r *Prompt, st *State, seq uint32, nowNS int64) {
	if p == nil || r.key == 0 {
		return
	}
	meta := uint64(seq)<<32 | uint64(uint32(nowNS/1e9))
	e := p.find(r.key)
	if e == nil {
		set := &p.sets[r.key&p.mask]
		e = &set[0]
		for i := range set {
			if set[i].key.Load() == 0 {
				e = &set[i]
				break
			}
			if uint32(set[i].meta.Load()) < uint32(e.meta.Load()) {
				e = &set[i]
			}
		}
		e.key.Store(r.key)
	}
	e.st.Store(st)
	e.meta.Store(meta)
}

// evicted reports whether the node r's earlier prompt was sent to has been sent the slots' worth of requests
// for the model since, each of which may have taken the slot that held it: else a slot there still holds it.
func (r *Prompt) evicted(model uint64, slots int) bool {
	return r.by.promptSeq(model)-r.seq >= uint32(slots)
}
