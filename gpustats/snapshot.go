package gpustats

import (
	"net"
	"time"
)

// Snapshot is every node known at one moment. It is never modified once published, so any number of goroutines
// may read it without locks; the Watcher replaces it as a whole.
type Snapshot struct {
	// Nodes maps node id to node.
	Nodes map[string]*Node
	// Taken is when the snapshot was built.
	Taken time.Time

	byHost    map[string]*Node
	byAddress map[string]*Node
}

// NewSnapshot builds a snapshot over nodes, which it keeps and which must not change afterwards.
func NewSnapshot(nodes map[string]*Node, taken time.Time) *Snapshot {
	s := &Snapshot{Nodes: nodes, Taken: taken, byHost: map[string]*Node{}, byAddress: map[string]*Node{}}
	for id, n := range nodes {
		s.byHost[hostOf(id)] = n
		if h := n.Report.Hostname; h != "" {
			s.byAddress[h] = n
		}
		for _, a := range n.Report.Addresses {
			s.byAddress[hostOf(a)] = n
		}
	}
	return s
}

// Lookup finds the node behind an upstream dial address ("host:port"): by exact node id, then by host, then by
// the hosts and addresses that reports announce. It returns nil when no report matches.
func (s *Snapshot) Lookup(dial string) *Node {
	if s == nil {
		return nil
	}
	if n := s.Nodes[dial]; n != nil {
		return n
	}
	host := hostOf(dial)
	if n := s.byHost[host]; n != nil {
		return n
	}
	return s.byAddress[host]
}

func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}
