package ollamasim

import "time"

// Activity is the node's load at one moment: how many requests were running (loading their model or generating)
// and how many were waiting (admitted, not yet running).
type Activity struct {
	At               time.Time
	Running, Waiting int
}

// Activity returns the node's load over time, one entry (in simulated time) per change of either count, oldest
// first.
func (n *Node) Activity() []Activity {
	return nil
}
