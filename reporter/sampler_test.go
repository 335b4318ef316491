package reporter

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sollol-go/sollol/gpustats"
)

// withoutNVML replaces the NVML opener for one test, so that detection behaves the same on a machine with an
// NVIDIA driver as on one without.
func withoutNVML(t *testing.T) {
	i := slices.IndexFunc(samplers, func(s samplerEntry) bool { return s.name == "nvml" })
	saved := samplers[i].open
	samplers[i].open = func(context.Context, Options) (Sampler, error) {
		return nil, errors.New("NVML unavailable: libnvidia-ml.so.1 not found (no NVIDIA driver installed)")
	}
	t.Cleanup(func() { samplers[i].open = saved })
}

func TestDetectPicksNoneWithoutGPU(t *testing.T) {
	withoutNVML(t)
	onlyPath(t)
	core, logs := observer.New(zap.InfoLevel)
	s, verdicts := Detect(context.Background(), Options{SysfsRoot: t.TempDir(), Logger: zap.New(core)})
	if s.Name() != "none" {
		t.Fatalf("chose %q", s.Name())
	}
	want := map[string]string{
		"nvml":       "NVML unavailable",
		"nvidia-smi": "nvidia-smi not found on PATH",
		"amd":        "no AMD GPU",
		"rocm-smi":   "rocm-smi not found on PATH",
		"intel":      "xpu-smi not found on PATH",
		"none":       "CPU-only",
	}
	if len(verdicts) != len(want) {
		t.Fatalf("verdicts %+v", verdicts)
	}
	for _, v := range verdicts {
		if !strings.Contains(v.Reason, want[v.Sampler]) || v.Chosen != (v.Sampler == "none") {
			t.Errorf("verdict %+v, want reason containing %q", v, want[v.Sampler])
		}
	}
	if n := logs.FilterMessage("sampler passed over").Len(); n != 5 {
		t.Errorf("%d passed-over log lines, want 5", n)
	}
	if logs.FilterMessage("sampler chosen").FilterField(zap.String("sampler", "none")).Len() != 1 {
		t.Errorf("no log line for the choice: %v", logs.All())
	}
}

func TestDetectSkipsToolThatSeesNoGPU(t *testing.T) {
	withoutNVML(t)
	dir := onlyPath(t)
	// nvidia-smi installed but printing nothing (no GPU), rocm-smi seeing one card.
	fakeTool(t, dir, "nvidia-smi", "", "", 0)
	fakeTool(t, dir, "rocm-smi", rocmSMIOutput, "", 0)
	s, verdicts := Detect(context.Background(), Options{SysfsRoot: t.TempDir()})
	if s.Name() != "rocm-smi" {
		t.Fatalf("chose %q: %+v", s.Name(), verdicts)
	}
	if v := verdicts[1]; v.Sampler != "nvidia-smi" || v.Reason != "it opened but sees no GPU" {
		t.Errorf("nvidia-smi verdict %+v", v)
	}
	if v := verdicts[len(verdicts)-1]; !v.Chosen || v.Reason != "it sees 2 amd GPU(s)" {
		t.Errorf("last verdict %+v", v)
	}
}

func TestOpenByName(t *testing.T) {
	if _, err := Open(context.Background(), "quantum", Options{}); err == nil || !strings.Contains(err.Error(), "unknown sampler") {
		t.Errorf("unknown sampler: %v", err)
	}
	if _, err := Open(context.Background(), "sim", Options{}); err == nil || !strings.Contains(err.Error(), "--sim-state") {
		t.Errorf("sim without state: %v", err)
	}
	s, err := Open(context.Background(), "none", Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Sample(context.Background())
	if err != nil || r.Vendor != gpustats.VendorNone || len(r.GPUs) != 0 {
		t.Errorf("none sampled %+v, %v", r, err)
	}
	if got := Names(); got[0] != Auto || !slices.Contains(got, "rocm-smi") || !slices.Contains(got, "sim") {
		t.Errorf("Names() = %v", got)
	}
}

func TestSim(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.json")
	s, err := Open(context.Background(), "sim", Options{SimState: path})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Sample(context.Background()); err == nil {
		t.Fatal("no error before the simulator wrote its state")
	}
	gpu := gpustats.GPU{Index: 0, Name: "Sim GPU", MemoryTotalMB: 24576, MemoryFreeMB: 20480, MemoryUsedMB: 4096,
		UtilizationPct: 10, TemperatureC: u, PowerW: u}
	if err := WriteSimState(path, SimState{GPUs: []gpustats.GPU{gpu}}); err != nil {
		t.Fatal(err)
	}
	r, err := s.Sample(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r.Vendor != gpustats.VendorNVIDIA {
		t.Errorf("vendor %q", r.Vendor)
	}
	checkGPUs(t, r.GPUs, []gpustats.GPU{gpu})

	// The sampler follows the file.
	if err := WriteSimState(path, SimState{Vendor: gpustats.VendorAMD, GPUs: nil}); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Sample(context.Background()); err != nil || r.Vendor != gpustats.VendorAMD || len(r.GPUs) != 0 {
		t.Errorf("after rewrite: %+v, %v", r, err)
	}
	if err := WriteSimState(path, SimState{}); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.Sample(context.Background()); r.Vendor != gpustats.VendorNone {
		t.Errorf("no GPU and no vendor gave vendor %q", r.Vendor)
	}
}

// Without reporter/nvml imported (as in the gateway and the demo), "nvml" is known but says where it lives.
func TestNVMLNotLinked(t *testing.T) {
	_, err := Open(context.Background(), "nvml", Options{})
	if err == nil || !strings.Contains(err.Error(), "reporter/nvml") {
		t.Errorf("Open nvml without reporter/nvml: %v", err)
	}
}
