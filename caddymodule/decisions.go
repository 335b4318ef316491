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
	seq atomic.Uint64 // odd while being written
	at  atomic.Int64
	// kind packs the reason, the source and the defaults, a byte each.
	kind atomic.Uint32
	// wait, load, run, saved, evict: the estimate's terms (float64 bits), of which it is the sum.
	wait, load, run, saved, evict atomic.Uint64
	freeMB                        atomic.Uint64
	reserved                      atomic.Uint64
	upstream                      atomic.Pointer[string]
	node                          atomic.Pointer[string]
	model                         atomic.Pointer[string]
}

// Decision is one entry of GET /vram_aware/decisions.
type Decision struct {
	Time     time.Time `json:"time"`
	Upstream string    `json:"upstream"`
	Node     string    `json:"node,omitempty"`
	Model    string    `json:"model,omitempty"`
	Reason   string    `json:"reason"`
	// Source is where the chosen node's stats came from: redis, or ollama (polled); empty when none were used.
	Source string `json:"source,omitempty"`
	// Seconds is the estimate of when the request would be answered: WaitS for a slot, LoadS of a cold load,
	// RunS of the request itself, less SavedS, the prefill a slot's cached prompt saves there, plus EvictS, the
	// prefill that taking a slot there costs the conversations it holds.
	Seconds float64 `json:"seconds"`
	WaitS   float64 `json:"wait_s"`
	LoadS   float64 `json:"load_s"`
	RunS    float64 `json:"run_s"`
	SavedS  float64 `json:"saved_s,omitempty"`
	EvictS  float64 `json:"evict_s,omitempty"`
	// Defaults names the facts that were not known and took their defaults (see README).
	Defaults   string   `json:"defaults,omitempty"`
	FreeMB     *float64 `json:"free_mb,omitempty"`
	ReservedMB float64  `json:"reserved_mb,omitempty"`
}

func (l *decisionLog) add(upstream, node, model *string, d *lbpolicy.Decision, src statsSource, at time.Time) {
	s := &l.slots[(l.next.Add(1)-1)%decisionLogSize]
	s.seq.Add(1)
	s.at.Store(at.UnixNano())
	s.kind.Store(uint32(d.Reason) | uint32(src)<<8 | uint32(d.Defaults)<<16)
	s.wait.Store(math.Float64bits(d.Wait))
	s.load.Store(math.Float64bits(d.Load))
	s.run.Store(math.Float64bits(d.Run))
	s.saved.Store(math.Float64bits(d.Saved))
	s.evict.Store(math.Float64bits(d.Evict))
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
		kind := s.kind.Load()
		d := Decision{Time: time.Unix(0, s.at.Load()), Reason: lbpolicy.Reason(kind).String(),
			Source: statsSource(kind >> 8).String(), Defaults: lbpolicy.Defaults(kind >> 16).String(),
			WaitS: f64(&s.wait), LoadS: f64(&s.load), RunS: f64(&s.run), SavedS: f64(&s.saved), EvictS: f64(&s.evict),
			ReservedMB: f64(&s.reserved),
			Upstream:   deref(s.upstream.Load()), Node: deref(s.node.Load()), Model: deref(s.model.Load())}
		d.Seconds = lbpolicy.Seconds(d.WaitS, d.LoadS, d.RunS, d.SavedS, d.EvictS)
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

func f64(v *atomic.Uint64) float64 { return math.Float64frombits(v.Load()) }

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
