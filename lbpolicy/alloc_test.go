package lbpolicy

import (
	"fmt"
	"testing"
	"time"
)

// fleet is n upstreams of every kind Select distinguishes, so that every branch runs.
func fleet(n int) []Candidate {
	cs := make([]Candidate, n)
	for i := range cs {
		id := fmt.Sprintf("10.0.%d.%d:11434", i/256, i%256)
		var c Candidate
		switch i % 8 {
		case 0:
			c = busy(node(id, free(float64(20000-i)), loaded(llama, 5000, 5000), util(40)), i%3)
		case 1:
			c = busy(node(id, gpu(12000, float64(9000-i)), gpu(12000, 9000), installed(model(llama, 4700), model("qwen2:7b", 4000))), i%5)
		case 2:
			c = busy(node(id, free(1500), installed(model(llama, 4700))), 1)
		case 3:
			c = busy(node(id, memoryUnknown, installed(model(llama, 4700))), i%4)
		case 4:
			c = busy(node(id, cpuOnly, loaded(llama, 5000, 0)), 0)
		case 5:
			c = up(node(id, free(30000), draining))
		case 6:
			c = busy(node(id, free(float64(16000+i)), age(time.Minute)), 2)
		default:
			c = down(node(id, free(24000)))
		}
		c.State = new(State)
		cs[i] = c
	}
	return cs
}

func TestSelectDoesNotAllocate(t *testing.T) {
	for _, n := range []int{4, 1024} {
		for _, m := range []string{"", llama, "big:70b"} {
			t.Run(fmt.Sprintf("%d/%q", n, m), func(t *testing.T) {
				s := NewSelector(Config{}, nil)
				cs := fleet(n)
				req := Request{Model: m, Now: t0.Add(time.Second)}
				if a := testing.AllocsPerRun(200, func() { s.Select(cs, req) }); a != 0 {
					t.Errorf("Select allocates %v times per call", a)
				}
				if a := testing.AllocsPerRun(20, func() { s.Select(cs, Request{Model: m}) }); a != 0 {
					t.Errorf("Select with the zero Now allocates %v times per call", a)
				}
			})
		}
	}
}

// BenchmarkSelect measures Select over fleets of every kind of node, for the requested model llama.
func BenchmarkSelect(b *testing.B) {
	for _, n := range []int{4, 16, 128, 1024} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			s := NewSelector(Config{}, nil)
			cs := fleet(n)
			req := Request{Model: llama, Now: t0.Add(time.Second)}
			b.ReportAllocs()
			for b.Loop() {
				s.Select(cs, req)
			}
		})
	}
}

// BenchmarkSelectParallel shows the cost of sharing States between goroutines: here every request is a cold
// load, so every Select writes to one.
func BenchmarkSelectParallel(b *testing.B) {
	s := NewSelector(Config{}, nil)
	cs := fleet(128)
	req := Request{Model: "big:70b", Now: t0.Add(time.Second)}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s.Select(cs, req)
		}
	})
}
