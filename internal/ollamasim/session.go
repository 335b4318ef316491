package ollamasim

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// errNotFound is Ollama's answer for a model that is not installed.
type errNotFound struct{ name string }

func (e errNotFound) Error() string {
	return fmt.Sprintf("model '%s' not found", e.name)
}

// session is one generation request between admission and its last token.
type session struct {
	n         *Node
	r         *runner
	keepAlive time.Duration
	start     time.Time     // simulated time the request arrived
	load      time.Duration // from arrival until the model was loaded, as Ollama's load_duration
	phase     phase
	slot      int    // the slot held, -1 before one is taken
	prompt    string // what the slot will cache
	generated int    // tokens generated so far
}

// begin admits a request for model and waits until its model is loaded. As in Ollama's scheduler, a request for
// a model that is neither loaded nor loading joins the queue for loads, which MaxQueue bounds (503 beyond), while
// a request for a loaded or loading model takes it at once. keepAlive < 0 keeps the model loaded forever; nil
// means the node's KeepAlive.
func (n *Node) begin(ctx context.Context, model string, keepAlive *time.Duration) (*session, error) {
	s := &session{n: n, start: n.cfg.Clock.Now(), keepAlive: n.cfg.KeepAlive, slot: -1}
	if keepAlive != nil {
		s.keepAlive = *keepAlive
	}
	name := CanonicalName(model)
	n.mu.Lock()
	n.stats.Requests++
	m := n.models[name]
	if m == nil {
		n.stats.NotFound++
		n.mu.Unlock()
		return nil, errNotFound{model}
	}
	n.expireLocked()
	r := n.runners[name]
	if r == nil {
		if n.loadQueue >= n.cfg.MaxQueue {
			n.stats.QueueFull++
			n.mu.Unlock()
			return nil, errBusy{}
		}
		n.loadQueue++
	} else {
		r.refs++
	}
	n.setPhaseLocked(&s.phase, phaseWaiting)
	n.mu.Unlock()

	if r == nil {
		var err error
		if r, err = n.acquire(ctx, m); err != nil {
			n.mu.Lock()
			var le *loadError
			if errors.As(err, &le) {
				n.stats.OutOfMemory++
			}
			n.setPhaseLocked(&s.phase, phaseNone)
			n.mu.Unlock()
			return nil, err
		}
	}
	s.r = r
	select {
	case <-r.ready:
	default:
		n.mu.Lock()
		n.setPhaseLocked(&s.phase, phaseRunning) // loading
		n.mu.Unlock()
		select {
		case <-r.ready:
		case <-ctx.Done():
			s.end()
			return nil, ctx.Err()
		}
	}
	s.load = n.cfg.Clock.Now().Sub(s.start)
	return s, nil
}

// takeSlot waits for one of the runner's slots, in arrival order, takes the free one whose prompt cache shares
// the longest prefix with prompt, and returns how many of its promptTokens it already holds.
func (s *session) takeSlot(ctx context.Context, prompt string, promptTokens int) (cached int, err error) {
	n, r := s.n, s.r
	select {
	case r.sem <- struct{}{}:
	default:
		n.mu.Lock()
		n.setPhaseLocked(&s.phase, phaseWaiting)
		n.mu.Unlock()
		select {
		case r.sem <- struct{}{}:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	s.slot, cached = r.takeSlotLocked(prompt, promptTokens, n.cfg.MultiUserCache)
	s.prompt = prompt
	r.active++
	n.setPhaseLocked(&s.phase, phaseRunning)
	n.changed()
	return cached, nil
}

// end gives back the slot, caching what it read and generated, and the reference to the model; the keep-alive
// starts when the model is idle.
func (s *session) end() {
	n, r := s.n, s.r
	n.mu.Lock()
	if s.slot >= 0 {
		r.slots[s.slot] = slot{cached: s.prompt + answerPrefix + filler(0, s.generated), used: r.slots[s.slot].used}
		r.active--
		n.changed()
	}
	n.setPhaseLocked(&s.phase, phaseNone)
	n.mu.Unlock()
	if s.slot >= 0 {
		<-r.sem
	}
	n.release(r, s.keepAlive)
}

// prefill reads tokens of the prompt and returns the simulated time it took.
func (s *session) prefill(ctx context.Context, tokens int) (time.Duration, error) {
	d := s.n.cfg.prefillTime(s.r.model, tokens, s.r.cpuShare())
	return d, s.n.cfg.Clock.Sleep(ctx, d)
}

// generate produces tokens, the first one alone and then chunk at a time, and hands each chunk's text to emit.
// Each chunk takes the time it needs at the speed of the moment, which depends on how many requests of the same
// model generate at once, and ends that long after the previous one's end (Clock.SleepUntil); it returns the
// simulated time all chunks took.
func (s *session) generate(ctx context.Context, tokens, chunk int, emit func(text string) error) (time.Duration, error) {
	n, r := s.n, s.r
	n.mu.Lock()
	r.decode++
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		r.decode--
		n.mu.Unlock()
	}()
	var total time.Duration
	end := n.cfg.Clock.Now()
	for s.generated < tokens {
		k := min(max(chunk, 1), tokens-s.generated)
		if s.generated == 0 {
			k = 1 // the first token on its own, so that a client sees the time to first token
		}
		n.mu.Lock()
		d := n.cfg.decodeTime(r.model, k, r.decode, r.cpuShare())
		n.mu.Unlock()
		total, end = total+d, end.Add(d)
		if err := n.cfg.Clock.SleepUntil(ctx, end); err != nil {
			return total, err
		}
		if err := emit(filler(s.generated, k)); err != nil {
			return total, err
		}
		s.generated += k
	}
	return total, nil
}
