package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// percentile returns the p-th percentile (0–100) of sorted by nearest rank, or -1 when sorted is empty.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return -1
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func seconds(d time.Duration) string {
	if d < 0 {
		return "—"
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}

// writeTable prints one row per policy, as Markdown so that it pastes into BENCHMARKS.md as it is.
func writeTable(w io.Writer, sums []*Summary) {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Fprintln(tw, "| policy\t requests\t ok\t OOM failures\t not-installed failures\t other failures\t cold loads\t p50\t p95\t p99\t throughput (ok/min)\t")
	fmt.Fprintln(tw, "|---\t ---:\t ---:\t ---:\t ---:\t ---:\t ---:\t ---:\t ---:\t ---:\t ---:\t")
	for _, s := range sums {
		fmt.Fprintf(tw, "| %s\t %d\t %d\t %d\t %d\t %d\t %d\t %s\t %s\t %s\t %.1f\t\n", s.Policy, s.Requests, s.OK, s.OOM,
			s.NotInstalled, s.Other, s.ColdLoads, seconds(s.P50), seconds(s.P95), seconds(s.P99), s.Throughput)
	}
	tw.Flush()
}

// writeDetails prints vram_aware's reasons and examples of other failures.
func writeDetails(w io.Writer, sums []*Summary) {
	for _, s := range sums {
		if len(s.Reasons) > 0 {
			keys := make([]string, 0, len(s.Reasons))
			for k := range s.Reasons {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			parts := make([]string, len(keys))
			for i, k := range keys {
				parts[i] = fmt.Sprintf("%s %d", k, s.Reasons[k])
			}
			fmt.Fprintf(w, "%s decisions: %s\n", s.Policy, strings.Join(parts, ", "))
		}
		for _, e := range s.Errors {
			fmt.Fprintf(w, "%s failure, e.g.: %s\n", s.Policy, e)
		}
	}
}

// Targets are what vram_aware must achieve against least_conn on the default scenario.
type Targets struct {
	ZeroOOM        bool
	ColdLoadCut    float64 // 1 − vram_aware's cold loads ÷ least_conn's
	P95Ratio       float64 // vram_aware's p95 ÷ least_conn's
	ColdLoadCutMet bool
	P95Met         bool
	// Both counts the requests both policies answered; BothP95VRAM and BothP95LC are the p95 of each over them.
	Both                   int
	BothP95VRAM, BothP95LC time.Duration
}

// compare measures vram_aware against least_conn; ok is false when either did not run.
func compare(sums []*Summary) (t Targets, ok bool) {
	var va, lc *Summary
	for _, s := range sums {
		switch s.Policy {
		case "vram_aware":
			va = s
		case "least_conn":
			lc = s
		}
	}
	if va == nil || lc == nil {
		return t, false
	}
	t.ZeroOOM = va.OOMFitting == 0
	if lc.ColdLoads > 0 {
		t.ColdLoadCut = 1 - float64(va.ColdLoads)/float64(lc.ColdLoads)
	}
	if lc.P95 > 0 && va.P95 >= 0 {
		t.P95Ratio = float64(va.P95) / float64(lc.P95)
	} else {
		t.P95Ratio = math.NaN()
	}
	var a, b []time.Duration
	for i := range va.Results {
		if i < len(lc.Results) && va.Results[i].Outcome == OK && lc.Results[i].Outcome == OK {
			a, b = append(a, va.Results[i].Latency), append(b, lc.Results[i].Latency)
		}
	}
	slices.Sort(a)
	slices.Sort(b)
	t.Both, t.BothP95VRAM, t.BothP95LC = len(a), percentile(a, 95), percentile(b, 95)
	t.ColdLoadCutMet = t.ColdLoadCut >= 0.5
	t.P95Met = t.P95Ratio <= 0.5
	return t, true
}

func writeTargets(w io.Writer, sums []*Summary) {
	t, ok := compare(sums)
	if !ok {
		return
	}
	mark := func(b bool) string {
		if b {
			return "met"
		}
		return "MISSED"
	}
	fmt.Fprintf(w, "vram_aware vs least_conn: OOM failures where a node could fit the model: %s; cold loads %+.0f%% (target ≤ −50%%): %s; p95 %.2f× (target ≤ 0.5×): %s\n",
		map[bool]string{true: "none (met)", false: "some (MISSED)"}[t.ZeroOOM], -100*t.ColdLoadCut, mark(t.ColdLoadCutMet),
		t.P95Ratio, mark(t.P95Met))
	fmt.Fprintf(w, "over the %d requests both answered, p95 is %s with vram_aware and %s with least_conn\n", t.Both,
		seconds(t.BothP95VRAM), seconds(t.BothP95LC))
}

// writeModels prints, per model, each policy's successful requests and latency percentiles.
func writeModels(w io.Writer, sc *Scenario, sums []*Summary) {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Fprint(tw, "| model\t")
	for _, s := range sums {
		fmt.Fprintf(tw, " %s ok\t p50\t p95\t", s.Policy)
	}
	fmt.Fprint(tw, "\n|---\t")
	for range sums {
		fmt.Fprint(tw, " ---:\t ---:\t ---:\t")
	}
	fmt.Fprintln(tw)
	for _, m := range sc.Models {
		fmt.Fprintf(tw, "| %s\t", m.Name)
		for _, s := range sums {
			ms := s.ByModel[m.Name]
			if ms == nil {
				ms = &ModelSummary{}
			}
			fmt.Fprintf(tw, " %d/%d\t %s\t %s\t", ms.OK, ms.Requests, seconds(percentile(ms.Latencies, 50)),
				seconds(percentile(ms.Latencies, 95)))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

// writeNodes prints what each node did under each policy.
func writeNodes(w io.Writer, sums []*Summary) {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Fprintln(tw, "| policy\t node\t requests\t cold loads\t evictions\t OOM\t not installed\t")
	fmt.Fprintln(tw, "|---\t ---\t ---:\t ---:\t ---:\t ---:\t ---:\t")
	for _, s := range sums {
		for _, n := range s.Nodes {
			fmt.Fprintf(tw, "| %s\t %s\t %d\t %d\t %d\t %d\t %d\t\n", s.Policy, n.Name, n.Stats.Requests, n.Stats.ColdLoads,
				n.Stats.Evictions, n.Stats.OutOfMemory, n.Stats.NotFound)
		}
	}
	tw.Flush()
}
