package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/caddyserver/caddy/v2"
)

// Comparison is every run of one scenario: for each seed, the ideal and clairvoyant rows and one run per policy.
type Comparison struct {
	Scenario *Scenario
	Seeds    []uint64
	Policies []string
	// Ideal and Clairvoyant hold those rows of each seed (idealRun, clairvoyantRun); Runs[p] policy p's run of
	// each seed.
	Ideal, Clairvoyant []*Summary
	Runs               [][]*Summary
}

// compareRuns runs the workload of sc through each policy in turn, for repeat seeds from sc.Seed on, then stops
// Caddy.
func compareRuns(ctx context.Context, sc *Scenario, policies []string, repeat int, opts runOptions) (*Comparison, error) {
	defer caddy.Stop()
	c := &Comparison{Scenario: sc, Policies: policies, Runs: make([][]*Summary, len(policies))}
	for k := range repeat {
		s := *sc
		s.Seed = sc.Seed + uint64(k)
		reqs := Workload(&s)
		if opts.progress != io.Discard && opts.progress != nil {
			fmt.Fprintf(opts.progress, "%s, seed %d: %d nodes, %d requests over %s simulated (%g× faster than real time)\n",
				s.Name, s.Seed, len(s.Nodes), len(reqs), s.Duration.String(), s.TimeScale)
		}
		ideal, clairvoyant := idealRun(&s, reqs), clairvoyantRun(&s, reqs)
		clairvoyant.P95OverIdeal = clairvoyant.P95 / ideal.P95
		c.Seeds = append(c.Seeds, s.Seed)
		c.Ideal, c.Clairvoyant = append(c.Ideal, ideal), append(c.Clairvoyant, clairvoyant)
		for i, p := range policies {
			run, err := runPolicy(ctx, &s, p, reqs, opts)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p, err)
			}
			c.Runs[i] = append(c.Runs[i], summarise(&s, reqs, run, ideal))
		}
	}
	return c, nil
}

// first is each policy's run of the first seed.
func (c *Comparison) first() []*Summary {
	out := make([]*Summary, len(c.Runs))
	for i, r := range c.Runs {
		out[i] = r[0]
	}
	return out
}

// medians is one row per policy with the medians over the seeds, and the ideal's and clairvoyant's.
func (c *Comparison) medians() (rows, refs []*Summary) {
	med := func(name string, runs []*Summary) *Summary {
		f := make([]Figures, len(runs))
		for i, r := range runs {
			f[i] = r.Figures
		}
		return &Summary{Policy: name, Figures: medianFigures(f)}
	}
	for i, p := range c.Policies {
		rows = append(rows, med(p, c.Runs[i]))
	}
	return rows, []*Summary{med("ideal", c.Ideal), med("clairvoyant", c.Clairvoyant)}
}

// write prints the results: the table (of medians over several seeds), the nodes' busy shares, vram_aware's
// reasons and examples of failures, and with details the tables per model and node.
func (c *Comparison) write(w io.Writer, details bool) {
	sc := c.Scenario
	gateways := "1 gateway"
	if sc.Gateways > 1 {
		gateways = fmt.Sprintf("%d gateways", sc.Gateways)
		if sc.ShareState == "off" {
			gateways += ", not sharing state"
		}
	}
	fmt.Fprintf(w, "\nscenario %s (%s simulated at %g×, %d nodes, %s); times in simulated seconds\n",
		sc.Name, sc.Duration.String(), sc.TimeScale, len(sc.Nodes), gateways)
	rows, refs := c.medians()
	if len(c.Seeds) == 1 {
		fmt.Fprintf(w, "seed %d\n\n", c.Seeds[0])
	} else {
		fmt.Fprintf(w, "medians of %d runs, seeds %d–%d\n\n", len(c.Seeds), c.Seeds[0], c.Seeds[len(c.Seeds)-1])
	}
	writeTable(w, rows, refs)
	fmt.Fprintln(w)
	writeBusy(w, rows)
	fmt.Fprintln(w)
	first := c.first()
	if len(c.Seeds) > 1 && slices.ContainsFunc(first, func(s *Summary) bool { return len(s.Reasons)+len(s.Errors) > 0 }) {
		fmt.Fprintf(w, "seed %d:\n", c.Seeds[0])
	}
	writeDetails(w, first)
	if details {
		fmt.Fprintln(w)
		writeModels(w, sc, first)
		fmt.Fprintln(w)
		writeNodes(w, first)
	}
}

// jsonReport is what --json writes.
type jsonReport struct {
	Scenario    string       `json:"scenario"`
	Description string       `json:"description,omitempty"`
	Duration    string       `json:"duration"`
	TimeScale   float64      `json:"time_scale"`
	Nodes       int          `json:"nodes"`
	Gateways    int          `json:"gateways"`
	Seeds       []uint64     `json:"seeds"`
	Ideal       jsonPolicy   `json:"ideal"`
	Clairvoyant jsonPolicy   `json:"clairvoyant"`
	Policies    []jsonPolicy `json:"policies"`
}

type jsonPolicy struct {
	Policy string `json:"policy"`
	// Median is each figure's median over the runs.
	Median Figures   `json:"median"`
	Runs   []jsonRun `json:"runs"`
}

type jsonRun struct {
	Seed uint64 `json:"seed"`
	Figures
	Reasons map[string]int `json:"reasons,omitempty"`
}

func (c *Comparison) writeJSON(path string) error {
	sc := c.Scenario
	rows, refs := c.medians()
	r := jsonReport{Scenario: sc.Name, Description: sc.Description, Duration: sc.Duration.String(),
		TimeScale: sc.TimeScale, Nodes: len(sc.Nodes), Gateways: sc.Gateways, Seeds: c.Seeds}
	policy := func(name string, med *Summary, runs []*Summary) jsonPolicy {
		p := jsonPolicy{Policy: name, Median: med.Figures}
		for _, s := range runs {
			p.Runs = append(p.Runs, jsonRun{Seed: s.Seed, Figures: s.Figures, Reasons: s.Reasons})
		}
		return p
	}
	r.Ideal, r.Clairvoyant = policy("ideal", refs[0], c.Ideal), policy("clairvoyant", refs[1], c.Clairvoyant)
	for i, name := range c.Policies {
		r.Policies = append(r.Policies, policy(name, rows[i], c.Runs[i]))
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
