package gpustats_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sollol-go/sollol/gpustats"
	"github.com/sollol-go/sollol/internal/redistest"
)

// sollolPayload is a report as SOLLOL's gpu_reporter.py stores it under its key: json.dumps, Python's separators.
func sollolPayload(id string, free int, at time.Time) string {
	return `{"vendor": "nvidia", "gpus": [{"index": 0, "name": "NVIDIA GeForce RTX 3070", "memory_total_mb": 8192, "memory_free_mb": ` +
		strconv.Itoa(free) + `, "memory_used_mb": ` + strconv.Itoa(8192-free) + `, "utilization_percent": 55, "temperature_c": 62}], "timestamp": ` +
		strconv.FormatFloat(gpustats.Timestamp(at), 'f', -1, 64) + `, "node_id": "` + id + `"}`
}

// A report written without PUBLISH or XADD is seen at the next resync, not before, and each Resync of the clock
// runs exactly one.
func TestResyncEveryIntervalExactly(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client()
	ctx := context.Background()
	clock := newFakeClock()
	const resync = 10 * time.Second
	w := startWatcher(t, c, gpustats.WatcherOptions{Resync: resync, Clock: clock})
	eventually(t, "connection", func() bool { return w.Stats().Connected })
	c.SetEx(ctx, "sollol:gpu:10.0.0.7:11434", sollolPayload("10.0.0.7:11434", 4069, clock.Now()), 120*time.Second)
	// A published report, once in the snapshot, shows that the watcher has gone past the SET; the key must wait.
	gpustats.NewPublisher(c, gpustats.PublisherOptions{}).Publish(ctx, report("marker:1", 1, time.Now()))
	clock.rebuilt(t, "marker", func() bool { return freeOf(w, "marker:1") == 1 })
	if freeOf(w, "10.0.0.7:11434") != -1 || w.Stats().Resyncs != 1 {
		t.Fatalf("before the first interval: node %v, %d resyncs; want none and 1", freeOf(w, "10.0.0.7:11434"), w.Stats().Resyncs)
	}
	clock.fire(t, resync)
	eventually(t, "second resync", func() bool { return w.Stats().Resyncs == 2 })
	if freeOf(w, "10.0.0.7:11434") != 4069 {
		t.Fatal("the resync did not read the key")
	}
	clock.fire(t, resync)
	eventually(t, "third resync", func() bool { return w.Stats().Resyncs == 3 })
}

// While Redis is down the watcher retries after 100 ms, doubling up to Resync, with one warning in all; once Redis
// is back, the next attempt connects.
func TestReconnectBackoffExactly(t *testing.T) {
	srv := redistest.Start(t)
	srv.Stop()
	core, logs := observer.New(zapcore.DebugLevel)
	clock := newFakeClock()
	const resync = time.Second
	w := startWatcher(t, newClient(t, srv.URL()+"?max_retries=-1"), gpustats.WatcherOptions{Resync: resync, Logger: zap.New(core), Clock: clock})
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, resync, resync}
	for _, d := range want {
		clock.fire(t, d)
	}
	eventually(t, "the attempt after the last wait", func() bool { return len(clock.Waits()) == len(want)+1 })
	if got := clock.Waits(); !equalDurations(got[:len(want)], want) {
		t.Fatalf("waits %v, want %v then %v", got, want, resync)
	}
	if n := warnings(logs, "cannot reach Redis; retrying in the background"); n != 1 {
		t.Fatalf("%d warnings for %d failed attempts, want 1", n, len(want)+1)
	}
	srv.Restart()
	clock.fire(t, resync)
	eventually(t, "connection", func() bool { return w.Stats().Connected })
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A rejected report is logged once per reason and Resync, and counted every time.
func TestRejectedReportsLoggedOncePerResync(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client()
	ctx := context.Background()
	core, logs := observer.New(zapcore.DebugLevel)
	clock := newFakeClock()
	const resync = 10 * time.Second
	w := startWatcher(t, c, gpustats.WatcherOptions{Resync: resync, Logger: zap.New(core), Clock: clock})
	eventually(t, "connection", func() bool { return w.Stats().Connected })
	publishGarbage := func(n int) {
		for range n {
			c.Publish(ctx, "sollol:gpu:updates", "not json")
		}
	}
	publishGarbage(3)
	eventually(t, "3 rejected", func() bool { return w.Stats().Rejected[gpustats.RejectMalformed] == 3 })
	if n := warnings(logs, "ignoring GPU report"); n != 1 {
		t.Fatalf("%d warnings for 3 rejected reports within one interval, want 1", n)
	}
	clock.fire(t, resync)
	eventually(t, "resync", func() bool { return w.Stats().Resyncs == 2 })
	publishGarbage(2)
	eventually(t, "5 rejected", func() bool { return w.Stats().Rejected[gpustats.RejectMalformed] == 5 })
	if n := warnings(logs, "ignoring GPU report"); n != 2 {
		t.Fatalf("%d warnings after one interval, want 2", n)
	}
}

// A node whose key is gone stays in the snapshot until its last report is Forget old, then goes at the next resync.
func TestForgetGoneNodeExactly(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client()
	ctx := context.Background()
	clock := newFakeClock()
	const resync, forget = 10 * time.Second, time.Minute
	w := startWatcher(t, c, gpustats.WatcherOptions{Resync: resync, Forget: forget, Clock: clock})
	eventually(t, "connection", func() bool { return w.Stats().Connected })
	gpustats.NewPublisher(c, gpustats.PublisherOptions{}).Publish(ctx, report("gone:1", 1, clock.Now()))
	clock.rebuilt(t, "report", func() bool { return freeOf(w, "gone:1") == 1 })
	c.Del(ctx, "sollol:gpu:gone:1") // as when its TTL ends
	for i := 2; i <= 6; i++ {       // 50 s after the report
		clock.fire(t, resync)
		eventually(t, "resync", func() bool { return w.Stats().Resyncs == uint64(i) })
		if freeOf(w, "gone:1") != 1 {
			t.Fatalf("forgotten after %d resyncs, before Forget", i-1)
		}
	}
	clock.fire(t, resync)
	clock.fire(t, resync) // 70 s
	eventually(t, "forgotten", func() bool { return w.Snapshot().Node("gone:1") == nil })
}
