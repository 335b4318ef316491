package gpustats_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sollol-go/sollol/gpustats"
	"github.com/sollol-go/sollol/internal/redistest"
)

// sollolReport is one report of SOLLOL's gpu_reporter.py, as its publish_stats writes it: the stream fields
// (json.dumps for lists and dicts, str() for the rest, in the dict's order) and the JSON it stores under the key.
type sollolReport struct {
	fields []string
	json   string
}

// pyTime is str(time.time()) for t.
func pyTime(t time.Time) string { return strconv.FormatFloat(gpustats.Timestamp(t), 'f', -1, 64) }

// sollolReports are the shapes gpu_reporter.py sends: an NVIDIA GPU, Intel's zeros, "Ollama uses the CPU only"
// with its note, and a node without a GPU (node_id already in the dict).
func sollolReports(at time.Time) map[string]sollolReport {
	ts := pyTime(at)
	nv := `[{"index": 0, "name": "NVIDIA GeForce RTX 3070", "memory_total_mb": 8192, "memory_free_mb": 4069, "memory_used_mb": 4123, "utilization_percent": 55, "temperature_c": 62}]`
	intel := `[{"index": 0, "name": "Intel Integrated Graphics", "memory_total_mb": 0, "memory_free_mb": 0, "memory_used_mb": 0, "utilization_percent": 0, "temperature_c": 0}]`
	return map[string]sollolReport{
		"10.0.0.7:11434": {[]string{"vendor", "nvidia", "gpus", nv, "timestamp", ts, "node_id", "10.0.0.7:11434"},
			`{"vendor": "nvidia", "gpus": ` + nv + `, "timestamp": ` + ts + `, "node_id": "10.0.0.7:11434"}`},
		"10.0.0.8:11434": {[]string{"vendor", "intel", "gpus", intel, "timestamp", ts, "node_id", "10.0.0.8:11434"},
			`{"vendor": "intel", "gpus": ` + intel + `, "timestamp": ` + ts + `, "node_id": "10.0.0.8:11434"}`},
		"10.0.0.9:11434": {[]string{"vendor", "none", "gpus", "[]", "timestamp", ts, "note", "GPU present but Ollama using CPU-only", "node_id", "10.0.0.9:11434"},
			`{"vendor": "none", "gpus": [], "timestamp": ` + ts + `, "note": "GPU present but Ollama using CPU-only", "node_id": "10.0.0.9:11434"}`},
		"cpu-box": {[]string{"vendor", "none", "gpus", "[]", "timestamp", ts, "node_id", "cpu-box"},
			`{"vendor": "none", "gpus": [], "timestamp": ` + ts + `, "node_id": "cpu-box"}`},
	}
}

// write does what publish_stats does: XADD with maxlen=1000 (redis-py's approximate default), then SETEX 120.
func (r sollolReport) write(t *testing.T, c redis.UniversalClient, id string, setKey bool) {
	t.Helper()
	ctx := context.Background()
	if err := c.XAdd(ctx, &redis.XAddArgs{Stream: "sollol:gpu:stats", MaxLen: 1000, Approx: true, Values: r.fields}).Err(); err != nil {
		t.Fatal(err)
	}
	if setKey {
		if err := c.SetEx(ctx, "sollol:gpu:"+id, r.json, 120*time.Second).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// sollolSeenAtOnce writes every SOLLOL report shape through c and checks that w, which never resyncs in time,
// holds each within a second, with the figures of its key.
func sollolSeenAtOnce(t *testing.T, c redis.UniversalClient, w *gpustats.Watcher) {
	t.Helper()
	reports := sollolReports(time.Now())
	for id, r := range reports {
		start := time.Now()
		r.write(t, c, id, true)
		within(t, time.Second, id+" from the stream", func() bool { return w.Snapshot().Node(id) != nil })
		t.Logf("%s seen after %s", id, time.Since(start).Round(time.Microsecond))
		var d gpustats.Decoder
		want, err := d.Decode([]byte(r.json), time.Now())
		if err != nil {
			t.Fatalf("%s: the key's JSON: %v", id, err)
		}
		got := w.Snapshot().Node(id)
		if got.FreeMB != gpustats.NewNode(want, nil).FreeMB || got.GPU != gpustats.NewNode(want, nil).GPU ||
			got.Report.Note != want.Note || got.Report.Vendor != want.Vendor || got.Report.Timestamp != want.Timestamp {
			t.Fatalf("%s from the stream: %+v, want the key's %+v", id, got.Report, want)
		}
	}
	if st := w.Stats(); st.Accepted < uint64(len(reports)) || st.LastError != "" {
		t.Fatalf("stats %+v", st)
	}
	for reason, n := range w.Stats().Rejected {
		if n != 0 {
			t.Fatalf("%d reports rejected as %s", n, reason)
		}
	}
}

func TestSollolStreamSeenAtOnce(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client()
	w := startWatcher(t, c, gpustats.WatcherOptions{Resync: time.Hour}) // only the stream can deliver in time
	eventually(t, "connection", func() bool { return w.Stats().Connected })
	sollolSeenAtOnce(t, c, w)
}

func TestSollolStreamSeenAtOnceThroughCluster(t *testing.T) {
	cl := redistest.StartCluster(t)
	c := newClient(t, cl.URL())
	w := startWatcher(t, c, gpustats.WatcherOptions{Resync: time.Hour})
	eventually(t, "connection to the cluster", func() bool { return w.Stats().Connected })
	sollolSeenAtOnce(t, c, w)
}

func TestSollolStreamSeenAtOnceThroughSentinel(t *testing.T) {
	s := redistest.StartSentinel(t, 1)
	c := newClient(t, s.URL())
	w := startWatcher(t, c, gpustats.WatcherOptions{Resync: time.Hour})
	eventually(t, "connection through Sentinel", func() bool { return w.Stats().Connected })
	sollolSeenAtOnce(t, c, w)
}

// After a reconnect the watcher reads the stream on from the last entry it had read: an entry appended while it
// was away is applied even though no key holds it.
func TestStreamResumesAfterReconnect(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client()
	clock := newFakeClock()
	w := startWatcher(t, c, gpustats.WatcherOptions{Resync: time.Hour, Clock: clock})
	eventually(t, "connection", func() bool { return w.Stats().Connected })
	first := sollolReports(time.Now())["10.0.0.7:11434"]
	first.write(t, c, "10.0.0.7:11434", false)
	clock.rebuilt(t, "first entry", func() bool { return w.Snapshot().Node("10.0.0.7:11434") != nil })

	if err := c.Do(context.Background(), "CLIENT", "KILL", "TYPE", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	// The session ended; the watcher waits out its backoff on the fake clock while the entry is appended.
	eventually(t, "the backoff", func() bool { return clock.pending(100 * time.Millisecond) })
	away := sollolReports(time.Now().Add(time.Second))["cpu-box"]
	away.write(t, c, "cpu-box", false)
	clock.Advance(100 * time.Millisecond)
	eventually(t, "reconnection", func() bool { return w.Stats().Connected })
	clock.rebuilt(t, "the entry appended while away", func() bool { return w.Snapshot().Node("cpu-box") != nil })
	if n := w.Stats().Rejected[gpustats.RejectOutOfOrder]; n != 0 {
		t.Fatalf("%d stream entries read again counted as out of order", n)
	}
}

// This project's reporter writes each report to the channel and the stream: the watcher takes it once, from the
// channel, where a signed report can be checked; the flattened stream entry, which cannot, is not rejected.
func TestStreamSkipsPublishedReports(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client()
	key := []byte("secret")
	w := startWatcher(t, c, gpustats.WatcherOptions{Resync: time.Hour, Decoder: gpustats.Decoder{Keys: [][]byte{key}}})
	eventually(t, "connection", func() bool { return w.Stats().Connected })
	p := gpustats.NewPublisher(c, gpustats.PublisherOptions{Key: key})
	for i := range 3 {
		if err := p.Publish(context.Background(), report("signed:1", float64(1000+i), time.Now())); err != nil {
			t.Fatal(err)
		}
		eventually(t, "signed report", func() bool { return freeOf(w, "signed:1") == float64(1000+i) })
	}
	// A SOLLOL entry after them: once it is in, the stream entries before it have been read.
	sollolReports(time.Now())["cpu-box"].write(t, c, "cpu-box", false)
	eventually(t, "unsigned SOLLOL entry rejected", func() bool { return w.Stats().Rejected[gpustats.RejectUnsigned] == 1 })
	if st := w.Stats(); st.Accepted != 3 || st.Rejected[gpustats.RejectBadSignature] != 0 {
		t.Fatalf("stats %+v: want the 3 signed reports accepted once each, none rejected", st)
	}
}

// A Caddy user whose ACL lacks XREVRANGE and XREAD (docs/operations.md before the stream was read) still gets
// every report, SOLLOL's at each resync, with one warning.
func TestStreamRefusedFallsBackToResync(t *testing.T) {
	srv := redistest.Start(t, "--requirepass", "admin-pw")
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr(), Password: "admin-pw"})
	defer admin.Close()
	setUser(t, admin, "old-caddy", "pw", "on resetkeys resetchannels -@all %R~sollol:gpu:* &sollol:gpu:updates +subscribe +scan +mget +get +ping")
	core, logs := observer.New(zapcore.DebugLevel)
	w := startWatcher(t, redis.NewClient(&redis.Options{Addr: srv.Addr(), Username: "old-caddy", Password: "pw"}),
		gpustats.WatcherOptions{Resync: 100 * time.Millisecond, Logger: zap.New(core)})
	eventually(t, "connection", func() bool { return w.Stats().Connected })
	sollolReports(time.Now())["cpu-box"].write(t, admin, "cpu-box", true)
	eventually(t, "SOLLOL report at a resync", func() bool { return w.Snapshot().Node("cpu-box") != nil })
	eventually(t, "more resyncs", func() bool { return w.Stats().Resyncs >= 3 })
	if n := logs.FilterLevelExact(zapcore.WarnLevel).FilterMessageSnippet("cannot read the report stream").Len(); n != 1 {
		t.Fatalf("%d warnings about the stream, want 1", n)
	}
	if !w.Stats().Connected || w.Stats().LastError != "" {
		t.Fatalf("stats %+v", w.Stats())
	}
}

// Flattened fields become the report they came from; fields that no report member could have held are refused
// with a reason.
func TestUnflatten(t *testing.T) {
	ts := pyTime(time.Now())
	var d gpustats.Decoder
	for id, r := range sollolReports(time.Now()) {
		values := map[string]any{}
		for i := 0; i < len(r.fields); i += 2 {
			values[r.fields[i]] = r.fields[i+1]
		}
		data, err := gpustats.Unflatten(values)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		got, err := d.Decode(data, time.Now())
		if err != nil {
			t.Fatalf("%s: %s: %v", id, data, err)
		}
		want, _ := d.Decode([]byte(r.json), time.Now())
		if string(mustEncode(t, got)) != string(mustEncode(t, want)) {
			t.Fatalf("%s: unflattened %s, want %s", id, mustEncode(t, got), mustEncode(t, want))
		}
	}
	for name, tc := range map[string]struct {
		values map[string]any
		reason string
	}{
		"python booleans and None": {map[string]any{"vendor": "none", "gpus": "[]", "timestamp": ts, "node_id": "n:1",
			"draining": "True", "note": "None", "future_member": "x"}, ""},
		"nan timestamp":  {map[string]any{"vendor": "none", "gpus": "[]", "timestamp": "nan", "node_id": "n:1"}, gpustats.RejectMalformed},
		"gpus not JSON":  {map[string]any{"vendor": "none", "gpus": "[{'index': 0}]", "timestamp": ts, "node_id": "n:1"}, gpustats.RejectMalformed},
		"bool not bool":  {map[string]any{"vendor": "none", "gpus": "[]", "timestamp": ts, "node_id": "n:1", "draining": "yes"}, gpustats.RejectMalformed},
		"no node id":     {map[string]any{"vendor": "none", "gpus": "[]", "timestamp": ts}, gpustats.RejectInvalid},
		"field too long": {map[string]any{"vendor": "none", "gpus": "[]", "timestamp": ts, "node_id": "n:1", "note": string(make([]byte, gpustats.MaxReportBytes))}, gpustats.RejectTooLarge},
	} {
		data, err := gpustats.Unflatten(tc.values)
		if err == nil {
			_, err = d.Decode(data, time.Now())
		}
		if got := gpustats.RejectReason(err); got != tc.reason || (tc.reason == "") != (err == nil) {
			t.Errorf("%s: %v (reason %q), want reason %q", name, err, got, tc.reason)
		}
	}
}

func mustEncode(t *testing.T, r *gpustats.Report) []byte {
	t.Helper()
	b, err := gpustats.Encode(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// With VerifyChannel a stream entry is a notice, and SOLLOL's reporter sets the key just after its XADD: the
// watcher reads the key again shortly after an entry that the key did not hold yet.
func TestVerifiedStreamEntryWaitsForItsKey(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client()
	clock := newFakeClock()
	w := startWatcher(t, c, gpustats.WatcherOptions{Resync: time.Hour, VerifyChannel: true, Clock: clock})
	eventually(t, "connection", func() bool { return w.Stats().Connected })
	r := sollolReports(time.Now())["10.0.0.7:11434"]
	r.write(t, c, "10.0.0.7:11434", false)
	eventually(t, "a recheck of the key", func() bool { return clock.pending(gpustats.RecheckDelay) })
	if err := c.SetEx(context.Background(), "sollol:gpu:10.0.0.7:11434", r.json, 120*time.Second).Err(); err != nil {
		t.Fatal(err)
	}
	clock.Advance(gpustats.RecheckDelay)
	clock.rebuilt(t, "the report from its key", func() bool { return w.Snapshot().Node("10.0.0.7:11434") != nil })

	// An entry whose key never holds its report (a forged one) changes nothing.
	forged := sollolReports(time.Now())["cpu-box"]
	forged.write(t, c, "cpu-box", false)
	clock.fire(t, gpustats.RecheckDelay)
	sollolReports(time.Now().Add(time.Second))["10.0.0.9:11434"].write(t, c, "10.0.0.9:11434", true)
	clock.rebuilt(t, "the marker", func() bool {
		if clock.pending(gpustats.RecheckDelay) { // the marker's own, if its key came after the watcher's GET
			clock.Advance(gpustats.RecheckDelay)
		}
		return w.Snapshot().Node("10.0.0.9:11434") != nil
	})
	if w.Snapshot().Node("cpu-box") != nil {
		t.Fatal("a stream entry that no key holds was applied")
	}
}
