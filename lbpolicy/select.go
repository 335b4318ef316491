package lbpolicy

import (
	"math"
	"math/rand/v2"

	"github.com/sollol-go/sollol/gpustats"
)

// Selector chooses an upstream for each request. It is safe for concurrent use; Select takes no locks, does no
// I/O and allocates nothing once every node it reserves memory on has been seen.
type Selector struct {
	cfg  Config
	res  *Reservations
	rand func() uint64
	// noStats is the verdict on every candidate without a fresh report.
	noStats verdict
}

// NewSelector returns a Selector with cfg (defaults filled in, see Config.WithDefaults). res holds the herd
// guard's reservations and may be shared by Selectors that route to the same nodes, for example across config
// reloads; nil starts empty. rand breaks ties and must be safe for concurrent use; nil uses math/rand/v2, which
// is.
func NewSelector(cfg Config, res *Reservations, rand func() uint64) *Selector {
	if res == nil {
		res = new(Reservations)
	}
	if rand == nil {
		rand = randUint64
	}
	s := &Selector{cfg: cfg.WithDefaults(), res: res, rand: rand}
	s.noStats = verdict{class: classNoStats, base: s.baseScore(0, 0), freeMB: math.NaN()}
	return s
}

func randUint64() uint64 { return rand.Uint64() }

// Config returns the configuration in use, defaults filled in.
func (s *Selector) Config() Config { return s.cfg }

// Reservations returns the herd guard's state.
func (s *Selector) Reservations() *Reservations { return s.res }

// Decision is what Select chose, and why.
type Decision struct {
	// Index is the chosen candidate, or -1 when the fallback policy must decide (Reason.Fallback is true).
	Index  int
	Reason Reason
	// Score is the chosen candidate's score (see the package documentation); 0 with a fallback reason.
	Score float64
	// Node is the chosen candidate's node and NodeID its id, when it has a fresh report; else nil and empty.
	Node   *gpustats.Node
	NodeID string
	// FreeMB is the chosen node's free GPU memory less reservations, NaN when unknown.
	FreeMB float64
	// ReservedMB is the memory this decision reserved on the chosen node for a cold load, 0 when none.
	ReservedMB float64
	// Available and Fresh count the available candidates, and those among them with a fresh report.
	Available, Fresh int
}

// Select chooses among cs for req, following the rules in the package documentation, and returns the index of
// the chosen candidate in cs. When it chooses a node that must load the model, it reserves the model's size there
// (the herd guard). Callers reuse cs from one request to the next, so that presenting the candidates allocates
// nothing.
func (s *Selector) Select(cs []Candidate, req Request) Decision { return s.SelectCached(cs, req, nil) }

// SelectCached is Select that keeps in plans what it works out from the candidates' reports, and reads it back on
// the next request for the same model while those reports stay the same (see Plans). Its decisions are Select's.
// It allocates only for plans: a new one, or a new entry for a node's new report; plans nil makes none.
func (s *Selector) SelectCached(cs []Candidate, req Request, plans *Plans) Decision {
	var rk Ranking
	rk.start(s, req, plans)
	r, found := &rk.r, rk.p
	if r.model != "" {
		r.sizeMB = knownSizeMB(cs, r.model)
	}
	if found != nil && (found.sizeMB != r.sizeMB || len(found.entries) != len(cs)) {
		rk.p = nil // every entry depends on the size
	}
	remake := false
	for i := range cs {
		c := &cs[i]
		n, fresh := c.Node, r.fresh(c.Node)
		e := rk.p.entry(i)
		if e != nil && e.node != n {
			switch {
			case !e.sameInfo(n, r.model):
				e, remake = nil, true // see Plans
			case fresh:
				e = s.renew(rk.p, i, e, n, r)
			default:
				e = nil
			}
		}
		if !c.Available {
			continue
		}
		// The candidate's verdict: its plan entry's where no reservation counts on the node, else worked out.
		var v *verdict
		buf := -1
		switch {
		case !fresh:
			v = &s.noStats
		case e == nil || r.reservedNS > n.UpdatedUnixNano():
			buf = rk.spare()
			s.classify(n, r, nanoMS(r.reservedSince(n)), &rk.bufs[buf])
		default:
			v = &e.v
		}
		rk.offer(i, c, v, buf)
	}
	if plans != nil && (rk.p == nil || remake) && rk.named {
		plans.store(r.model, s.newPlan(cs, r))
	}
	var d Decision
	rk.decide(&d)
	return d
}
