package caddymodule

import (
	"context"
	"testing"
	"time"

	"github.com/sollol-go/sollol/gpustats"
	"github.com/sollol-go/sollol/internal/redistest"
)

// nodeOf returns the node id resolveUpstream finds for dial, or "".
func nodeOf(snap *gpustats.Snapshot, dial string, nodeIDs map[string]string) string {
	if n := resolveUpstream(snap, dial, nodeIDs).Load(); n != nil {
		return n.Report.NodeID
	}
	return ""
}

func TestResolveUpstream(t *testing.T) {
	node := func(id, hostname string, addrs ...string) *gpustats.Node {
		return gpustats.NewNode(&gpustats.Report{Vendor: gpustats.VendorNVIDIA, NodeID: id, Hostname: hostname,
			Addresses: addrs, Timestamp: 1}, nil)
	}
	a := node("10.0.0.5:11434", "gpu1", "192.168.1.5")
	b := node("10.0.0.5:11435", "gpu1", "192.168.1.5")
	bare := node("gpu3", "", "10.0.0.7")
	lines := map[string]string{"ollama-b.lan:11435": "10.0.0.5:11435", "ollama-x.lan:11434": "10.0.0.9:11434"}
	for _, tc := range []struct {
		name  string
		nodes []*gpustats.Node
		want  map[string]string // dial → node id, "" for none
	}{
		{"two servers on one host", []*gpustats.Node{a, b, bare}, map[string]string{
			"10.0.0.5:11434":     "10.0.0.5:11434",
			"10.0.0.5:11435":     "10.0.0.5:11435",
			"gpu1:11435":         "10.0.0.5:11435", // host name announced, ports agree
			"192.168.1.5:11434":  "10.0.0.5:11434", // address announced, ports agree
			"10.0.0.5:11436":     "",               // a third port: neither
			"ollama-b.lan:11435": "10.0.0.5:11435", // node line
			"10.0.0.7:11434":     "gpu3",           // the report names no port
			"gpu3:8080":          "gpu3",
		}},
		// B's reporter stopped (tombstone, or its key expired and the watcher forgot it): B's upstream must not
		// take A's report, which names another port of the same host.
		{"neighbour gone", []*gpustats.Node{a, bare}, map[string]string{
			"10.0.0.5:11434":     "10.0.0.5:11434",
			"10.0.0.5:11435":     "",
			"gpu1:11435":         "",
			"192.168.1.5:11435":  "",
			"ollama-b.lan:11435": "", // its node line names a node that is gone
			"gpu1:11434":         "10.0.0.5:11434",
		}},
		{"no reports", nil, map[string]string{"10.0.0.5:11434": "", "ollama-x.lan:11434": ""}},
	} {
		snap := gpustats.NewSnapshot(tc.nodes...)
		for dial, want := range tc.want {
			if got := nodeOf(snap, dial, lines); got != want {
				t.Errorf("%s: upstream %s takes the report of %q, want %q", tc.name, dial, got, want)
			}
		}
	}
}

// TestNeighbourReportNotTaken runs two reporters for two Ollama servers on one host against a real Redis: once B's
// reporter shuts down cleanly, and once B's key expires, upstream B has no report (the policy falls back to polling
// or the fallback policy for it) and never A's.
func TestNeighbourReportNotTaken(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client()
	ctx := context.Background()
	const dialA, dialB = "127.0.0.1:11434", "127.0.0.1:11435"
	w := gpustats.NewWatcher(c, gpustats.WatcherOptions{Resync: 50 * time.Millisecond, Forget: time.Nanosecond})
	w.Start(ctx)
	t.Cleanup(w.Stop)
	publish := func(p *gpustats.Publisher, id string) {
		t.Helper()
		r := &gpustats.Report{Vendor: gpustats.VendorNVIDIA, NodeID: id, Timestamp: gpustats.Timestamp(time.Now()),
			GPUs: []gpustats.GPU{{Name: "RTX 4090", MemoryTotalMB: 24564, MemoryFreeMB: 20000, MemoryUsedMB: 4564}}}
		if err := p.Publish(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	waitFor := func(what string, cond func(*gpustats.Snapshot) bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !cond(w.Snapshot()); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	pubA := gpustats.NewPublisher(c, gpustats.PublisherOptions{})
	for _, tc := range []struct {
		name string
		stop func(p *gpustats.Publisher)
		ttl  time.Duration
	}{
		{"tombstone", func(p *gpustats.Publisher) {
			if err := p.Tombstone(ctx, dialB); err != nil {
				t.Fatal(err)
			}
		}, 0},
		{"key expired", func(*gpustats.Publisher) {}, 300 * time.Millisecond},
	} {
		pubB := gpustats.NewPublisher(c, gpustats.PublisherOptions{TTL: tc.ttl})
		publish(pubA, dialA)
		publish(pubB, dialB)
		waitFor(tc.name+": both reports", func(s *gpustats.Snapshot) bool {
			return nodeOf(s, dialA, nil) == dialA && nodeOf(s, dialB, nil) == dialB
		})
		tc.stop(pubB)
		waitFor(tc.name+": B dropped", func(s *gpustats.Snapshot) bool { return s.Node(dialB) == nil })
		if got := nodeOf(w.Snapshot(), dialB, nil); got != "" {
			t.Fatalf("%s: upstream B takes the report of %q, want none", tc.name, got)
		}
		if got := nodeOf(w.Snapshot(), dialA, nil); got != dialA {
			t.Fatalf("%s: upstream A takes the report of %q", tc.name, got)
		}
	}
}
