package lbpolicy

import (
	"math"
	"sync"
	"testing"
	"time"
)

func TestReservations(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name    string
		reserve func(r *Reservations)
		since   time.Time
		want    float64
	}{
		{"zero value, unknown node", func(*Reservations) {}, t0, 0},
		{"held until a later report", func(r *Reservations) { r.Reserve("n", 4700, t0, t0.Add(-time.Hour)) }, t0.Add(-ms), 4700},
		{"a report in the same millisecond does not release", func(r *Reservations) {
			r.Reserve("n", 4700, t0.Add(300*time.Microsecond), time.Time{})
		}, t0.Add(700 * time.Microsecond), 4700},
		{"released by a report a millisecond later", func(r *Reservations) { r.Reserve("n", 4700, t0, time.Time{}) }, t0.Add(ms), 0},
		{"only those after since count", func(r *Reservations) {
			r.Reserve("n", 1000, t0, time.Time{})
			r.Reserve("n", 2000, t0.Add(10*ms), time.Time{})
		}, t0.Add(5 * ms), 2000},
		{"per node", func(r *Reservations) { r.Reserve("other", 1000, t0, time.Time{}) }, t0.Add(-ms), 0},
		{"sizes round up", func(r *Reservations) { r.Reserve("n", 0.2, t0, time.Time{}) }, t0.Add(-ms), 1},
		{"huge sizes are capped", func(r *Reservations) { r.Reserve("n", 1e12, t0, time.Time{}) }, t0.Add(-ms), mbMax},
		{"nothing to reserve", func(r *Reservations) {
			r.Reserve("", 1000, t0, time.Time{})
			r.Reserve("n", 0, t0, time.Time{})
			r.Reserve("n", -5, t0, time.Time{})
			r.Reserve("n", math.NaN(), t0, time.Time{})
		}, t0.Add(-ms), 0},
		{"more reservations than entries are merged, nothing lost", func(r *Reservations) {
			for i := range 40 {
				r.Reserve("n", 100, t0.Add(time.Duration(i)*ms), time.Time{})
			}
		}, t0.Add(-ms), 4000},
		{"merged reservations last as long as the newest", func(r *Reservations) {
			for i := range 40 {
				r.Reserve("n", 100, t0.Add(time.Duration(i)*ms), time.Time{})
			}
		}, t0.Add(20 * ms), 100 * (40 - 15)}, // the first 15 stay apart, the rest merged into one
		{"released entries are reused", func(r *Reservations) {
			for range 16 {
				r.Reserve("n", 100, t0, time.Time{})
			}
			r.Reserve("n", 7, t0.Add(time.Second), t0.Add(500*ms))
		}, t0.Add(500 * ms), 7},
		{"times before the epoch", func(r *Reservations) { r.Reserve("n", 10, time.Unix(-100, 0), time.Time{}) }, time.Time{}, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r Reservations
			tc.reserve(&r)
			if got := r.Pending("n", tc.since); got != tc.want {
				t.Errorf("Pending = %g, want %g", got, tc.want)
			}
		})
	}
}

func TestReservationsConcurrent(t *testing.T) {
	var r Reservations
	nodes := []string{"a", "b", "c"}
	var wg sync.WaitGroup
	for g := range 100 {
		wg.Go(func() {
			for i := range 10 {
				r.Reserve(nodes[(g+i)%len(nodes)], 1, t0.Add(time.Duration(i)*time.Millisecond), time.Time{})
				_ = r.Pending(nodes[g%len(nodes)], t0)
			}
		})
	}
	wg.Wait()
	total := 0.0
	for _, n := range nodes {
		total += r.Pending(n, t0.Add(-time.Millisecond))
	}
	if total != 1000 {
		t.Errorf("total pending %g, want 1000: a reservation was lost", total)
	}
}
