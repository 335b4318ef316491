package reporter

import (
	"testing"

	"github.com/sollol-go/sollol/gpustats"
)

func TestParseMeasure(t *testing.T) {
	for in, want := range map[string]gpustats.Measure{
		"42": 42, " 3.5 ": 3.5, "[N/A]": u, "[Not Supported]": u, "N/A": u, "": u, "-1": u, "NaN": u, "Inf": u, "1e400": u,
	} {
		if got := parseMeasure(in, 1); !sameGPU(gpustats.GPU{MemoryTotalMB: got}, gpustats.GPU{MemoryTotalMB: want}) {
			t.Errorf("parseMeasure(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestTidy(t *testing.T) {
	for _, tc := range []struct {
		name     string
		in, want gpustats.GPU
	}{
		{"derive used", gpustats.GPU{MemoryTotalMB: 100, MemoryFreeMB: 30, MemoryUsedMB: u, UtilizationPct: 5, TemperatureC: 40, PowerW: u},
			gpustats.GPU{MemoryTotalMB: 100, MemoryFreeMB: 30, MemoryUsedMB: 70, UtilizationPct: 5, TemperatureC: 40, PowerW: u}},
		{"derive free, round down", gpustats.GPU{MemoryTotalMB: 100.9, MemoryFreeMB: u, MemoryUsedMB: 20.5, UtilizationPct: u, TemperatureC: u, PowerW: u},
			gpustats.GPU{MemoryTotalMB: 100, MemoryFreeMB: 80, MemoryUsedMB: 20, UtilizationPct: u, TemperatureC: u, PowerW: u}},
		{"out of range becomes unknown", gpustats.GPU{MemoryTotalMB: 100, MemoryFreeMB: 130, MemoryUsedMB: 140, UtilizationPct: 101, TemperatureC: 300, PowerW: 1e6},
			gpustats.GPU{MemoryTotalMB: 100, MemoryFreeMB: u, MemoryUsedMB: u, UtilizationPct: u, TemperatureC: u, PowerW: u}},
	} {
		g := tc.in
		Tidy(&g)
		if !sameGPU(g, tc.want) {
			t.Errorf("%s: got %+v, want %+v", tc.name, g, tc.want)
		}
		r := gpustats.Report{Vendor: "nvidia", NodeID: "n:1", Timestamp: 1, GPUs: []gpustats.GPU{g}}
		if err := r.Validate(r.Time(), 0); err != nil {
			t.Errorf("%s: tidied GPU fails validation: %v", tc.name, err)
		}
	}
}

func TestGPULine(t *testing.T) {
	g := gpustats.GPU{Index: 0, Name: "NVIDIA GeForce RTX 3070", MemoryTotalMB: 8192, MemoryUsedMB: 4123, UtilizationPct: 55, TemperatureC: 62}
	if got, want := GPULine(g), "GPU 0: NVIDIA GeForce RTX 3070 | VRAM: 4123/8192MB | Util: 55% | Temp: 62°C"; got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	g = UnknownGPU(3)
	g.Name = "Arc"
	if got, want := GPULine(g), "GPU 3: Arc | VRAM: ?/?MB | Util: ?% | Temp: ?°C"; got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}
