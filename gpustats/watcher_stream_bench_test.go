package gpustats_test

import (
	"context"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sollol-go/sollol/gpustats"
	"github.com/sollol-go/sollol/internal/redistest"
)

// BenchmarkSollolFreshness is BenchmarkFreshness for SOLLOL's reporter: from its XADD and SETEX to a Watcher's
// snapshot through the stream, over a real redis-server on loopback. Run it with -benchtime 1000x.
func BenchmarkSollolFreshness(b *testing.B) {
	srv := redistest.Start(b)
	c := srv.Client()
	w := gpustats.NewWatcher(c, gpustats.WatcherOptions{Resync: time.Hour})
	w.Start(context.Background())
	b.Cleanup(w.Stop)
	for !w.Stats().Connected {
		time.Sleep(time.Millisecond)
	}
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	i := 0
	for b.Loop() {
		i++
		start := time.Now()
		ts := pyTime(start)
		gpus := `[{"index": 0, "name": "NVIDIA GeForce RTX 3070", "memory_total_mb": 8192, "memory_free_mb": ` +
			strconv.Itoa(i%8192) + `, "memory_used_mb": ` + strconv.Itoa(8192-i%8192) + `, "utilization_percent": 55, "temperature_c": 62}]`
		c.XAdd(ctx, &redis.XAddArgs{Stream: "sollol:gpu:stats", MaxLen: 1000, Approx: true,
			Values: []string{"vendor", "nvidia", "gpus", gpus, "timestamp", ts, "node_id", "sollol:1"}})
		c.SetEx(ctx, "sollol:gpu:sollol:1", `{"vendor": "nvidia", "gpus": `+gpus+`, "timestamp": `+ts+`, "node_id": "sollol:1"}`, 120*time.Second)
		for {
			if n := w.Snapshot().Node("sollol:1"); n != nil && n.Report.Timestamp == gpustats.Timestamp(start) {
				break
			}
			if time.Since(start) > 5*time.Second {
				b.Fatal("update never arrived")
			}
			runtime.Gosched()
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
