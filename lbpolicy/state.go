package lbpolicy

import (
	"math"
	"sync/atomic"
	"time"
)

// State is what the policy remembers of one upstream between requests: the loads it started there that the
// node's reports cannot show yet (the herd guard), how long requests take there and how fast it loads models
// (learned), and the models it recently refused. The caller keeps one State per upstream for as long as the
// upstream exists and passes it with every Candidate. The zero value is ready; it is safe for concurrent use,
// takes no locks and never allocates, so its memory is fixed: a few hundred bytes per upstream.
type State struct {
	loads [maxLoads]pendingLoad
	// lastLoadNS is when the latest of the loads started: with none since the cut, they need no reading.
	lastLoadNS atomic.Int64
	refused    [maxRefused]refusal
	// refusedNS is when the latest of the refusals ends: with none after now, they need no reading.
	refusedNS atomic.Int64

	// Little's law for the node's slots, averaged over the learn window: busyArea integrates the busy slots
	// over time and doneMB counts the MiB of model of the requests that left them (those in flight before,
	// plus those sent, less those in flight now, each of the mean size sent), so that a request's time in a
	// slot is busyArea ÷ doneMB per MiB of its model. Completions, not arrivals: while a queue builds, arrivals
	// outrun what the slots can do. Time per MiB, because a 70B's requests take longer than a 3B's.
	sampledNS atomic.Int64 // when the last sample was taken
	busy      atomic.Int64 // busy slots at the last sample
	inFlight  atomic.Int64 // requests in flight at the last sample
	// sent and sentMB count the requests sent and the sizes of their models (MiB); counted and countedMB
	// what of them the averages hold.
	sent, counted, sentMB, countedMB atomic.Uint64
	// loadWaitNS is the time the requests sent since the last sample were expected to wait for a cold load:
	// they hold a slot meanwhile, and the estimate counts the load apart from the request's own time.
	loadWaitNS                             atomic.Int64
	busyArea, doneMB, sentDecd, sentMBDecd atomicFloat
	// loadMBps is the learned load speed, 0 before the first load was seen.
	loadMBps atomicFloat
	// recentMB is the size of the models of the last few requests sent (a moving average): what the requests in
	// flight are likely to be for.
	recentMB atomicFloat
	// startedNS is when the last request was sent there or, as far as the samples saw, the last one ended.
	startedNS atomic.Int64
	// chats is what the node's slots do with conversations, per model.
	chats [maxChatModels]chatRecord
}

// chatRecord is what one model's slots on a node do with conversations. model is the model's key (0: unused);
// prompted counts the requests sent for it, each of which may take the slot that holds an earlier prompt (see
// Prompt.evicted); evictions is the share of the conversations that came back to the node and found their slot
// taken, and heldTokens the tokens they had cached there (moving averages over their turns): near 1 the slots
// hold more conversations than they can.
type chatRecord struct {
	model                 atomic.Uint64
	prompted              atomic.Uint32
	evictions, heldTokens atomicFloat
}

const (
	maxLoads   = 8
	maxRefused = 4
	// maxChatModels is how many models' conversations a State tells apart; past that, a model takes the record of
	// another, whose counts start again (its conversations then look evicted: a cache hit lost, never a wrong
	// answer).
	maxChatModels = 8
	// sampleShare bounds how often one upstream's busy slots are sampled, to once per this share of
	// Config.RequestTime (100ms by default), so that Selects on many cores do not all write the same cache line.
	// The first decision after that dead time misses the requests sent and ended within it: requests much
	// shorter than it are learned short.
	sampleShare = 100
)

// pendingLoad is a cold load that Select started: meta packs its start (milliseconds since the Unix epoch, plus
// one) and its size in MiB; 0 is an empty entry. model is the model's key (modelKey).
type pendingLoad struct {
	meta, model atomic.Uint64
}

// refusal is a model (its key; 0 for new loads of any model) that the node refused until untilNS.
type refusal struct {
	model   atomic.Uint64
	untilNS atomic.Int64
}

const (
	mbBits = 22 // up to 4 TiB per load
	mbMax  = 1<<mbBits - 1
)

func packLoad(startNS int64, mb float64) uint64 {
	return uint64(max(startNS/1e6, 0)+1)<<mbBits | uint64(math.Min(math.Ceil(max(mb, 1)), mbMax))
}

func loadStartNS(meta uint64) int64 { return (int64(meta>>mbBits) - 1) * 1e6 }
func loadMB(meta uint64) float64    { return float64(meta & mbMax) }

// pending returns the MiB of loads started at cutNS or after for other models than model, and when the load of model
// started, 0 when none is pending. Of those started before the report taken at reportNS, only loads of more than
// roomMB count: the others would show in it.
func (st *State) pending(model uint64, cutNS, reportNS int64, roomMB float64) (otherMB float64, sinceNS int64) {
	if !st.loadsSince(cutNS) {
		return 0, 0
	}
	for i := range st.loads {
		l := &st.loads[i]
		meta := l.meta.Load()
		if start := loadStartNS(meta); meta == 0 || start < cutNS || start < reportNS && loadMB(meta) <= roomMB {
			continue
		}
		if l.model.Load() == model {
			sinceNS = loadStartNS(meta)
		} else {
			otherMB += loadMB(meta)
		}
	}
	return otherMB, sinceNS
}

// reserve records a cold load of model, mb MiB, started at nowNS; entries from before cutNS are reused.
func (st *State) reserve(model uint64, mb float64, nowNS, cutNS int64) {
	v := packLoad(nowNS, mb)
	oldest, oldestMeta := 0, uint64(math.MaxUint64)
	for i := range st.loads {
		l := &st.loads[i]
		meta := l.meta.Load()
		if meta == 0 || loadStartNS(meta) < cutNS {
			oldest, oldestMeta = i, meta
			break
		}
		if meta < oldestMeta {
			oldest, oldestMeta = i, meta
		}
	}
	// Another Select may take the same entry at the same instant: one of the two loads then goes unguarded,
	// as it would have without a guard.
	l := &st.loads[oldest]
	l.model.Store(model)
	l.meta.Store(v)
	st.lastLoadNS.Store(loadStartNS(v))
}

// loadsSince reports whether a load started at cutNS or after: without one, no entry needs reading.
func (st *State) loadsSince(cutNS int64) bool { return st.lastLoadNS.Load() >= cutNS }

// loaded is called when the reports show model loaded since one taken at reportNS: a pending load of it that
// started before that report ended, on average half a report interval (intervalS) before it, and its time, at
// least minS seconds (starting a runner), gives the node's load speed.
func (st *State) loaded(model uint64, reportNS, cutNS int64, intervalS, minS float64) {
	for i := range st.loads {
		l := &st.loads[i]
		meta := l.meta.Load()
		start := loadStartNS(meta)
		if meta == 0 || start < cutNS || start >= reportNS || l.model.Load() != model {
			continue
		}
		if l.meta.CompareAndSwap(meta, 0) {
			took := max(float64(reportNS-start)/1e9-intervalS/2, minS)
			st.loadMBps.blend(loadMB(meta)/took, 0.3)
		}
	}
}

// refuse ranks the node below the others for model (0: for any new load) until untilNS, and forgets the loads of
// it that Select started there: the node did not do them.
func (st *State) refuse(model uint64, untilNS int64) {
	for i := range st.loads {
		if l := &st.loads[i]; model == 0 || l.model.Load() == model {
			l.meta.Store(0)
		}
	}
	slot := &st.refused[0]
	for i := range st.refused {
		r := &st.refused[i]
		if r.model.Load() == model {
			slot = r
			break
		}
		if r.untilNS.Load() < slot.untilNS.Load() {
			slot = r
		}
	}
	slot.model.Store(model)
	slot.untilNS.Store(untilNS)
	for latest := st.refusedNS.Load(); latest < untilNS && !st.refusedNS.CompareAndSwap(latest, untilNS); {
		latest = st.refusedNS.Load()
	}
}

// refuses reports whether the node refused model (or, with cold, any new load) after nowNS.
func (st *State) refuses(model uint64, cold bool, nowNS int64) bool {
	if st.refusedNS.Load() <= nowNS {
		return false
	}
	for i := range st.refused {
		r := &st.refused[i]
		if r.untilNS.Load() > nowNS {
			if m := r.model.Load(); m == model || cold && m == 0 {
				return true
			}
		}
	}
	return false
}

// sample counts, at most every everyNS, the slots busy at the upstream (its in-flight requests, at most
// slots of them) into the Little's-law average.
func (st *State) sample(nowNS, everyNS int64, inFlight, slots int, window time.Duration) {
	last := st.sampledNS.Load()
	if nowNS-last < everyNS || !st.sampledNS.CompareAndSwap(last, nowNS) {
		return
	}
	prev := st.busy.Swap(int64(min(inFlight, slots)))
	prevInFlight := st.inFlight.Swap(int64(inFlight))
	sent, sentMB := st.sent.Load(), st.sentMB.Load()
	newSent, newMB := sent-st.counted.Swap(sent), float64(sentMB-st.countedMB.Swap(sentMB))
	if last == 0 {
		return // the first sample only starts the clock
	}
	dt := float64(nowNS-last) / 1e9
	decay := math.Exp(-dt / window.Seconds())
	sentDecd, sentMBDecd := st.sentDecd.Load()*decay+float64(newSent), st.sentMBDecd.Load()*decay+newMB
	st.sentDecd.Store(sentDecd)
	st.sentMBDecd.Store(sentMBDecd)
	// Signed: a request counted as sent before its upstream counts it in flight reads as done in one sample
	// and as not done in the next, and the two must cancel.
	done := float64(prevInFlight + int64(newSent) - int64(inFlight))
	if done > 0 {
		st.startedNS.Store(nowNS)
	}
	if sentDecd > 0 {
		done *= sentMBDecd / sentDecd
	}
	// Each of the busy slots decodes beside the others, slower by shareSlowdown for each: the estimate adds that
	// slowdown to the time a request takes alone, which is what the average holds.
	alone := float64(prev) * dt / (1 + shareSlowdown*float64(max(prev-1, 0)))
	st.busyArea.Store(st.busyArea.Load()*decay + alone - float64(st.loadWaitNS.Swap(0))/1e9)
	st.doneMB.Store(st.doneMB.Load()*decay + done)
}

// ranSeconds is how long the oldest of the inFlight requests there has surely run: since the last was sent or,
// as far as the samples saw, the last one ended (which may have let a queued one start); 0 where one ended
// since the last sample.
func (st *State) ranSeconds(nowNS int64, inFlight int) float64 {
	t := st.startedNS.Load()
	if t == 0 || int64(inFlight) < st.inFlight.Load()+int64(st.sent.Load()-st.counted.Load()) {
		return 0
	}
	return max(0, float64(nowNS-t)/1e9)
}

// busySeconds is the busy slots' time in the average, at least 0: a load's wait is taken off it at the sample
// after the request was sent, before the slot's time adds up.
func (st *State) busySeconds() float64 { return max(st.busyArea.Load(), 0) }

// send counts a request sent to the upstream at nowNS for a model of mb MiB (0: none named), which waits loadS
// seconds for a cold load of it.
func (st *State) send(mb, loadS float64, nowNS int64) {
	st.sent.Add(1)
	st.startedNS.Store(nowNS)
	if loadS > 0 {
		st.loadWaitNS.Add(int64(loadS * 1e9))
	}
	if mb > 0 {
		st.sentMB.Add(uint64(mb))
		st.recentMB.blend(mb, 0.25)
	}
}

// chat is the record of model's conversations, nil when there is none.
func (st *State) chat(model uint64) *chatRecord {
	for i := range st.chats {
		if c := &st.chats[i]; c.model.Load() == model {
			return c
		}
	}
	return nil
}

// newChat is the record of model's conversations, taken from an unused one, else from the model that shares
// its slot in the array.
func (st *State) newChat(model uint64) *chatRecord {
	if c := st.chat(model); c != nil {
		return c
	}
	for i := range st.chats {
		c := &st.chats[i]
		if c.model.CompareAndSwap(0, model) || c.model.Load() == model {
			return c
		}
	}
	c := &st.chats[model%maxChatModels]
	c.model.Store(model)
	c.prompted.Store(0)
	c.evictions.Store(0)
	c.heldTokens.Store(0)
	return c
}

// prompt counts a request sent for model and returns the count.
func (st *State) prompt(model uint64) uint32 { return st.newChat(model).prompted.Add(1) }

// returned counts a turn of a conversation that the node served last, with tokens cached there, which found
// its slot taken or not.
func (st *State) returned(model uint64, tokens float64, evicted bool) {
	v, c := 0.0, st.newChat(model)
	if evicted {
		v = 1
	}
	c.evictions.Store(c.evictions.Load() + evictionShare*(v-c.evictions.Load()))
	c.heldTokens.Store(c.heldTokens.Load() + evictionShare*(tokens-c.heldTokens.Load()))
}

// thrash is the share of the conversations for model coming back to the node that found their slot taken, and
// the tokens they had cached there.
func (st *State) thrash(model uint64) (share, tokens float64) {
	if c := st.chat(model); c != nil {
		return c.evictions.Load(), c.heldTokens.Load()
	}
	return 0, 0
}

// evictionShare is the weight of one returning turn in chatRecord.evictions.
const evictionShare = 0.25

// promptSeq is the count of requests sent for model.
func (st *State) promptSeq(model uint64) uint32 {
	if c := st.chat(model); c != nil {
		return c.prompted.Load()
	}
	return 0
}

// secondsPerMB is a request's time in a slot per MiB of its model: what the node learned, with prior of
// priorMB MiB of requests at priorPerMB seconds each (see Selector.perMB). learned says whether the node's own
// requests hold at least learnedMB.
func (st *State) secondsPerMB(priorPerMB, priorMB, learnedMB float64) (perMB float64, learned bool) {
	area, mb := st.busySeconds(), max(st.doneMB.Load(), 0)
	return (area + priorPerMB*priorMB) / (mb + priorMB), mb >= learnedMB
}

// Learned is what a State has learned, for the admin API and the status page.
type Learned struct {
	// SecondsPerGiB is a request's time in one of the node's slots per GiB of its model; 0 while no request
	// left one.
	SecondsPerGiB float64 `json:"seconds_per_gib"`
	// GiB is the GiB of model of the requests that the average is over (decayed with the learn window).
	GiB float64 `json:"gib"`
	// LoadMBps is the learned load speed in MiB/s; 0 while no load was seen.
	LoadMBps float64 `json:"load_mbps"`
}

// Learned returns what st has learned so far, without any prior.
func (st *State) Learned() Learned {
	l := Learned{GiB: max(st.doneMB.Load(), 0) / 1024, LoadMBps: st.loadMBps.Load()}
	if l.GiB > 0 {
		l.SecondsPerGiB = st.busySeconds() / l.GiB
	}
	return l
}

// atomicFloat is a float64 read and written atomically.
type atomicFloat struct{ bits atomic.Uint64 }

func (f *atomicFloat) Load() float64   { return math.Float64frombits(f.bits.Load()) }
func (f *atomicFloat) Store(v float64) { f.bits.Store(math.Float64bits(v)) }

// blend moves f a share of the way to v; the first value is taken as it is.
func (f *atomicFloat) blend(v, share float64) {
	if old := f.Load(); old > 0 {
		v = old + share*(v-old)
	}
	f.Store(v)
}

// modelKey identifies a model name in a State: FNV-1a, never 0, computed without allocating.
func modelKey(model string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(model); i++ {
		h ^= uint64(model[i])
		h *= 1099511628211
	}
	return max(h, 1)
}
