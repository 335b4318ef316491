package ollamasim

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// errNotFound is Ollama's answer for a model that is not installed.
type errNotFound struct{ name string }

func (e errNotFound) Error() string {
	return fmt.Sprintf("model %q not found, try pulling it first", e.name)
}

// session is one generation request between admission and its last token.
type session struct {
	n         *Node
	r         *runner
	keepAlive time.Duration
	start     time.Time     // simulated time the request arrived
	loadWait  time.Duration // time spent waiting for the model to load
	genStart  time.Time     // when generation began
}

// begin admits a request for model: it finds the model, loads it when needed, and waits for a parallel slot.
// keepAlive < 0 keeps the model loaded forever; nil means the node's KeepAlive.
func (n *Node) begin(ctx context.Context, model string, keepAlive *time.Duration) (*session, error) {
	s := &session{n: n, start: n.cfg.Clock.Now(), keepAlive: n.cfg.KeepAlive}
	if keepAlive != nil {
		s.keepAlive = *keepAlive
	}
	name := CanonicalName(model)
	n.mu.Lock()
	n.stats.Requests++
	m := n.models[name]
	switch {
	case m == nil:
		n.stats.NotFound++
		n.mu.Unlock()
		return nil, errNotFound{model}
	case n.pending >= n.cfg.MaxQueue:
		n.stats.QueueFull++
		n.mu.Unlock()
		return nil, errBusy{}
	}
	n.pending++
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		n.pending--
		n.mu.Unlock()
	}()

	r, _, err := n.acquire(ctx, m)
	if err != nil {
		var le *loadError
		if errors.As(err, &le) {
			n.mu.Lock()
			n.stats.OutOfMemory++
			n.mu.Unlock()
		}
		return nil, err
	}
	s.r = r
	if s.loadWait, err = n.startGenerating(ctx, r); err != nil {
		n.release(r, s.keepAlive)
		return nil, err
	}
	s.genStart = n.cfg.Clock.Now()
	return s, nil
}

// end gives back the slot and the reference to the model; the keep-alive starts when the model is idle.
func (s *session) end() {
	s.n.stopGenerating(s.r)
	s.n.release(s.r, s.keepAlive)
}

// generate produces tokens in chunks of at most chunk tokens, taking the simulated time each chunk needs, and
// hands each chunk's text to emit. A chunk of 0 produces everything in one wait.
func (s *session) generate(ctx context.Context, tokens, chunk int, emit func(text string) error) error {
	if chunk <= 0 {
		chunk = max(tokens, 1)
	}
	for done := 0; done < tokens; {
		k := min(chunk, tokens-done)
		if err := s.n.cfg.Clock.Sleep(ctx, s.n.cfg.genTime(s.r.model, k)); err != nil {
			return err
		}
		if err := emit(filler(done, k)); err != nil {
			return err
		}
		done += k
	}
	return nil
}

// promptEval waits for the prompt to be read, at ten times the generation speed.
func (s *session) promptEval(ctx context.Context, tokens int) (time.Duration, error) {
	d := s.n.cfg.genTime(s.r.model, tokens) / 10
	return d, s.n.cfg.Clock.Sleep(ctx, d)
}

var words = strings.Fields("the model answers in simulated words that carry no meaning but take the time real " +
	"tokens would take on this node")

// filler returns k words starting at word from.
func filler(from, k int) string {
	var b strings.Builder
	for i := from; i < from+k; i++ {
		b.WriteString(words[i%len(words)])
		b.WriteByte(' ')
	}
	return b.String()
}
