package caddymodule_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sollol-go/sollol/gpustats"
	"github.com/sollol-go/sollol/internal/redistest"
)

// sollolWrite does what SOLLOL's unmodified gpu_reporter.py does for one report of node o with free MiB free on
// an 8 GiB card: XADD of the flattened members (json.dumps for lists, str() for the rest), then SETEX 120 of
// json.dumps(stats). It publishes nothing.
func sollolWrite(t *testing.T, c *redis.Client, o *ollama, free int) float64 {
	t.Helper()
	ts := gpustats.Timestamp(time.Now())
	pyTS := strconv.FormatFloat(ts, 'f', -1, 64)
	gpus := `[{"index": 0, "name": "NVIDIA GeForce RTX 3070", "memory_total_mb": 8192, "memory_free_mb": ` + strconv.Itoa(free) +
		`, "memory_used_mb": ` + strconv.Itoa(8192-free) + `, "utilization_percent": 12, "temperature_c": 51}]`
	ctx := context.Background()
	if err := c.XAdd(ctx, &redis.XAddArgs{Stream: "sollol:gpu:stats", MaxLen: 1000, Approx: true,
		Values: []string{"vendor", "nvidia", "gpus", gpus, "timestamp", pyTS, "node_id", o.addr()}}).Err(); err != nil {
		t.Fatal(err)
	}
	payload := `{"vendor": "nvidia", "gpus": ` + gpus + `, "timestamp": ` + pyTS + `, "node_id": "` + o.addr() + `"}`
	if err := c.SetEx(ctx, "sollol:gpu:"+o.addr(), payload, 120*time.Second).Err(); err != nil {
		t.Fatal(err)
	}
	return ts
}

// SOLLOL's own reporter steers the gateway within a second, long before the next resync.
func TestSollolReporterSteersWithinASecond(t *testing.T) {
	rds := redistest.Start(t)
	a, b := newOllama(t, "a"), newOllama(t, "b")
	g := startGateway(t, "redis "+rds.URL()+"\nresync 1h\nfallback first", a, b)
	c := rds.Client()
	for _, round := range []struct {
		fullNode, roomyNode *ollama
	}{{a, b}, {b, a}} {
		start := time.Now()
		sollolWrite(t, c, round.fullNode, 500)
		ts := sollolWrite(t, c, round.roomyNode, 8000)
		waitForReport(t, round.roomyNode.addr(), ts)
		if d := time.Since(start); d > time.Second {
			t.Fatalf("SOLLOL's report reached the policy after %s, want within 1 s", d)
		}
		for range 5 {
			if got := g.post("/api/chat", steer); got != round.roomyNode.name {
				t.Fatalf("request went to %s, whose SOLLOL report says 500 MiB free", got)
			}
		}
	}
}
