package gpustats_test

import (
	"context"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/sollol-go/sollol/gpustats"
	"github.com/sollol-go/sollol/internal/redistest"
)

// BenchmarkFreshness measures how long a report takes from Publisher.Publish to a Watcher's snapshot over a real
// redis-server on loopback: one op is one update. Run it with -benchtime 1000x; it reports the p50 and p99
// latencies (SOLLOL's reader polls every 5 s).
func BenchmarkFreshness(b *testing.B) {
	srv := redistest.Start(b)
	c := srv.Client()
	w := gpustats.NewWatcher(c, gpustats.WatcherOptions{Resync: time.Hour})
	w.Start(context.Background())
	b.Cleanup(w.Stop)
	for !w.Stats().Connected {
		time.Sleep(time.Millisecond)
	}
	p := gpustats.NewPublisher(c, gpustats.PublisherOptions{StreamMaxLen: -1})
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	i := 0
	for b.Loop() {
		i++
		free := float64(i % 20000)
		start := time.Now()
		if err := p.Publish(ctx, report("fresh:1", free, start)); err != nil {
			b.Fatal(err)
		}
		for {
			if n := w.Snapshot().Node("fresh:1"); n != nil && n.Report.Timestamp == gpustats.Timestamp(start) {
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
