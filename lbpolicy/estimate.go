package lbpolicy

import (
	"math"
	"time"

	"github.com/sollol-go/sollol/gpustats"
)

// tier ranks candidates before their estimates do: the hard limits. A lower tier wins whatever the estimates.
type tier uint8

const (
	tierNoStats tier = 1 << iota
	tierDraining
	tierRefused
	tierCannotHold
	tierNotInstalled
	tierTried
)

// estimate is one candidate's standing: its tier, and when the request would be answered there.
type estimate struct {
	tier tier
	// wait, load and run are the seconds until a slot is free, of the cold load still to come, and of the
	// request itself, saved the prefill the node's prompt cache saves of it, and evict the prefill that taking a
	// slot there costs the conversations it holds; seconds is wait + load + run - saved + evict.
	wait, load, run, saved, evict, seconds float64
	reason                                 Reason
	defaults                               Defaults
	// freeMB is the node's free GPU memory less pending loads, NaN when unknown; coldMB the memory this request
	// would load cold there, 0 when none.
	freeMB, coldMB float64
	// sizeMB is the model's size on the node, 0 when the request names none; weightsMB its size on disk where
	// the node lists it, else sizeMB: what a request's time scales with, the same whether the model is loaded
	// there (sizeMB then holds its context buffers too) or not.
	sizeMB, weightsMB float64
	// slots is the requests one loaded model serves at once there.
	slots int
	// delays says that a load of another model waits for this model's memory there: the request delays it by
	// its run, which evict counts.
	delays, fresh bool
}

// better reports whether e ranks before o, and tie whether they rank the same.
func (e *estimate) better(o *estimate) (better, tie bool) {
	if e.tier != o.tier {
		return e.tier < o.tier, false
	}
	return e.seconds < o.seconds, e.seconds == o.seconds
}

// request is what estimating needs to know about the request, worked out once per Select.
type request struct {
	model string
	key   uint64
	// nowNS is the decision's time; a report is fresh when taken between notBefore and notAfter; loads started
	// before reserveCut have expired (nanoseconds since the Unix epoch).
	nowNS, notBefore, notAfter, reserveCut int64
	// sizeMB is the model's size as the candidates' reports give it, worked out when first needed (sized); perMB
	// and loadMBps are what they learned together (see learnFleet).
	sizeMB, perMB, loadMBps float64
	sized                   bool
	prompt                  Prompt
	prompts                 *Prompts
	// returned says that the node the prompt was sent to is a candidate, and evicted whether its slot there
	// was taken since (Prompt.evicted); retry that some candidate was tried already.
	returned, evicted, retry bool
}

func (s *Selector) begin(req Request) request {
	now := req.Now
	if now.IsZero() {
		now = time.Now()
	}
	ns := now.UnixNano()
	r := request{model: req.Model, nowNS: ns, notBefore: ns - int64(s.cfg.StaleAfter), notAfter: ns + int64(s.cfg.MaxSkew),
		reserveCut: ns - int64(s.cfg.ReserveTTL), prompt: req.Prompt, prompts: req.Prompts}
	if r.model != "" {
		r.key = modelKey(r.model)
	}
	return r
}

func (r *request) fresh(n *gpustats.Node) bool {
	if n == nil {
		return false
	}
	t := n.UpdatedUnixNano()
	return t >= r.notBefore && t <= r.notAfter
}

// estimate judges candidate c for r into e.
func (s *Selector) estimate(c *Candidate, cs []Candidate, r *request, e *estimate) {
	*e = estimate{freeMB: math.NaN()}
	n, st := c.Node, c.State
	if st == nil {
		st = &noState
	}
	// The requests ahead take the time of the models recently sent there; this one takes its model's.
	perMB, learned := st.secondsPerMB(r.perMB, priorMB*s.cfg.DefaultModelMB, learnedMB*s.cfg.DefaultModelMB)
	if !learned {
		e.defaults |= DefaultedRequestTime
	}
	recentMB := st.recentMB.Load()
	if recentMB == 0 {
		recentMB = s.cfg.DefaultModelMB
	}
	ahead := perMB * recentMB
	run, slowdown := ahead, 1.0
	inFlight := float64(c.InFlight + c.OthersInFlight)
	if !r.fresh(n) {
		e.reason, e.tier = ReasonNoStats, tierNoStats
		e.defaults |= DefaultedSlots | DefaultedResidency
		if r.model != "" {
			e.sizeMB = s.sizeMB(cs, r, gpustats.ModelInfo{}, e)
			e.weightsMB = e.sizeMB
			speed, start := s.loadSpeed(st, r, e)
			e.load = e.sizeMB/speed + start
		}
	} else {
		e.fresh = true
		if n.NumParallel == 0 {
			e.defaults |= DefaultedSlots
		}
		if n.Draining {
			e.tier |= tierDraining
		}
		if r.model == "" {
			e.reason = ReasonNoModel
		} else {
			slowdown = s.judgeModel(n, st, cs, r, e)
			if st.refuses(r.key, e.coldMB > 0, r.nowNS) {
				e.tier |= tierRefused
			}
		}
	}
	if r.model != "" {
		run = perMB * e.weightsMB
	}
	if c.Tried {
		e.tier |= tierTried
		r.retry = true
	}
	e.slots = s.cfg.NumParallel
	if e.fresh && n.NumParallel > 0 {
		e.slots = n.NumParallel
	}
	e.run = run * slowdown
	// Past the slots a request queues, behind requests some of which have run for a while (State.ranSeconds);
	// beside the requests in the other slots it decodes slower.
	slots := float64(e.slots)
	queued, ran := max(0, inFlight-slots+1), 0.0
	if queued > 0 {
		ran = min(st.ranSeconds(r.nowNS, c.InFlight), maxRanShare*ahead)
	}
	e.wait = (queued*ahead-ran)/slots + min(inFlight, slots-1)*shareSlowdown*e.run
	if e.reason == ReasonResident {
		// The slot that still holds the conversation reads only what is new past the system prompt it shares
		// with others (reason cached); a prompt that extends no more than that starts a conversation. Any other
		// request takes a slot: where the conversations coming back keep finding theirs taken, the slots hold more
		// conversations than they can, and as Ollama frees the least recently used, one more than the slots
		// costs each of them its prompt before its next turn.
		cached, lost := 0.0, 0.0
		if r.prompt.by == st && r.prompt.Tokens > r.prompt.Shared {
			r.returned, r.evicted = true, r.prompt.evicted(r.key, e.slots)
			if !r.evicted {
				cached = r.prompt.Tokens - r.prompt.Shared
			}
		}
		if cached == 0 {
			share, held := st.thrash(r.key)
			lost = share * float64(e.slots+1) * held
		}
		if cached+lost > 0 {
			perToken := e.weightsMB / s.cfg.DefaultModelMB * slowdown / s.cfg.PrefillSpeed
			e.saved, e.evict = min(e.run, cached*perToken), lost*perToken
			if cached > 0 {
				e.reason = ReasonCached
			}
		}
	}
	if e.delays {
		e.evict += e.run
	}
	e.seconds = Seconds(e.wait, e.load, e.run, e.saved, e.evict)
	switch t := e.tier; {
	case t&tierTried != 0:
		e.reason = ReasonTried
	case t&tierNotInstalled != 0:
		e.reason = ReasonNotInstalled
	case t&tierCannotHold != 0:
		e.reason = ReasonTooSmall
	case t&tierRefused != 0:
		e.reason = ReasonRefused
	case t&tierDraining != 0:
		e.reason = ReasonDraining
	}
}

// Seconds is an estimate from its terms: when the request is answered (see Decision).
func Seconds(wait, load, run, saved, evict float64) float64 { return wait + load + run - saved + evict }

// shareSlowdown is how much longer a request takes for each other request decoding beside it in the node's
// slots: Ollama batches them, and four at once give about 2.5 times the tokens of one, each 1.6 times slower. It
// sends a request to an idle node before a node with free slots but requests in flight, all else equal.
const shareSlowdown = 0.2

// maxRanShare bounds the share of a request's learned time that the wait counts as already run: a request may
// take longer than most.
const maxRanShare = 0.9

// noState stands in for a candidate without a State: it remembers nothing, since nothing is written to it.
var noState State

// judgeModel sets e's reason, load, memory and hard limits for r's model on the fresh node n, and returns how
// many times slower than usual the request runs there (its share on the CPU).
func (s *Selector) judgeModel(n *gpustats.Node, st *State, cs []Candidate, r *request, e *estimate) (slowdown float64) {
	info := n.Model(r.model)
	if n.InstalledKnown && !info.Installed && !info.Loaded {
		e.tier |= tierNotInstalled
	}
	if n.Report.Ollama == nil {
		e.defaults |= DefaultedResidency
	}
	otherMB, since := s.pending(n, st, r)
	e.sizeMB, e.weightsMB = s.sizeMB(cs, r, info, e), info.DiskMB
	if e.weightsMB == 0 {
		e.weightsMB = e.sizeMB
	}
	switch {
	case !n.GPU:
		e.reason = ReasonCPUOnly
		if !info.Loaded {
			speed, start := s.loadSpeed(st, r, e)
			e.load = e.sizeMB/speed + start
		}
		return s.cfg.CPUSlowdown
	case info.Loaded:
		e.reason = ReasonResident
		// A load that needs this model's memory, the only one loaded, waits for its requests, this one too:
		// Ollama serves the requests for a loaded model at once, and unloads it only when none is left. With
		// more loaded, it unloads an idle one first.
		e.delays = n.MemoryKnown && otherMB > n.FreeMB && len(n.LoadedModels()) == 1
		if info.SizeMB > 0 {
			return s.cpuSlowdown(1 - info.SizeVRAMMB/info.SizeMB)
		}
		return 1
	}
	need := e.sizeMB
	speed, start := s.loadSpeed(st, r, e)
	load := need/speed + start
	switch {
	case since != 0:
		e.reason = ReasonLoading
		e.load = max(0, load-float64(r.nowNS-since)/1e9)
		return 1
	case !n.MemoryKnown:
		// Whether it fits is unknown: assume it must make room for itself, the costlier case.
		e.reason, e.load, e.coldMB = ReasonMemoryUnknown, load+need/speed, need
		e.defaults |= DefaultedMemory
		return 1
	}
	e.freeMB = n.FreeMB - otherMB
	need += s.cfg.HeadroomMB
	room := roomMB(n) - otherMB
	e.load, e.coldMB = load, need
	switch {
	case need <= e.freeMB:
		e.reason = ReasonFits
		return 1
	case need <= room:
		// Making room unloads models that their users will load again: count that reload here.
		e.reason = ReasonMakeRoom
		e.load += (need - e.freeMB) / speed
		return 1
	case n.RAMMB > 0 && need <= room+n.RAMMB:
		e.reason = ReasonSpill
		e.load += (room - e.freeMB) / speed
		e.coldMB = room
		return s.cpuSlowdown((need - room) / need)
	}
	e.reason = ReasonTooSmall
	e.tier |= tierCannotHold
	e.coldMB = 0 // nothing will load there
	return 1
}

// pending returns the MiB of the loads started on n (whose State is st) that its report does not show, for other
// models than r's, and when the load of r's model there started, 0 when none is pending. A load the report shows
// is done, and gives the node's load speed (State.loaded). One it does not show counts while it may be waiting for
// the loaded models to make room: while the report shows some and too little memory free for it.
func (s *Selector) pending(n *gpustats.Node, st *State, r *request) (otherMB float64, sinceNS int64) {
	if !st.loadsSince(r.reserveCut) {
		return 0, 0
	}
	roomMB := math.Inf(1)
	if loaded := n.LoadedModels(); len(loaded) > 0 {
		for _, m := range loaded {
			st.loaded(modelKey(m), n.LoadedSinceNS(m), r.reserveCut, n.Report.IntervalS, s.loadBaseS)
		}
		if n.MemoryKnown {
			roomMB = n.FreeMB
		}
	}
	return st.pending(r.key, r.reserveCut, n.UpdatedUnixNano(), roomMB)
}

// cpuSlowdown is how many times slower a model runs with the share cpu of it on the CPU.
func (s *Selector) cpuSlowdown(cpu float64) float64 {
	return 1 + max(0, cpu)*(s.cfg.CPUSlowdown-1)
}

// sizeMB is the GPU memory r's model takes on a node that says info of it: the size the node reports (loaded
// footprint, else size on disk), else the size any candidate reports (a loaded footprint first), else the
// configured default.
func (s *Selector) sizeMB(cs []Candidate, r *request, info gpustats.ModelInfo, e *estimate) float64 {
	switch {
	case info.Loaded && info.SizeMB > 0:
		return info.SizeMB
	case info.Installed && info.DiskMB > 0:
		return info.DiskMB
	}
	if !r.sized {
		r.sizeMB, r.sized = knownSizeMB(cs, r.model), true
	}
	if r.sizeMB > 0 {
		return r.sizeMB
	}
	e.defaults |= DefaultedModelSize
	return s.cfg.DefaultModelMB
}

// knownSizeMB is model's size as any candidate's report gives it: a loaded footprint if some node has one (it
// includes the context buffers), else the size on disk; 0 when no report knows the model.
func knownSizeMB(cs []Candidate, model string) float64 {
	installed := 0.0
	for i := range cs {
		n := cs[i].Node
		if n == nil || n.Report == nil {
			continue
		}
		info := n.Model(model)
		if info.Loaded && info.SizeMB > 0 {
			return info.SizeMB
		}
		if info.Installed && info.DiskMB > 0 && installed == 0 {
			installed = info.DiskMB
		}
	}
	return installed
}

// priorMB is the weight, in requests of DefaultModelMB, of what the candidates learned together in what one
// candidate learned alone: a node with few requests of its own is judged mostly by the others', and one that
// gets no traffic for a while drifts back to them as its own figures decay. A node's own figure holds the few
// requests of one learn window, whose lengths vary twofold or more: with less weight on the fleet's, identical
// nodes look different and the one that looks fastest queues what the others would serve at once. The
// configured RequestTime weighs as one request in what they learned together. A node whose own requests hold
// learnedMB has learned its time (the decision's defaults say so), though the fleet's still weighs in.
const priorMB, learnedMB = 30, 3

// learnFleet works out, once per Select, what the candidates learned together: a request's time in a slot per
// MiB of model (pooled, with a prior of one request at Config.RequestTime per DefaultModelMB) and the mean of
// their learned load speeds (0 when none learned one).
func (s *Selector) learnFleet(cs []Candidate, r *request) {
	area, mb := s.requestTimeS, s.cfg.DefaultModelMB
	speeds, n := 0.0, 0
	for i := range cs {
		if st := cs[i].State; st != nil {
			area += st.busySeconds()
			mb += max(st.doneMB.Load(), 0)
			if v := st.loadMBps.Load(); v > 0 {
				speeds, n = speeds+v, n+1
			}
		}
	}
	r.perMB = area / mb
	if n > 0 {
		r.loadMBps = speeds / float64(n)
	}
}

// loadSpeed is the load speed of the node whose State is st, and the seconds added to each load: as it learned
// (which includes starting the runner), else the mean of what the other candidates learned, else the configured
// LoadMBps and LoadBase (both named in e's defaults).
func (s *Selector) loadSpeed(st *State, r *request, e *estimate) (mbps, startS float64) {
	if v := st.loadMBps.Load(); v > 0 {
		return v, 0
	}
	e.defaults |= DefaultedLoadSpeed
	if r.loadMBps > 0 {
		return r.loadMBps, 0
	}
	return s.cfg.LoadMBps, s.loadBaseS
}

// roomMB is how much GPU memory the node could offer a model by unloading every model Ollama holds: free memory
// plus the GPU memory of its loaded models, at most its total. A node that did not report its Ollama state is
// assumed able to free all of it.
func roomMB(n *gpustats.Node) float64 {
	o := n.Report.Ollama
	if o == nil {
		return n.TotalMB
	}
	room := n.FreeMB
	for _, m := range o.Loaded {
		room += m.SizeVRAMMB
	}
	return min(room, n.TotalMB)
}
