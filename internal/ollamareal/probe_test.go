//go:build ollama

package ollamareal_test

import (
	"context"
	"math"
	"os"
	"testing"
	"time"

	"github.com/sollol-go/sollol/gpustats"
	"github.com/sollol-go/sollol/internal/ollamareal"
	"github.com/sollol-go/sollol/reporter"
)

// TestProbeReadsRealOllama: gpu-reporter's report of a real Ollama: what is loaded and installed, the sizes,
// size_vram 0 on a CPU, the expiry; and a model unloaded by keep_alive 0 is gone from the next report.
func TestProbeReadsRealOllama(t *testing.T) {
	s := start(t, ollamareal.Options{}, tiny, large)
	sampler, err := reporter.Open(context.Background(), "none", reporter.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := reporter.New(reporter.Config{NodeID: s.Addr, Sampler: sampler,
		Ollama: &reporter.OllamaProbe{URL: s.URL, TagsEvery: time.Nanosecond}})
	if err != nil {
		t.Fatal(err)
	}

	// Nothing loaded yet: both models installed, each about the size of its GGUF.
	r := rep.Collect(ctx(t))
	if r.Ollama == nil || !r.Ollama.Reachable || len(r.Ollama.Loaded) != 0 {
		t.Fatalf("before any request: %+v", r.Ollama)
	}
	installed := map[string]float64{}
	for _, m := range r.Ollama.Installed {
		installed[m.Name] = m.SizeMB
	}
	for _, m := range []ollamareal.Model{tiny, large} {
		file := float64(4*m.Llama.Params()) / (1 << 20)
		if got := installed[m.Name]; math.Abs(got-file) > 1 {
			t.Errorf("installed %s: %.1f MiB, its GGUF holds %.1f MiB (all installed: %v)", m.Name, got, file, installed)
		}
	}

	before := time.Now()
	warm(t, s, tiny)
	r = rep.Collect(ctx(t))
	if err := r.Validate(r.Time(), 0); err != nil {
		t.Errorf("the report of a real Ollama fails validation: %v", err)
	}
	if len(r.Ollama.Loaded) != 1 {
		t.Fatalf("after a chat: loaded %+v", r.Ollama.Loaded)
	}
	loaded := r.Ollama.Loaded[0]
	ps, err := s.PS(ctx(t))
	if err != nil || len(ps) != 1 {
		t.Fatalf("/api/ps: %+v, %v", ps, err)
	}
	// In memory a model takes its weights plus the KV cache and compute buffers for its context.
	weights := float64(4*tiny.Llama.Params()) / (1 << 20)
	if loaded.Name != tiny.Name || math.Abs(loaded.SizeMB-float64(ps[0].Size)/(1<<20)) > 0.5 || loaded.SizeMB < weights {
		t.Errorf("loaded %+v; /api/ps %+v; weights %.1f MiB", loaded, ps[0], weights)
	}
	if onCPU := !hasNvidia(); onCPU && (loaded.SizeVRAMMB != 0 || ps[0].SizeVRAM != 0) {
		t.Errorf("without a GPU size_vram is %v MiB (/api/ps %d bytes), want 0", loaded.SizeVRAMMB, ps[0].SizeVRAM)
	}
	// Ollama's default keep_alive is 5 minutes, counted from the end of the request.
	expires, err := time.Parse(time.RFC3339Nano, loaded.ExpiresAt)
	if err != nil || expires.Before(before.Add(4*time.Minute)) || expires.After(time.Now().Add(6*time.Minute)) {
		t.Errorf("expires_at %q (%v), want about 5 minutes from now", loaded.ExpiresAt, err)
	}
	// context_length is on /api/ps (the report does not carry it): Ollama's default 4096 on a CPU, at most the
	// model's own.
	if ps[0].ContextLength != 4096 {
		t.Errorf("context_length %d, want 4096", ps[0].ContextLength)
	}

	// keep_alive 0 unloads the model once its request ends: the next reports no longer list it.
	status, body, err := s.Post(ctx(t), "/api/chat", map[string]any{"model": tiny.Name, "stream": false,
		"keep_alive": 0, "messages": []ollamareal.Message{{Role: "user", Content: "bye"}}})
	if err != nil || status != 200 {
		t.Fatalf("chat with keep_alive 0: %d %s %v", status, body, err)
	}
	eventually(t, 10*time.Second, func() string {
		if r := rep.Collect(ctx(t)); len(r.Ollama.Loaded) != 0 {
			return "after keep_alive 0 the report still lists " + r.Ollama.Loaded[0].Name
		}
		return ""
	})

	// A stopped Ollama is reported unreachable, not as an error of the report.
	s.Stop()
	r = rep.Collect(ctx(t))
	if r.Ollama == nil || r.Ollama.Reachable || len(r.Ollama.Loaded) != 0 {
		t.Errorf("after the server stopped: %+v", r.Ollama)
	}
	if r.Vendor != gpustats.VendorNone {
		t.Errorf("vendor %q, want none", r.Vendor)
	}
}

// hasNvidia says whether this machine has an NVIDIA device an Ollama could use.
func hasNvidia() bool {
	_, err := os.Stat("/dev/nvidia0")
	return err == nil
}
