package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

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

// TestVRAMAwareBeatsLeastConn runs the first two simulated minutes of the default scenario through vram_aware and
// least_conn, with the real reporters, Caddy and an embedded Redis, and checks what must hold whatever the timing:
// vram_aware sends no request where the model cannot fit while a node that can hold it exists, sends none to a
// node without the model, and loads fewer models cold than least_conn.
func TestVRAMAwareBeatsLeastConn(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo for a few seconds")
	}
	sc, err := LoadScenario("../../scenarios/default.json")
	if err != nil {
		t.Fatal(err)
	}
	sc.Duration = duration(2 * time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sums, err := compareRuns(ctx, sc, []string{"vram_aware", "least_conn"}, runOptions{progress: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	va, lc := sums[0], sums[1]
	var table strings.Builder
	writeTable(&table, sums)
	writeDetails(&table, sums)
	t.Logf("\n%s", table.String())
	if va.Requests == 0 || va.Requests != lc.Requests {
		t.Fatalf("requests %d and %d: want the same workload", va.Requests, lc.Requests)
	}
	if n := va.OOMFitting; n != 0 {
		t.Errorf("vram_aware: %d out-of-memory failures for models a node could hold", n)
	}
	if va.NotInstalled != 0 || va.Other != 0 {
		t.Errorf("vram_aware: %d not-installed and %d other failures", va.NotInstalled, va.Other)
	}
	if va.ColdLoads >= lc.ColdLoads {
		t.Errorf("cold loads: vram_aware %d, least_conn %d: want fewer", va.ColdLoads, lc.ColdLoads)
	}
	if va.Reasons["resident"] == 0 {
		t.Errorf("vram_aware never routed to a resident model: %v", va.Reasons)
	}
	if va.P50 <= 0 || va.P95 < va.P50 || va.P99 < va.P95 || va.Throughput <= 0 {
		t.Errorf("summary %+v", va)
	}
}

func TestShippedScenariosParse(t *testing.T) {
	files, _ := filepath.Glob("../../scenarios/*.json")
	if len(files) < 3 {
		t.Fatalf("want at least 3 shipped scenarios, found %v", files)
	}
	for _, f := range files {
		sc, err := LoadScenario(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		for _, m := range sc.Models {
			if !sc.fitsSomewhere(m.Name) {
				t.Errorf("%s: no node can hold %s", f, m.Name)
			}
		}
		if n := len(Workload(sc)); n == 0 {
			t.Errorf("%s: empty workload", f)
		}
	}
}

func TestChartIsWritten(t *testing.T) {
	sc, _ := ParseScenario([]byte(smallScenario))
	s := &Summary{Policy: "vram_aware", Requests: 3, OK: 2, Latencies: []time.Duration{time.Second, 3 * time.Second}, P50: time.Second, P95: 3 * time.Second}
	path := filepath.Join(t.TempDir(), "c.svg")
	if err := writeChart(path, sc, []*Summary{s}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(b), "<svg") || !strings.Contains(string(b), "vram_aware") {
		t.Fatalf("%v %.200s", err, b)
	}
	if err := writeChart(filepath.Join(t.TempDir(), "c.gif"), sc, []*Summary{s}); err == nil {
		t.Fatal("want an error for .gif")
	}
}
