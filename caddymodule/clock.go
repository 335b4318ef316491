package caddymodule

import (
	"sync/atomic"
	"time"
)

// clock tells Select the wall-clock time from one reading of the monotonic clock and an offset, where time.Now
// reads both clocks: on virtual machines a reading costs about 25ns, a tenth of a Select. The offset is taken
// again from time.Now once a second, so a step of the wall clock (NTP, an operator) shows within a second, and a
// slewed wall clock drifts from the time told by far less than the milliseconds that Select compares.
type clock struct {
	start time.Time // carries a monotonic reading
	// offset is the wall-clock time at start, in nanoseconds since the Unix epoch, as last taken at checked
	// (nanoseconds after start).
	offset, checked atomic.Int64
}

// wallClock serves every policy in the process.
var wallClock = newClock()

func newClock() *clock {
	c := &clock{start: time.Now()}
	c.offset.Store(c.start.UnixNano())
	return c
}

// now is the wall-clock time, without a monotonic reading.
func (c *clock) now() time.Time {
	since := int64(time.Since(c.start))
	if since-c.checked.Load() >= int64(time.Second) {
		c.checked.Store(since)
		now := time.Now()
		c.offset.Store(now.UnixNano() - int64(now.Sub(c.start)))
	}
	return time.Unix(0, c.offset.Load()+since)
}
