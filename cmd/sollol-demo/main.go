// Command sollol-demo shows the vram_aware policy at work on one machine, without a GPU, and measures how it
// routes against Caddy's least_conn and round_robin.
//
// It starts an embedded Redis (or uses --redis), a fleet of simulated Ollama nodes (internal/ollamasim) with a real
// gpu-reporter per node publishing their GPU memory, and Caddy in-process in front of them. It then sends the same
// seeded workload through Caddy once per policy, each time from the same cold start, and prints a table per policy:
// requests that succeeded, out-of-memory failures (Ollama's 500 when a model cannot fit on the node it was sent to),
// not-installed failures (Ollama's 404), other failures, cold loads, latency percentiles and throughput, all in
// simulated time.
//
// Usage:
//
//	sollol-demo [--scenario scenarios/default.json] [--redis redis://host:6379/0] [--chart latency.svg]
//	            [--policies vram_aware,least_conn,round_robin] [--seed N] [--details] [--quiet]
//
// A scenario (JSON, see Scenario) sets the nodes, the models and the workload; scenarios/ holds the shipped ones.
// Every socket the demo opens is on 127.0.0.1, except the Redis named by --redis; there its keys live under a
// prefix of their own ("sollol:demo:…"), removed at the end, so a real fleet's reports are never touched.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/caddyserver/caddy/v2"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "sollol-demo:", err)
		}
		os.Exit(2)
	}
}

// options are the command line.
type options struct {
	scenario, redis, chart string
	policies               []string
	seed                   uint64
	quiet, details         bool
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("sollol-demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.scenario, "scenario", "scenarios/default.json", "scenario `file` (JSON): nodes, models, workload")
	fs.StringVar(&o.redis, "redis", "", "Redis `URL` to use instead of the embedded one (keys go under a private prefix)")
	fs.StringVar(&o.chart, "chart", "", "write an SVG chart of latency per policy to `file`")
	policies := fs.String("policies", strings.Join(Policies, ","), "comma-separated `list` of policies to compare")
	fs.Uint64Var(&o.seed, "seed", 0, "workload seed; 0 keeps the scenario's")
	fs.BoolVar(&o.quiet, "quiet", false, "print only the results, no progress")
	fs.BoolVar(&o.details, "details", false, "also print tables per model and per node")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	for _, p := range strings.Split(*policies, ",") {
		if p = strings.TrimSpace(p); p != "" {
			o.policies = append(o.policies, p)
		}
	}
	if len(o.policies) == 0 {
		return o, errors.New("--policies: name at least one policy")
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	sc, err := LoadScenario(o.scenario)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			err = fmt.Errorf("%w (run from the repository root, or pass --scenario)", err)
		}
		return err
	}
	if o.seed != 0 {
		sc.Seed = o.seed
	}
	progress := stderr
	if o.quiet {
		progress = io.Discard
	}
	sums, err := compareRuns(ctx, sc, o.policies, runOptions{redisURL: o.redis, progress: progress})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nscenario %s (seed %d, %s simulated at %g×, %d nodes, %d requests); latencies in simulated time\n\n",
		sc.Name, sc.Seed, sc.Duration.String(), sc.TimeScale, len(sc.Nodes), sums[0].Requests)
	writeTable(stdout, sums)
	fmt.Fprintln(stdout)
	writeDetails(stdout, sums)
	writeTargets(stdout, sums)
	if o.details {
		fmt.Fprintln(stdout)
		writeModels(stdout, sc, sums)
		fmt.Fprintln(stdout)
		writeNodes(stdout, sums)
	}
	if o.chart != "" {
		if err := writeChart(o.chart, sc, sums); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "chart written to", o.chart)
	}
	return nil
}

// compareRuns runs the workload of sc through each policy in turn, then stops Caddy.
func compareRuns(ctx context.Context, sc *Scenario, policies []string, opts runOptions) ([]*Summary, error) {
	defer caddy.Stop()
	reqs := Workload(sc)
	if opts.progress != io.Discard && opts.progress != nil {
		fmt.Fprintf(opts.progress, "%s: %d nodes, %d requests over %s simulated (%g× faster than real time)\n",
			sc.Name, len(sc.Nodes), len(reqs), sc.Duration.String(), sc.TimeScale)
	}
	var sums []*Summary
	for _, p := range policies {
		s, err := runPolicy(ctx, sc, p, reqs, opts)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		sums = append(sums, s)
	}
	return sums, nil
}
