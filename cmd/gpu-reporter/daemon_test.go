package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sollol-go/sollol/gpustats"
	"github.com/sollol-go/sollol/internal/redistest"
	"github.com/sollol-go/sollol/reporter"
)

// syncBuffer is a bytes.Buffer safe to read while a process writes it.
type syncBuffer struct {
	ch  chan struct{}
	buf bytes.Buffer
}

func newSyncBuffer() *syncBuffer {
	b := &syncBuffer{ch: make(chan struct{}, 1)}
	b.ch <- struct{}{}
	return b
}
func (b *syncBuffer) Write(p []byte) (int, error) {
	<-b.ch
	defer func() { b.ch <- struct{}{} }()
	return b.buf.Write(p)
}
func (b *syncBuffer) String() string {
	<-b.ch
	defer func() { b.ch <- struct{}{} }()
	return b.buf.String()
}

// TestDaemonProcess runs the real binary against a real, password-protected Redis: a report arrives, reports
// resume after Redis restarts, SIGTERM
// makes it delete its key, publish a tombstone and exit 0, and the password shows nowhere in its output.
func TestDaemonProcess(t *testing.T) {
	cleanEnv(t)
	const password = "pa55-w0rd-never-logged"
	srv := redistest.Start(t, "--requirepass", password)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr(), Password: password})
	defer client.Close()
	ctx := context.Background()

	dir := t.TempDir()
	state := filepath.Join(dir, "node.json")
	err := reporter.WriteSimState(state, reporter.SimState{GPUs: []gpustats.GPU{{Index: 0, Name: "Sim GPU",
		MemoryTotalMB: 8192, MemoryFreeMB: 8000, MemoryUsedMB: 192, UtilizationPct: 1, TemperatureC: 30, PowerW: gpustats.Unknown}}})
	if err != nil {
		t.Fatal(err)
	}
	const node = "127.0.0.1:11434"
	cmd := exec.Command(buildBinary(t), "--redis-host", "127.0.0.1", "--redis-port", strconv.Itoa(srv.Port()),
		"--sampler", "sim", "--sim-state", state, "--interval", "100ms", "--node-id", node,
		"--ollama-url", deadURL, "--log-level", "debug")
	cmd.Env = append(os.Environ(), "SOLLOL_REDIS_PASSWORD="+password)
	out := newSyncBuffer()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	key := gpustats.Names{}.Node(node)
	waitReport := func() {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			b, err := client.Get(ctx, key).Bytes()
			if err == nil {
				rep, err := (&gpustats.Decoder{}).Decode(b, time.Now())
				if err != nil || rep.Vendor != gpustats.VendorNVIDIA || rep.GPUs[0].MemoryFreeMB != 8000 {
					t.Fatalf("report %+v, %v", rep, err)
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("no report in Redis; output:\n%s", out.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitReport()
	// Redis crashes and comes back empty: reports resume.
	srv.Restart()
	waitReport()

	sub := client.Subscribe(ctx, gpustats.Names{}.Channel())
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, out.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("still running 15s after SIGTERM:\n%s", out.String())
	}
	if n, _ := client.Exists(ctx, key).Result(); n != 0 {
		t.Error("key still there after SIGTERM")
	}
	for {
		msg, err := sub.ReceiveTimeout(ctx, 5*time.Second)
		if err != nil {
			t.Fatalf("no tombstone: %v\n%s", err, out.String())
		}
		rep, err := (&gpustats.Decoder{}).Decode([]byte(msg.(*redis.Message).Payload), time.Now())
		if err == nil && rep.Tombstone && rep.NodeID == node {
			break
		}
	}
	logs := out.String()
	if strings.Contains(logs, password) {
		t.Errorf("the password appears in the output:\n%s", logs)
	}
	for _, want := range []string{"gpu-reporter started", "GPU 0: Sim GPU | VRAM: 192/8192MB | Util: 1% | Temp: 30°C", "published tombstone"} {
		if !strings.Contains(logs, want) {
			t.Errorf("output lacks %q:\n%s", want, logs)
		}
	}
}

// TestOncePublishes publishes one report with --once and checks it is in Redis and signed.
func TestOncePublishes(t *testing.T) {
	cleanEnv(t)
	srv := redistest.Start(t)
	keyFile := filepath.Join(t.TempDir(), "key")
	os.WriteFile(keyFile, []byte("k"), 0o600)
	code, _, errs := runCmd(t, "--once", "--redis-url", srv.URL(), "--sampler", "none", "--node-id", "n:1",
		"--ollama-url", deadURL, "--hmac-key-file", keyFile)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	b, err := srv.Client().Get(context.Background(), gpustats.Names{}.Node("n:1")).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (&gpustats.Decoder{Keys: [][]byte{[]byte("k")}}).Decode(b, time.Now()); err != nil {
		t.Fatal(err)
	}

	// With Redis gone, --once fails with exit 1 and says why, without a panic.
	srv.Stop()
	code, _, errs = runCmd(t, "--once", "--redis-url", srv.URL(), "--sampler", "none", "--node-id", "n:1", "--ollama-url", deadURL)
	if code != exitError || !strings.Contains(errs, "publishing report") {
		t.Errorf("exit %d: %s", code, errs)
	}
	code, _, errs = runCmd(t, "--once", "--redis-url", "http://:secret@x", "--sampler", "none", "--node-id", "n:1")
	if code != exitError || strings.Contains(errs, "secret") || !strings.Contains(errs, "--redis-url") {
		t.Errorf("bad URL: exit %d: %s", code, errs)
	}
}
