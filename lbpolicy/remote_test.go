package lbpolicy

import (
	"testing"
	"time"
)

// Another gateway's cold load, held through ReserveFrom, is joined as one of Select's own.
func TestRemoteLoadIsJoined(t *testing.T) {
	s := NewSelector(Config{}, keepFirst)
	inst := installed(model(llama, 4700))
	cs := withState(up(node("a", free(20000), inst, age(time.Second))), up(node("b", free(20000), inst, age(time.Second))))
	// Gateway A loads llama on b half a second ago; this gateway would pick a (first of a tie) on its own.
	cs[1].State.ReserveFrom(Load{Model: ModelKey(llama), MB: 5000, Since: t0.Add(-500 * time.Millisecond)}, t0.Add(-time.Minute))
	d := s.Select(cs, Request{Model: llama, Now: t0})
	if d.Index != 1 || d.Reason != ReasonLoading || d.ReservedMB != 0 {
		t.Fatalf("Select = %d %s reserving %v MiB, want to join the other gateway's load on b", d.Index, d.Reason, d.ReservedMB)
	}
}

func TestReserveFromHoldsEachLoadOnce(t *testing.T) {
	var st State
	cut := t0.Add(-time.Minute)
	l := Load{Model: ModelKey(llama), MB: 5000, Since: t0}
	for range 20 {
		st.ReserveFrom(l, cut)
	}
	st.ReserveFrom(Load{Model: ModelKey(llama), MB: 5000, Since: t0.Add(-2 * time.Minute)}, cut) // over: ignored
	got := st.Loads(nil, cut)
	if len(got) != 1 || got[0].Model != l.Model || got[0].MB != 5000 || !got[0].Since.Equal(t0) {
		t.Fatalf("Loads = %+v, want the one load", got)
	}
	// An older load from elsewhere does not hide a newer one of this gateway's.
	st.reserve(modelKey("qwen2:7b"), 4000, t0.Add(time.Second).UnixNano(), cut.UnixNano())
	st.ReserveFrom(Load{Model: ModelKey("phi3"), MB: 2000, Since: t0.Add(500 * time.Millisecond)}, cut)
	if other, since := st.pending(modelKey("qwen2:7b"), t0.Add(900*time.Millisecond).UnixNano(), 0, 0); since == 0 || other != 0 {
		t.Errorf("pending after an older remote load: other %v since %d, want qwen's own load", other, since)
	}
	if n := len(st.Loads(nil, cut)); n != 3 {
		t.Errorf("Loads holds %d, want 3", n)
	}
}

// The others' requests in flight count in the wait for a slot: a node busy through another gateway loses.
func TestOthersInFlightCountInTheWait(t *testing.T) {
	s := NewSelector(Config{}, keepFirst)
	cs := withState(up(node("a", free(20000), loaded(llama, 5000, 5000))), up(node("b", free(20000), loaded(llama, 5000, 5000))))
	cs[0].OthersInFlight = 2
	d := s.Select(cs, Request{Model: llama, Now: t0})
	if d.Index != 1 || d.Wait != 0 {
		t.Fatalf("Select = %d (wait %.1fs), want b, idle", d.Index, d.Wait)
	}
}
