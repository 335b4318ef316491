package gpustats_test

import (
	"sync"
	"testing"
	"time"

	"github.com/sollol-go/sollol/gpustats"
)

// fakeClock is a Clock that moves only when a test advances it. It records every wait asked of it, in order.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []fakeTimer
	waits  []time.Duration
}

type fakeTimer struct {
	at time.Time
	d  time.Duration
	ch chan time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Now()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.waits = append(c.waits, d)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.timers = append(c.timers, fakeTimer{c.now.Add(d), d, ch})
	return ch
}

// Advance moves the clock by d and fires every timer due by then.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, tm := range c.timers {
		if tm.at.After(c.now) {
			kept = append(kept, tm)
		} else {
			tm.ch <- c.now
		}
	}
	c.timers = kept
}

// pending reports whether a timer of duration d waits to fire.
func (c *fakeClock) pending(d time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, tm := range c.timers {
		if tm.d == d {
			return true
		}
	}
	return false
}

// Waits returns the durations asked of After so far.
func (c *fakeClock) Waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}

// fire waits until a timer of duration d is pending, then advances the clock by d.
func (c *fakeClock) fire(t *testing.T, d time.Duration) {
	t.Helper()
	eventually(t, "a wait of "+d.String(), func() bool { return c.pending(d) })
	c.Advance(d)
}

// rebuilt waits for what, moving the clock past the snapshot's rebuild delay whenever a rebuild waits for it: a
// node seen for the first time is in the snapshot only after that delay.
func (c *fakeClock) rebuilt(t *testing.T, what string, cond func() bool) {
	t.Helper()
	eventually(t, what, func() bool {
		if c.pending(gpustats.IndexDelay) {
			c.Advance(gpustats.IndexDelay)
		}
		return cond()
	})
}
