package lbpolicy

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// Every one of k tied candidates is chosen for exactly the same share of the tie-breaker's possible values.
func TestTiesExactlyUniform(t *testing.T) {
	cs := []Candidate{up(node("a", free(8000))), up(node("b", free(8000))), up(node("c", free(8000)))}
	counts := map[int]int{}
	for r2 := range uint64(2) {
		for r3 := range uint64(3) {
			seq := []uint64{r2, r3}
			s := NewSelector(Config{}, nil, func() uint64 { v := seq[0]; seq = seq[1:]; return v })
			counts[s.Select(cs, Request{Now: t0}).Index]++
		}
	}
	if counts[0] != 2 || counts[1] != 2 || counts[2] != 2 {
		t.Errorf("choices over all tie-breaker values %v, want 2 each", counts)
	}
}

// Over many requests the default tie-breaker spreads ties evenly. The source is seeded, so the test cannot flake;
// the bound is over 5 standard deviations wide.
func TestTiesSpread(t *testing.T) {
	cs := []Candidate{}
	for i := range 4 {
		cs = append(cs, up(node(fmt.Sprint(i), free(8000))))
	}
	src := rand.New(rand.NewPCG(1, 2))
	s := NewSelector(Config{}, nil, src.Uint64)
	counts := make([]int, 4)
	for range 40000 {
		counts[s.Select(cs, Request{Now: t0}).Index]++
	}
	for i, c := range counts {
		if c < 9500 || c > 10500 {
			t.Errorf("node %d chosen %d times of 40000, want 10000±500: %v", i, c, counts)
		}
	}
}

func TestNoTieNoRandom(t *testing.T) {
	s := NewSelector(Config{}, nil, func() uint64 { t.Fatal("tie-breaker called without a tie"); return 0 })
	cs := []Candidate{up(node("a", free(8000))), up(node("b", free(9000))), up(node("c", free(8000), draining)),
		up(node("d", free(9000), draining)), up(nil), busy(nil, 1)}
	if d := s.Select(cs, Request{Now: t0}); d.Index != 1 {
		t.Errorf("chose %d, want 1", d.Index)
	}
}
