package lbpolicy

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/sollol-go/sollol/gpustats"
)

// Selector chooses an upstream for each request. It is safe for concurrent use; Select takes no locks, does no
// I/O and allocates nothing.
type Selector struct {
	cfg  Config
	rand func() uint64
	// The configured times in seconds, as the estimates count them.
	loadBaseS, requestTimeS float64
	// sampleNS is how often at most an upstream's busy slots are sampled (State.sample).
	sampleNS int64
}

// NewSelector returns a Selector with cfg (defaults filled in, see Config.WithDefaults). rand breaks ties and
// must be safe for concurrent use; nil uses math/rand/v2, which is.
func NewSelector(cfg Config, rand func() uint64) *Selector {
	if rand == nil {
		rand = randUint64
	}
	cfg = cfg.WithDefaults()
	return &Selector{cfg: cfg, rand: rand, loadBaseS: cfg.LoadBase.Seconds(), requestTimeS: cfg.RequestTime.Seconds(),
		sampleNS: int64(cfg.RequestTime / sampleShare)}
}

func randUint64() uint64 { return rand.Uint64() }

// Config returns the configuration in use, defaults filled in.
func (s *Selector) Config() Config { return s.cfg }

// Decision is what Select chose, and why.
type Decision struct {
	// Index is the chosen candidate, or -1 when the fallback policy must decide (Reason.Fallback is true).
	Index  int
	Reason Reason
	// Seconds is the chosen candidate's estimate of when the request is answered: Wait for a slot, then Load
	// (what remains of a cold load), then Run (the request itself), less Saved (the prefill that the node's
	// prompt cache saves), plus Evict (the prefill that taking a slot costs the conversations the node holds).
	// All 0 with a fallback reason.
	Seconds, Wait, Load, Run, Saved, Evict float64
	// Defaults names the facts of the estimate that were not known and took their defaults.
	Defaults Defaults
	// Node is the chosen candidate's node and NodeID its id, when it has a fresh report; else nil and empty.
	Node   *gpustats.Node
	NodeID string
	// FreeMB is the chosen node's free GPU memory less pending loads, NaN when unknown.
	FreeMB float64
	// ReservedMB is the memory this decision's cold load holds on the chosen node (the herd guard), 0 when none.
	ReservedMB float64
	// Available and Fresh count the available candidates, and those among them with a fresh report.
	Available, Fresh int
}

// Select chooses among cs for req, following the rules in the package documentation, and returns the index of
// the chosen candidate in cs. A decision that loads the model cold on a node holds its memory there in the
// candidate's State until the node's reports show the load (the herd guard).
func (s *Selector) Select(cs []Candidate, req Request) Decision {
	r := s.begin(req)
	s.learnFleet(cs, &r)
	d := Decision{Index: -1, FreeMB: math.NaN()}
	var best, e estimate
	ties := uint64(0)
	for i := range cs {
		c := &cs[i]
		if !c.Available {
			continue
		}
		s.estimate(c, cs, &r, &e)
		if c.State != nil {
			c.State.sample(r.nowNS, s.sampleNS, c.InFlight, e.slots, s.cfg.LearnWindow)
		}
		d.Available++
		if e.fresh {
			d.Fresh++
		}
		switch better, tie := e.better(&best); {
		case d.Index < 0 || better:
			ties = 1
		case tie:
			// Reservoir sampling: each of the k tied candidates ends up chosen with probability 1/k.
			ties++
			if s.rand()%ties != 0 {
				continue
			}
		default:
			continue
		}
		d.Index, best = i, e
	}
	switch {
	case d.Available == 0:
		d.Reason = ReasonFallbackNoCandidate
		return d
	case d.Fresh == 0:
		d.Index, d.Reason = -1, ReasonFallbackNoFreshStats
		return d
	}
	if r.returned && !r.retry {
		// Once per turn: a retry of it would count it again.
		r.prompt.by.returned(r.key, r.prompt.Tokens-r.prompt.Shared, r.evicted)
	}
	c := &cs[d.Index]
	d.Reason, d.Defaults, d.FreeMB = best.reason, best.defaults, best.freeMB
	d.Seconds, d.Wait, d.Load, d.Run, d.Saved, d.Evict = best.seconds, best.wait, best.load, best.run, best.saved, best.evict
	if best.fresh {
		d.Node, d.NodeID = c.Node, c.Node.Report.NodeID
	}
	if st := c.State; st != nil {
		st.send(best.weightsMB, best.load, r.nowNS)
		if r.model != "" {
			r.prompts.record(&r.prompt, st, st.prompt(r.key), r.nowNS)
		}
		if best.fresh && best.coldMB > 0 {
			st.reserve(r.key, best.coldMB, r.nowNS, r.reserveCut)
			d.ReservedMB = best.coldMB
		}
	}
	return d
}

// Refuse records that the upstream whose State is st refused model at now, as a retried 500 says: for
// RefuseFor it ranks below every other upstream for that model. An empty model stands for new loads of any
// model, as a 503 "server busy" says.
func (s *Selector) Refuse(st *State, model string, now time.Time) {
	key := uint64(0)
	if model != "" {
		key = modelKey(model)
	}
	st.refuse(key, now.Add(s.cfg.RefuseFor).UnixNano())
}
