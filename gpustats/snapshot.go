package gpustats

import (
	"net"
	"sort"
	"sync/atomic"
)

// Snapshot is every node known to a Watcher. Readers never lock: the set of nodes and the addresses they are
// known by form an immutable index that the Watcher replaces as a whole when a node appears, disappears or changes
// its addresses, and each node's latest report is an immutable *Node swapped atomically in its slot. A new report
// from a known node therefore costs one pointer store, however many nodes there are.
type Snapshot struct {
	ids   map[string]int  // node id → slot
	hosts map[hostKey]int // host of the node id, then hostname and announced addresses, with the node id's port → slot
	slots []atomic.Pointer[Node]
}

// hostKey is a host a node is known by and the port its node id names ("" when it names none). Two Ollama servers
// on one machine differ by port: an upstream matches a node by host only where the ports agree or the node names
// no port, so that it never takes the report of its neighbour on another port.
type hostKey struct{ host, port string }

// NewSnapshot builds a snapshot of nodes. The Watcher builds its own; this is for tests and tools.
func NewSnapshot(nodes ...*Node) *Snapshot {
	s := &Snapshot{ids: make(map[string]int, len(nodes)), hosts: make(map[hostKey]int, len(nodes)), slots: make([]atomic.Pointer[Node], len(nodes))}
	for i, n := range nodes {
		s.ids[n.Report.NodeID] = i
		s.slots[i].Store(n)
	}
	// A host and port that lead to two different nodes are ambiguous: matching them would send one server's
	// traffic by the other's report, so they match none. Node ids' own hosts are taken first and win over what
	// reports announce.
	ambiguous := map[hostKey]bool{}
	claim := func(k hostKey, i int) {
		if j, ok := s.hosts[k]; ok && j != i {
			ambiguous[k] = true
		}
		s.hosts[k] = i
	}
	for i, n := range nodes {
		claim(splitHostPort(n.Report.NodeID), i)
	}
	owned := make(map[hostKey]bool, len(s.hosts))
	for k := range s.hosts {
		owned[k] = true
	}
	for i, n := range nodes {
		port := splitHostPort(n.Report.NodeID).port
		names := append([]string{n.Report.Hostname}, n.Report.Addresses...)
		for _, a := range names {
			if k := (hostKey{splitHostPort(a).host, port}); k.host != "" && !owned[k] {
				claim(k, i)
			}
		}
	}
	for k := range ambiguous {
		delete(s.hosts, k)
	}
	return s
}

// Node returns the latest report of node id, or nil.
func (s *Snapshot) Node(id string) *Node { return s.RefByID(id).Load() }

// Lookup finds the node behind an upstream dial address ("host:port"): by exact node id, then by the host of a
// node id, then by the host names and addresses that reports announce, each where the node id names the dial's
// port or none. It returns nil when no report matches: never the report of another port on the same host.
func (s *Snapshot) Lookup(dial string) *Node { return s.Ref(dial).Load() }

// NodeRef is where a node's latest report lives in a snapshot. Holding one saves the lookup: Load returns the
// node's latest report for as long as the snapshot is current.
type NodeRef struct{ p *atomic.Pointer[Node] }

// Load returns the node's latest report, or nil for the zero NodeRef.
func (r NodeRef) Load() *Node {
	if r.p == nil {
		return nil
	}
	return r.p.Load()
}

// RefByID returns the reference of node id, or the zero NodeRef.
func (s *Snapshot) RefByID(id string) NodeRef {
	if s == nil {
		return NodeRef{}
	}
	if i, ok := s.ids[id]; ok {
		return NodeRef{&s.slots[i]}
	}
	return NodeRef{}
}

// Ref returns the reference of the node behind an upstream dial address, found as Lookup finds it, or the zero
// NodeRef.
func (s *Snapshot) Ref(dial string) NodeRef {
	if s == nil {
		return NodeRef{}
	}
	if i, ok := s.ids[dial]; ok {
		return NodeRef{&s.slots[i]}
	}
	k := splitHostPort(dial)
	if i, ok := s.hosts[k]; ok {
		return NodeRef{&s.slots[i]}
	}
	if i, ok := s.hosts[hostKey{k.host, ""}]; ok {
		return NodeRef{&s.slots[i]}
	}
	return NodeRef{}
}

// Len is the number of nodes.
func (s *Snapshot) Len() int {
	if s == nil {
		return 0
	}
	return len(s.slots)
}

// Nodes returns every node, sorted by id. It allocates; use it for display, not per request.
func (s *Snapshot) Nodes() []*Node {
	if s == nil {
		return nil
	}
	out := make([]*Node, 0, len(s.slots))
	for i := range s.slots {
		if n := s.slots[i].Load(); n != nil {
			out = append(out, n)
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Report.NodeID < out[b].Report.NodeID })
	return out
}

// sameIndex reports whether n can replace the node in its slot without rebuilding the index.
func (s *Snapshot) sameIndex(n *Node) bool {
	i, ok := s.ids[n.Report.NodeID]
	if !ok {
		return false
	}
	old := s.slots[i].Load()
	if old == nil || old.Report.Hostname != n.Report.Hostname || len(old.Report.Addresses) != len(n.Report.Addresses) {
		return false
	}
	for j, a := range old.Report.Addresses {
		if n.Report.Addresses[j] != a {
			return false
		}
	}
	return true
}

// splitHostPort splits "host:port"; an address without a port is all host.
func splitHostPort(addr string) hostKey {
	if h, p, err := net.SplitHostPort(addr); err == nil {
		return hostKey{h, p}
	}
	return hostKey{host: addr}
}
