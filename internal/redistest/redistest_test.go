package redistest

import (
	"context"
	"testing"
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
