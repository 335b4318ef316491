package caddymodule

import (
	"math"
	"sync/atomic"
	"time"

	"github.com/sollol-go/sollol/lbpolicy"
)

// decisionLogSize is how many recent decisions the admin API shows.
const decisionLogSize = 256

// decisions keeps the latest decisions of every vram_aware policy in this process.
var decisions decisionLog

// decisionLog is a ring of recent decisions that Select writes without locks or allocation: every field is an
// atomic, strings are pointers to strings that already exist, and a sequence number per slot lets a reader skip a
// slot that was being rewritten while it read.
type decisionLog struct {
	next  atomic.Uint64
	slots [decisionLogSize]decisionSlot
}

type decisionSlot struct {
	seq      atomic.Uint64 // odd while being written
	at       atomic.Int64
	reason   atomic.Uint32
	source   atomic.Uint32
	score    atomic.Uint64
	freeMB   atomic.Uint64
	reserved atomic.Uint64
	upstream atomic.Pointer[string]
	node     atomic.Pointer[string]
	model    atomic.Pointer[string]
}

// Decision is one entry of GET /vram_aware/decisions.
type Decision struct {
	Time     time.Time `json:"time"`
	Upstream string    `json:"upstream"`
	Node     string    `json:"node,omitempty"`
	Model    string    `json:"model,omitempty"`
	Reason   string    `json:"reason"`
	// Source is where the chosen node's stats came from: redis, or ollama (polled); empty when none were used.
	Source     string   `json:"source,omitempty"`
	Score      float64  `json:"score"`
	FreeMB     *float64 `json:"free_mb,omitempty"`
	ReservedMB float64  `json:"reserved_mb,omitempty"`
}

func (l *decisionLog) add(upstream, node, model *string, d *lbpolicy.Decision, src statsSource, at time.Time) {
	s := &l.slots[(l.next.Add(1)-1)%decisionLogSize]
	s.seq.Add(1)
	s.at.Store(at.UnixNano())
	s.reason.Store(uint32(d.Reason))
	s.source.Store(uint32(src))
	s.score.Store(math.Float64bits(d.Score))
	s.freeMB.Store(math.Float64bits(d.FreeMB))
	s.reserved.Store(math.Float64bits(d.ReservedMB))
	s.upstream.Store(upstream)
	s.node.Store(node)
	s.model.Store(model)
	s.seq.Add(1)
}

// recent returns up to n decisions, newest first.
func (l *decisionLog) recent(n int) []Decision {
	end := l.next.Load()
	out := make([]Decision, 0, min(n, decisionLogSize))
	for i := end; i > 0 && end-i < decisionLogSize && len(out) < n; i-- {
		s := &l.slots[(i-1)%decisionLogSize]
		seq := s.seq.Load()
		if seq%2 == 1 {
			continue
		}
		d := Decision{Time: time.Unix(0, s.at.Load()), Reason: lbpolicy.Reason(s.reason.Load()).String(),
			Source: statsSource(s.source.Load()).String(),
			Score:  math.Float64frombits(s.score.Load()), ReservedMB: math.Float64frombits(s.reserved.Load()),
			Upstream: deref(s.upstream.Load()), Node: deref(s.node.Load()), Model: deref(s.model.Load())}
		if f := math.Float64frombits(s.freeMB.Load()); !math.IsNaN(f) {
			d.FreeMB = &f
		}
		if s.seq.Load() != seq {
			continue // rewritten while read
		}
		out = append(out, d)
	}
	return out
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
