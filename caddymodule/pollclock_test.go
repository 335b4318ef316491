package caddymodule

import (
	"sync"
	"testing"
	"time"

	"github.com/sollol-go/sollol/gpustats"
)

// fakeClock is a gpustats.Clock that moves only when a test runs a round, so that tests count polls per round instead
// of per stretch of real time.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
	asked   int // After calls so far
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1764230000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.waiters = append(c.waiters, fakeWaiter{at: c.now.Add(d), ch: ch})
	c.asked++
	return ch
}

// since is how far the clock has moved from t.
func (c *fakeClock) since(t time.Time) time.Duration { return c.Now().Sub(t) }

// round moves the clock to p's next tick and returns once the round is over: the loop waits on the clock again and
// none of the round's polls is still running.
func (c *fakeClock) round(t *testing.T, p *poller) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	wait := func(what string, done func() bool) {
		for !done() {
			if time.Now().After(deadline) {
				t.Fatalf("round: %s never happened", what)
			}
			time.Sleep(time.Millisecond)
		}
	}
	var w fakeWaiter
	wait("the poller waiting on the clock", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if len(c.waiters) == 0 {
			return false
		}
		w, c.waiters = c.waiters[0], c.waiters[1:]
		return true
	})
	c.mu.Lock()
	c.now = w.at
	asked := c.asked
	c.mu.Unlock()
	w.ch <- w.at
	wait("the next tick asked for", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.asked > asked
	})
	wait("the round's polls ending", func() bool {
		for _, t := range p.index.Load().targets {
			if t.busy.Load() {
				return false
			}
		}
		return true
	})
}

// startFakePoller starts a poller at the default test interval, 50ms, on a fake clock.
func startFakePoller(t *testing.T, opts pollOptions) (*poller, *fakeClock) {
	c := newFakeClock()
	opts.Clock = c
	return startPoller(t, opts), c
}

// TestFakeClockRounds: each round moves the clock by one jittered interval, and polls each target once.
func TestFakeClockRounds(t *testing.T) {
	f := newFakeOllama(t, psLlama, tagsThree)
	p, c := startFakePoller(t, pollOptions{})
	waitNode(t, p, f.dial(), "node", func(n *gpustats.Node) bool { return n != nil })
	start, hits := c.Now(), f.psHits.Load()
	for i := 1; i <= 5; i++ {
		c.round(t, p)
		if got := f.psHits.Load() - hits; got != int32(i) {
			t.Fatalf("after %d rounds, %d polls", i, got)
		}
	}
	if d := c.since(start); d < 5*40*time.Millisecond || d > 5*50*time.Millisecond {
		t.Errorf("5 rounds moved the clock %s, want 200ms to 250ms", d)
	}
}
