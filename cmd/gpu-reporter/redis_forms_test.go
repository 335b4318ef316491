package main

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/sollol-go/sollol/gpustats"
	"github.com/sollol-go/sollol/internal/redistest"
)

// TestOnceOverEveryRedisForm publishes with --once through each URL form gpustats.NewClient reads.
func TestOnceOverEveryRedisForm(t *testing.T) {
	cleanEnv(t)
	ctx := context.Background()
	key := gpustats.Names{}.Node("n:1")
	once := func(t *testing.T, rawURL string, extra ...string) {
		t.Helper()
		args := append([]string{"--once", "--redis-url", rawURL, "--sampler", "none", "--node-id", "n:1", "--ollama-url", deadURL}, extra...)
		if code, _, errs := runCmd(t, args...); code != 0 {
			t.Fatalf("%s: exit %d: %s", rawURL, code, errs)
		}
	}
	has := func(t *testing.T, c redis.Cmdable) {
		t.Helper()
		if n, err := c.Exists(ctx, key).Result(); err != nil || n != 1 {
			t.Fatalf("report key: %d %v", n, err)
		}
	}
	t.Run("tls_ca_file", func(t *testing.T) {
		srv := redistest.StartTLS(t)
		once(t, srv.URLWithCA())
		has(t, srv.Client())
	})
	t.Run("sentinel", func(t *testing.T) {
		s := redistest.StartSentinel(t, 1)
		once(t, s.URL())
		has(t, s.Master.Client())
	})
	t.Run("cluster", func(t *testing.T) {
		cl := redistest.StartCluster(t)
		once(t, cl.URL())
		has(t, cl.Client())
	})
}
