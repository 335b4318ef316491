package caddymodule

import (
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/sollol-go/sollol/gpustats"
)

// upstreamMap remembers where each upstream's reports live in one snapshot, so that Select reads a node with one
// atomic load instead of hashing the upstream's address into the snapshot's maps. A new map is built when the
// watcher publishes a new snapshot (a node appears, disappears or changes its addresses) or the upstreams change.
type upstreamMap struct {
	snap   *gpustats.Snapshot
	ups    []*reverseproxy.Upstream
	refs   []gpustats.NodeRef
	states []*upstreamState
	built  time.Time
}

// rebuildEvery bounds how often a map is rebuilt when the upstreams change on every request (dynamic upstreams
// that hand out new Upstream values each time); between rebuilds those requests resolve each upstream directly.
const rebuildEvery = time.Second

func newUpstreamMap(pool reverseproxy.UpstreamPool, snap *gpustats.Snapshot, nodeIDs map[string]string, now time.Time) *upstreamMap {
	m := &upstreamMap{snap: snap, ups: append([]*reverseproxy.Upstream(nil), pool...),
		refs: make([]gpustats.NodeRef, len(pool)), states: make([]*upstreamState, len(pool)), built: now}
	for i, u := range pool {
		m.refs[i] = resolveUpstream(snap, u.Dial, nodeIDs)
		m.states[i] = stateFor(u.Dial)
		m.states[i].fleet.host.Store(u.Host) // for the other gateways (gateways.go)
	}
	return m
}

// resolveUpstream finds an upstream's node as the policy documents it: by address, host and announced addresses,
// then through the node lines.
func resolveUpstream(snap *gpustats.Snapshot, dial string, nodeIDs map[string]string) gpustats.NodeRef {
	if ref := snap.Ref(dial); ref.Load() != nil || nodeIDs == nil {
		return ref
	}
	if id, ok := nodeIDs[dial]; ok {
		return snap.RefByID(id)
	}
	return gpustats.NodeRef{}
}

// describing returns m when it was built for snap and for as many upstreams as pool has, else nil; node then says
// which of them it describes.
func (m *upstreamMap) describing(snap *gpustats.Snapshot, pool reverseproxy.UpstreamPool) *upstreamMap {
	if m == nil || m.snap != snap || len(m.ups) != len(pool) {
		return nil
	}
	return m
}

// node returns upstream i's node when m (from describing) describes upstream u at position i, and whether it did.
func (m *upstreamMap) node(i int, u *reverseproxy.Upstream) (*gpustats.Node, bool) {
	if m == nil || m.ups[i] != u {
		return nil, false
	}
	return m.refs[i].Load(), true
}

// freshNode returns upstream i's node when m describes upstream u at position i and the node's report was taken
// at staleBefore or later, and whether it did.
func (m *upstreamMap) freshNode(i int, u *reverseproxy.Upstream, staleBefore int64) (*gpustats.Node, bool) {
	n, ok := m.node(i, u)
	return n, ok && n != nil && n.UpdatedUnixNano() >= staleBefore
}

// refresh stores a new map for pool when the current one did not describe it, at most once per rebuildEvery.
func refreshUpstreamMap(cur *atomic.Pointer[upstreamMap], pool reverseproxy.UpstreamPool, snap *gpustats.Snapshot,
	nodeIDs map[string]string, now time.Time) {
	if m := cur.Load(); m == nil || m.snap != snap || now.Sub(m.built) >= rebuildEvery {
		cur.Store(newUpstreamMap(pool, snap, nodeIDs, now))
	}
}

// stateOf returns upstream u's state, from m where m describes u at position i (i < 0: unknown position).
func (m *upstreamMap) stateOf(i int, u *reverseproxy.Upstream) *upstreamState {
	if m != nil && i >= 0 && i < len(m.ups) && m.ups[i] == u {
		return m.states[i]
	}
	if u == nil {
		return stateFor("")
	}
	return stateFor(u.Dial)
}
