package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// routingRuns are the scenarios the routing test runs, each cut to its first minutes of arrivals and run on a few
// seeds, so that the whole test stays within a few minutes of wall time.
var routingRuns = []struct {
	scenario string
	arrivals time.Duration
	seeds    int
}{
	{"default", 2 * time.Minute, 3},
	{"popular-model", 8 * time.Minute, 3},
	{"two-models-one-card", 6 * time.Minute, 3},
	{"cold-burst", 0, 1},
	{"long-chats", 3 * time.Minute, 1},
}

// routingAssertions is what the routing test asserts: for a scenario, what one policy's runs must show, given
// every policy's runs of the same workloads. Failures and reasons are checked on each seed's run, comparisons
// on the medians over the seeds: one run's p95 is one of the slowest few requests, and two runs of one policy
// on the same seed differ by up to a third (BENCHMARKS.md). Each holds at this commit; tighten them as the
// policy improves (the targets are in BENCHMARKS.md).
var routingAssertions = []struct {
	scenario, policy string
	check            check
}{
	{"default", "vram_aware", noFailures("OOM where a node fits", "not installed", "503", "timeout", "other")},
	{"default", "vram_aware", coldLoadsAtMost(1, "least_conn")},
	{"default", "vram_aware", p95AtMost(1, "least_conn")},
	{"popular-model", "least_conn", noFailures("OOM", "not installed", "503", "timeout", "other")},
	{"popular-model", "round_robin", noFailures("OOM", "not installed", "503", "other")},
	// The pile-up on the node that holds the model (issue 14: most requests timed out) shows as timeouts.
	{"popular-model", "vram_aware", noFailures("OOM", "not installed", "503", "timeout", "other")},
	{"popular-model", "vram_aware", p95AtMost(1.5, "least_conn")},
	{"two-models-one-card", "vram_aware", noFailures("OOM", "not installed", "503", "timeout", "other")},
	{"two-models-one-card", "vram_aware", p95AtMost(1.5, "least_conn")},
	{"cold-burst", "vram_aware", noFailures("OOM", "not installed", "503", "timeout", "other")},
	{"cold-burst", "vram_aware", p95AtMost(2, "least_conn")},
	{"long-chats", "vram_aware", noFailures("OOM", "not installed", "503", "timeout", "other")},
	{"long-chats", "vram_aware", reasonSeen("cached")},
	{"long-chats", "vram_aware", p95AtMost(1.5, "vram_aware_no_affinity")},
	// One seed, three minutes of arrivals: 0.38–0.60× in five runs, 0.6–0.9× under -race (make test runs this test
	// without it); the target (0.5×) is for medians over seeds.
	{"long-chats", "vram_aware", ttftP50AtMost(0.85, "vram_aware_no_affinity")},
}

// check is one assertion on run s, given the runs of every policy by name: each seed's run when perRun, else
// the medians over the seeds.
type check struct {
	what   string
	peers  []string // the other policies it compares with
	perRun bool
	fn     func(s *Summary, runs map[string]*Summary) error
}

// failures are the failure kinds by name, as the table heads them.
var failures = map[string]func(*Summary) float64{
	"OOM":                   func(s *Summary) float64 { return s.OOM },
	"OOM where a node fits": func(s *Summary) float64 { return s.OOMFitting },
	"not installed":         func(s *Summary) float64 { return s.NotInstalled },
	"503":                   func(s *Summary) float64 { return s.Busy },
	"timeout":               func(s *Summary) float64 { return s.Timeout },
	"other":                 func(s *Summary) float64 { return s.Other },
}

func noFailures(kinds ...string) check {
	return check{"no failures: " + strings.Join(kinds, ", "), nil, true, func(s *Summary, _ map[string]*Summary) error {
		var bad []string
		for _, k := range kinds {
			if n := failures[k](s); n > 0 {
				bad = append(bad, fmt.Sprintf("%s %v", k, n))
			}
		}
		if len(bad) > 0 {
			return fmt.Errorf("failures: %s", strings.Join(bad, ", "))
		}
		return nil
	}}
}

// reasonSeen asserts that some decision had reason.
func reasonSeen(reason string) check {
	return check{"some decisions " + reason, nil, true, func(s *Summary, _ map[string]*Summary) error {
		if s.Reasons[reason] == 0 {
			return fmt.Errorf("no decision %s among %v", reason, s.Reasons)
		}
		return nil
	}}
}

// coldLoadsAtMost asserts at most share × peer's cold loads.
func coldLoadsAtMost(share float64, peer string) check {
	return check{fmt.Sprintf("cold loads ≤ %g× %s's", share, peer), []string{peer}, false, func(s *Summary, runs map[string]*Summary) error {
		if p := runs[peer]; s.ColdLoads > share*p.ColdLoads {
			return fmt.Errorf("cold loads %v, %s %v", s.ColdLoads, peer, p.ColdLoads)
		}
		return nil
	}}
}

// p95AtMost asserts a p95 latency at most ratio × peer's.
func p95AtMost(ratio float64, peer string) check {
	return check{fmt.Sprintf("p95 ≤ %g× %s's", ratio, peer), []string{peer}, false, func(s *Summary, runs map[string]*Summary) error {
		if p := runs[peer]; s.P95 < 0 || s.P95 > ratio*p.P95 {
			return fmt.Errorf("p95 %.1fs, %s %.1fs", s.P95, peer, p.P95)
		}
		return nil
	}}
}

// ttftP50AtMost asserts a median time to first token at most ratio × peer's.
func ttftP50AtMost(ratio float64, peer string) check {
	return check{fmt.Sprintf("TTFT p50 ≤ %g× %s's", ratio, peer), []string{peer}, false, func(s *Summary, runs map[string]*Summary) error {
		if p := runs[peer]; s.TTFTP50 < 0 || s.TTFTP50 > ratio*p.TTFTP50 {
			return fmt.Errorf("TTFT p50 %.2fs, %s %.2fs", s.TTFTP50, peer, p.TTFTP50)
		}
		return nil
	}}
}

// TestRouting runs each scenario of routingRuns through the policies that routingAssertions names for it (the
// real reporters, Caddy and an embedded Redis, as the demo does), and checks each assertion. It runs under CI
// whatever -short says.
func TestRouting(t *testing.T) {
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("runs the demo for about a minute")
	}
	for _, r := range routingRuns {
		t.Run(r.scenario, func(t *testing.T) {
			sc, err := LoadScenario("../../scenarios/" + r.scenario + ".json")
			if err != nil {
				t.Fatal(err)
			}
			if r.arrivals > 0 {
				sc.Duration = duration(r.arrivals)
			}
			var policies []string
			for _, a := range routingAssertions {
				if a.scenario != r.scenario {
					continue
				}
				for _, p := range append([]string{a.policy}, a.check.peers...) {
					if !slices.Contains(policies, p) {
						policies = append(policies, p)
					}
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(r.seeds*len(policies))*2*time.Minute)
			defer cancel()
			c, err := compareRuns(ctx, sc, policies, r.seeds, runOptions{progress: io.Discard})
			if err != nil {
				t.Fatal(err)
			}
			var out strings.Builder
			c.write(&out, false)
			t.Logf("%s", out.String())
			for k, ideal := range c.Ideal {
				for _, runs := range c.Runs {
					if s := runs[k]; s.Requests == 0 || s.Requests != ideal.Requests {
						t.Fatalf("%s, seed %d: %v requests, want the workload's %v", s.Policy, s.Seed, s.Requests, ideal.Requests)
					}
				}
			}
			medians, _ := c.medians()
			for _, a := range routingAssertions {
				if a.scenario != r.scenario {
					continue
				}
				if !a.check.perRun {
					assert(t, a.scenario, a.policy, "medians", a.check, medians)
					continue
				}
				for k, seed := range c.Seeds {
					runs := make([]*Summary, len(c.Runs))
					for i := range c.Runs {
						runs[i] = c.Runs[i][k]
					}
					assert(t, a.scenario, a.policy, fmt.Sprintf("seed %d", seed), a.check, runs)
				}
			}
		})
	}
}

// assert checks a on policy's row among rows (one per policy), saying which runs (of) they are when it fails.
func assert(t *testing.T, scenario, policy, of string, a check, rows []*Summary) {
	t.Helper()
	runs := map[string]*Summary{}
	for _, s := range rows {
		runs[s.Policy] = s
	}
	if err := a.fn(runs[policy], runs); err != nil {
		t.Errorf("%s, %s (%s): %s: %v", scenario, policy, of, a.what, err)
	}
}
