package gpustats

import "time"

// Clock is the time a Watcher (and the Caddy module's Ollama poller) goes by: Now for report ages and log rate
// limits, After for resyncs, polls, reconnect backoff and snapshot rebuilds. Tests set one that they move by
// hand, so that what happens per interval is exact; nil options use RealClock.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// RealClock is the wall clock.
type RealClock struct{}

func (RealClock) Now() time.Time                         { return time.Now() }
func (RealClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
