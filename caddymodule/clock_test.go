package caddymodule

import (
	"testing"
	"time"
)

func TestClockTellsWallTime(t *testing.T) {
	c := newClock()
	for range 3 {
		before := time.Now()
		got := c.now()
		after := time.Now()
		if got.Before(before.Add(-time.Millisecond)) || got.After(after.Add(time.Millisecond)) {
			t.Errorf("clock says %v, time.Now between %v and %v", got, before, after)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestClockFollowsWallSteps moves the wall-clock time at start, as a step of the system clock would seem: the
// clock must take it up within a second.
func TestClockFollowsWallSteps(t *testing.T) {
	c := newClock()
	c.offset.Add(int64(time.Hour))    // the wall clock stepped back an hour since start
	c.checked.Store(int64(time.Hour)) // and the last check was just now, however slow this test runs
	if got := c.now(); got.Sub(time.Now()) < 59*time.Minute {
		t.Fatalf("the clock took up the step before the second was over: %v", got)
	}
	c.checked.Store(-int64(time.Second)) // as if a second had passed since the last check
	if d := c.now().Sub(time.Now()); d > time.Millisecond || d < -time.Millisecond {
		t.Errorf("after the check the clock is %v off time.Now", d)
	}
}
