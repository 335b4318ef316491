package lbpolicy

import (
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sollol-go/sollol/gpustats"
)

// Plans keeps, for one list of candidates, what SelectCached works out from their reports alone for each
// requested model: every candidate's class and score before its in-flight requests. The next SelectCached for
// the model reads a candidate's plan instead of judging its report again, as long as the candidate still has the
// node the plan was made from and the model's size as known from all of them has not changed. The clock,
// availability, in-flight counts and the herd guard's reservations are applied to every request as Select does,
// so a decision is the same with or without plans.
//
// Plans are made for the models that some candidate's report names, and for requests that name none, up to
// maxPlans of them; a plan whose nodes changed is made again at most every planEvery, and until then the
// candidates whose node changed are judged in full. Requests for a model no report names therefore cost what
// Select costs, and allocate nothing.
//
// The zero value is ready. A Plans serves one Selector (a plan made by another is ignored) and is best kept for
// one list of upstreams in one order, since plans are kept by position: the upstream map of the Caddy module
// keeps one.
type Plans struct {
	byModel atomic.Pointer[map[string]*atomic.Pointer[plan]]
	mu      sync.Mutex
}

// A plan holds, for each candidate position, the node it was made from, the time of the node's report (so that
// Add need not read the node), and what classify gave for it.
type plan struct {
	sel      *Selector
	madeNS   int64
	sizeMB   float64
	nodes    []*gpustats.Node
	updated  []int64
	verdicts []verdict
}

const (
	// maxPlans bounds the models a Plans keeps plans for: model names come from reports, which are not trusted.
	maxPlans = 64
	// planEvery bounds how often a model's plan is made again when reports arrive faster than requests reuse it.
	planEvery = 250 * time.Millisecond
)

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

// covers reports whether p was made from exactly the nodes of cs.
func (p *plan) covers(cs []Candidate) bool {
	if p == nil || len(p.nodes) != len(cs) {
		return false
	}
	for i := range cs {
		if p.nodes[i] != cs[i].Node {
			return false
		}
	}
	return true
}

// verdict returns what p holds for candidate i if it was made from node n, else nil. covered says that p covers
// all the candidates, which spares the checks.
func (p *plan) verdict(i int, n *gpustats.Node, covered bool) *verdict {
	if covered {
		return &p.verdicts[i]
	}
	if p == nil || i >= len(p.nodes) || p.nodes[i] != n {
		return nil
	}
	return &p.verdicts[i]
}

// newPlan classifies every candidate with a report for r, counting no reservations.
func (s *Selector) newPlan(cs []Candidate, r *request, nowNS int64) *plan {
	p := &plan{sel: s, madeNS: nowNS, sizeMB: r.sizeMB, nodes: make([]*gpustats.Node, len(cs)),
		updated: make([]int64, len(cs)), verdicts: make([]verdict, len(cs))}
	for i := range cs {
		if n := cs[i].Node; n != nil && n.Report != nil {
			p.nodes[i], p.updated[i] = n, n.UpdatedUnixNano()
			s.classify(n, r, noReservations, &p.verdicts[i])
		}
	}
	return p
}

// noReservations is a cut after which no reservation is ever made.
const noReservations = ^uint64(0)
