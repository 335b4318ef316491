package ollamasim

import "time"

// Activity is the node's load at one moment: how many requests were running (loading their model or holding a
// slot: reading the prompt or generating) and how many were waiting (admitted, not yet running: queued for a
// load, or for a slot of a loaded model).
type Activity struct {
	At               time.Time
	Running, Waiting int
}

// maxActivity bounds what Node.Activity keeps; when full, the older half is dropped.
var maxActivity = 1 << 20

// phase is where a request is, for the node's Activity.
type phase int

const (
	phaseNone phase = iota // not admitted, or finished
	phaseWaiting
	phaseRunning
)

// Activity returns the node's load over time, oldest first: one entry, in simulated time, per change of either
// count. It keeps the latest entries, at most about a million (older ones are dropped half at a time).
func (n *Node) Activity() []Activity {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]Activity(nil), n.activity...)
}

// setPhaseLocked moves a request from phase *p to to, and records the change.
func (n *Node) setPhaseLocked(p *phase, to phase) {
	if *p == to {
		return
	}
	n.countLocked(*p, -1)
	n.countLocked(to, +1)
	*p = to
	now := n.cfg.Clock.Now()
	switch {
	case n.running > 0 && n.busySince.IsZero():
		n.busySince = now
	case n.running == 0 && !n.busySince.IsZero():
		n.stats.Busy += now.Sub(n.busySince)
		n.busySince = time.Time{}
	}
	if l := len(n.activity); l > 0 && n.activity[l-1].Running == n.running && n.activity[l-1].Waiting == n.waiting {
		return
	}
	if len(n.activity) >= maxActivity {
		n.activity = append(n.activity[:0], n.activity[len(n.activity)/2:]...)
	}
	n.activity = append(n.activity, Activity{At: now, Running: n.running, Waiting: n.waiting})
}

func (n *Node) countLocked(p phase, d int) {
	switch p {
	case phaseWaiting:
		n.waiting += d
	case phaseRunning:
		n.running += d
	}
}
