package lbpolicy

import (
	"maps"
	"sync"
	"sync/atomic"

	"github.com/sollol-go/sollol/gpustats"
)

// Plans keeps, for one list of candidates, what SelectCached works out from their reports alone for each
// requested model: every candidate's class and score before its in-flight requests. The next decision for the
// model reads a candidate's entry instead of judging its report again, as long as the candidate still has the
// node the entry was made from. A candidate whose node sent a new report gets a new entry from the first decision
// that meets it, so a fleet that reports every second keeps its plans current at the cost of one judgement per
// report and model. The clock, availability, in-flight counts and the herd guard's reservations are applied to every
// request as Select does, so a decision is the same with or without plans.
//
// Every entry depends on the model's size as known from all the candidates (a node without its own figure uses
// it). A new report that says something else of the model than the one before (loaded, installed, sizes) may
// change it: SelectCached then makes the whole plan anew, and a Ranking gives way to SelectCached.
//
// Plans are made for the models that some candidate's report names, and for requests that name none, up to 64
// of them (maxPlans). Requests for a model no report names cost what Select costs, and allocate nothing.
//
// The zero value is ready. A Plans serves one Selector (a plan made by another is ignored) and is best kept for
// one list of upstreams in one order, since plans are kept by position: the upstream map of the Caddy module
// keeps one.
type Plans struct {
	byModel atomic.Pointer[map[string]*atomic.Pointer[plan]]
	mu      sync.Mutex
}

// A plan holds an entry for each candidate position.
type plan struct {
	sel     *Selector
	sizeMB  float64
	entries []atomic.Pointer[planEntry]
}

// A planEntry is what classify gave for a node without reservations, with the time of the node's report (so that
// a ranking need not read the node) and what the node said of the model.
type planEntry struct {
	node    *gpustats.Node
	updated int64
	info    gpustats.ModelInfo
	v       verdict
}

// maxPlans bounds the models a Plans keeps plans for: model names come from reports, which are not trusted.
const maxPlans = 64

// find returns the plan for model made by s, or nil.
func (ps *Plans) find(s *Selector, model string) *plan {
	if ps == nil {
		return nil
	}
	m := ps.byModel.Load()
	if m == nil {
		return nil
	}
	slot := (*m)[model]
	if slot == nil {
		return nil
	}
	if p := slot.Load(); p != nil && p.sel == s {
		return p
	}
	return nil
}

// store keeps p as model's plan, unless maxPlans other models have one.
func (ps *Plans) store(model string, p *plan) {
	if m := ps.byModel.Load(); m != nil {
		if slot := (*m)[model]; slot != nil {
			slot.Store(p)
			return
		}
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	old := ps.byModel.Load()
	next := map[string]*atomic.Pointer[plan]{}
	if old != nil {
		if slot := (*old)[model]; slot != nil {
			slot.Store(p)
			return
		}
		if len(*old) >= maxPlans {
			return
		}
		next = maps.Clone(*old)
	}
	slot := new(atomic.Pointer[plan])
	slot.Store(p)
	next[model] = slot
	ps.byModel.Store(&next)
}

// newPlan classifies every candidate for r, counting no reservations.
func (s *Selector) newPlan(cs []Candidate, r *request) *plan {
	p := &plan{sel: s, sizeMB: r.sizeMB, entries: make([]atomic.Pointer[planEntry], len(cs))}
	backing := make([]planEntry, len(cs))
	for i := range cs {
		s.fillEntry(&backing[i], cs[i].Node, r)
		p.entries[i].Store(&backing[i])
	}
	return p
}

// entry returns p's entry for candidate i, or nil.
func (p *plan) entry(i int) *planEntry {
	if p == nil || i >= len(p.entries) {
		return nil
	}
	return p.entries[i].Load()
}

// renew returns a new entry for candidate i, whose entry in p was old and whose node is now n, a fresh report that
// says the same of r's model as old's node did (see sameInfo), and keeps it in p unless another decision renewed
// the entry meanwhile. (Two decisions that read the node just before and just after the watcher swapped it may
// renew it one after the other; the next decision puts the current node back.)
func (s *Selector) renew(p *plan, i int, old *planEntry, n *gpustats.Node, r *request) *planEntry {
	e := new(planEntry)
	s.fillEntry(e, n, r)
	p.entries[i].CompareAndSwap(old, e)
	return e
}

// sameInfo reports whether n says of model what e's node said. Where every candidate does, the model's size as
// known from all of them is the plan's; where one does not, the plan must be made anew.
func (e *planEntry) sameInfo(n *gpustats.Node, model string) bool {
	var info gpustats.ModelInfo
	if n != nil {
		info = n.Model(model)
	}
	return info == e.info
}

// fillEntry fills e for node n, which may be nil.
func (s *Selector) fillEntry(e *planEntry, n *gpustats.Node, r *request) {
	e.node = n
	if n == nil || n.Report == nil {
		return
	}
	e.updated, e.info = n.UpdatedUnixNano(), n.Model(r.model)
	s.classify(n, r, noReservations, &e.v)
}

// noReservations is a cut after which no reservation is ever made.
const noReservations = ^uint64(0)
