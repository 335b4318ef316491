package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/sollol-go/sollol/internal/redistest"
)

// TestMetricsAddr runs the daemon with --metrics-addr (from the environment, as systemd would set it): /metrics
// answers while it runs and names the node, and the port is free again once it stops.
func TestMetricsAddr(t *testing.T) {
	cleanEnv(t)
	srv := redistest.Start(t)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(redistest.FreePort(t)))
	t.Setenv(envName("metrics-addr"), addr)
	c := newFlagSet("gpu-reporter", io.Discard)
	if err := c.parse([]string{"--redis-url", srv.URL(), "--sampler", "none", "--ollama-url", deadURL,
		"--node-id", "10.0.0.5:11434", "--interval", "50ms", "--drain-file", t.TempDir() + "/drain"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- daemon(ctx, c, io.Discard, zap.NewNop()) }()

	var body string
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(body, "sollol_reporter_publishes_total 1"); {
		if time.Now().After(deadline) {
			t.Fatalf("no publication in the metrics:\n%s", body)
		}
		time.Sleep(25 * time.Millisecond)
		if resp, err := http.Get("http://" + addr + "/metrics"); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
		}
	}
	if !strings.Contains(body, `sollol_reporter_info{hostname=`) || !strings.Contains(body, `node_id="10.0.0.5:11434",vendor="none"} 1`) {
		t.Errorf("metrics do not name the node:\n%s", body)
	}

	// A second daemon on the same address fails at the start, not at the first scrape.
	if err := daemon(ctx, c, io.Discard, zap.NewNop()); err == nil || !strings.Contains(err.Error(), "--metrics-addr") {
		t.Errorf("second daemon on %s: %v", addr, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("daemon: %v", err)
	}
	if _, err := http.Get("http://" + addr + "/metrics"); err == nil {
		t.Error("metrics still served after the daemon stopped")
	}
}
