package ollamasim

import "strings"

// bytesPerToken is the simulator's token estimate: about four bytes of text a token.
const bytesPerToken = 4

// tokenCount is the estimated token count of n bytes of text.
func tokenCount(n int) int { return n / bytesPerToken }

// slot is one of a loaded model's NumParallel sequences, with the prompt cache Ollama's runner keeps there: the
// text of its last request, prompt and generated answer. used orders the slots by their last use.
type slot struct {
	inUse  bool
	cached string
	used   uint64
}

// render is a conversation as the runner sees it: each message's role and content, one after the other, so that
// a next turn that resends the conversation, with the answer as it was generated, starts with the text the slot
// holds. Real templates add markup; only the shared prefix matters here.
func render(b *strings.Builder, role, content string) {
	b.WriteString(role)
	b.WriteByte('\n')
	b.WriteString(content)
	b.WriteByte('\n')
}

// answerPrefix starts the generated answer in a slot's cache, as render starts the assistant message that
// resends it.
const answerPrefix = "assistant\n"

// takeSlotLocked takes a free slot for prompt as Ollama's runner does, and returns it with how many of the
// prompt's promptTokens it already holds (at least one token is always left to read, as in the runner). A caller
// holds a place in r.sem, so a free slot exists.
//
// By default (findLongestCacheSlot) the runner takes the free slot whose cache shares the longest prefix with
// the prompt, the first one on a tie: conversations behind one system prompt, served one after the other, take
// turns in one slot. With OLLAMA_MULTIUSER_CACHE (findBestCacheSlot) it takes the slot whose whole cache the
// prompt extends, if free, else the least recently used free slot, into which it copies the longest prefix any
// slot shares: n slots keep the n conversations last served.
func (r *runner) takeSlotLocked(prompt string, promptTokens int, multiUser bool) (i, cached int) {
	i, best := -1, -1
	longest, longestAt := -1, -1
	for j := range r.slots {
		s := &r.slots[j]
		c := commonPrefix(s.cached, prompt)
		if c > longest {
			longest, longestAt = c, j
		}
		switch {
		case s.inUse:
		case !multiUser && c > best, multiUser && (i < 0 || s.used < r.slots[i].used):
			i, best = j, c
		}
	}
	if multiUser {
		best = longest
		if s := &r.slots[longestAt]; longest == len(s.cached) && !s.inUse {
			i = longestAt
		}
	}
	r.useCount++
	r.slots[i].inUse, r.slots[i].used = true, r.useCount
	return i, min(tokenCount(best), promptTokens-1)
}

func commonPrefix(a, b string) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

var words = strings.Fields("the sim has one set and odd toy dry few for its own use but for all you ask not " +
	"one has any key yet all get the way")

// Answer is the text a node generates for an answer of n tokens, the same for every request: words of three
// letters and a space, four bytes, one token each. A client that sends it back as the assistant's message of
// the next turn hits the prompt cache of the slot that generated it.
func Answer(n int) string { return filler(0, n) }

// filler returns k words starting at word from.
func filler(from, k int) string {
	var b strings.Builder
	b.Grow(4 * k)
	for i := from; i < from+k; i++ {
		b.WriteString(words[i%len(words)])
		b.WriteByte(' ')
	}
	return b.String()
}
