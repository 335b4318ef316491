package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary serve as a gateway process, as the demo binary does (see startProcesses).
func TestMain(m *testing.M) {
	if path := os.Getenv(gatewayEnv); path != "" {
		if err := serveGatewayProcess(path); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// smallScenario is two minutes of traffic on three nodes, one of which alone can hold the 70B model.
const smallScenario = `{
  "name": "ci", "seed": 7, "time_scale": 60, "duration": "2m", "rate": 1.0, "stream_share": 0.5,
  "models": [
    {"name": "llama3.1:8b", "size_mb": 4482, "vram_mb": 6200, "tokens_per_s": 90, "weight": 40},
    {"name": "llama3.2:3b", "size_mb": 1926, "vram_mb": 3300, "tokens_per_s": 140, "weight": 25},
    {"name": "qwen2.5:14b", "size_mb": 8580, "vram_mb": 10800, "tokens_per_s": 50, "weight": 20},
    {"name": "llama3.3:70b", "size_mb": 40550, "vram_mb": 44500, "tokens_per_s": 12, "weight": 15}
  ],
  "nodes": [
    {"name": "a", "gpus": [{"name": "RTX 4090", "vram_mb": 24564}]},
    {"name": "b", "gpus": [{"name": "RTX 3090", "vram_mb": 24576}], "speed": 0.8},
    {"name": "c", "gpus": [{"name": "RTX A6000", "vram_mb": 49140}], "speed": 0.7}
  ]
}`

func TestShippedScenariosParse(t *testing.T) {
	files, _ := filepath.Glob("../../scenarios/*.json")
	if len(files) < 11 {
		t.Fatalf("want the 11 shipped scenarios, found %v", files)
	}
	for _, f := range files {
		sc, err := LoadScenario(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if sc.Description == "" || sc.Name+".json" != filepath.Base(f) {
			t.Errorf("%s: want a description and the file's name as name", f)
		}
		for _, m := range sc.Models {
			if !sc.fitsSomewhere(m.Name) {
				t.Errorf("%s: no node can hold %s", f, m.Name)
			}
		}
		reqs := Workload(sc)
		if len(reqs) == 0 {
			t.Errorf("%s: empty workload", f)
		}
		// A run must stay short in wall time: at most a minute of arrivals.
		if wall := time.Duration(float64(sc.Duration) / sc.TimeScale); wall > time.Minute {
			t.Errorf("%s: %s of arrivals in wall time", f, wall)
		}
		// …but not so fast that timer granularity shows: a chunk of 25 tokens at the fastest model on the fastest
		// node takes at least a millisecond of wall time.
		fastest := 0.0
		for i := range sc.Nodes {
			cfg := sc.nodeConfig(i, nil, "")
			speed := cfg.Speed
			if speed == 0 {
				speed = 1
			}
			for _, m := range cfg.Models {
				fastest = max(fastest, tokensPerSec(m)*speed)
			}
		}
		if chunk := time.Duration(25 / fastest / sc.TimeScale * float64(time.Second)); chunk < time.Millisecond {
			t.Errorf("%s: a chunk takes %s of wall time", f, chunk)
		}
		if ideal := idealRun(sc, reqs); ideal.OK != float64(len(reqs)) || ideal.P95 <= 0 {
			t.Errorf("%s: ideal %+v", f, ideal.Figures)
		}
	}
}

func TestFlags(t *testing.T) {
	var stderr bytes.Buffer
	if _, err := parseFlags([]string{"--help"}, &stderr); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	for _, want := range []string{"Usage: sollol-demo", "--chart", ".svg, .png or .pdf", "--repeat", "--json", "vram_aware, least_conn"} {
		if !strings.Contains(strings.ReplaceAll(stderr.String(), "  -", "  --"), want) {
			t.Errorf("--help does not mention %q:\n%s", want, stderr.String())
		}
	}
	for _, tc := range []struct{ args, want string }{
		{"--policies vram_aware,foo", `unknown policy "foo"; valid: vram_aware, least_conn, round_robin`},
		{"--policies ,", "name at least one"},
		{"--chart out.gif", "want a file ending in .svg, .png, .pdf"},
		{"--repeat 0", "--repeat"},
		{"extra", `unexpected argument "extra"`},
	} {
		_, err := parseFlags(strings.Fields(tc.args), io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.args, err, tc.want)
		}
	}
	o, err := parseFlags(strings.Fields("--policies least_conn,round_robin --repeat 3 --chart x.PNG --json f.json"), io.Discard)
	if err != nil || len(o.policies) != 2 || o.repeat != 3 || o.json != "f.json" {
		t.Errorf("%+v %v", o, err)
	}
}

func TestBadPolicyRunsNothing(t *testing.T) {
	start := time.Now()
	var out bytes.Buffer
	err := run(context.Background(), []string{"--scenario", "../../scenarios/default.json", "--policies", "vram_aware,foo"}, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "valid: vram_aware") || out.Len() != 0 {
		t.Fatalf("%v; output %q", err, out.String())
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("refused after %s: want at once", d)
	}
}

func TestChartIsWritten(t *testing.T) {
	sc, _ := ParseScenario([]byte(smallScenario))
	s := &Summary{Policy: "vram_aware", Latencies: []time.Duration{time.Second, 3 * time.Second}}
	s.Requests, s.OK, s.P50, s.P95 = 3, 2, 1, 3
	for _, ext := range chartFormats {
		path := filepath.Join(t.TempDir(), "c"+ext)
		if err := writeChart(path, sc, []*Summary{s}); err != nil {
			t.Fatalf("%s: %v", ext, err)
		}
		b, err := os.ReadFile(path)
		if err != nil || len(b) < 100 {
			t.Fatalf("%s: %v, %d bytes", ext, err, len(b))
		}
		if ext == ".svg" && (!strings.Contains(string(b), "<svg") || !strings.Contains(string(b), "vram_aware")) {
			t.Fatalf("%.200s", b)
		}
	}
	if err := writeChart(filepath.Join(t.TempDir(), "c.gif"), sc, []*Summary{s}); err == nil {
		t.Fatal("want an error for .gif")
	}
}

// TestJSONAndRepeat runs a small scenario twice (two seeds) through least_conn and checks the JSON report: every
// figure there, the medians of the runs, the ideal row.
func TestJSONAndRepeat(t *testing.T) {
	dir := t.TempDir()
	scPath, jsPath, trPath := filepath.Join(dir, "s.json"), filepath.Join(dir, "out.json"), filepath.Join(dir, "trace.jsonl")
	small := strings.Replace(smallScenario, `"duration": "2m"`, `"duration": "20s"`, 1)
	if err := os.WriteFile(scPath, []byte(small), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, []string{"--scenario", scPath, "--policies", "least_conn,vram_aware", "--repeat", "2", "--quiet", "--json", jsPath,
		"--trace", trPath}, &out, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	t.Log(out.String())
	for _, banned := range []string{"MISSED", "met", "target"} {
		if strings.Contains(out.String(), banned) {
			t.Errorf("the demo prints %q: it reports, it does not judge", banned)
		}
	}
	if !strings.Contains(out.String(), "medians of 2 runs, seeds 7–8") || !strings.Contains(out.String(), "| ideal") {
		t.Errorf("output:\n%s", out.String())
	}
	b, err := os.ReadFile(jsPath)
	if err != nil {
		t.Fatal(err)
	}
	var r jsonReport
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Seeds) != 2 || len(r.Policies) != 2 || len(r.Policies[0].Runs) != 2 || len(r.Ideal.Runs) != 2 || len(r.Clairvoyant.Runs) != 2 {
		t.Fatalf("%s", b)
	}
	p := r.Policies[0]
	a, c := p.Runs[0].Figures, p.Runs[1].Figures
	if p.Median.Requests != (a.Requests+c.Requests)/2 || p.Median.P95 != (a.P95+c.P95)/2 {
		t.Errorf("median %+v of %+v and %+v", p.Median, a, c)
	}
	if a.OK == 0 || a.P95 <= 0 || a.TTFTP50 < 0 || len(a.Nodes) != 3 || a.P95OverIdeal < 1 {
		t.Errorf("run figures %+v", a)
	}
	// The trace: every request of the four runs, vram_aware's with its decision.
	tr, err := os.ReadFile(trPath)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(tr), []byte("\n"))
	if want := 2 * int(a.Requests+c.Requests); len(lines) != want {
		t.Fatalf("trace has %d lines, want %d", len(lines), want)
	}
	var first, last traceLine
	if json.Unmarshal(lines[0], &first) != nil || json.Unmarshal(lines[len(lines)-1], &last) != nil {
		t.Fatalf("trace lines %s … %s", lines[0], lines[len(lines)-1])
	}
	if first.Policy != "least_conn" || first.Seed != 7 || first.Decision != "" || first.Model == "" || first.Outcome == "" ||
		last.Policy != "vram_aware" || last.Seed != 8 || !strings.Contains(last.Decision, "reason=") {
		t.Errorf("trace's first line %+v, last %+v", first, last)
	}
	for _, key := range []string{`"failed_oom"`, `"failed_503"`, `"failed_timeout"`, `"ttft_p95_s"`, `"p95_over_ideal"`,
		`"hot_spot_node_s"`, `"busy_share"`} {
		if !bytes.Contains(b, []byte(key)) {
			t.Errorf("JSON has no %s", key)
		}
	}
}

// TestGateways runs a small scenario through two gateways, each a process of its own (the test binary in gateway
// mode), and checks that both served and that every request was answered.
func TestGateways(t *testing.T) {
	sc, err := ParseScenario([]byte(strings.Replace(smallScenario, `"duration": "2m"`, `"duration": "20s", "gateways": 2`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := openStore(ctx, "", "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	gws, err := startGateways(ctx, 2, "least_conn", []string{"127.0.0.1:1"}, st, gatewayOpts{scale: 1})
	if err != nil {
		t.Fatal(err)
	}
	client := newHTTPClient()
	for _, base := range gws.bases {
		// The gateway answers (502: its one upstream refuses connections), so it runs and proxies.
		if err := waitGatewayStatus(ctx, client, base, 502); err != nil {
			t.Fatal(err)
		}
	}
	gws.stop()
	if len(gws.bases) != 2 || gws.bases[0] == gws.bases[1] {
		t.Fatalf("gateways %v", gws.bases)
	}
	c, err := compareRuns(ctx, sc, []string{"vram_aware"}, 1, runOptions{progress: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if s := c.first()[0]; s.OK != s.Requests || s.Requests == 0 {
		t.Errorf("%v of %v requests answered through two gateways", s.OK, s.Requests)
	}
}

// waitGatewayStatus waits until GET / on base answers status.
func waitGatewayStatus(ctx context.Context, c *http.Client, base string, status int) error {
	var last string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/", nil)
		resp, err := c.Do(req)
		if err != nil {
			last = err.Error()
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == status {
			return nil
		}
		last = resp.Status
	}
	return fmt.Errorf("%s: %s, want %d", base, last, status)
}
