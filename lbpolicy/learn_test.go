package lbpolicy

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// shared is how long a request that takes alone takes with beside others decoding beside it, as the estimate
// counts it.
func shared(alone time.Duration, beside int) time.Duration {
	return time.Duration(float64(alone) * (1 + shareSlowdown*float64(beside)))
}

// Little's law: with requests every `every` that each take `takes` alone in one of `slots` slots (longer beside
// others), the learned request time is takes, whatever the queue (requests beyond the slots wait and do not count
// as busy).
func TestLearnRequestTime(t *testing.T) {
	for _, tc := range []struct {
		name         string
		every, takes time.Duration
		slots        int
	}{
		{"four slots, three busy", time.Second, 3 * time.Second, 4},
		{"one slot, busy three quarters of the time", 2 * time.Second, 1500 * time.Millisecond, 1},
		{"one slot, rare long requests", 8 * time.Second, 5 * time.Second, 1},
		// Arrivals outrun the slot and the queue grows without end: the time in a slot stays what it is.
		{"one slot, overloaded", time.Second, 3 * time.Second, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewSelector(Config{}, keepFirst)
			st := new(State)
			n := node("a", free(20000), parallel(tc.slots), loaded(llama, 5000, 5000))
			var ends []time.Time // of the requests in flight, in order
			start := t0
			// A Select every 50ms: one request for llama every `every`, and in between requests for a model that
			// only b has, which sample a's busy slots without being sent there.
			b := Candidate{Node: node("b", free(20000), installed(model("other:7b", 1000))), Available: true}
			for now := start; now.Before(start.Add(10 * time.Minute)); now = now.Add(50 * time.Millisecond) {
				for len(ends) > 0 && !ends[0].After(now) {
					ends = ends[1:]
				}
				n = node("a", free(20000), parallel(tc.slots), installed(model(llama, 4700)), loaded(llama, 5000, 5000),
					age(-now.Sub(t0)))
				b.Node = node("b", free(20000), installed(model("other:7b", 1000)), age(-now.Sub(t0)))
				c := []Candidate{{Node: n, State: st, Available: true, InFlight: len(ends)}, b}
				if now.Sub(start)%tc.every == 0 {
					if d := s.Select(c, Request{Model: llama, Now: now}); d.Index != 0 {
						t.Fatalf("llama went to %d", d.Index)
					}
					// FIFO over the slots: it starts when the request `slots` ahead of it ends.
					begin := now
					if len(ends) >= tc.slots {
						begin = ends[len(ends)-tc.slots]
					}
					beside := 0 // the requests decoding beside it when it starts
					for _, e := range ends {
						if e.After(begin) {
							beside++
						}
					}
					ends = append(ends, begin.Add(shared(tc.takes, min(beside, tc.slots-1))))
				} else if d := s.Select(c, Request{Model: "other:7b", Now: now}); d.Index != 1 {
					t.Fatalf("other went to %d", d.Index)
				}
			}
			got := st.Learned().SecondsPerGiB * 4700 / 1024 // llama is 4700 MiB on disk
			if math.Abs(got-tc.takes.Seconds()) > 0.1*tc.takes.Seconds() {
				t.Errorf("learned %.2fs, want %v within 10%%", got, tc.takes)
			}
			d := s.Select([]Candidate{{Node: n, State: st, Available: true}}, Request{Model: llama, Now: start.Add(10 * time.Minute)})
			if d.Defaults&DefaultedRequestTime != 0 || math.Abs(d.Run-tc.takes.Seconds()) > 0.1*tc.takes.Seconds() {
				t.Errorf("decision runs %vs (defaults %q), want about the learned %v", d.Run, d.Defaults, tc.takes)
			}
		})
	}
}

// A request that waits for a cold load holds its slot meanwhile; the estimate counts the load apart, so the
// time learned is the request's own: four requests of 2s, 10s apart, the first after a load of about 6.7s.
func TestLearnedTimeLeavesTheLoadOut(t *testing.T) {
	s := NewSelector(Config{}, keepFirst)
	st := new(State)
	inst := installed(model(llama, 4700))
	var end time.Time
	firstLoad := 0.0
	// Between the requests for llama, requests for a model that only b has sample a's busy slots.
	for now := t0; now.Before(t0.Add(40 * time.Second)); now = now.Add(50 * time.Millisecond) {
		n := node("a", free(20000), inst, loaded(llama, 5200, 5200), age(-now.Sub(t0)))
		if now.Before(t0.Add(5 * time.Second)) {
			n = node("a", free(20000), inst, age(-now.Sub(t0)))
		}
		inFlight := 0
		if now.Before(end) {
			inFlight = 1
		}
		c := []Candidate{{Node: n, State: st, Available: true, InFlight: inFlight},
			{Node: node("b", free(20000), installed(model("other:7b", 1000)), age(-now.Sub(t0))), Available: true}}
		if now.Sub(t0)%(10*time.Second) != 0 {
			s.Select(c, Request{Model: "other:7b", Now: now})
			continue
		}
		d := s.Select(c, Request{Model: llama, Now: now})
		if now == t0 {
			firstLoad = d.Load
		}
		end = now.Add(time.Duration((d.Load + 2) * float64(time.Second)))
	}
	if got := st.Learned().SecondsPerGiB * 4700 / 1024; math.Abs(got-2) > 0.2 {
		t.Errorf("learned %.2fs, want 2s within 10%%: the first request's wait for its load (%.1fs) is not its own time", got, firstLoad)
	}
}

func TestLearnNothingFromTooFewRequests(t *testing.T) {
	s := NewSelector(Config{}, keepFirst)
	st := new(State)
	c := []Candidate{{Node: node("a", free(20000)), State: st, Available: true}}
	s.Select(c, Request{Now: t0})
	c[0].InFlight = 1
	s.Select(c, Request{Now: t0.Add(time.Second)})
	if d := s.Select(c, Request{Now: t0.Add(2 * time.Second)}); d.Defaults&DefaultedRequestTime == 0 || d.Run != 10 {
		t.Errorf("after two requests the request time is %vs (defaults %q), want the default", d.Run, d.Defaults)
	}
}

// learned gives a State a hundred requests for a 5000 MiB model that took seconds each.
func learned(seconds float64) *State {
	st := new(State)
	st.doneMB.Store(100 * 5000)
	st.busyArea.Store(100 * seconds)
	st.recentMB.Store(5000)
	return st
}

// A node that has not learned its request time takes the mean of the others', so that a fast model's short
// learned time on a busy node does not look shorter than an idle node's default.
func TestUnlearnedNodeTakesTheFleetsTime(t *testing.T) {
	s := NewSelector(Config{}, keepFirst)
	inst := installed(model(llama, 4700))
	for _, secs := range []float64{0.3, 30} {
		cs := []Candidate{
			{Node: node("a", free(15000), inst, loaded(llama, 5000, 5000)), State: learned(secs), Available: true, InFlight: 5},
			{Node: node("b", free(15000), inst, loaded(llama, 5000, 5000)), State: new(State), Available: true},
		}
		d := s.Select(cs, Request{Model: llama, Now: t0})
		if d.Index != 1 || math.Abs(d.Run-secs) > 0.35*secs || d.Defaults&DefaultedRequestTime == 0 {
			t.Errorf("learned %vs on the busy node: chose %d running %vs (defaults %q), want the idle node at about the fleet's time",
				secs, d.Index, d.Run, d.Defaults)
		}
	}
}

// A node that has loaded nothing yet takes the mean load speed the others learned, which includes their runners'
// start, instead of the configured speed and start.
func TestUnloadedNodeTakesTheFleetsLoadSpeed(t *testing.T) {
	s := NewSelector(Config{}, keepFirst)
	inst := installed(model(llama, 4700))
	fast := new(State)
	fast.loadMBps.Store(4700) // one second for llama
	cs := []Candidate{
		{Node: node("a", free(20000), inst), State: new(State), Available: true},
		{Node: node("b", free(20000), inst), State: fast, Available: false},
	}
	d := s.Select(cs, Request{Model: llama, Now: t0})
	if d.Load != 1 || d.Defaults&DefaultedLoadSpeed == 0 {
		t.Errorf("load %vs (defaults %q), want the fleet's speed, 1s, named a default", d.Load, d.Defaults)
	}
}

// The learned time scales with the model's size on disk, so that a node learned on small models does not take a large
// model's requests for quick ones; the queue ahead waits at the node's mean.
func TestLearnedTimeScalesWithTheModel(t *testing.T) {
	s := NewSelector(Config{}, keepFirst)
	st := learned(10) // 10s per request of a 5000 MiB model
	n := node("a", gpu(49152, 5000), installed(model(llama, 5000), model(big, 40000)), loaded(llama, 5200, 5200),
		loaded(big, 40800, 40800))
	c := []Candidate{{Node: n, State: st, Available: true, InFlight: 2}}
	small, large := s.Select(c, Request{Model: llama, Now: t0}), s.Select(c, Request{Model: big, Now: t0})
	if math.Abs(small.Run-10) > 0.1 || math.Abs(large.Run-80) > 0.8 {
		t.Errorf("runs %vs and %vs, want 10s and 80s", small.Run, large.Run)
	}
	if math.Abs(small.Wait-20) > 0.2 || math.Abs(large.Wait-20) > 0.2 {
		t.Errorf("waits %vs and %vs, want both 20s: two requests of the node's mean ahead", small.Wait, large.Wait)
	}
}

// A node that looked slow and so gets no traffic does not stay slow: its own figures decay and the fleet's take
// over, so that it is tried again.
func TestIdleNodeDriftsBackToTheFleet(t *testing.T) {
	s := NewSelector(Config{}, keepFirst)
	slow, fleet := learned(30), learned(3)
	inst := installed(model(llama, 4700))
	// The slow node's estimate, beside the other (unavailable, so that only its figures count in the fleet's).
	run := func(d time.Duration) float64 {
		cs := []Candidate{
			{Node: node("slow", free(15000), inst, loaded(llama, 5000, 5000), age(-d)), State: slow, Available: true},
			{Node: node("fast", free(15000), inst, loaded(llama, 5000, 5000), age(-d)), State: fleet},
		}
		return s.Select(cs, Request{Model: llama, Now: t0.Add(d)}).Run
	}
	if r := run(0); r < 25 {
		t.Fatalf("at first the slow node runs %vs, want about its 30s", r)
	}
	for d := time.Second; d < 20*time.Minute; d += time.Second {
		slow.sample(t0.Add(d).UnixNano(), s.sampleNS, 0, 1, s.Config().LearnWindow)
	}
	if r := run(20 * time.Minute); r > 4 {
		t.Errorf("after twenty idle minutes (ten learn windows) the slow node runs %vs, want about the fleet's 3s", r)
	}
}

// Busy slots are sampled at most every RequestTime ÷ 100: requests much shorter than that would be learned short
// (the first decision after the dead time misses those sent and ended within it), so a shorter RequestTime, as
// the simulator passes at 100 times real speed, learns short requests right.
func TestLearnShortRequests(t *testing.T) {
	for _, tc := range []struct {
		requestTime, takes time.Duration
	}{{100 * time.Millisecond, 36 * time.Millisecond}, {0, 3 * time.Second}, {0, 2 * time.Second}} {
		s := NewSelector(Config{RequestTime: tc.requestTime}, nil)
		st := new(State)
		rng := rand.New(rand.NewPCG(1, 2))
		var ends []time.Time
		now := t0
		for range 20000 {
			// Poisson arrivals, 1.1 requests in flight on average, on four slots.
			now = now.Add(time.Duration(rng.ExpFloat64() * float64(tc.takes) / 1.1))
			ends = slices.DeleteFunc(ends, func(e time.Time) bool { return !e.After(now) })
			n := node("a", free(20000), parallel(4), installed(model(llama, 4700)), loaded(llama, 5000, 5000), age(-now.Sub(t0)))
			s.Select([]Candidate{{Node: n, State: st, Available: true, InFlight: len(ends)}}, Request{Model: llama, Now: now})
			ends = append(ends, now.Add(shared(tc.takes, min(len(ends), 3))))
		}
		if got := st.Learned().SecondsPerGiB * 4700 / 1024; math.Abs(got-tc.takes.Seconds()) > 0.1*tc.takes.Seconds() {
			t.Errorf("request_time %v: requests of %v learned as %.4fs, want within 10%%", tc.requestTime, tc.takes, got)
		}
	}
}

// A node's own figure of a few requests counts for little against the fleet's: five requests that took twice the
// others' time (lengths vary that much) leave it within a fifth of them, so that identical nodes look alike.
func TestFewRequestsLeanOnTheFleet(t *testing.T) {
	s := NewSelector(Config{}, keepFirst)
	inst := installed(model(llama, 5000))
	few := new(State)
	few.doneMB.Store(5 * 5000)
	few.busyArea.Store(5 * 20)
	few.recentMB.Store(5000)
	cs := []Candidate{
		{Node: node("a", free(15000), inst, loaded(llama, 5000, 5000)), State: few, Available: true},
		{Node: node("b", free(15000), inst, loaded(llama, 5000, 5000)), State: learned(10), Available: true, InFlight: 1},
		{Node: node("c", free(15000), inst, loaded(llama, 5000, 5000)), State: learned(10), Available: true, InFlight: 1},
	}
	d := s.Select(cs, Request{Model: llama, Now: t0})
	if d.Index != 0 || d.Run < 10 || d.Run > 12 || d.Defaults&DefaultedRequestTime != 0 {
		t.Errorf("chose %d running %.1fs (defaults %q), want a at 10-12s, learned", d.Index, d.Run, d.Defaults)
	}
}
