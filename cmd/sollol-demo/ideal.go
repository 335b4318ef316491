package main

import (
	"cmp"
	"slices"
	"time"

	"github.com/sollol-go/sollol/internal/ollamasim"
)

// idealRun is the limit no policy can beat: each request served on the fastest node that has its model
// installed and can hold it in VRAM, with no queue and no load, taking only its own prefill and decode. A chat's
// later turn prefills only its new user message, as if the node still held the conversation in its prompt
// cache. Requests whose model no node can hold in VRAM are left out (they count as not served).
func idealRun(sc *Scenario, reqs []Request) *Summary {
	s := &Summary{Policy: "ideal", Seed: sc.Seed}
	s.Requests = float64(len(reqs))
	for _, q := range reqs {
		m, speed, ok := sc.fastestHolder(q.Model)
		if !ok {
			continue
		}
		total, prefill := sc.serviceTime(q, m, speed)
		s.OK++
		s.Latencies = append(s.Latencies, total)
		s.TTFTs = append(s.TTFTs, prefill)
	}
	slices.Sort(s.Latencies)
	slices.Sort(s.TTFTs)
	s.setPercentiles()
	s.P95OverIdeal = 1
	return s
}

// serviceTime is how long q takes alone on a node of speed that holds m, and its prefill: a chat's later turn
// prefills only its new user message, as if the node still held the conversation in its prompt cache.
func (sc *Scenario) serviceTime(q Request, m ollamasim.Model, speed float64) (total, prefill time.Duration) {
	bytes := len(q.userText())
	if q.System && q.Turn == 0 && sc.SystemPrompt != nil {
		bytes += len(systemText(sc.SystemPrompt.Tokens))
	}
	prefill = time.Duration(float64(max(1, bytes/4)) / (prefillPerSec(m) * speed) * float64(time.Second))
	decode := time.Duration(float64(q.Tokens) / (tokensPerSec(m) * speed) * float64(time.Second))
	return prefill + decode, prefill
}

// clairvoyantRun is how close routing can come to the ideal once the requests share the fleet: a dispatcher that
// knows every request's length in advance and loads models for free sends each request, as it arrives, to the
// node that answers it first among those that have its model installed and can hold it in VRAM. A node serves up
// to its slots of requests per model at once, each as fast as alone, and models whose footprints fit its VRAM
// together side by side; a chat's later turn comes its think time after the previous answer, and prefills as in
// idealRun. No policy pays less than it does (no loads, no slowdown between slots, a perfect prompt cache), but it
// is not a strict bound: it serves in arrival order, and leaves out nodes that would spill a model to the CPU.
func clairvoyantRun(sc *Scenario, reqs []Request) *Summary {
	s := &Summary{Policy: "clairvoyant", Seed: sc.Seed}
	s.Requests = float64(len(reqs))
	nodes := make([]poolNode, len(sc.Nodes))
	for i := range sc.Nodes {
		cfg := sc.nodeConfig(i, nil, "")
		n := &nodes[i]
		n.speed, n.slots = cmp.Or(cfg.Speed, 1), cmp.Or(cfg.NumParallel, ollamasim.DefaultNumParallel)
		for _, g := range cfg.GPUs {
			n.vramMB += g.VRAMMB
		}
		for _, m := range cfg.Models {
			if m.FootprintMB() <= n.vramMB {
				n.models = append(n.models, m)
			}
		}
	}
	// Arrivals in time order: every single request and first turn at its time, each later turn once the
	// previous one is answered.
	type arrival struct {
		at time.Duration
		i  int
	}
	var queue []arrival
	for i, q := range reqs {
		if q.Turn == 0 {
			queue = append(queue, arrival{q.At, i})
		}
	}
	slices.SortStableFunc(queue, func(a, b arrival) int { return cmp.Compare(a.at, b.at) })
	for len(queue) > 0 {
		a := queue[0]
		queue = queue[1:]
		q := reqs[a.i]
		best, start, end, ttft := -1, time.Duration(0), time.Duration(0), time.Duration(0)
		for k := range nodes {
			n := &nodes[k]
			m, ok := n.model(q.Model)
			if !ok {
				continue
			}
			total, prefill := sc.serviceTime(q, m, n.speed)
			if from := n.earliest(m, a.at, total); best < 0 || from+total < end {
				best, start, end, ttft = k, from, from+total, from-a.at+prefill
			}
		}
		if best < 0 {
			continue // no node can hold the model: not served, and a chat ends
		}
		n := &nodes[best]
		m, _ := n.model(q.Model)
		n.jobs = append(n.jobs, poolJob{m.Name, m.FootprintMB(), start, end})
		s.OK++
		s.Latencies = append(s.Latencies, end-a.at)
		s.TTFTs = append(s.TTFTs, ttft)
		if next := a.i + 1; next < len(reqs) && q.Chat > 0 && reqs[next].Chat == q.Chat {
			at := end + reqs[next].At
			k, _ := slices.BinarySearchFunc(queue, at, func(x arrival, t time.Duration) int {
				if x.at <= t {
					return -1
				}
				return 1
			})
			queue = slices.Insert(queue, k, arrival{at, next})
		}
	}
	slices.Sort(s.Latencies)
	slices.Sort(s.TTFTs)
	s.setPercentiles()
	return s
}

// poolNode is a node as clairvoyantRun schedules it: the models it can hold, and the requests given to it that
// have not ended by the latest arrival.
type poolNode struct {
	speed, vramMB float64
	slots         int
	models        []ollamasim.Model
	jobs          []poolJob
}

type poolJob struct {
	model      string
	mb         float64
	start, end time.Duration
}

func (n *poolNode) model(name string) (ollamasim.Model, bool) {
	for _, m := range n.models {
		if m.Name == name {
			return m, true
		}
	}
	return ollamasim.Model{}, false
}

// earliest is the soonest time from at on which n can start a request for m that takes d: when a slot of m is
// free and the models running beside it fit in VRAM with m, all the way to its end.
func (n *poolNode) earliest(m ollamasim.Model, at, d time.Duration) time.Duration {
	n.jobs = slices.DeleteFunc(n.jobs, func(j poolJob) bool { return j.end <= at })
	starts := []time.Duration{at}
	for _, j := range n.jobs {
		starts = append(starts, j.end)
	}
	slices.Sort(starts)
	for _, s := range starts {
		if n.fits(m, s, s+d) {
			return s
		}
	}
	return starts[len(starts)-1] // every job ended: the node is free
}

// fits reports whether a request for m can run on n from start to end: at the start and wherever a job begins
// meanwhile, fewer than slots requests for m run, and m fits in VRAM beside the other models running.
func (n *poolNode) fits(m ollamasim.Model, start, end time.Duration) bool {
	for _, t := range append([]time.Duration{start}, n.starts(start, end)...) {
		same, mb, seen := 0, m.FootprintMB(), []string{m.Name}
		for _, j := range n.jobs {
			if j.start > t || j.end <= t {
				continue
			}
			if j.model == m.Name {
				same++
			} else if !slices.Contains(seen, j.model) {
				seen, mb = append(seen, j.model), mb+j.mb
			}
		}
		if same >= n.slots || mb > n.vramMB {
			return false
		}
	}
	return true
}

// starts lists when n's jobs begin between start and end.
func (n *poolNode) starts(start, end time.Duration) []time.Duration {
	var out []time.Duration
	for _, j := range n.jobs {
		if j.start > start && j.start < end {
			out = append(out, j.start)
		}
	}
	return out
}

// fastestHolder returns model's definition and the speed of the fastest node that has it installed and can hold
// it in its GPUs' memory.
func (sc *Scenario) fastestHolder(model string) (m ollamasim.Model, speed float64, ok bool) {
	for i := range sc.Nodes {
		cfg := sc.nodeConfig(i, nil, "")
		total := 0.0
		for _, g := range cfg.GPUs {
			total += g.VRAMMB
		}
		sp := cfg.Speed
		if sp == 0 {
			sp = 1
		}
		for _, c := range cfg.Models {
			if c.Name == model && c.FootprintMB() <= total && sp > speed {
				m, speed, ok = c, sp, true
			}
		}
	}
	return m, speed, ok
}

// tokensPerSec and prefillPerSec are the simulator's speeds of m on a node of speed 1, defaults included.
func tokensPerSec(m ollamasim.Model) float64 {
	if m.TokensPerSec > 0 {
		return m.TokensPerSec
	}
	return ollamasim.DefaultTokensPerSec
}

func prefillPerSec(m ollamasim.Model) float64 {
	if m.PrefillTokensPerSec > 0 {
		return m.PrefillTokensPerSec
	}
	return ollamasim.DefaultPrefillFactor * tokensPerSec(m)
}
