package gpustats

import "time"

// Clock is the time a Watcher goes by: Now for report ages and log rate limits, After for resyncs, reconnect
// backoff and snapshot rebuilds. Tests set one that they move by hand, so that what happens per interval is
// exact; the zero WatcherOptions use the real clock.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
