// Command sollol-demo shows the vram_aware policy at work on one machine, without a GPU, and measures how it
// routes against Caddy's least_conn and round_robin.
//
// It starts an embedded Redis (or uses --redis), a fleet of simulated Ollama nodes (internal/ollamasim) with a real
// gpu-reporter per node publishing their GPU memory, and Caddy in-process in front of them (or, for a scenario
// with several gateways, one Caddy process per gateway). It then sends the same seeded workload through Caddy once
// per policy, each time from the same cold start, and prints a table: one row per policy, one for the ideal
// bound and one for a clairvoyant dispatcher that loads for free, with failures by kind, cold loads, latency and
// time-to-first-token percentiles, the p95 over the ideal's, and hot spots, all in simulated time; then each
// node's busy share. docs/demo.md explains every column.
//
// Usage:
//
//	sollol-demo [--scenario scenarios/default.json] [--policies vram_aware,least_conn,round_robin]
//	            [--repeat N] [--seed N] [--json FILE] [--trace FILE] [--chart FILE] [--redis URL] [--details] [--quiet]
//	            [--gateways N] [--share-state on|off]
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
	"path/filepath"
	"slices"
	"strings"
)

func main() {
	if path := os.Getenv(gatewayEnv); path != "" {
		if err := serveGatewayProcess(path); err != nil {
			fmt.Fprintln(os.Stderr, "sollol-demo gateway:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "sollol-demo:", err)
		os.Exit(2)
	}
}

// Policies are the selection policies compared by default, in the order they run.
var Policies = []string{"vram_aware", "least_conn", "round_robin"}

// knownPolicies are the policies --policies accepts: vram_aware (with affinity off: vram_aware_no_affinity) and
// Caddy's policies that need no settings.
var knownPolicies = []string{"vram_aware", "least_conn", "round_robin", "random", "random_choose", "first", noAffinity}

// options are the command line.
type options struct {
	scenario, redis, chart, json, trace string
	policies                            []string
	seed                                uint64
	repeat, gateways                    int
	shareState                          string
	quiet, details                      bool
}

const usage = `sollol-demo runs a simulated Ollama fleet with real gpu-reporters, Redis and Caddy on this machine, sends
one seeded workload through Caddy with each policy, and prints what each achieved, beside the ideal bound and a clairvoyant dispatcher.
All times are simulated. See docs/demo.md.

Usage: sollol-demo [flags]

`

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("sollol-demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
		fmt.Fprintf(stderr, "\nExamples:\n  sollol-demo\n  sollol-demo --scenario scenarios/popular-model.json --repeat 3 --json out.json\n")
	}
	fs.StringVar(&o.scenario, "scenario", "scenarios/default.json", "scenario `file` (JSON): nodes, models, workload")
	policies := fs.String("policies", strings.Join(Policies, ","),
		"comma-separated `list` of policies to compare, of: "+strings.Join(knownPolicies, ", "))
	fs.IntVar(&o.repeat, "repeat", 1, "run `N` seeds (the seed, seed+1, …) and report the medians")
	fs.Uint64Var(&o.seed, "seed", 0, "workload seed; 0 keeps the scenario's")
	fs.StringVar(&o.json, "json", "", "also write every figure, each run's and the medians, to `file` as JSON")
	fs.StringVar(&o.trace, "trace", "", "also write every request of every run to `file`, one JSON object a line, with vram_aware's decision")
	fs.StringVar(&o.chart, "chart", "", "write a chart of latency per policy to `file`: .svg, .png or .pdf, by its extension")
	fs.StringVar(&o.redis, "redis", "", "Redis `URL` to use instead of the embedded one (keys go under a private prefix)")
	fs.IntVar(&o.gateways, "gateways", 0, "run `N` gateways instead of the scenario's gateways")
	fs.StringVar(&o.shareState, "share-state", "", "on or off: whether vram_aware's gateways share their requests in flight and cold loads (default on)")
	fs.BoolVar(&o.quiet, "quiet", false, "print only the results, no progress")
	fs.BoolVar(&o.details, "details", false, "also print tables per model and per node (of the first seed)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q (flags start with -- ; see --help)", fs.Arg(0))
	}
	for p := range strings.SplitSeq(*policies, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		if !slices.Contains(knownPolicies, p) {
			return o, fmt.Errorf("--policies: unknown policy %q; valid: %s", p, strings.Join(knownPolicies, ", "))
		}
		o.policies = append(o.policies, p)
	}
	if len(o.policies) == 0 {
		return o, fmt.Errorf("--policies: name at least one of %s", strings.Join(knownPolicies, ", "))
	}
	if o.repeat < 1 || o.repeat > 100 {
		return o, errors.New("--repeat: want 1 to 100 runs")
	}
	if ext := strings.ToLower(filepath.Ext(o.chart)); o.chart != "" && !slices.Contains(chartFormats, ext) {
		return o, fmt.Errorf("--chart %s: want a file ending in %s", o.chart, strings.Join(chartFormats, ", "))
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
	if o.gateways != 0 {
		sc.Gateways = o.gateways
	}
	if o.shareState != "" {
		sc.ShareState = o.shareState
	}
	if err := sc.validateGateways(); err != nil {
		return err
	}
	progress := stderr
	if o.quiet {
		progress = io.Discard
	}
	c, err := compareRuns(ctx, sc, o.policies, o.repeat, runOptions{redisURL: o.redis, progress: progress})
	if err != nil {
		return err
	}
	c.write(stdout, o.details)
	if o.json != "" {
		if err := c.writeJSON(o.json); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "figures written to", o.json)
	}
	if o.trace != "" {
		if err := c.writeTrace(o.trace); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "requests written to", o.trace)
	}
	if o.chart != "" {
		if err := writeChart(o.chart, sc, c.first()); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "chart written to", o.chart)
	}
	return nil
}
