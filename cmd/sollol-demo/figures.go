package main

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/sollol-go/sollol/internal/ollamasim"
)

// Figures are what a run measured, or the medians of several runs, as --json writes them. Times are in simulated
// seconds; -1 means no value (no request succeeded, or no ideal to compare with).
type Figures struct {
	Requests     float64 `json:"requests"`
	OK           float64 `json:"ok"`
	OOM          float64 `json:"failed_oom"`
	OOMFitting   float64 `json:"failed_oom_where_a_node_fits"`
	NotInstalled float64 `json:"failed_not_installed"`
	Busy         float64 `json:"failed_503"`
	Timeout      float64 `json:"failed_timeout"`
	Other        float64 `json:"failed_other"`
	ColdLoads    float64 `json:"cold_loads"`
	P50          float64 `json:"p50_s"`
	P95          float64 `json:"p95_s"`
	P99          float64 `json:"p99_s"`
	TTFTP50      float64 `json:"ttft_p50_s"`
	TTFTP95      float64 `json:"ttft_p95_s"`
	// P95OverIdeal is P95 over the ideal's p95, the distance to the limit.
	P95OverIdeal float64 `json:"p95_over_ideal"`
	// Throughput is successful requests per simulated minute, from the first request to the last answer.
	Throughput float64 `json:"throughput_ok_per_min"`
	// HotSpots is the node-seconds in which a node sat idle (nothing running, nothing waiting) while another node
	// had requests waiting.
	HotSpots float64       `json:"hot_spot_node_s"`
	Nodes    []NodeFigures `json:"nodes,omitempty"`
}

// NodeFigures are one node's share of a run.
type NodeFigures struct {
	Name      string  `json:"name"`
	Requests  float64 `json:"requests"`
	ColdLoads float64 `json:"cold_loads"`
	Evictions float64 `json:"evictions"`
	OOM       float64 `json:"oom"`
	NotFound  float64 `json:"not_found"`
	QueueFull float64 `json:"queue_full"`
	// BusyShare is the share of the run during which the node had at least one request loading or generating.
	BusyShare float64 `json:"busy_share"`
}

func (f *Figures) fields() []*float64 {
	return []*float64{&f.Requests, &f.OK, &f.OOM, &f.OOMFitting, &f.NotInstalled, &f.Busy, &f.Timeout, &f.Other,
		&f.ColdLoads, &f.P50, &f.P95, &f.P99, &f.TTFTP50, &f.TTFTP95, &f.P95OverIdeal, &f.Throughput, &f.HotSpots}
}

func (n *NodeFigures) fields() []*float64 {
	return []*float64{&n.Requests, &n.ColdLoads, &n.Evictions, &n.OOM, &n.NotFound, &n.QueueFull, &n.BusyShare}
}

// medianFigures is the median of each figure over runs (of one policy, each its own seed), node by node.
func medianFigures(runs []Figures) Figures {
	var m Figures
	if len(runs) == 0 {
		return m
	}
	m.Nodes = slices.Clone(runs[0].Nodes)
	for i, p := range m.fields() {
		vals := make([]float64, len(runs))
		for j := range runs {
			vals[j] = *runs[j].fields()[i]
		}
		*p = median(vals)
	}
	for k := range m.Nodes {
		for i, p := range m.Nodes[k].fields() {
			var vals []float64
			for j := range runs {
				if k < len(runs[j].Nodes) {
					vals = append(vals, *runs[j].Nodes[k].fields()[i])
				}
			}
			*p = median(vals)
		}
	}
	return m
}

// median of vals; the mean of the middle two for an even count.
func median(vals []float64) float64 {
	if len(vals) == 0 {
		return 0
	}
	s := slices.Clone(vals)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Summary is one run, with the lists behind its figures.
type Summary struct {
	Policy string
	Seed   uint64
	Figures
	// Latencies and TTFTs are the successful requests' times, sorted.
	Latencies, TTFTs []time.Duration
	// failed and failedStreams count the failed requests, and the streamed ones among them, which the
	// percentiles count as taking timeout: the client got no answer.
	failed, failedStreams int
	timeout               time.Duration
	// Reasons counts vram_aware's decisions by reason.
	Reasons map[string]int
	// Errors holds a few examples of failures.
	Errors []string
	// ByModel breaks the requests down by model.
	ByModel map[string]*ModelSummary
	// Results are the requests' outcomes, in the order of Workload, the requests sent.
	Results  []Result
	Workload []Request
}

// ModelSummary is one model's share of a run.
type ModelSummary struct {
	Requests, OK int
	// Latencies are the successful requests' latencies, sorted.
	Latencies []time.Duration
}

// summarise works out the figures of run, of the workload reqs of sc; ideal is the ideal row of that workload.
func summarise(sc *Scenario, reqs []Request, run *Run, ideal *Summary) *Summary {
	s := &Summary{Policy: run.Policy, Seed: run.Seed, Reasons: map[string]int{}, ByModel: map[string]*ModelSummary{},
		Results: run.Results, Workload: reqs, timeout: time.Duration(sc.Timeout)}
	s.Requests = float64(len(reqs))
	example := func(format string, args ...any) {
		if len(s.Errors) < 5 {
			s.Errors = append(s.Errors, fmt.Sprintf(format, args...))
		}
	}
	for i, r := range run.Results {
		q := reqs[i]
		m := s.ByModel[q.Model]
		if m == nil {
			m = &ModelSummary{}
			s.ByModel[q.Model] = m
		}
		m.Requests++
		if r.Outcome != OK {
			s.failed++
			if q.Stream {
				s.failedStreams++
			}
		}
		switch r.Outcome {
		case OK:
			s.OK++
			s.Latencies = append(s.Latencies, r.Latency)
			if r.TTFT >= 0 {
				s.TTFTs = append(s.TTFTs, r.TTFT)
			}
			m.OK++
			m.Latencies = append(m.Latencies, r.Latency)
		case OutOfMemory:
			s.OOM++
			if sc.fitsSomewhere(q.Model) {
				s.OOMFitting++
				if r.Decision != "" {
					example("%s sent to %s: out of memory", q.Model, r.Decision)
				}
			}
		case NotInstalled:
			s.NotInstalled++
		case Busy:
			s.Busy++
			example("%s %s: %d %s", q.Model, q.Path(), r.Status, r.Error)
		case Timeout:
			s.Timeout++
		default:
			s.Other++
			example("%s %s: %d %s", q.Model, q.Path(), r.Status, r.Error)
		}
		if r.Reason != "" {
			s.Reasons[r.Reason]++
		}
	}
	slices.Sort(s.Latencies)
	slices.Sort(s.TTFTs)
	for _, m := range s.ByModel {
		slices.Sort(m.Latencies)
	}
	s.setPercentiles()
	s.P95OverIdeal = -1
	if ideal != nil && ideal.P95 > 0 && s.P95 >= 0 {
		s.P95OverIdeal = s.P95 / ideal.P95
	}
	if run.Makespan > 0 {
		s.Throughput = s.OK / run.Makespan.Minutes()
	}
	for _, n := range run.Nodes {
		st := n.Stats
		s.ColdLoads += float64(st.ColdLoads)
		nf := NodeFigures{Name: n.Name, Requests: float64(st.Requests), ColdLoads: float64(st.ColdLoads),
			Evictions: float64(st.Evictions), OOM: float64(st.OutOfMemory), NotFound: float64(st.NotFound),
			QueueFull: float64(st.QueueFull)}
		if run.Makespan > 0 {
			nf.BusyShare = min(1, st.Busy.Seconds()/run.Makespan.Seconds())
		}
		s.Nodes = append(s.Nodes, nf)
	}
	s.HotSpots = hotSpots(run.Nodes, run.Start, run.Start.Add(run.Makespan)).Seconds()
	return s
}

// setPercentiles fills the latency and TTFT percentiles from the sorted lists and the failures.
func (s *Summary) setPercentiles() {
	at := func(sorted []time.Duration, failed int, p float64) float64 {
		return secs(percentile(sorted, failed, s.timeout, p))
	}
	s.P50, s.P95, s.P99 = at(s.Latencies, s.failed, 50), at(s.Latencies, s.failed, 95), at(s.Latencies, s.failed, 99)
	s.TTFTP50, s.TTFTP95 = at(s.TTFTs, s.failedStreams, 50), at(s.TTFTs, s.failedStreams, 95)
}

// secs is d in seconds, -1 for a missing value.
func secs(d time.Duration) float64 {
	if d < 0 {
		return -1
	}
	return d.Seconds()
}

// percentile returns the p-th percentile (0–100) by nearest rank of the times sorted and of failed more that
// each count as failedAs, longer than any of sorted; -1 when there are none.
func percentile(sorted []time.Duration, failed int, failedAs time.Duration, p float64) time.Duration {
	n := len(sorted) + failed
	if n == 0 {
		return -1
	}
	i := min(max(int(math.Ceil(p/100*float64(n)))-1, 0), n-1)
	if i >= len(sorted) {
		return failedAs
	}
	return sorted[i]
}

// hotSpots sums, over the window from start to end, the time each node sat idle (nothing running, nothing
// waiting) while some other node had requests waiting. Each node's activity holds its counts from each entry's
// time until the next; before its first entry a node is idle.
func hotSpots(nodes []NodeRun, start, end time.Time) time.Duration {
	type change struct {
		at   time.Time
		node int
		a    ollamasim.Activity
	}
	var changes []change
	for i, n := range nodes {
		for _, a := range n.Activity {
			changes = append(changes, change{a.At, i, a})
		}
	}
	sort.SliceStable(changes, func(i, j int) bool { return changes[i].at.Before(changes[j].at) })
	state := make([]ollamasim.Activity, len(nodes))
	var total time.Duration
	t := start
	add := func(until time.Time) {
		if until.After(end) {
			until = end
		}
		if !until.After(t) {
			return
		}
		waiting, idle := 0, 0
		for _, a := range state {
			if a.Waiting > 0 {
				waiting++
			}
			if a.Running == 0 && a.Waiting == 0 {
				idle++
			}
		}
		if waiting > 0 {
			total += time.Duration(idle) * until.Sub(t)
		}
		t = until
	}
	for _, c := range changes {
		add(c.at)
		state[c.node] = c.a
	}
	add(end)
	return total
}
