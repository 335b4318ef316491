package redistest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestStartRestartStop(t *testing.T) {
	s := Start(t)
	c := s.Client()
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.Restart()
	if !s.Running() {
		t.Fatal("not running after Restart")
	}
	if n, err := c.Exists(ctx, "k").Result(); err != nil || n != 0 {
		t.Fatalf("after restart: exists=%d err=%v, want an empty server", n, err)
	}
	s.Stop()
	if s.Running() {
		t.Fatal("still answering after Stop")
	}
}

func TestTLS(t *testing.T) {
	s := StartTLS(t)
	if err := s.Client().Set(context.Background(), "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.Restart()
	if !s.Running() {
		t.Fatal("not running after Restart")
	}
	// No plain port: a client without TLS gets nowhere.
	plain := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1, DialTimeout: time.Second, ReadTimeout: time.Second})
	defer plain.Close()
	if err := plain.Ping(context.Background()).Err(); err == nil {
		t.Fatal("plain PING answered on the TLS port")
	}
}

func TestSentinelFailover(t *testing.T) {
	s := StartSentinel(t, 1)
	old := s.Master.Addr()
	if got := s.MasterAddr(); got != old {
		t.Fatalf("sentinel names %s, want %s", got, old)
	}
	start := time.Now()
	s.Failover()
	t.Logf("failover took %s", time.Since(start))
	if got := s.MasterAddr(); got == old || got != s.Master.Addr() {
		t.Fatalf("after failover sentinel names %s, want %s (not %s)", got, s.Master.Addr(), old)
	}
}

func TestCluster(t *testing.T) {
	c := StartCluster(t)
	cc := c.Client()
	ctx := context.Background()
	for i := range 30 {
		if err := cc.Set(ctx, fmt.Sprintf("k%d", i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	// The keys spread over the masters.
	for _, n := range c.Nodes {
		if size, err := n.Client().DBSize(ctx).Result(); err != nil || size == 0 {
			t.Fatalf("%s holds %d keys (%v)", n, size, err)
		}
	}
}
