package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/sollol-go/sollol/internal/ollamasim"
)

// NodeRun is what one node saw in a run.
type NodeRun struct {
	Name     string
	Stats    ollamasim.Stats
	Activity []ollamasim.Activity
}

// Run is one policy's run of one workload: what every request saw and what every node did.
type Run struct {
	Policy string
	Seed   uint64
	// Results are the requests' outcomes, in workload order.
	Results []Result
	// Nodes are in scenario order.
	Nodes []NodeRun
	// Start is the run's first moment in simulated time; Makespan runs from there to the last answer.
	Start    time.Time
	Makespan time.Duration
}

// runOptions are the settings shared by every run.
type runOptions struct {
	redisURL string
	progress io.Writer
}

// runPolicy starts a fresh fleet, its reporters and a gateway with policy, sends reqs at their times (a chat's
// later turns each a think time after the previous answer), and returns what came back. Every run starts from
// the same state: no model loaded, no report in Redis.
func runPolicy(ctx context.Context, sc *Scenario, policy string, reqs []Request, opts runOptions) (*Run, error) {
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
	gws, err := startGateways(ctx, sc.Gateways, policy, addrs, st, gatewayOpts{scale: sc.TimeScale,
		shareOff: sc.ShareState == "off" || sc.Gateways == 1})
	if err != nil {
		return nil, err
	}
	defer gws.stop()
	client := newHTTPClient()
	defer client.CloseIdleConnections()
	for _, base := range gws.bases {
		if err := waitGateway(ctx, client, base, isVRAMAware(policy)); err != nil {
			return nil, err
		}
	}

	run := &Run{Policy: policy, Seed: sc.Seed, Results: make([]Result, len(reqs))}
	system := ""
	if sc.SystemPrompt != nil {
		system = systemText(sc.SystemPrompt.Tokens)
	}
	pickGW := rand.New(rand.NewPCG(sc.Seed, 0x6a7e))
	gateway := make([]string, len(reqs)) // drawn up front: the draws do not depend on timing
	for i := range gateway {
		gateway[i] = gws.bases[pickGW.IntN(len(gws.bases))]
	}
	prog := newProgress(opts.progress, policy, len(reqs))
	stopProg := prog.run()
	start := time.Now()
	run.Start = clock.Now()
	var wg sync.WaitGroup
	timeout := clock.Real(time.Duration(sc.Timeout))
	// conversation sends the requests first…last-1, one chat (or one single request), in turn.
	conversation := func(first, last int) {
		var history []message
		for k := first; k < last; k++ {
			q := reqs[k]
			if k > first && clock.Sleep(ctx, q.At) != nil {
				return
			}
			prog.sent.Add(1)
			rctx, cancel := context.WithTimeout(ctx, timeout)
			res := send(rctx, client, gateway[k], q, q.Body(system, history), sc.TimeScale)
			cancel()
			prog.finished(res.Outcome)
			if res.Outcome == OK && q.Chat > 0 {
				history = append(history, message{"user", q.userText()}, message{"assistant", res.Answer})
			}
			res.Answer = ""
			run.Results[k] = res
		}
	}
	for i := 0; i < len(reqs); i++ {
		r := reqs[i]
		if d := time.Until(start.Add(clock.Real(r.At))); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			break
		}
		last := i + 1
		for r.Chat > 0 && last < len(reqs) && reqs[last].Chat == r.Chat {
			last++
		}
		first := i
		wg.Go(func() { conversation(first, last) })
		i = last - 1
	}
	wg.Wait()
	run.Makespan = clock.Sim(time.Since(start))
	stopProg()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	names := map[string]string{}
	for _, n := range fl.nodes {
		names[n.Addr()] = n.Config().Name
	}
	for i := range run.Results {
		run.Results[i].Decision = nodeNames(run.Results[i].Decision, names)
	}
	for _, n := range fl.nodes {
		run.Nodes = append(run.Nodes, NodeRun{Name: n.Config().Name, Stats: n.Stats(), Activity: n.Activity()})
	}
	return run, nil
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
	return fmt.Errorf("gateway %s not ready after 10s: %s", base, last)
}

// nodeNames replaces the nodes' addresses in a decision header with their scenario names.
func nodeNames(decision string, names map[string]string) string {
	for addr, name := range names {
		decision = strings.ReplaceAll(decision, addr, name)
	}
	return decision
}
