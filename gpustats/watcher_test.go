package gpustats_test

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sollol-go/sollol/gpustats"
	"github.com/sollol-go/sollol/internal/redistest"
)

func report(id string, free float64, at time.Time) *gpustats.Report {
	return &gpustats.Report{Vendor: gpustats.VendorNVIDIA, NodeID: id, Timestamp: gpustats.Timestamp(at), Schema: gpustats.Schema,
		GPUs: []gpustats.GPU{{Index: 0, Name: "RTX 4090", MemoryTotalMB: 24564, MemoryFreeMB: gpustats.Measure(free),
			MemoryUsedMB: gpustats.Measure(24564 - free), UtilizationPct: 10, TemperatureC: 50}}}
}

func startWatcher(t *testing.T, c redis.UniversalClient, opts gpustats.WatcherOptions) *gpustats.Watcher {
	t.Helper()
	w := gpustats.NewWatcher(c, opts)
	w.Start(context.Background())
	t.Cleanup(w.Stop)
	return w
}

// eventually polls cond until it holds or 5 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func freeOf(w *gpustats.Watcher, id string) float64 {
	if n := w.Snapshot().Node(id); n != nil {
		return n.FreeMB
	}
	return -1
}

func TestPublishReachesWatcher(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client()
	w := startWatcher(t, c, gpustats.WatcherOptions{Resync: time.Hour}) // only pub/sub can deliver in time
	eventually(t, "connection", func() bool { return w.Stats().Connected })
	p := gpustats.NewPublisher(c, gpustats.PublisherOptions{})
	ctx := context.Background()
	now := time.Now().Add(-3 * time.Second)
	if err := p.Publish(ctx, report("10.0.0.5:11434", 1000, now)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "first report", func() bool { return freeOf(w, "10.0.0.5:11434") == 1000 })

	// Newer report replaces; an older one (replay, out of order) does not.
	p.Publish(ctx, report("10.0.0.5:11434", 2000, now.Add(time.Second)))
	eventually(t, "newer report", func() bool { return freeOf(w, "10.0.0.5:11434") == 2000 })
	p.Publish(ctx, report("10.0.0.5:11434", 3000, now.Add(-time.Second)))
	eventually(t, "out-of-order count", func() bool { return w.Stats().Rejected[gpustats.RejectOutOfOrder] == 1 })
	if got := freeOf(w, "10.0.0.5:11434"); got != 2000 {
		t.Fatalf("older report applied: free %v", got)
	}

	// What Publish wrote: the key with SOLLOL's TTL and the stream entry.
	ttl, _ := c.TTL(ctx, "sollol:gpu:10.0.0.5:11434").Result()
	if ttl <= 100*time.Second || ttl > 120*time.Second {
		t.Fatalf("TTL %v, want ~120s", ttl)
	}
	entries, err := c.XRange(ctx, "sollol:gpu:stats", "-", "+").Result()
	if err != nil || len(entries) != 3 || entries[0].Values["vendor"] != "nvidia" || !strings.HasPrefix(entries[0].Values["gpus"].(string), `[{"index":0`) {
		t.Fatalf("stream: %v %v", err, entries)
	}

	// Lookup by address, never by another port of its host, and tombstone removal.
	if w.Snapshot().Lookup("10.0.0.5:11434") == nil || w.Snapshot().Lookup("10.0.0.5:8080") != nil {
		t.Fatal("lookup by address failed, or another port of its host took its report")
	}
	if err := p.Tombstone(ctx, "10.0.0.5:11434"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "tombstone", func() bool { return w.Snapshot().Node("10.0.0.5:11434") == nil })
	if n, _ := c.Exists(ctx, "sollol:gpu:10.0.0.5:11434").Result(); n != 0 {
		t.Fatal("tombstone left the key")
	}
}

func TestSOLLOLReporterPickedUpByResync(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client()
	ctx := context.Background()
	// Exactly what SOLLOL's gpu_reporter.py does, XADD then SETEX, no PUBLISH, before the watcher starts: only the
	// resync can find it.
	sollolReports(time.Now())["10.0.0.7:11434"].write(t, c, "10.0.0.7:11434", true)
	c.Set(ctx, "sollol:gpu:not-json", "garbage", 0)
	w := startWatcher(t, c, gpustats.WatcherOptions{Resync: 100 * time.Millisecond})
	eventually(t, "SOLLOL report", func() bool { return freeOf(w, "10.0.0.7:11434") == 4069 })
	eventually(t, "second resync", func() bool { return w.Stats().Resyncs >= 2 })
	st := w.Stats()
	if st.Rejected[gpustats.RejectMalformed] == 0 || w.Snapshot().Len() != 1 {
		t.Fatalf("stats %+v, nodes %d: the stream key must be skipped and the garbage key rejected", st, w.Snapshot().Len())
	}
	if st.Accepted != 1 {
		t.Fatalf("accepted %d: the same report read again must count once", st.Accepted)
	}
}

func TestHostileReportsCountedAndHarmless(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client()
	ctx := context.Background()
	p := gpustats.NewPublisher(c, gpustats.PublisherOptions{})
	if err := p.Publish(ctx, report("good:11434", 5000, time.Now())); err != nil {
		t.Fatal(err)
	}
	w := startWatcher(t, c, gpustats.WatcherOptions{Resync: time.Hour})
	eventually(t, "good node", func() bool { return freeOf(w, "good:11434") == 5000 })
	cases := hostilePayloads()
	for _, h := range cases {
		if err := c.Publish(ctx, "sollol:gpu:updates", h).Err(); err != nil {
			t.Fatal(err)
		}
	}
	// A valid report under another node's key impersonates it.
	b, _ := gpustats.Encode(report("attacker:11434", 24000, time.Now()), nil)
	c.Publish(ctx, "sollol:gpu:updates", "marker")
	eventually(t, "all hostile payloads counted", func() bool {
		total := uint64(0)
		for _, n := range w.Stats().Rejected {
			total += n
		}
		return total == uint64(len(cases))+1
	})
	c.Set(ctx, "sollol:gpu:good:11434", b, 0)
	w2 := startWatcher(t, c, gpustats.WatcherOptions{})
	eventually(t, "impersonation rejected", func() bool { return w2.Stats().Rejected[gpustats.RejectWrongKey] == 1 })
	if n := w2.Snapshot().Node("attacker:11434"); n != nil || w2.Snapshot().Node("good:11434") != nil {
		t.Fatal("impersonating report accepted")
	}
	if freeOf(w, "good:11434") != 5000 || w.Snapshot().Len() != 1 {
		t.Fatalf("hostile input changed the snapshot: %d nodes", w.Snapshot().Len())
	}
}

// hostilePayloads are one of each kind of bad report that can reach a watcher.
func hostilePayloads() []string {
	future := report("n:1", 1, time.Now().Add(time.Hour))
	fb, _ := gpustats.Encode(future, nil)
	return []string{`not json`, `{}`, `[]`, `{"vendor":"x"}`, string(fb),
		`{"vendor":"nvidia","node_id":"n:1","timestamp":1e400,"gpus":[]}`,
		`{"vendor":"nvidia","node_id":"n:1","timestamp":1764230000,"gpus":[{"index":0,"name":"g","memory_total_mb":1,"memory_free_mb":2}]}`,
		`{"vendor":"nvidia","node_id":"n:1","timestamp":1764230000,"gpus":[{"index":0,"name":"g","memory_total_mb":-1}]}`,
		strings.Repeat("x", gpustats.MaxReportBytes+1),
		`{"vendor":"nvidia","node_id":"n:1","timestamp":1764230000,"gpus":[` + strings.Repeat(`{"index":0,"name":"g"},`, 9999) + `{"index":0,"name":"g"}]}`,
		`{"vendor":"nvidia","node_id":"","timestamp":1764230000,"gpus":[]}`,
		`{"vendor":"nvidia","node_id":"n:1","timestamp":"yesterday","gpus":[]}`,
		`{"vendor":"nvidia","node_id":"n:1","timestamp":1764230000,"gpus":[],"ollama":{"reachable":true,"loaded":[{"name":"m","size_mb":-5,"size_vram_mb":0}]}}`,
	}
}

func TestSignedReportsOnly(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client()
	ctx := context.Background()
	oldKey, newKey := []byte("old-secret"), []byte("new-secret")
	w := startWatcher(t, c, gpustats.WatcherOptions{Decoder: gpustats.Decoder{Keys: [][]byte{newKey, oldKey}}, Resync: time.Hour})
	eventually(t, "connection", func() bool { return w.Stats().Connected })
	gpustats.NewPublisher(c, gpustats.PublisherOptions{}).Publish(ctx, report("unsigned:1", 1, time.Now()))
	gpustats.NewPublisher(c, gpustats.PublisherOptions{Key: []byte("wrong")}).Publish(ctx, report("wrong:1", 1, time.Now()))
	gpustats.NewPublisher(c, gpustats.PublisherOptions{Key: oldKey}).Publish(ctx, report("old:1", 1, time.Now()))
	gpustats.NewPublisher(c, gpustats.PublisherOptions{Key: newKey}).Publish(ctx, report("new:1", 1, time.Now()))
	eventually(t, "signed nodes", func() bool { return w.Snapshot().Len() == 2 })
	st := w.Stats()
	if st.Rejected[gpustats.RejectUnsigned] != 1 || st.Rejected[gpustats.RejectBadSignature] != 1 ||
		w.Snapshot().Node("old:1") == nil || w.Snapshot().Node("new:1") == nil {
		t.Fatalf("stats %+v", st)
	}
}

func TestWatcherSurvivesRedisRestart(t *testing.T) {
	srv := redistest.Start(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()
	p := gpustats.NewPublisher(c, gpustats.PublisherOptions{})
	w := startWatcher(t, c, gpustats.WatcherOptions{Resync: 200 * time.Millisecond})
	eventually(t, "connection", func() bool { return w.Stats().Connected })
	p.Publish(ctx, report("a:1", 100, time.Now()))
	eventually(t, "report before outage", func() bool { return freeOf(w, "a:1") == 100 })

	srv.Stop()
	eventually(t, "disconnect noticed", func() bool { return !w.Stats().Connected })
	if freeOf(w, "a:1") != 100 {
		t.Fatal("last known stats dropped during the outage")
	}
	srv.Restart()
	eventually(t, "reconnect", func() bool { return w.Stats().Connected })
	// Published after the restart: the subscription must have been made again.
	if err := p.Publish(ctx, report("a:1", 200, time.Now())); err != nil {
		t.Fatal(err)
	}
	eventually(t, "report after outage", func() bool { return freeOf(w, "a:1") == 200 })
	if w.Stats().LastError == "" {
		t.Fatal("outage left no error in stats")
	}
}

func TestStopLeavesNoGoroutines(t *testing.T) {
	srv := redistest.Start(t)
	before := runtime.NumGoroutine()
	for range 5 {
		c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
		w := gpustats.NewWatcher(c, gpustats.WatcherOptions{Resync: 50 * time.Millisecond})
		w.Start(context.Background())
		eventually(t, "connection", func() bool { return w.Stats().Connected })
		w.Stop()
		c.Close()
	}
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines before, %d after Stop:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
