package lbpolicy

import (
	"testing"
	"time"

	"github.com/sollol-go/sollol/gpustats"
)

// Rule 7: a cold load holds its memory once per (node, model); later requests join it.
func TestHerdGuardOncePerNodeAndModel(t *testing.T) {
	// SOLLOL's reporter: no Ollama state, so every request looks like a cold load. Twenty requests in a row,
	// each finished before the next, must not reserve twenty copies on the node with room.
	s := NewSelector(Config{}, keepFirst)
	cs := withState(up(node("a", free(20480), noOllama)), up(node("b", free(500), noOllama)))
	for i := range 20 {
		d := s.Select(cs, Request{Model: llama, Now: t0.Add(time.Duration(i) * 100 * time.Millisecond)})
		if d.Index != 0 {
			t.Fatalf("request %d went to %d (%s), want the node with 20 GiB free", i, d.Index, d.Reason)
		}
		switch {
		case i == 0 && (d.Reason != ReasonFits || d.ReservedMB != DefaultModelMB+DefaultHeadroomMB):
			t.Fatalf("first request: %s reserving %v MiB, want fits reserving the model", d.Reason, d.ReservedMB)
		case i > 0 && (d.Reason != ReasonLoading || d.ReservedMB != 0):
			t.Fatalf("request %d: %s reserving %v MiB, want it to join the load", i, d.Reason, d.ReservedMB)
		}
	}
	other, since := cs[0].State.pending(modelKey("qwen2:7b"), t0.UnixNano()-1, 0, 0)
	if other != DefaultModelMB+DefaultHeadroomMB || since != 0 {
		t.Errorf("another model sees %v MiB pending (since %d), want one copy", other, since)
	}
}

func TestHerdGuardSpreadsWhenTheQueueIsLongerThanTheLoad(t *testing.T) {
	s := NewSelector(Config{}, keepFirst)
	inst := installed(model(llama, 4700))
	cs := withState(up(node("a", free(20000), inst)), up(node("b", free(20000), inst)), up(node("c", free(20000), inst)))
	seen := map[int]bool{}
	for i := range 3 {
		d := s.Select(cs, Request{Model: llama, Now: t0.Add(time.Duration(i) * time.Millisecond)})
		if d.Reason != ReasonFits {
			t.Fatalf("request %d: %s, want a cold load of its own", i, d.Reason)
		}
		seen[d.Index] = true
		cs[d.Index].InFlight++ // it waits for the load, in flight
	}
	if len(seen) != 3 {
		t.Fatalf("three requests, one slot per node: want three loads, got nodes %v", seen)
	}
	// A fourth joins a load: every node now has one in flight, and joining costs no second load.
	if d := s.Select(cs, Request{Model: llama, Now: t0.Add(5 * time.Millisecond)}); d.Reason != ReasonLoading {
		t.Errorf("fourth request: %s, want loading", d.Reason)
	}
}

func TestHerdGuardCountsOtherModelsLoads(t *testing.T) {
	s := NewSelector(Config{}, keepFirst)
	inst := installed(model(llama, 4700), model("qwen2:7b", 4400))
	cs := withState(up(node("a", free(6000), inst)), busy(node("b", free(20000), inst), 1))
	if d := s.Select(cs, Request{Model: llama, Now: t0}); d.Index != 0 || d.Reason != ReasonFits {
		t.Fatalf("first load: %d %s, want a fits", d.Index, d.Reason)
	}
	// 6000 − 5212 leaves 788 MiB: the other model would have to make room on a, so b, one deep, is sooner.
	d := s.Select(cs, Request{Model: "qwen2:7b", Now: t0.Add(time.Millisecond)})
	if d.Index != 1 {
		t.Errorf("second model went to %d (%s, %.1fs), want the node whose memory is not promised", d.Index, d.Reason, d.Seconds)
	}
}

func TestHerdGuardEndsWithAReportThatShowsTheModelOrItsTTL(t *testing.T) {
	s := NewSelector(Config{}, keepFirst)
	st := new(State)
	inst := installed(model(llama, 4700))
	d := s.Select([]Candidate{{Node: node("a", free(20000), inst), State: st, Available: true}}, Request{Model: llama, Now: t0})
	if d.ReservedMB == 0 {
		t.Fatal("no reservation")
	}
	// A report taken 4s later shows the model: the load is over, and took at most 4s.
	later := node("a", free(14800), inst, loaded(llama, 5200, 5200), age(-4*time.Second))
	d = s.Select([]Candidate{{Node: later, State: st, Available: true}}, Request{Model: llama, Now: t0.Add(4 * time.Second)})
	if d.Reason != ReasonResident {
		t.Fatalf("after the report: %s, want resident", d.Reason)
	}
	if got, want := st.Learned().LoadMBps, (4700.0+512)/4; got != want {
		t.Errorf("learned load speed %v MiB/s, want %v", got, want)
	}
	if other, since := st.pending(modelKey(llama), 0, 0, 0); other != 0 || since != 0 {
		t.Errorf("pending after the report: %v MiB, since %d", other, since)
	}
	// With no newer report, a load counts for ReserveTTL (twice stale_after by default) and no longer.
	st = new(State)
	n := node("a", free(20000), inst)
	s.Select([]Candidate{{Node: n, State: st, Available: true}}, Request{Model: llama, Now: t0})
	cut := func(at time.Time) int64 { return at.UnixNano() - int64(s.Config().ReserveTTL) }
	if _, since := st.pending(modelKey(llama), cut(t0.Add(29*time.Second)), 0, 0); since == 0 {
		t.Error("the load expired before its TTL")
	}
	if _, since := st.pending(modelKey(llama), cut(t0.Add(31*time.Second)), 0, 0); since != 0 {
		t.Error("the load outlived its TTL")
	}
}

// Ollama unloads a busy model only once its requests are done, and serves new requests for it at once meanwhile:
// a load that must make room waits while reports still show the old model, and every request sent for that
// model delays it further.
func TestALoadThatWaitsForRoomHoldsUntilAReportShowsIt(t *testing.T) {
	s := NewSelector(Config{}, keepFirst)
	inst := installed(model(big, 20000), model(llama, 4700))
	busyWithBig := func(old time.Duration) *gpustats.Node {
		return node("n", free(4000), inst, loaded(big, 20000, 20000), age(old))
	}
	cs := withState(busy(busyWithBig(0), 1), busy(busyWithBig(0), 1))
	if d := s.Select(cs, Request{Model: llama, Now: t0}); d.Index != 0 || d.Reason != ReasonMakeRoom {
		t.Fatalf("first load: %d %s, want make-room on the first", d.Index, d.Reason)
	}
	cs[0].InFlight, cs[1].InFlight = 2, 2
	// Three seconds on, both nodes report the big model still loaded: the load waits for its request.
	cs[0].Node, cs[1].Node = busyWithBig(-3*time.Second), busyWithBig(-3*time.Second)
	now := t0.Add(3 * time.Second)
	if d := s.Select(cs, Request{Model: llama, Now: now}); d.Index != 0 || d.Reason != ReasonLoading || d.ReservedMB != 0 {
		t.Errorf("second request for the loading model: %d %s reserving %v MiB, want it to join the load", d.Index, d.Reason, d.ReservedMB)
	}
	cs[0].InFlight, cs[1].InFlight = 3, 3
	d := s.Select(cs, Request{Model: big, Now: now})
	if d.Index != 1 {
		t.Errorf("a request for the big model went to %d (%s, %.1fs), want the node where no load waits for it", d.Index, d.Reason, d.Seconds)
	}
	if d.Evict != 0 {
		t.Errorf("evict %.1fs on the node where no load waits", d.Evict)
	}
	// A report that shows the load ends it: the memory it took is in the report's free memory.
	cs[0].Node = node("n", free(19000), inst, loaded(llama, 5200, 5200), age(-6*time.Second))
	cs[1].InFlight += 5
	d = s.Select(cs, Request{Model: big, Now: t0.Add(6 * time.Second)})
	if d.Index != 0 || d.Reason != ReasonMakeRoom || d.FreeMB != 19000 {
		t.Errorf("after the report: %d %s with %v MiB free, want make-room with the report's 19000", d.Index, d.Reason, d.FreeMB)
	}
}

// A load's time is learned from the first report that showed the model loaded, not from the report at hand when
// the next request for the model comes, which may be minutes later.
func TestLoadTimeEndsWithTheFirstReportThatShowsTheModel(t *testing.T) {
	s := NewSelector(Config{}, keepFirst)
	st := new(State)
	inst := installed(model(llama, 4700))
	s.Select([]Candidate{{Node: node("a", free(20000), inst), State: st, Available: true}}, Request{Model: llama, Now: t0})
	first := node("a", free(14800), inst, loaded(llama, 5200, 5200), age(-4*time.Second))
	later := gpustats.NewNode(node("a", free(14800), inst, loaded(llama, 5200, 5200), age(-20*time.Second)).Report, first)
	s.Select([]Candidate{{Node: later, State: st, Available: true}}, Request{Model: llama, Now: t0.Add(20 * time.Second)})
	if got, want := st.Learned().LoadMBps, (4700.0+512)/4; got != want {
		t.Errorf("learned load speed %v MiB/s, want %v: the load took 4s, the next request came after 20s", got, want)
	}
}

func TestRefusedModelRanksBelow(t *testing.T) {
	s := NewSelector(Config{StaleAfter: time.Hour}, keepFirst)
	inst := installed(model(llama, 4700))
	cs := withState(up(node("a", free(20000), inst, loaded(llama, 5000, 5000))), busy(node("b", free(20000), inst), 2))
	s.Refuse(cs[0].State, llama, t0)
	if d := s.Select(cs, Request{Model: llama, Now: t0.Add(time.Second)}); d.Index != 1 {
		t.Errorf("refused node chosen: %d %s", d.Index, d.Reason)
	}
	if d := s.Select(cs, Request{Model: "other:7b", Now: t0.Add(time.Second)}); d.Index != 0 {
		t.Errorf("another model avoids the node that refused llama: %d %s", d.Index, d.Reason)
	}
	if d := s.Select(cs, Request{Model: llama, Now: t0.Add(61 * time.Second)}); d.Index != 0 {
		t.Errorf("after RefuseFor the node is still refused: %d %s", d.Index, d.Reason)
	}
	// Busy (503): new loads avoid the node, a resident model does not; the load that the refused request was
	// to start there is forgotten, so that later requests do not join it.
	cs = withState(up(node("a", free(20000), inst)), busy(node("b", free(20000), inst), 2))
	if d := s.Select(cs, Request{Model: llama, Now: t0}); d.Index != 0 || d.Reason != ReasonFits {
		t.Fatalf("first request: %d %s", d.Index, d.Reason)
	}
	s.Refuse(cs[0].State, "", t0)
	if d := s.Select(cs, Request{Model: llama, Now: t0}); d.Index != 1 {
		t.Errorf("a cold load went to the busy node: %d %s", d.Index, d.Reason)
	}
	cs[0].Node = node("a", free(20000), inst, loaded(llama, 5000, 5000))
	if d := s.Select(cs, Request{Model: llama, Now: t0}); d.Index != 0 {
		t.Errorf("a resident model avoided the busy node: %d %s", d.Index, d.Reason)
	}
}

// With more than one model loaded, Ollama makes room by unloading an idle one first: a request for a loaded model
// delays no load.
func TestALoadThatMakesRoomAmongSeveralModelsDelaysNoRequest(t *testing.T) {
	s := NewSelector(Config{}, keepFirst)
	inst := installed(model(llama, 4700), model("qwen2:7b", 4400), model("mistral:7b", 4100))
	n := node("n", free(3000), inst, loaded(llama, 5200, 5200), loaded("qwen2:7b", 4900, 4900))
	cs := withState(busy(n, 1))
	if d := s.Select(cs, Request{Model: "mistral:7b", Now: t0}); d.Reason != ReasonMakeRoom {
		t.Fatalf("load: %s, want make-room", d.Reason)
	}
	if d := s.Select(cs, Request{Model: llama, Now: t0.Add(time.Second)}); d.Reason != ReasonResident || d.Evict != 0 {
		t.Errorf("a loaded model beside another: %s with evict %.1fs, want resident with none", d.Reason, d.Evict)
	}
}
