package lbpolicy

import (
	"math"
	"testing"
	"time"
)

const (
	llama = "llama3.1:8b"
	big   = "llama3.3:70b"
)

// The figures below follow from the defaults: a request takes 10s, one slot per node, a cold load takes
// size ÷ 1000 MiB/s + 2s, headroom 512 MiB. llama is 4 700 MiB on disk: a cold load of 6.7s.

// Rule 1: only available upstreams are candidates.
func TestRuleAvailableOnly(t *testing.T) {
	runCases(t, []selectCase{
		{name: "unavailable idle node is skipped",
			cands: []Candidate{down(node("a", free(20000))), busy(node("b", free(5000)), 3)},
			want:  1, reason: ReasonNoModel},
		{name: "no candidates", cands: []Candidate{}, want: -1, reason: ReasonFallbackNoCandidate},
		{name: "none available",
			cands: []Candidate{down(node("a", free(20000))), down(node("b", free(5000)))},
			want:  -1, reason: ReasonFallbackNoCandidate},
		{name: "an unavailable upstream's fresh report does not count",
			cands: []Candidate{down(node("a", free(20000))), up(nil)},
			want:  -1, reason: ReasonFallbackNoFreshStats},
	})
}

// Rule 3: no candidate with a fresh report: the fallback policy decides. Upstreams without one compete on
// defaults.
func TestRuleFreshStats(t *testing.T) {
	runCases(t, []selectCase{
		{name: "all stale",
			cands: []Candidate{up(node("a", free(20000), age(16*time.Second))), up(node("b", free(9000), age(time.Minute)))},
			want:  -1, reason: ReasonFallbackNoFreshStats},
		{name: "no reports", cands: []Candidate{up(nil), up(nil)}, want: -1, reason: ReasonFallbackNoFreshStats},
		{name: "exactly stale_after old is fresh",
			cands: []Candidate{up(node("a", free(20000), age(15*time.Second)))},
			want:  0, reason: ReasonNoModel},
		{name: "custom stale_after",
			cfg:   Config{StaleAfter: 5 * time.Second},
			cands: []Candidate{up(node("a", free(20000), age(6*time.Second)))},
			want:  -1, reason: ReasonFallbackNoFreshStats},
		{name: "from the future beyond the skew",
			cands: []Candidate{up(node("a", free(20000), age(-6*time.Second)))},
			want:  -1, reason: ReasonFallbackNoFreshStats},
		{name: "from the future within the skew",
			cands: []Candidate{up(node("a", free(20000), age(-4*time.Second)))},
			want:  0, reason: ReasonNoModel},
		{name: "without a report: a cold load assumed, so an idle resident node wins",
			model: llama,
			cands: []Candidate{up(nil), up(node("b", free(15000), loaded(llama, 5000, 5000)))},
			want:  1, reason: ReasonResident},
		{name: "without a report, idle, loses to a resident node three deep: it ranks below every fresh one",
			model: llama,
			cands: []Candidate{up(nil), busy(node("b", free(15000), loaded(llama, 5000, 5000)), 3)},
			want:  1, reason: ReasonResident},
		{name: "without a report, but above a draining node",
			model: llama,
			cands: []Candidate{up(node("a", free(20000), draining)), busy(nil, 2)},
			want:  1, reason: ReasonNoStats},
		{name: "a fresh node beats upstreams without a fresh report, however idle",
			model: llama,
			cands: []Candidate{busy(nil, 2), up(node("b", free(20000), age(time.Hour))), up(node("c", free(20000)))},
			want:  2, reason: ReasonFits},
	})
}

// Rule 4: hard limits lose to every node without them, whatever the queues.
func TestRuleHardLimits(t *testing.T) {
	runCases(t, []selectCase{
		{name: "draining idle node loses to a node ten deep",
			cands: []Candidate{up(node("a", free(20000), draining)), busy(node("b", free(3000)), 10)},
			want:  1, reason: ReasonNoModel},
		{name: "only draining nodes: the soonest of them",
			cands: []Candidate{busy(node("a", free(20000), draining), 2), up(node("b", free(3000), draining))},
			want:  1, reason: ReasonDraining},
		{name: "not installed loses to a node ten deep",
			model: llama,
			cands: []Candidate{up(node("a", free(20000), installed())), busy(node("b", free(6000), installed(model(llama, 4700))), 10)},
			want:  1, reason: ReasonFits},
		{name: "not installed anywhere: still routed, and said",
			model: llama,
			cands: []Candidate{busy(node("a", free(20000), installed()), 1), up(node("b", free(6000), installed()))},
			want:  1, reason: ReasonNotInstalled},
		{name: "not installed ranks below draining",
			model: llama,
			cands: []Candidate{up(node("a", free(20000), installed())), busy(node("b", free(6000), draining), 4)},
			want:  1, reason: ReasonDraining},
		{name: "a node that cannot hold the 70B loses to one five deep that can",
			model: big,
			cands: []Candidate{up(node("a", free(24000), installed(model(big, 40550)))),
				busy(node("b", gpu(24576, 24000), gpu(24576, 24000), installed(model(big, 40550))), 5)},
			want: 1, reason: ReasonFits},
		{name: "too small everywhere: the soonest, said",
			model: big,
			cands: []Candidate{busy(node("a", free(24000), installed(model(big, 40550))), 1), up(node("b", gpu(16384, 16000), installed(model(big, 40550))))},
			want:  1, reason: ReasonTooSmall},
		{name: "an upstream already tried ranks below every other",
			model: llama,
			cands: []Candidate{tried(up(node("a", free(20000), loaded(llama, 5000, 5000)))), busy(node("b", free(1000), installed(model(llama, 4700)), loaded("qwen2:7b", 8000, 8000)), 3)},
			want:  1, reason: ReasonMakeRoom},
		{name: "tried everywhere: the soonest",
			model: llama,
			cands: []Candidate{tried(busy(node("a", free(20000)), 2)), tried(up(node("b", free(20000))))},
			want:  1, reason: ReasonTried},
	})
}

// Rule 5: the estimate. Residency, queues, slots, memory and the CPU are terms of one sum.
func TestRuleEstimate(t *testing.T) {
	inst := installed(model(llama, 4700), model(big, 40550))
	runCases(t, []selectCase{
		{name: "idle resident (10s) beats idle cold (16.7s)",
			model: llama,
			cands: []Candidate{up(node("a", free(20000), inst)), up(node("b", free(15000), inst, loaded(llama, 5000, 5000)))},
			want:  1, reason: ReasonResident},
		{name: "resident one deep (20s) loses to idle cold (16.7s): its queue is longer than the load",
			model: llama,
			cands: []Candidate{busy(node("a", free(15000), inst, loaded(llama, 5000, 5000)), 1), up(node("b", free(20000), inst))},
			want:  1, reason: ReasonFits},
		{name: "resident one deep (20s) beats idle cold for a 70B (52.6s)",
			model: big,
			cands: []Candidate{busy(node("a", gpu(49152, 5000), inst, loaded(big, 44000, 44000)), 1), up(node("b", gpu(49152, 49000), inst))},
			want:  0, reason: ReasonResident},
		{name: "four slots: one in flight does not queue, it slows this one by a fifth (2.4s)",
			model: llama,
			cands: []Candidate{busy(node("a", free(15000), inst, loaded(llama, 5000, 5000), parallel(4)), 1), up(node("b", free(20000), inst))},
			want:  0, reason: ReasonResident},
		{name: "four slots, two in flight: decoding beside them (4.9s) beats a cold load (6.7s)",
			model: llama,
			cands: []Candidate{busy(node("a", free(15000), inst, loaded(llama, 5000, 5000), parallel(4)), 2), up(node("b", free(20000), inst))},
			want:  0, reason: ReasonResident},
		{name: "four slots, four in flight: a quarter of a request for a slot, then beside three (10.4s), loses to a cold load",
			model: llama,
			cands: []Candidate{busy(node("a", free(15000), inst, loaded(llama, 5000, 5000), parallel(4)), 4), up(node("b", free(20000), inst))},
			want:  1, reason: ReasonFits},
		{name: "four slots: an idle node before one with a request in flight",
			model: llama,
			cands: []Candidate{busy(node("a", free(15000), inst, loaded(llama, 5000, 5000), parallel(4)), 1), up(node("b", free(15000), inst, loaded(llama, 5000, 5000), parallel(4)))},
			want:  1, reason: ReasonResident},
		{name: "GPU utilisation is no term (the gateway's own requests show in it, a report late): a tie",
			model: llama,
			cands: []Candidate{up(node("a", free(15000), inst, loaded(llama, 5000, 5000), util(100))), up(node("b", free(15000), inst, loaded(llama, 5000, 5000), util(0)))},
			want:  0, reason: ReasonResident},
		{name: "making room costs the reload of what it unloads (20.9s against 16.7s)",
			model: llama,
			cands: []Candidate{up(node("a", free(1000), inst, loaded("qwen2:7b", 8000, 8000))), up(node("b", free(20000), inst))},
			want:  1, reason: ReasonFits},
		{name: "making room beats a queue",
			model: llama,
			cands: []Candidate{up(node("a", free(1000), inst, loaded("qwen2:7b", 8000, 8000))), busy(node("b", free(20000), inst), 1)},
			want:  0, reason: ReasonMakeRoom},
		{name: "a 70B spilled to the CPU is slow: a node that holds it on GPUs wins, even two deep",
			model: big,
			cands: []Candidate{up(node("a", free(24000), inst, ram(65536))), busy(node("b", gpu(24576, 24000), gpu(24576, 24000), inst), 2)},
			want:  1, reason: ReasonFits},
		{name: "spilling beats a node that cannot hold it at all",
			model: big,
			cands: []Candidate{up(node("a", free(24000), inst)), busy(node("b", free(24000), inst, ram(65536)), 2)},
			want:  1, reason: ReasonSpill},
		{name: "a model half on the CPU (55s) loses to a cold load on a GPU",
			model: llama,
			cands: []Candidate{up(node("a", free(20000), inst, loaded(llama, 5000, 2500))), up(node("b", free(20000), inst))},
			want:  1, reason: ReasonFits},
		{name: "a CPU-only node is a last resort by its slowness",
			model: llama,
			cands: []Candidate{up(node("a", cpuOnly, loaded(llama, 5000, 0))), busy(node("b", free(20000), inst), 3)},
			want:  1, reason: ReasonFits},
		{name: "a CPU-only node alone",
			model: llama,
			cands: []Candidate{up(node("a", cpuOnly))},
			want:  0, reason: ReasonCPUOnly},
		{name: "memory unknown: assumed to make room for itself, so a node known to have room wins",
			model: llama,
			cands: []Candidate{up(node("a", memoryUnknown, inst)), up(node("b", free(20000), inst))},
			want:  1, reason: ReasonFits},
		{name: "a request's time scales with the model's file, not its footprint with context buffers: resident (10.9s) beats cold (17.4s)",
			model: llama,
			cands: []Candidate{up(node("a", free(20000), installed(model(llama, 4482)))),
				up(node("b", free(15000), installed(model(llama, 4482)), loaded(llama, 7200, 7200)))},
			want: 1, reason: ReasonResident},
		{name: "memory unknown beats a queue",
			model: llama,
			cands: []Candidate{up(node("a", memoryUnknown, inst)), busy(node("b", free(20000), inst), 1)},
			want:  0, reason: ReasonMemoryUnknown},
		{name: "no model: the shortest queue",
			cands: []Candidate{busy(node("a", free(20000)), 1), up(node("b", free(3000)))},
			want:  1, reason: ReasonNoModel},
	})
}

// Rule 6: a decision says which facts were defaults.
func TestDecisionDefaults(t *testing.T) {
	s := NewSelector(Config{}, keepFirst)
	d := s.Select([]Candidate{up(node("a", free(20000), noOllama))}, Request{Model: llama, Now: t0})
	want := DefaultedSlots | DefaultedRequestTime | DefaultedLoadSpeed | DefaultedModelSize | DefaultedResidency
	if d.Defaults != want {
		t.Errorf("Defaults = %q, want %q", d.Defaults, want)
	}
	if got := want.String(); got != "slots,request-time,load-speed,model-size,residency" {
		t.Errorf("String = %q", got)
	}
	d = s.Select([]Candidate{up(node("a", free(20000), parallel(2), loaded(llama, 5000, 5000)))}, Request{Model: llama, Now: t0})
	if d.Defaults != DefaultedRequestTime {
		t.Errorf("Defaults = %q, want request-time alone", d.Defaults)
	}
	// 10s for every 4 GiB of model: 12.2s for the 5000 MiB llama.
	if run := 10 * 5000 / 4096.0; d.Seconds != run || d.Run != run || d.Wait != 0 || d.Load != 0 {
		t.Errorf("estimate %v = %v + %v + %v, want %v = 0 + 0 + %[5]v", d.Seconds, d.Wait, d.Load, d.Run, run)
	}
}

// Exact ties are broken at random, each tied candidate equally likely.
func TestTiesAtRandom(t *testing.T) {
	s := NewSelector(Config{}, nil)
	cs := []Candidate{up(node("a", free(20000))), busy(node("x", free(20000)), 4), up(node("b", free(20000))), up(node("c", free(20000)))}
	counts := map[int]int{}
	const n = 3000
	for range n {
		counts[s.Select(cs, Request{Now: t0}).Index]++
	}
	if counts[1] != 0 {
		t.Fatalf("the busy node was chosen %d times", counts[1])
	}
	for _, i := range []int{0, 2, 3} {
		if c := counts[i]; c < n/3-150 || c > n/3+150 {
			t.Errorf("candidate %d chosen %d of %d times, want about %d", i, c, n, n/3)
		}
	}
}

// The oldest request on a full node has run at least since the last was sent there or one ended: of two
// one-slot nodes each one deep, the one whose request started earlier frees sooner.
func TestRuleWaitCountsWhatTheOldestRequestRan(t *testing.T) {
	inst := installed(model(llama, 4700))
	for _, tc := range []struct {
		name       string
		ranA, ranB time.Duration
		sampledB   int64 // b's requests in flight at the last sample
		want       int
		wait       float64
	}{
		{"b's request ran 8 of its 10 s: wait 2 s against 10", 0, 8 * time.Second, 1, 1, 2},
		{"a's ran 8 s: a wins", 8 * time.Second, 0, 1, 0, 2},
		{"a request past its learned time still has a tenth of it to go", 0, time.Minute, 1, 1, 1},
		{"one of b's ended since the last sample, so a queued one may have just started: a tie", 0, 8 * time.Second, 2, 0, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := withState(
				busy(node("a", free(15000), inst, loaded(llama, 5000, 5000)), 1),
				busy(node("b", free(15000), inst, loaded(llama, 5000, 5000)), 1))
			cs[0].State.startedNS.Store(t0.Add(-tc.ranA).UnixNano())
			cs[1].State.startedNS.Store(t0.Add(-tc.ranB).UnixNano())
			cs[0].State.inFlight.Store(1)
			cs[1].State.inFlight.Store(tc.sampledB)
			s := NewSelector(Config{}, keepFirst)
			if d := s.Select(cs, Request{Model: llama, Now: t0}); d.Index != tc.want || math.Abs(d.Wait-tc.wait) > 0.01 {
				t.Errorf("Select = %d, wait %.2fs; want %d, %.2fs", d.Index, d.Wait, tc.want, tc.wait)
			}
		})
	}
}
