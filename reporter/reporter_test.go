package reporter

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sollol-go/sollol/gpustats"
	"github.com/sollol-go/sollol/internal/redistest"
)

var testKey = []byte("node-secret")

// waitReport polls Redis until the node's key holds a valid report that ok accepts.
func waitReport(t *testing.T, c *redis.Client, nodeID string, ok func(*gpustats.Report) bool) *gpustats.Report {
	t.Helper()
	dec := gpustats.Decoder{Keys: [][]byte{testKey}}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		b, err := c.Get(context.Background(), gpustats.Names{}.Node(nodeID)).Bytes()
		if err == nil {
			rep, err := dec.Decode(b, time.Now())
			if err != nil {
				t.Fatalf("published report rejected: %v\n%s", err, b)
			}
			if ok(rep) {
				return rep
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no matching report for %s in Redis", nodeID)
	return nil
}

func TestRunAgainstRedis(t *testing.T) {
	srv := redistest.Start(t)
	client := srv.Client()
	state := filepath.Join(t.TempDir(), "node.json")
	gpu := func(freeMB float64) SimState {
		return SimState{GPUs: []gpustats.GPU{{Index: 0, Name: "Sim GPU", MemoryTotalMB: 24576, MemoryFreeMB: m(freeMB),
			MemoryUsedMB: m(24576 - freeMB), UtilizationPct: 10, TemperatureC: 40, PowerW: u}}}
	}
	if err := WriteSimState(state, gpu(20000)); err != nil {
		t.Fatal(err)
	}
	sampler, err := Open(context.Background(), "sim", Options{SimState: state})
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.DebugLevel)
	// The reporter's client, like the daemon's, gives up on a dead server quickly.
	pubClient := redis.NewClient(&redis.Options{Addr: srv.Addr(), DialTimeout: 500 * time.Millisecond, MaxRetries: -1, DialerRetries: 1})
	defer pubClient.Close()
	const node = "127.0.0.1:11434"
	cfg := Config{
		NodeID:     node,
		Interval:   50 * time.Millisecond,
		MaxBackoff: 200 * time.Millisecond,
		Sampler:    sampler,
		Ollama:     &OllamaProbe{URL: newFakeOllama(t, `{"models":[]}`, `{"models":[]}`).srv.URL},
		Publisher:  gpustats.NewPublisher(pubClient, gpustats.PublisherOptions{Key: testKey}),
		Logger:     zap.New(core),
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()

	rep := waitReport(t, client, node, func(*gpustats.Report) bool { return true })
	if rep.Vendor != gpustats.VendorNVIDIA || len(rep.GPUs) != 1 || rep.GPUs[0].MemoryFreeMB != 20000 ||
		rep.Schema != gpustats.Schema || rep.IntervalS != 0.05 || rep.Ollama == nil || !rep.Ollama.Reachable {
		t.Fatalf("first report %+v", rep)
	}
	if logs.FilterMessage("GPU 0: Sim GPU | VRAM: 4576/24576MB | Util: 10% | Temp: 40°C").FilterLevelExact(zapcore.InfoLevel).Len() != 1 {
		t.Errorf("no info line for the first report: %v", logs.All())
	}

	// Redis dies; the simulation moves on meanwhile; Redis comes back empty.
	srv.Stop()
	time.Sleep(300 * time.Millisecond)
	if err := WriteSimState(state, gpu(1000)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	srv.Restart()
	rep = waitReport(t, client, node, func(r *gpustats.Report) bool { return r.GPUs[0].MemoryFreeMB == 1000 })
	if logs.FilterMessageSnippet("could not publish report").Len() == 0 || logs.FilterMessage("publishing to Redis again").Len() == 0 {
		t.Errorf("outage not logged: %v", logs.All())
	}
	if logs.FilterLevelExact(zapcore.DebugLevel).FilterMessageSnippet("GPU 0: Sim GPU").Len() == 0 {
		t.Error("later reports not logged at debug level")
	}

	// A clean shutdown deletes the key and says so on the channel.
	sub := client.Subscribe(context.Background(), gpustats.Names{}.Channel())
	defer sub.Close()
	if _, err := sub.Receive(context.Background()); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if n, err := client.Exists(context.Background(), gpustats.Names{}.Node(node)).Result(); err != nil || n != 0 {
		t.Errorf("key still there after shutdown (%d, %v)", n, err)
	}
	dec := gpustats.Decoder{Keys: [][]byte{testKey}}
	for {
		msg, err := sub.ReceiveTimeout(context.Background(), 5*time.Second)
		if err != nil {
			t.Fatalf("no tombstone on the channel: %v", err)
		}
		rep, err := dec.Decode([]byte(msg.(*redis.Message).Payload), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if rep.Tombstone {
			if rep.NodeID != node {
				t.Errorf("tombstone for %q", rep.NodeID)
			}
			break
		}
	}
}

func TestRunWithRedisDownFromTheStart(t *testing.T) {
	port := redistest.FreePort(t)
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + itoa(port), DialTimeout: 200 * time.Millisecond, MaxRetries: -1, DialerRetries: 1})
	defer client.Close()
	core, logs := observer.New(zapcore.InfoLevel)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := Run(ctx, Config{NodeID: "n:1", Interval: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
		Sampler: noneSampler{}, Publisher: gpustats.NewPublisher(client, gpustats.PublisherOptions{}), Logger: zap.New(core)})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	failed := logs.FilterMessageSnippet("could not publish report").Len()
	// A second at a backoff that reaches 100ms quickly: a handful of attempts, not one per 20ms cycle.
	if failed == 0 || failed > 20 {
		t.Errorf("%d failed attempts logged", failed)
	}
	if logs.FilterMessageSnippet("could not publish the tombstone").Len() != 1 {
		t.Errorf("tombstone failure not logged: %v", logs.All())
	}
}

func TestBackoff(t *testing.T) {
	r, err := New(Config{NodeID: "n:1", Sampler: noneSampler{}, Interval: time.Second, MaxBackoff: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 5: 10 * time.Second, 50: 10 * time.Second} {
		if got := r.backoff(n); got < want || got > want+want/10 {
			t.Errorf("backoff(%d) = %s, want %s plus at most 10%%", n, got, want)
		}
	}
}
