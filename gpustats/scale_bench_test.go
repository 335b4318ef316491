package gpustats_test

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sollol-go/sollol/gpustats"
	"github.com/sollol-go/sollol/internal/redistest"
)

// BenchmarkWatcherScale measures the CPU a Watcher spends when 1000 nodes each publish a report every second into
// one Redis. The same load runs first without a watcher and then with one; the difference in this process's CPU
// time is the watcher's, reported as a percentage of one core. Run it with -benchtime 1x.
func BenchmarkWatcherScale(b *testing.B) {
	const nodes, seconds = 1000, 4
	srv := redistest.Start(b)
	c := srv.Client()
	ctx := context.Background()
	load := func() time.Duration {
		before := cpuTime()
		for range seconds {
			next := time.Now().Add(time.Second)
			// Ten batches of 100 reports, spread over the second as independent reporters would be.
			for batch := range 10 {
				_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
					for i := batch * nodes / 10; i < (batch+1)*nodes/10; i++ {
						payload, _ := gpustats.Encode(scaleReport(i), nil)
						p.Publish(ctx, "sollol:gpu:updates", payload)
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
				time.Sleep(time.Until(next.Add(-time.Duration(9-batch) * 100 * time.Millisecond)))
			}
			time.Sleep(time.Until(next))
		}
		return cpuTime() - before
	}
	for b.Loop() {
		base := load()
		w := gpustats.NewWatcher(c, gpustats.WatcherOptions{})
		w.Start(ctx)
		for !w.Stats().Connected {
			time.Sleep(time.Millisecond)
		}
		with := load()
		accepted := w.Stats().Accepted
		w.Stop()
		if accepted < nodes*(seconds-1) {
			b.Fatalf("watcher accepted %d reports, want about %d", accepted, nodes*seconds)
		}
		b.ReportMetric(100*float64(with-base)/float64(seconds*time.Second), "watcher-cpu-%")
		b.ReportMetric(float64(accepted)/seconds, "reports/s")
	}
}

func scaleReport(i int) *gpustats.Report {
	r := report(fmt.Sprintf("10.%d.%d.1:11434", i/256, i%256), float64(1000+i), time.Now())
	r.Ollama = &gpustats.Ollama{Reachable: true,
		Loaded: []gpustats.LoadedModel{{Name: "llama3.1:8b", SizeMB: 5200, SizeVRAMMB: 5200}},
		Installed: []gpustats.InstalledModel{{Name: "llama3.1:8b", SizeMB: 4700}, {Name: "qwen2.5:7b", SizeMB: 4400},
			{Name: "mistral:7b", SizeMB: 4100}, {Name: "phi3:mini", SizeMB: 2200}}}
	return r
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
