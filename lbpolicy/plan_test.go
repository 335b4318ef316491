package lbpolicy

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sollol-go/sollol/gpustats"
)

// randomNode is a report of any kind Select distinguishes, taken at the time at.
func randomNode(rnd *rand.Rand, id string, at time.Time) *gpustats.Node {
	models := []string{llama, "qwen2:7b", "big:70b"}
	opts := []opt{age(t0.Sub(at) + time.Duration(rnd.IntN(3))*time.Second)}
	switch rnd.IntN(8) {
	case 0:
		opts = append(opts, cpuOnly)
	case 1:
		opts = append(opts, memoryUnknown)
	case 2:
		opts = append(opts, gpu(12000, float64(rnd.IntN(12000))), gpu(12000, float64(rnd.IntN(12000))))
	default:
		opts = append(opts, free(float64(rnd.IntN(24576))))
	}
	if rnd.IntN(4) == 0 {
		opts = append(opts, util(float64(rnd.IntN(101))))
	}
	if rnd.IntN(6) == 0 {
		opts = append(opts, draining)
	}
	if rnd.IntN(6) == 0 {
		return node(id, append(opts, noOllama)...)
	}
	for _, m := range models {
		switch rnd.IntN(4) {
		case 0:
			size := float64(2000 + rnd.IntN(40000))
			opts = append(opts, loaded(m, size, size*float64(rnd.IntN(2))))
		case 1:
			opts = append(opts, installed(model(m, float64(2000+rnd.IntN(40000)))))
		}
	}
	if rnd.IntN(3) == 0 {
		opts = append(opts, installed())
	}
	return node(id, opts...)
}

// TestSelectCachedDecidesAsSelect routes the same requests through two selectors, one with plans and one without,
// over a fleet whose reports, in-flight counts and availability change between requests while time passes and the
// herd guard reserves memory: every decision must be the same.
func TestSelectCachedDecidesAsSelect(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			tieA, tieB := rand.New(rand.NewPCG(seed, 2)), rand.New(rand.NewPCG(seed, 2))
			checkSameDecisions(t, seed, tieA.Uint64, tieB.Uint64, func(s *Selector, cs []Candidate, req Request, plans *Plans) (Decision, bool) {
				return s.SelectCached(cs, req, plans), true
			})
		})
	}
}

// TestRankingDecidesAsSelect does the same with a Ranking where the plans hold, and SelectCached where not. Ties
// are broken by a rule without state (the 7th tied candidate wins), since a ranking that stops part way has drawn
// numbers that SelectCached draws again.
func TestRankingDecidesAsSelect(t *testing.T) {
	seventh := func() uint64 { return 7 }
	ranked := 0
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			ranked += checkSameDecisions(t, seed, seventh, seventh, func(s *Selector, cs []Candidate, req Request, plans *Plans) (Decision, bool) {
				var rk Ranking
				if s.Begin(&rk, req, plans, len(cs)) {
					added := 0
					for i, c := range cs {
						if !rk.Add(i, c) {
							break
						}
						added++
					}
					var d Decision
					if ok := rk.Decide(&d); ok != (added == len(cs)) {
						t.Fatalf("Decide says %t after %d candidates of %d were added", ok, added, len(cs))
					} else if ok {
						return d, true
					}
				}
				return s.SelectCached(cs, req, plans), false
			})
		})
	}
	// Rankings stop where a report went stale or changed what it says of the model; enough went through.
	if ranked < 1000 {
		t.Errorf("%d decisions of 8000 came from a ranking", ranked)
	}
}

// checkSameDecisions compares Select's decisions with decide's, over the changes that TestSelectCachedDecidesAsSelect
// describes. decide says whether its decision came from the plans alone; checkSameDecisions returns how many did.
func checkSameDecisions(t *testing.T, seed uint64, plainRand, planRand func() uint64,
	decide func(*Selector, []Candidate, Request, *Plans) (Decision, bool)) int {
	rnd := rand.New(rand.NewPCG(seed, 1))
	cfg := Config{StaleAfter: 5 * time.Second}
	if seed%2 == 1 {
		cfg.ReserveTTL = 200 * time.Millisecond // plans are read only where no reservation counts
	}
	plain, planned := NewSelector(cfg, nil, plainRand), NewSelector(cfg, nil, planRand)
	var plans Plans
	now := t0
	cs := make([]Candidate, 1+rnd.IntN(24))
	for i := range cs {
		cs[i] = Candidate{Node: randomNode(rnd, fmt.Sprint("n", i), now), Available: rnd.IntN(8) > 0}
	}
	requests := []string{"", llama, "qwen2:7b", "big:70b", "nobody:has"}
	covered, partly, fromPlans := 0, 0, 0
	for step := range 400 {
		switch rnd.IntN(40) {
		case 0, 1, 2, 3:
			i := rnd.IntN(len(cs))
			cs[i].Node = randomNode(rnd, fmt.Sprint("n", i), now)
		case 4, 5, 6, 7:
			cs[rnd.IntN(len(cs))].Available = rnd.IntN(5) > 0
		case 8, 9:
			now = now.Add(time.Duration(rnd.IntN(2000)) * time.Millisecond)
		case 10, 11, 13, 14, 15, 16, 17, 18:
			now = now.Add(time.Duration(rnd.IntN(300)) * time.Millisecond)
		case 12:
			for i := range cs { // a round of reports from every node
				cs[i].Node = randomNode(rnd, fmt.Sprint("n", i), now)
			}
		}
		cs[rnd.IntN(len(cs))].InFlight = rnd.IntN(4)
		req := Request{Model: requests[rnd.IntN(len(requests))], Now: now}
		switch p := plans.find(planned, req.Model); {
		case p == nil:
		case holds(p, cs) == len(cs):
			covered++
		default:
			partly++
		}
		want := plain.Select(cs, req)
		got, alone := decide(planned, cs, req, &plans)
		if !sameDecision(want, got) {
			t.Fatalf("step %d, model %q: with plans %+v, Select %+v", step, req.Model, got, want)
		}
		if alone {
			fromPlans++
		}
	}
	// Not a vacuous comparison: plans were there to be read, whole or in part, for many requests.
	if covered < 20 || covered+partly < 250 {
		t.Errorf("a plan covered every candidate for %d requests of 400 and some for %d", covered, partly)
	}
	return fromPlans
}

func sameDecision(a, b Decision) bool {
	sameFloat := func(x, y float64) bool { return math.Float64bits(x) == math.Float64bits(y) || x == y }
	return a.Index == b.Index && a.Reason == b.Reason && sameFloat(a.Score, b.Score) && a.Node == b.Node && a.NodeID == b.NodeID &&
		sameFloat(a.FreeMB, b.FreeMB) && sameFloat(a.ReservedMB, b.ReservedMB) && a.Available == b.Available &&
		a.Fresh == b.Fresh
}

// holds counts the candidates whose plan entry was made from their node.
func holds(p *plan, cs []Candidate) int {
	n := 0
	for i := range cs {
		if e := p.entry(i); e != nil && e.node == cs[i].Node {
			n++
		}
	}
	return n
}

func TestPlanEntriesFollowReports(t *testing.T) {
	s := NewSelector(Config{}, nil, keepFirst)
	var plans Plans
	cs := []Candidate{up(node("a", free(20000), loaded(llama, 5000, 5000))), up(node("b", free(10000)))}
	req := Request{Model: llama, Now: t0}
	s.SelectCached(cs, req, &plans)
	first := plans.find(s, llama)
	if first == nil || holds(first, cs) != 2 {
		t.Fatal("no plan for the candidates after the first request")
	}
	s.SelectCached(cs, req, &plans)
	if plans.find(s, llama) != first {
		t.Error("the plan was made again although no report changed")
	}
	if plans.find(NewSelector(Config{}, nil, nil), llama) != nil {
		t.Error("another selector found this selector's plan")
	}

	// New reports that say the same of the model: the plan stays, with a new entry for the node.
	cs[1].Node = node("b", free(9000), age(-time.Second))
	s.SelectCached(cs, req, &plans)
	if plans.find(s, llama) != first || holds(first, cs) != 2 {
		t.Errorf("after b's new report: same plan %t, entries current %d of 2", plans.find(s, llama) == first, holds(first, cs))
	}
	cs[1].Node = node("b", free(8000), age(-2*time.Second))
	var rk Ranking
	ranked := s.Begin(&rk, req, &plans, len(cs)) && rk.Add(0, cs[0]) && rk.Add(1, cs[1])
	var d Decision
	if !ranked || !rk.Decide(&d) || holds(first, cs) != 2 {
		t.Errorf("a ranking over b's next report: ranked %t, entries current %d of 2", ranked, holds(first, cs))
	}

	// A report that says something else of the model (a unloads it, so that the size known is its size on disk): a
	// ranking cannot serve, and SelectCached makes the plan anew.
	cs[0].Node = node("a", free(25000), installed(model(llama, 4700)), age(-time.Second))
	if !s.Begin(&rk, req, &plans, len(cs)) || rk.Add(0, cs[0]) {
		t.Error("a ranking accepted a report that changes the model's size")
	}
	s.SelectCached(cs, req, &plans)
	if p := plans.find(s, llama); p == first || p.sizeMB != 4700 || holds(p, cs) != 2 {
		t.Errorf("after a's report the plan was not made anew for the new size")
	}
}

func TestPlansOnlyForModelsReportsName(t *testing.T) {
	s := NewSelector(Config{}, nil, nil)
	var plans Plans
	cs := fleet(64)
	unknown := Request{Model: "nobody:has", Now: t0}
	if a := testing.AllocsPerRun(100, func() { s.SelectCached(cs, unknown, &plans) }); a != 0 {
		t.Errorf("SelectCached for a model no report names allocates %v times per call", a)
	}
	if plans.byModel.Load() != nil {
		t.Error("a plan was made for a model no report names")
	}

	for i := range maxPlans + 10 {
		name := fmt.Sprintf("m%d:latest", i)
		cs := []Candidate{up(node("a", free(20000), loaded(name, 5000, 5000)))}
		s.SelectCached(cs, Request{Model: name, Now: t0}, &plans)
	}
	if n := len(*plans.byModel.Load()); n != maxPlans {
		t.Errorf("plans kept for %d models, want the bound %d", n, maxPlans)
	}
}

func TestSelectCachedDoesNotAllocate(t *testing.T) {
	for _, m := range []string{"", llama, "big:70b"} {
		t.Run(fmt.Sprintf("%q", m), func(t *testing.T) {
			s := NewSelector(Config{}, nil, nil)
			var plans Plans
			cs := fleet(256)
			req := Request{Model: m, Now: t0.Add(time.Second)}
			for range 256 {
				s.SelectCached(cs, req, &plans)
			}
			if a := testing.AllocsPerRun(200, func() { s.SelectCached(cs, req, &plans) }); a != 0 {
				t.Errorf("SelectCached allocates %v times per call", a)
			}
		})
	}
}

// TestPlanFollowsModelSize changes the size that one report gives a model, which decides whether the model fits
// on the nodes that do not have it: the plans made with the old size must not be read. Reservations expire at
// once, since a plan is not read while one counts.
func TestPlanFollowsModelSize(t *testing.T) {
	cfg := Config{ReserveTTL: time.Millisecond}
	plain, cached := NewSelector(cfg, nil, keepFirst), NewSelector(cfg, nil, keepFirst)
	var plans Plans
	cs := []Candidate{up(node("a", free(3000), installed(model("big:70b", 10000)))), up(node("b", free(12000)))}
	req := Request{Model: "big:70b", Now: t0}
	plain.Select(cs, req)
	if d := cached.SelectCached(cs, req, &plans); d.Index != 1 || d.Reason != ReasonFits {
		t.Fatalf("first decision: %+v, want b (fits)", d)
	}
	cs[0].Node = node("a", free(3000), installed(model("big:70b", 20000)))
	req.Now = t0.Add(10 * time.Millisecond)
	want, got := plain.Select(cs, req), cached.SelectCached(cs, req, &plans)
	if !sameDecision(want, got) || got.Reason == ReasonFits {
		t.Errorf("after the size changed: SelectCached = %+v, Select = %+v", got, want)
	}
}

// TestPlanNotPatchedAcrossSizes: entries are renewed only for reports that say the same of the model, so that a
// plan's entries never mix reports whose model sizes disagree. Here b, the only node that knew the model's size,
// unloads it while a, unavailable, loads it: the size known from all of them stays, but the plan must not keep a's
// old entry beside b's new one, or a later ranking over a's next report (unloaded again) would use that size.
func TestPlanNotPatchedAcrossSizes(t *testing.T) {
	plain, planned := NewSelector(Config{}, nil, keepFirst), NewSelector(Config{}, nil, keepFirst)
	var plans Plans
	at := func(s int) Request { return Request{Model: llama, Now: t0.Add(time.Duration(s) * time.Second)} }
	report := func(id string, s int, opts ...opt) *gpustats.Node {
		return node(id, append(opts, age(-time.Duration(s)*time.Second))...)
	}
	cs := []Candidate{up(report("a", 0, free(20000))), up(report("b", 0, free(1000), loaded(llama, 8000, 8000))),
		up(report("c", 0, free(6000)))}
	// step decides once with each selector: with a ranking where the plan serves, else with SelectCached.
	step := func(s int) {
		t.Helper()
		want := plain.Select(cs, at(s))
		var got Decision
		var rk Ranking
		ranked := planned.Begin(&rk, at(s), &plans, len(cs))
		for i, c := range cs {
			ranked = ranked && rk.Add(i, c)
		}
		if !ranked || !rk.Decide(&got) {
			got = planned.SelectCached(cs, at(s), &plans)
		}
		if !sameDecision(want, got) {
			t.Fatalf("t0+%ds (ranked %t): with plans %+v, Select %+v", s, ranked, got, want)
		}
	}
	step(0) // makes the plan: the size is b's, 8000
	cs[0] = down(report("a", 1, free(20000), loaded(llama, 8000, 8000)))
	cs[1] = up(report("b", 1, free(9000)))
	step(1)
	cs[0] = up(report("a", 2, free(20000)))
	step(2) // no node knows the size now: 4096 by default, and the model fits on c
}

// TestPlansShared runs decisions from several goroutines over one Plans while the nodes' reports change, for the
// race detector: entries are renewed and plans made anew concurrently.
func TestPlansShared(t *testing.T) {
	s := NewSelector(Config{}, nil, nil)
	var plans Plans
	const n = 8
	var nodes [n]atomic.Pointer[gpustats.Node]
	report := func(i, k int) *gpustats.Node {
		opts := []opt{free(float64(4000 + 1000*((i+k)%7))), age(-time.Duration(k) * time.Millisecond)}
		if (i+k/50)%3 == 0 { // now and then a node loads or unloads the model
			opts = append(opts, loaded(llama, 5000, 5000))
		}
		return node(fmt.Sprint("n", i), opts...)
	}
	for i := range nodes {
		nodes[i].Store(report(i, 0))
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cs := make([]Candidate, n)
			for range 500 {
				for i := range cs {
					cs[i] = up(nodes[i].Load())
				}
				req := Request{Model: llama, Now: t0.Add(time.Second)}
				if g%2 == 0 {
					s.SelectCached(cs, req, &plans)
					continue
				}
				var rk Ranking
				ok := s.Begin(&rk, req, &plans, n)
				for i, c := range cs {
					ok = ok && rk.Add(i, c)
				}
				var d Decision
				if !ok || !rk.Decide(&d) {
					s.SelectCached(cs, req, &plans)
				}
			}
		}()
	}
	for k := 1; k <= 500; k++ {
		nodes[k%n].Store(report(k%n, k))
	}
	wg.Wait()
	if plans.find(s, llama) == nil {
		t.Error("no plan after 2000 decisions")
	}
}
