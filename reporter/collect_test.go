package reporter

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sollol-go/sollol/gpustats"
)

// fixedSampler returns the same reading, or err, every time.
type fixedSampler struct {
	r   Reading
	err error
}

func (fixedSampler) Name() string { return "fixed" }
func (f fixedSampler) Sample(context.Context) (Reading, error) {
	return f.r, f.err
}

var oneGPU = Reading{Vendor: gpustats.VendorNVIDIA, GPUs: []gpustats.GPU{{Index: 0, Name: "RTX", MemoryTotalMB: 8192,
	MemoryFreeMB: 8192, MemoryUsedMB: 0, UtilizationPct: 0, TemperatureC: 30, PowerW: u}}}

func TestCollectClassifies(t *testing.T) {
	const (
		psNone = `{"models":[]}`
		psCPU  = `{"models":[{"name":"a:1b","size":1048576000,"size_vram":0}]}`
		psGPU  = `{"models":[{"name":"a:1b","size":1048576000,"size_vram":1048576000}]}`
	)
	for _, tc := range []struct {
		name       string
		reading    Reading
		ps         string
		vendor     string
		note       string
		gpus       int
		noOllama   bool
		samplerErr error
	}{
		{"idle GPU is still a GPU", oneGPU, psNone, "nvidia", "", 1, false, nil},
		{"GPU busy", oneGPU, psGPU, "nvidia", "", 1, false, nil},
		{"GPU node but Ollama on CPU", oneGPU, psCPU, "nvidia", NoteOllamaOnCPU, 1, false, nil},
		{"CPU-only Ollama as SOLLOL reports it", Reading{Vendor: "none"}, psCPU, "none", NoteCPUOnly, 0, false, nil},
		{"CPU-only, nothing loaded", Reading{Vendor: "none"}, psNone, "none", NoteCPUOnly, 0, false, nil},
		{"VRAM in use but no GPU seen", Reading{Vendor: "none"}, psGPU, "unknown", NoteGPUUnseen, 0, false, nil},
		{"no Ollama probe", Reading{Vendor: "none"}, "", "none", NoteCPUOnly, 0, true, nil},
		{"sampler failed", oneGPU, psGPU, "unknown", "GPU sampler fixed failed: driver gone", 0, false, errors.New("driver gone")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{NodeID: "10.0.0.5:11434", Sampler: fixedSampler{tc.reading, tc.samplerErr}, Hostname: "gpu1",
				Addresses: []string{"10.0.0.5", "bad address", ""}, Draining: func() bool { return true }}
			if !tc.noOllama {
				cfg.Ollama = &OllamaProbe{URL: newFakeOllama(t, tc.ps, `{"models":[]}`).srv.URL}
			}
			r, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			rep := r.Collect(context.Background())
			if rep.Vendor != tc.vendor || rep.Note != tc.note || len(rep.GPUs) != tc.gpus {
				t.Errorf("vendor %q note %q gpus %d", rep.Vendor, rep.Note, len(rep.GPUs))
			}
			if rep.Schema != gpustats.Schema || rep.Hostname != "gpu1" || !rep.Draining || rep.IntervalS != 5 ||
				strings.Join(rep.Addresses, ",") != "10.0.0.5" || (rep.Ollama == nil) != tc.noOllama {
				t.Errorf("report %+v", rep)
			}
			b, err := gpustats.Encode(rep, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := (&gpustats.Decoder{}).Decode(b, rep.Time()); err != nil {
				t.Errorf("report does not decode: %v\n%s", err, b)
			}
		})
	}
}

func TestNewChecksConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{NodeID: "a:1"}, "no sampler"},
		{Config{Sampler: noneSampler{}}, "node id"},
		{Config{Sampler: noneSampler{}, NodeID: "has space:1"}, "node id"},
		{Config{Sampler: noneSampler{}, NodeID: "a:1", Interval: 2 * 3600e9}, "longer than an hour"},
	} {
		if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.cfg, err, tc.want)
		}
	}
	if err := Run(context.Background(), Config{NodeID: "a:1", Sampler: noneSampler{}}); err == nil {
		t.Error("Run without a publisher did not fail")
	}
}
