package gpustats_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sollol-go/sollol/gpustats"
	"github.com/sollol-go/sollol/internal/redistest"
)

// within polls cond until it holds or d passes.
func within(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// publishRetrying publishes as a reporter's loop does: on error it tries again shortly, for up to d.
func publishRetrying(t *testing.T, p *gpustats.Publisher, r *gpustats.Report, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := p.Publish(ctx, r)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("publishing %s: still failing after %s: %v", r.NodeID, d, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestSentinelFailoverReportersAndWatcherCarryOn(t *testing.T) {
	s := redistest.StartSentinel(t, 1)
	u := s.URL()
	w := startWatcher(t, newClient(t, u), gpustats.WatcherOptions{Resync: time.Hour}) // pub/sub must carry on alone
	eventually(t, "connection through Sentinel", func() bool { return w.Stats().Connected })
	pubs := map[string]*gpustats.Publisher{}
	for _, id := range []string{"10.0.0.5:11434", "10.0.0.6:11434"} {
		pubs[id] = gpustats.NewPublisher(newClient(t, u), gpustats.PublisherOptions{})
		publishRetrying(t, pubs[id], report(id, 1000, time.Now()), time.Second)
		eventually(t, id+" before failover", func() bool { return freeOf(w, id) == 1000 })
	}
	old := s.Master.Addr()
	s.Failover()
	t.Logf("failover %s -> %s", old, s.Master.Addr())
	for id, p := range pubs {
		publishRetrying(t, p, report(id, 2000, time.Now()), 10*time.Second)
	}
	// The watcher reconnects (backoff at most 5 s), subscribes on the new master and reads every key again.
	for id := range pubs {
		within(t, 10*time.Second, id+" after failover", func() bool { return freeOf(w, id) == 2000 })
	}
	// Reports published after the watcher is back arrive through pub/sub on the new master.
	within(t, 5*time.Second, "reconnection", func() bool { return w.Stats().Connected })
	publishRetrying(t, pubs["10.0.0.5:11434"], report("10.0.0.5:11434", 3000, time.Now()), time.Second)
	eventually(t, "report over pub/sub after failover", func() bool { return freeOf(w, "10.0.0.5:11434") == 3000 })
	// And they are on the promoted server.
	if n, err := s.Master.Client().Exists(context.Background(), "sollol:gpu:10.0.0.5:11434").Result(); err != nil || n != 1 {
		t.Fatalf("report key on the new master: %d %v", n, err)
	}
}

func TestClusterSeveralWatchersSeeTheSameNodes(t *testing.T) {
	c := redistest.StartCluster(t)
	u := c.URL()
	// One watcher before any report (pub/sub only), one after (resync over every master), like Caddy replicas
	// started at different times.
	early := startWatcher(t, newClient(t, u), gpustats.WatcherOptions{Resync: time.Hour})
	eventually(t, "connection to the cluster", func() bool { return early.Stats().Connected })
	const n = 24
	p := gpustats.NewPublisher(newClient(t, u), gpustats.PublisherOptions{})
	ctx := context.Background()
	for i := range n {
		if err := p.Publish(ctx, report(fmt.Sprintf("10.0.%d.5:11434", i), float64(1000+i), time.Now())); err != nil {
			t.Fatal(err)
		}
	}
	late := startWatcher(t, newClient(t, u), gpustats.WatcherOptions{})
	late2 := startWatcher(t, newClient(t, u), gpustats.WatcherOptions{})
	for name, w := range map[string]*gpustats.Watcher{"early": early, "late": late, "late2": late2} {
		eventually(t, name+" watcher sees every node", func() bool { return w.Snapshot().Len() == n })
		for i := range n {
			if got := freeOf(w, fmt.Sprintf("10.0.%d.5:11434", i)); got != float64(1000+i) {
				t.Fatalf("%s watcher: node %d has %v free", name, i, got)
			}
		}
		if st := w.Stats(); st.Accepted != n || st.LastError != "" {
			t.Fatalf("%s watcher: %+v", name, st)
		}
	}
	// The keys really are spread over the masters, so the resync had to visit each.
	holding := 0
	for _, node := range c.Nodes {
		keys, err := node.Client().Keys(ctx, "sollol:gpu:*").Result()
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) > 0 {
			holding++
		}
	}
	if holding < 2 {
		t.Fatalf("reports on %d master(s), want them spread", holding)
	}
	// A tombstone reaches every watcher.
	if err := p.Tombstone(ctx, "10.0.3.5:11434"); err != nil {
		t.Fatal(err)
	}
	for _, w := range []*gpustats.Watcher{early, late, late2} {
		eventually(t, "tombstone", func() bool { return w.Snapshot().Len() == n-1 })
	}
}
