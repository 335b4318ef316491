package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sollol-go/sollol/internal/ollamasim"
)

// Summary is one policy's run.
type Summary struct {
	Policy                                 string
	Requests, OK, OOM, NotInstalled, Other int
	// OOMFitting counts the out-of-memory failures of models that some node could have held.
	OOMFitting int
	ColdLoads  int
	// Nodes are the simulated nodes' own counts, in scenario order.
	Nodes []NodeSummary
	// P50, P95 and P99 are latencies of the successful requests, in simulated time; -1 when none succeeded.
	P50, P95, P99 time.Duration
	// Throughput is successful requests per simulated minute, from the first request to the last answer.
	Throughput float64
	// Latencies are the successful requests' latencies, sorted.
	Latencies []time.Duration
	// Reasons counts vram_aware's decisions by reason.
	Reasons map[string]int
	// Errors holds a few examples of other failures, and of vram_aware's out-of-memory failures.
	Errors []string
	// Results are the requests' outcomes, in workload order.
	Results []Result
	// ByModel breaks the requests down by model.
	ByModel map[string]*ModelSummary
}

// NodeSummary is what one node saw in a run.
type NodeSummary struct {
	Name  string
	Stats ollamasim.Stats
}

// ModelSummary is one model's share of a run.
type ModelSummary struct {
	Requests, OK int
	// Latencies are the successful requests' latencies, sorted.
	Latencies []time.Duration
}

// runOptions are the settings shared by every run.
type runOptions struct {
	redisURL string
	progress io.Writer
}

// runPolicy starts a fresh fleet, its reporters and a gateway with policy, sends reqs at their times, and
// summarises what came back. Every run starts from the same state: no model loaded, no report in Redis.
func runPolicy(ctx context.Context, sc *Scenario, policy string, reqs []Request, opts runOptions) (*Summary, error) {
	dir, err := os.MkdirTemp("", "sollol-demo-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	st, err := openStore(ctx, opts.redisURL, fmt.Sprintf("%d-%s", os.Getpid(), policy))
	if err != nil {
		return nil, err
	}
	defer st.close()
	clock := ollamasim.NewClock(sc.TimeScale)
	fl, err := startFleet(ctx, sc, clock, st, dir)
	if err != nil {
		return nil, err
	}
	defer fl.stop()
	if err := fl.waitReported(ctx, st, 10*time.Second); err != nil {
		return nil, err
	}
	addrs := make([]string, len(fl.nodes))
	for i, n := range fl.nodes {
		addrs[i] = n.Addr()
	}
	base, err := startGateway(policy, addrs, st)
	if err != nil {
		return nil, err
	}
	client := newHTTPClient()
	defer client.CloseIdleConnections()
	if err := waitGateway(ctx, client, base, policy == "vram_aware"); err != nil {
		return nil, err
	}

	results := make([]Result, len(reqs))
	prog := newProgress(opts.progress, policy, len(reqs))
	stopProg := prog.run()
	start := time.Now()
	var wg sync.WaitGroup
	timeout := clock.Real(time.Duration(sc.Timeout))
	for i, r := range reqs {
		if d := time.Until(start.Add(clock.Real(r.At))); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			break
		}
		prog.sent.Add(1)
		wg.Go(func() {
			rctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			results[i] = send(rctx, client, base, r, sc.TimeScale)
			prog.finished(results[i].Outcome)
		})
	}
	wg.Wait()
	makespan := clock.Sim(time.Since(start))
	stopProg()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	names := map[string]string{}
	for _, n := range fl.nodes {
		names[n.Addr()] = n.Config().Name
	}
	for i := range results {
		results[i].Decision = nodeNames(results[i].Decision, names)
	}
	s := summarise(sc, policy, reqs, results, makespan)
	for _, n := range fl.nodes {
		st := n.Stats()
		s.ColdLoads += st.ColdLoads
		s.Nodes = append(s.Nodes, NodeSummary{Name: n.Config().Name, Stats: st})
	}
	return s, nil
}

// waitGateway waits until the gateway answers and, for vram_aware, decides from fresh reports rather than its
// fallback.
func waitGateway(ctx context.Context, c *http.Client, base string, vramAware bool) error {
	deadline := time.Now().Add(10 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/version", nil)
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			reason := decisionReason(resp.Header.Get(decisionHeader))
			if resp.StatusCode == http.StatusOK && (!vramAware || reason != "" && !strings.HasPrefix(reason, "fallback")) {
				return nil
			}
			last = fmt.Sprintf("status %d, reason %q", resp.StatusCode, reason)
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("gateway not ready after 10s: %s", last)
}

// nodeNames replaces the nodes' addresses in a decision header with their scenario names.
func nodeNames(decision string, names map[string]string) string {
	for addr, name := range names {
		decision = strings.ReplaceAll(decision, addr, name)
	}
	return decision
}

func summarise(sc *Scenario, policy string, reqs []Request, results []Result, makespan time.Duration) *Summary {
	s := &Summary{Policy: policy, Requests: len(reqs), Reasons: map[string]int{}, ByModel: map[string]*ModelSummary{},
		Results: results}
	for i, r := range results {
		m := s.ByModel[reqs[i].Model]
		if m == nil {
			m = &ModelSummary{}
			s.ByModel[reqs[i].Model] = m
		}
		m.Requests++
		switch r.Outcome {
		case OK:
			s.OK++
			s.Latencies = append(s.Latencies, r.Latency)
			m.OK++
			m.Latencies = append(m.Latencies, r.Latency)
		case OutOfMemory:
			s.OOM++
			if sc.fitsSomewhere(reqs[i].Model) {
				s.OOMFitting++
				if r.Decision != "" && len(s.Errors) < 5 {
					s.Errors = append(s.Errors, fmt.Sprintf("%s sent to %s: out of memory", reqs[i].Model, r.Decision))
				}
			}
		case NotInstalled:
			s.NotInstalled++
		default:
			s.Other++
			if len(s.Errors) < 5 {
				s.Errors = append(s.Errors, fmt.Sprintf("%s %s: %d %s", reqs[i].Model, reqs[i].Path(), r.Status, r.Error))
			}
		}
		if r.Reason != "" {
			s.Reasons[r.Reason]++
		}
	}
	slices.Sort(s.Latencies)
	for _, m := range s.ByModel {
		slices.Sort(m.Latencies)
	}
	s.P50, s.P95, s.P99 = percentile(s.Latencies, 50), percentile(s.Latencies, 95), percentile(s.Latencies, 99)
	if makespan > 0 {
		s.Throughput = float64(s.OK) / makespan.Minutes()
	}
	return s
}
