package lbpolicy

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// fourNodes is a fleet of four identical 24 GiB nodes with llama installed at 8000 MiB: two cold loads fit on each.
func fourNodes() []Candidate {
	cs := []Candidate{}
	for i := range 4 {
		cs = append(cs, up(node(fmt.Sprintf("n%d", i), gpu(24576, 24000), installed(model(llama, 8000)))))
	}
	return cs
}

// Rule 8: within one report interval, choices for a cold model spread over the nodes as reservations fill them;
// once no further copy fits anywhere, the next choices join the loads under way instead of evicting models.
func TestHerdGuardSequential(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	s := NewSelector(Config{}, nil, rng.Uint64)
	cs := fourNodes()
	counts := map[int]int{}
	for i := range 100 {
		d := s.Select(cs, Request{Model: llama, Now: t0.Add(time.Second)})
		counts[d.Index]++
		want, reserved := ReasonFits, 8000.0
		if i >= 8 {
			want, reserved = ReasonLoading, 0
		}
		if d.Reason != want || d.ReservedMB != reserved {
			t.Fatalf("choice %d: reason %s reserved %g, want %s reserved %g", i, d.Reason, d.ReservedMB, want, reserved)
		}
		if i == 7 {
			for n := range 4 {
				if counts[n] != 2 {
					t.Fatalf("after 8 cold loads: %v, want two on each node", counts)
				}
			}
		}
	}
	for i := range 4 {
		if counts[i] < 10 {
			t.Errorf("node %d got %d of 100 choices: the joins should spread over the loads: %v", i, counts[i], counts)
		}
	}
}

func TestHerdGuardConcurrent(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cands   []Candidate
		onlyOne bool
	}{
		{name: "four nodes fit", cands: fourNodes()},
		{name: "only one node has the model", onlyOne: true, cands: []Candidate{
			up(node("n0", free(24000), installed())),
			up(node("n1", free(9000), installed(model(llama, 8000)))),
			up(node("n2", free(24000), installed(model("qwen2:7b", 4000)))),
			up(node("n3", cpuOnly)),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewSelector(Config{}, nil, nil)
			var mu sync.Mutex
			counts := map[int]int{}
			var wg sync.WaitGroup
			for range 100 {
				wg.Go(func() {
					d := s.Select(tc.cands, Request{Model: llama, Now: t0.Add(time.Second)})
					mu.Lock()
					counts[d.Index]++
					mu.Unlock()
				})
			}
			wg.Wait()
			t.Logf("choices per node: %v", counts)
			if tc.onlyOne {
				if counts[1] != 100 {
					t.Errorf("choices %v, want all 100 on node 1", counts)
				}
				return
			}
			if len(counts) < 2 {
				t.Errorf("all 100 choices landed on one node: %v", counts)
			}
		})
	}
}

func TestHerdGuardReleasedByNewerReport(t *testing.T) {
	s := NewSelector(Config{}, nil, nil)
	a := node("a", free(10000), installed(model(llama, 8000)))
	b := node("b", free(9000), installed(model(llama, 8000)))
	at := func(d time.Duration) Request { return Request{Model: llama, Now: t0.Add(d)} }

	if d := s.Select([]Candidate{up(a), up(b)}, at(1000*time.Millisecond)); d.Index != 0 || d.ReservedMB != 8000 {
		t.Fatalf("first choice %+v, want node a with 8000 reserved", d)
	}
	if d := s.Select([]Candidate{up(a), up(b)}, at(1200*time.Millisecond)); d.Index != 1 || d.Reason != ReasonFits {
		t.Fatalf("second choice %+v, want node b: a is reserved", d)
	}
	older := node("a", free(10000), installed(model(llama, 8000)), age(-500*time.Millisecond))
	// The report predates the reservation, so a is still loading llama: the request joins that load.
	if d := s.Select([]Candidate{up(older), up(node("c", free(1000)))}, at(1400*time.Millisecond)); d.Index != 0 || d.Reason != ReasonLoading {
		t.Errorf("a report taken before the reservation released it: %+v", d)
	}

	newer := node("a", free(10000), installed(model(llama, 8000)), age(-1500*time.Millisecond))
	if got := s.Reservations().Pending("a", newer.Updated); got != 0 {
		t.Errorf("pending on a after a newer report = %g, want 0", got)
	}
	if d := s.Select([]Candidate{up(newer), up(b)}, at(2*time.Second)); d.Index != 0 || d.Reason != ReasonFits {
		t.Errorf("after a newer report from a: %+v, want node a fits", d)
	}
}

func TestHerdGuardTTL(t *testing.T) {
	s := NewSelector(Config{StaleAfter: time.Hour, ReserveTTL: 10 * time.Second}, nil, nil)
	a := node("a", free(10000), installed(model(llama, 8000)))
	if d := s.Select([]Candidate{up(a)}, Request{Model: llama, Now: t0.Add(time.Second)}); d.Reason != ReasonFits {
		t.Fatalf("first choice %+v, want fits", d)
	}
	for _, tc := range []struct {
		now  time.Duration
		want float64
	}{{10 * time.Second, 8000}, {11 * time.Second, 8000}, {11*time.Second + time.Millisecond, 0}} {
		var r request
		r.start(s, "", t0.Add(tc.now))
		if got := s.Reservations().Pending("a", time.Unix(0, r.reservedSince(a))); got != tc.want {
			t.Errorf("pending at t0+%s = %g, want %g", tc.now, got, tc.want)
		}
	}
	if d := s.Select([]Candidate{up(a)}, Request{Model: llama, Now: t0.Add(12 * time.Second)}); d.Reason != ReasonFits {
		t.Errorf("after the TTL: %+v, want fits", d)
	}
}

func TestHerdGuardReservesOnlyColdLoads(t *testing.T) {
	for _, tc := range []struct {
		name   string
		model  string
		cand   Candidate
		wantMB float64
	}{
		{"resident", llama, up(node("n", free(10000), loaded(llama, 5000, 5000))), 0},
		{"no model", "", up(node("n", free(10000))), 0},
		{"memory unknown", llama, up(node("n", memoryUnknown)), 0},
		{"cpu-only", llama, up(node("n", cpuOnly)), 0},
		{"not installed", llama, up(node("n", free(10000), installed())), 0},
		{"own installed size", llama, up(node("n", free(10000), installed(model(llama, 4700)))), 4700},
		{"default size", llama, up(node("n", free(10000))), DefaultModelMB},
		{"overwhelmed", "tiny:1b", up(node("n", free(1500))), DefaultModelMB},
		{"make room", llama, up(node("n", free(3000))), DefaultModelMB},
		{"draining", llama, up(node("n", free(10000), draining)), DefaultModelMB},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewSelector(Config{}, nil, nil)
			d := s.Select([]Candidate{tc.cand}, Request{Model: tc.model, Now: t0})
			if d.Index != 0 || d.ReservedMB != tc.wantMB {
				t.Errorf("decision %+v, want index 0 reserving %g", d, tc.wantMB)
			}
			if got := s.Reservations().Pending("n", t0.Add(-time.Second)); got != tc.wantMB {
				t.Errorf("pending %g, want %g", got, tc.wantMB)
			}
		})
	}
}

func TestHerdGuardSizeFromOtherNodes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		other  Candidate
		wantMB float64
	}{
		{"loaded footprint elsewhere", down(node("o", cpuOnly, loaded(llama, 5300, 0), installed(model(llama, 4700)))), 5300},
		{"installed elsewhere, even stale", up(node("o", free(100), installed(model(llama, 4700)), age(time.Hour))), 4700},
		{"nowhere", up(nil), DefaultModelMB},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewSelector(Config{}, nil, nil)
			d := s.Select([]Candidate{up(node("n", free(20000))), tc.other}, Request{Model: llama, Now: t0})
			if d.Index != 0 || d.ReservedMB != tc.wantMB {
				t.Errorf("decision %+v, want index 0 reserving %g", d, tc.wantMB)
			}
		})
	}
}

// A reservation for a cold load on the only node large enough must not send the next request for the same model
// to a node that can never hold it (it would answer 500 at once).
func TestHerdGuardKeepsHugeModelOnLargeEnoughNode(t *testing.T) {
	s := NewSelector(Config{}, nil, nil)
	cands := []Candidate{
		up(node("big", gpu(49152, 44000), installed(model("llama3.1:70b", 40000)))),
		up(node("small-1", gpu(24576, 23000), installed(model("llama3.1:70b", 40000)))),
		up(node("small-2", gpu(24576, 23000), installed(model("llama3.1:70b", 40000)))),
	}
	for i := range 3 {
		d := s.Select(cands, Request{Model: "llama3.1:70b", Now: t0.Add(time.Duration(i) * time.Millisecond)})
		if d.Index != 0 {
			t.Fatalf("request %d went to %s (%s), which cannot hold the model", i, d.NodeID, d.Reason)
		}
	}
}
