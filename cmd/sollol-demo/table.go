package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// sec formats a time in simulated seconds; "—" for a missing value.
func sec(s float64) string {
	switch {
	case s < 0:
		return "—"
	case s < 1:
		return fmt.Sprintf("%.2fs", s)
	}
	return fmt.Sprintf("%.1fs", s)
}

// ratio formats a ratio; "—" for a missing value.
func ratio(r float64) string {
	if r < 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f×", r)
}

// num formats a count, which is a median and may end in .5.
func num(v float64) string { return strings.TrimSuffix(fmt.Sprintf("%.1f", v), ".0") }

// writeTable prints one row per policy and the reference rows (ideal, clairvoyant) last, as Markdown so that it
// pastes into BENCHMARKS.md as it is.
func writeTable(w io.Writer, sums, refs []*Summary) {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Fprintln(tw, "| policy\t requests\t ok\t OOM\t not installed\t 503\t timeout\t other\t cold loads\t p50\t p95\t p99\t TTFT p50\t TTFT p95\t p95/ideal\t hot spots (node-s)\t ok/min\t")
	fmt.Fprintln(tw, "|---\t ---:\t ---:\t ---:\t ---:\t ---:\t ---:\t ---:\t ---:\t ---:\t ---:\t ---:\t ---:\t ---:\t ---:\t ---:\t ---:\t")
	for _, s := range append(slices.Clone(sums), refs...) {
		fmt.Fprintf(tw, "| %s\t %s\t %s\t %s\t %s\t %s\t %s\t %s\t %s\t %s\t %s\t %s\t %s\t %s\t %s\t %s\t %.1f\t\n",
			s.Policy, num(s.Requests), num(s.OK), num(s.OOM), num(s.NotInstalled), num(s.Busy), num(s.Timeout),
			num(s.Other), num(s.ColdLoads), sec(s.P50), sec(s.P95), sec(s.P99), sec(s.TTFTP50), sec(s.TTFTP95),
			ratio(s.P95OverIdeal), fmt.Sprintf("%.0f", s.HotSpots), s.Throughput)
	}
	tw.Flush()
}

// writeBusy prints each node's busy share under each policy.
func writeBusy(w io.Writer, sums []*Summary) {
	if len(sums) == 0 || len(sums[0].Nodes) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Fprint(tw, "| busy share\t")
	for _, n := range sums[0].Nodes {
		fmt.Fprintf(tw, " %s\t", n.Name)
	}
	fmt.Fprint(tw, "\n|---\t")
	for range sums[0].Nodes {
		fmt.Fprint(tw, " ---:\t")
	}
	fmt.Fprintln(tw)
	for _, s := range sums {
		fmt.Fprintf(tw, "| %s\t", s.Policy)
		for _, n := range s.Nodes {
			fmt.Fprintf(tw, " %.0f%%\t", 100*n.BusyShare)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

// writeDetails prints vram_aware's reasons and examples of failures.
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

// writeModels prints, per model, each policy's successful requests and latency percentiles (failures counted
// as the timeout, as in the run's).
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
			failed := ms.Requests - ms.OK
			fmt.Fprintf(tw, " %d/%d\t %s\t %s\t", ms.OK, ms.Requests, sec(secs(percentile(ms.Latencies, failed, s.timeout, 50))),
				sec(secs(percentile(ms.Latencies, failed, s.timeout, 95))))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

// writeNodes prints what each node did under each policy.
func writeNodes(w io.Writer, sums []*Summary) {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Fprintln(tw, "| policy\t node\t requests\t cold loads\t evictions\t OOM\t not installed\t 503\t busy\t")
	fmt.Fprintln(tw, "|---\t ---\t ---:\t ---:\t ---:\t ---:\t ---:\t ---:\t ---:\t")
	for _, s := range sums {
		for _, n := range s.Nodes {
			fmt.Fprintf(tw, "| %s\t %s\t %s\t %s\t %s\t %s\t %s\t %s\t %.0f%%\t\n", s.Policy, n.Name, num(n.Requests),
				num(n.ColdLoads), num(n.Evictions), num(n.OOM), num(n.NotFound), num(n.QueueFull), 100*n.BusyShare)
		}
	}
	tw.Flush()
}
