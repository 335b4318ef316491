package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// progress shows a run's counts while it goes: on a terminal one line rewritten in place, elsewhere a line every
// few seconds.
type progress struct {
	w                                 io.Writer
	policy                            string
	total                             int
	tty                               bool
	sent, done, ok, oom, missing, bad atomic.Int64
	start                             time.Time
}

func newProgress(w io.Writer, policy string, total int) *progress {
	p := &progress{w: w, policy: policy, total: total, start: time.Now()}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

func (p *progress) finished(o Outcome) {
	p.done.Add(1)
	switch o {
	case OK:
		p.ok.Add(1)
	case OutOfMemory:
		p.oom.Add(1)
	case NotInstalled:
		p.missing.Add(1)
	default:
		p.bad.Add(1)
	}
}

func (p *progress) line() string {
	return fmt.Sprintf("%-11s %4d/%d sent, %4d answered: ok %d, OOM %d, not installed %d, other %d  (%.0fs)",
		p.policy, p.sent.Load(), p.total, p.done.Load(), p.ok.Load(), p.oom.Load(), p.missing.Load(), p.bad.Load(),
		time.Since(p.start).Seconds())
}

// run prints until the returned stop is called, which prints the final line.
func (p *progress) run() (stop func()) {
	if p.w == nil || p.w == io.Discard {
		return func() {}
	}
	every := 3 * time.Second
	if p.tty {
		every = 200 * time.Millisecond
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				p.print(false)
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
		p.print(true)
	}
}

func (p *progress) print(final bool) {
	switch {
	case p.tty && final:
		fmt.Fprintf(p.w, "\r\033[K%s\n", p.line())
	case p.tty:
		fmt.Fprintf(p.w, "\r\033[K%s", p.line())
	default:
		fmt.Fprintln(p.w, p.line())
	}
}
