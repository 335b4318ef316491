package lbpolicy

import (
	"math"
	"time"

	"github.com/sollol-go/sollol/gpustats"
)

// Ranking is a decision in progress: the candidates seen so far and the best of them. SelectCached ranks the
// candidates it is given in one. A caller that reads its candidates in a loop of its own can rank them there, with
// Begin, Add and Decide, and spare building the slice, as long as the plan serves every candidate (see Add): it
// then gets the decision SelectCached would give. A Ranking is used once, by one goroutine.
type Ranking struct {
	s     *Selector
	model string // as requested
	now   time.Time
	r     request
	p     *plan
	// added counts the candidates presented through Add.
	added int
	// chosen is the best candidate so far, whose node is bestNode; ties counts the candidates tied with it. Its
	// verdict is bufs[bestBuf] when bestBuf ≥ 0, else best (in a plan, or the selector's no-stats verdict). bufs
	// take turns as classify's scratch; they are named by index, so that no pointer into the Ranking is kept in it
	// and the Ranking can stay on its caller's stack.
	chosen    int
	best      *verdict
	bestBuf   int
	bestScore float64
	bestNode  *gpustats.Node
	ties      uint64
	bufs      [2]verdict
	// available and fresh count the available candidates and those with a fresh report; named says whether a
	// report of one of them names the model (or the request names none).
	available, fresh int
	named            bool
}

// Begin starts rk for req over n candidates, from the plan that plans hold for req's model. It returns false when
// they hold none for n candidates (the first request for a model, one that no report names, or a changed list of
// candidates); the candidates must then go to SelectCached, which makes the plan.
func (s *Selector) Begin(rk *Ranking, req Request, plans *Plans, n int) bool {
	rk.start(s, req, plans)
	if rk.p == nil || len(rk.p.entries) != n {
		return false
	}
	rk.r.sizeMB = rk.p.sizeMB
	return true
}

// Add presents candidate i. Every candidate must be presented, available or not, in order from 0. A candidate
// whose node sent a new report since its plan entry was made gets a new entry. Add returns false when the plan
// cannot serve: the candidate has no report or no fresh one, or its new report says something else of the model
// than the one before (which may change the model's size as known from all the candidates). The ranking is then
// void and the candidates must go to SelectCached.
func (rk *Ranking) Add(i int, c Candidate) bool {
	p, n := rk.p, c.Node
	if i != rk.added || i >= len(p.entries) {
		return false
	}
	e := p.entries[i].Load()
	switch {
	case e.node != n:
		if !rk.r.fresh(n) || !e.sameInfo(n, rk.r.model) {
			return false
		}
		e = rk.s.renew(p, i, e, n, &rk.r)
	case n == nil || e.updated < rk.r.notBefore || e.updated > rk.r.notAfter:
		return false // not fresh; the entry's time spares reading the node
	}
	rk.added++
	switch {
	case !c.Available:
	case e.updated < rk.r.reservedNS:
		// A reservation counts on the node, which the plan leaves out: judge it in full.
		buf := rk.spare()
		rk.s.classify(n, &rk.r, nanoMS(rk.r.reservedSince(n)), &rk.bufs[buf])
		rk.offer(i, &c, nil, buf)
	default:
		rk.offer(i, &c, &e.v, -1)
	}
	return true
}

// Decide sets d to the decision once Add accepted every candidate, as SelectCached does, reserving memory on the
// chosen node when it must load the model. It returns false, and leaves d alone, when Add did not accept them all.
func (rk *Ranking) Decide(d *Decision) bool {
	if rk.p == nil || rk.added != len(rk.p.entries) {
		return false
	}
	rk.decide(d)
	return true
}

func (rk *Ranking) start(s *Selector, req Request, plans *Plans) {
	now := req.Now
	if now.IsZero() {
		now = time.Now()
	}
	rk.s, rk.model, rk.now, rk.chosen, rk.bestBuf, rk.named = s, req.Model, now, -1, -1, req.Model == ""
	rk.r.start(s, req.Model, now)
	rk.p = plans.find(s, req.Model)
}

// spare is the index of the buf that does not hold the best verdict, for classify to fill.
func (rk *Ranking) spare() int {
	if rk.bestBuf == 0 {
		return 1
	}
	return 0
}

// bestVerdict is the verdict of the best candidate so far, nil before the first.
func (rk *Ranking) bestVerdict() *verdict {
	if rk.bestBuf >= 0 {
		return &rk.bufs[rk.bestBuf]
	}
	return rk.best
}

// offer ranks available candidate i, c, whose verdict is v, or bufs[buf] when v is nil.
func (rk *Ranking) offer(i int, c *Candidate, v *verdict, buf int) {
	vb := v
	if vb == nil {
		vb = &rk.bufs[buf]
	}
	score := rk.s.inFlightScore(vb.base, c.InFlight)
	rk.available++
	if vb.fresh {
		rk.fresh++
	}
	rk.named = rk.named || vb.named
	switch best := rk.bestVerdict(); {
	case best == nil || vb.class < best.class || vb.class == best.class && score > rk.bestScore:
		rk.ties = 1
	case vb.class == best.class && score == rk.bestScore:
		// Reservoir sampling: each of the k tied candidates ends up chosen with probability 1/k.
		rk.ties++
		if rk.s.rand()%rk.ties != 0 {
			return
		}
	default:
		return
	}
	rk.chosen, rk.best, rk.bestBuf, rk.bestScore, rk.bestNode = i, v, buf, score, c.Node
}

// decide sets d to the decision for the candidates offered, with the herd guard's reservation when the chosen
// node must load the model. (Filled in place: a Decision is a dozen words, and copies of it showed.)
func (rk *Ranking) decide(d *Decision) {
	*d = Decision{Index: rk.chosen, FreeMB: math.NaN(), Available: rk.available, Fresh: rk.fresh}
	switch {
	case d.Available == 0:
		d.Reason = ReasonFallbackNoCandidate
		return
	case d.Fresh == 0:
		d.Index, d.Reason = -1, ReasonFallbackNoFreshStats
		return
	}
	best := rk.bestVerdict()
	d.Reason, d.Score, d.FreeMB = best.class.reason(rk.model), rk.bestScore, best.freeMB
	if best.fresh {
		node := rk.bestNode
		d.Node, d.NodeID = node, node.Report.NodeID
		if best.needMB > 0 {
			rk.s.res.reserve(d.NodeID, rk.r.modelKey(), best.needMB, nanoMS(rk.now.UnixNano())+1,
				nanoMS(rk.r.reservedSince(node)))
			d.ReservedMB = best.needMB
		}
	}
}
