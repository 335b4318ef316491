package ollamasim

import (
	"context"
	"time"
)

// Clock is simulated time that runs Scale times faster than the wall clock, starting at the wall-clock time it was
// created. The zero value is not usable: make one with NewClock.
type Clock struct {
	scale float64
	start time.Time
}

// NewClock returns a Clock that runs scale times faster than the wall clock; scale ≤ 0 means 1 (real time).
func NewClock(scale float64) *Clock {
	if !(scale > 0) {
		scale = 1
	}
	return &Clock{scale: scale, start: time.Now()}
}

// Scale is how many simulated seconds pass per wall-clock second.
func (c *Clock) Scale() float64 { return c.scale }

// Now is the simulated time.
func (c *Clock) Now() time.Time { return c.start.Add(c.Sim(time.Since(c.start))) }

// Sim converts a wall-clock duration to simulated time.
func (c *Clock) Sim(real time.Duration) time.Duration { return time.Duration(float64(real) * c.scale) }

// Real converts a simulated duration to wall-clock time.
func (c *Clock) Real(sim time.Duration) time.Duration { return time.Duration(float64(sim) / c.scale) }

// Sleep waits for the simulated duration d, or until ctx ends, whichever comes first; it returns ctx's error in
// the second case.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(c.Real(d))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// SleepUntil waits until the simulated time t, or until ctx ends, as Sleep does. A loop that sleeps until each
// step's end, rather than for each step's length, does not add up the timer's lateness, about half a millisecond
// of wall-clock time a step, which at Scale 100 is 50 ms of simulated time each.
func (c *Clock) SleepUntil(ctx context.Context, t time.Time) error {
	return c.Sleep(ctx, t.Sub(c.Now()))
}
