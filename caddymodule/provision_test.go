package caddymodule_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/sollol-go/sollol/caddymodule"
)

// A missing hmac_key_file is refused alike with and without redis: the keys are read either way.
func TestProvisionHMACKeyFileWithOrWithoutRedis(t *testing.T) {
	var errs []string
	for _, redis := range []string{"", "redis://127.0.0.1:1"} {
		p := &caddymodule.VRAMAware{Redis: redis, HMACKeyFiles: []string{"/nonexistent/key"}}
		ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
		err := p.Provision(ctx)
		p.Cleanup()
		cancel()
		if err == nil || !strings.Contains(err.Error(), "vram_aware: hmac_key_file: open /nonexistent/key") {
			t.Fatalf("redis %q: %v", redis, err)
		}
		errs = append(errs, err.Error())
	}
	if errs[0] != errs[1] {
		t.Errorf("without redis: %s\nwith redis: %s", errs[0], errs[1])
	}
}

// A vram or node line for an address that is none of the reverse proxy's upstreams is accepted, with a warning
// that names it; lines for real upstreams say nothing. Caddy runs in this process with its log in a file.
func TestProvisionWarnsOfLinesForNoUpstream(t *testing.T) {
	logFile := filepath.Join(t.TempDir(), "caddy.log")
	policy := map[string]any{"policy": "vram_aware",
		"vram":  map[string]int64{"127.0.0.1:1": 1 << 30, "127.0.0.1:2": 1 << 30},
		"nodes": map[string]string{"127.0.0.1:1": "gpu1:11434", "gpu9:11434": "gpu9"}}
	cfg := map[string]any{
		"admin": map[string]any{"disabled": true},
		"logging": map[string]any{"logs": map[string]any{"default": map[string]any{
			"writer": map[string]any{"output": "file", "filename": logFile}, "encoder": map[string]any{"format": "json"}}}},
		"apps": map[string]any{"http": map[string]any{"servers": map[string]any{"s": map[string]any{
			"listen": []string{"127.0.0.1:0"},
			"routes": []any{map[string]any{"handle": []any{map[string]any{"handler": "reverse_proxy",
				"upstreams":      []any{map[string]any{"dial": "127.0.0.1:1"}},
				"load_balancing": map[string]any{"selection_policy": policy}}}}}}}}},
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := caddy.Load(raw, true); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { caddy.Stop() })

	var log string
	for deadline := time.Now().Add(5 * time.Second); ; {
		b, _ := os.ReadFile(logFile)
		log = string(b)
		if strings.Count(log, "no upstream of this reverse_proxy") >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, want := range []string{`"vram":"127.0.0.1:2"`, `"node":"gpu9:11434"`} {
		if !strings.Contains(log, want) {
			t.Errorf("no warning naming %s:\n%s", want, log)
		}
	}
	if n := strings.Count(log, "no upstream of this reverse_proxy"); n != 2 {
		t.Errorf("%d warnings, want 2 (none for the real upstream):\n%s", n, log)
	}
}
