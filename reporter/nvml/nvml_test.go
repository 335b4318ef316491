//go:build cgo

package nvml

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"

	"github.com/sollol-go/sollol/gpustats"
	"github.com/sollol-go/sollol/reporter"
)

var u = gpustats.Unknown

// checkGPUs compares GPU lists, with unknown equal to unknown.
func checkGPUs(t *testing.T, got, want []gpustats.GPU) {
	t.Helper()
	eq := func(x, y gpustats.Measure) bool { return x == y || (math.IsNaN(float64(x)) && math.IsNaN(float64(y))) }
	if len(got) != len(want) {
		t.Fatalf("got %d GPUs, want %d:\n got %+v\nwant %+v", len(got), len(want), got, want)
	}
	for i, b := range want {
		a := got[i]
		if a.Index != b.Index || a.Name != b.Name || a.UUID != b.UUID || !eq(a.MemoryTotalMB, b.MemoryTotalMB) ||
			!eq(a.MemoryFreeMB, b.MemoryFreeMB) || !eq(a.MemoryUsedMB, b.MemoryUsedMB) ||
			!eq(a.UtilizationPct, b.UtilizationPct) || !eq(a.TemperatureC, b.TemperatureC) || !eq(a.PowerW, b.PowerW) {
			t.Errorf("GPU %d:\n got %+v\nwant %+v", i, a, b)
		}
	}
}

// Importing the package registers the sampler: Open reaches NVML itself, which on a machine without a driver
// says so (and with one, opens).
func TestRegistered(t *testing.T) {
	s, err := reporter.Open(context.Background(), "nvml", reporter.Options{})
	switch {
	case err == nil:
		defer s.(interface{ Close() error }).Close()
		if s.Name() != "nvml" {
			t.Errorf("opened %q", s.Name())
		}
	case !strings.Contains(err.Error(), "NVML unavailable"):
		t.Errorf("Open nvml: %v, want NVML's own answer", err)
	}
}

// A mock whose every *Func is nil panics on any call, so these tests also prove which calls are made.

func TestNVMLInitFailureCallsNothingElse(t *testing.T) {
	for _, ret := range []nvml.Return{nvml.ERROR_LIBRARY_NOT_FOUND, nvml.ERROR_DRIVER_NOT_LOADED, nvml.ERROR_LIB_RM_VERSION_MISMATCH} {
		lib := &mock.Interface{InitFunc: func() nvml.Return { return ret }}
		_, err := newNVML(lib)
		if err == nil || !strings.Contains(err.Error(), "NVML unavailable") {
			t.Fatalf("Init %d: error %v", ret, err)
		}
		if n := len(lib.InitCalls()); n != 1 {
			t.Errorf("Init called %d times", n)
		}
	}
}

func mockDevice(name string, v2 *nvml.Memory_v2, v1 *nvml.Memory) *mock.Device {
	return &mock.Device{
		GetNameFunc: func() (string, nvml.Return) { return name, nvml.SUCCESS },
		GetUUIDFunc: func() (string, nvml.Return) { return "GPU-" + name, nvml.SUCCESS },
		GetMemoryInfo_v2Func: func() (nvml.Memory_v2, nvml.Return) {
			if v2 == nil {
				return nvml.Memory_v2{}, nvml.ERROR_NOT_SUPPORTED
			}
			return *v2, nvml.SUCCESS
		},
		GetMemoryInfoFunc: func() (nvml.Memory, nvml.Return) {
			if v1 == nil {
				return nvml.Memory{}, nvml.ERROR_UNKNOWN
			}
			return *v1, nvml.SUCCESS
		},
		GetUtilizationRatesFunc: func() (nvml.Utilization, nvml.Return) { return nvml.Utilization{Gpu: 55}, nvml.SUCCESS },
		GetTemperatureFunc: func(nvml.TemperatureSensors) (uint32, nvml.Return) {
			return 0, nvml.ERROR_NOT_SUPPORTED
		},
		GetPowerUsageFunc: func() (uint32, nvml.Return) { return 120500, nvml.SUCCESS },
	}
}

func mockLib(symbolErr error, devs ...nvml.Device) *mock.Interface {
	return &mock.Interface{
		InitFunc:     func() nvml.Return { return nvml.SUCCESS },
		ShutdownFunc: func() nvml.Return { return nvml.SUCCESS },
		ExtensionsFunc: func() nvml.ExtendedInterface {
			return &mock.ExtendedInterface{LookupSymbolFunc: func(string) error { return symbolErr }}
		},
		DeviceGetCountFunc: func() (int, nvml.Return) { return len(devs), nvml.SUCCESS },
		DeviceGetHandleByIndexFunc: func(i int) (nvml.Device, nvml.Return) {
			if devs[i] == nil {
				return nil, nvml.ERROR_GPU_IS_LOST
			}
			return devs[i], nvml.SUCCESS
		},
	}
}

func TestNVMLMemoryV2ThenV1(t *testing.T) {
	const gib = 1 << 30
	v2 := &nvml.Memory_v2{Total: 24 * gib, Reserved: gib / 2, Free: 20 * gib, Used: 3*gib + gib/2}
	v1 := &nvml.Memory{Total: 8 * gib, Free: 4 * gib, Used: 4 * gib}
	withV2 := mockDevice("A", v2, nil)
	// B's driver has the v2 symbol but answers NOT_SUPPORTED: the sampler falls back to v1 from then on.
	fallback := mockDevice("B", nil, v1)
	lib := mockLib(nil, withV2, fallback, nil)
	s, err := newNVML(lib)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Sample(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if r.Vendor != gpustats.VendorNVIDIA {
		t.Errorf("vendor %q", r.Vendor)
	}
	checkGPUs(t, r.GPUs, []gpustats.GPU{
		{Index: 0, Name: "A", UUID: "GPU-A", MemoryTotalMB: 24576, MemoryFreeMB: 20480, MemoryUsedMB: 3584, UtilizationPct: 55, TemperatureC: u, PowerW: 120.5},
		{Index: 1, Name: "B", UUID: "GPU-B", MemoryTotalMB: 8192, MemoryFreeMB: 4096, MemoryUsedMB: 4096, UtilizationPct: 55, TemperatureC: u, PowerW: 120.5},
		// A lost GPU is still listed, with nothing known about it.
		{Index: 2, MemoryTotalMB: u, MemoryFreeMB: u, MemoryUsedMB: u, UtilizationPct: u, TemperatureC: u, PowerW: u},
	})
	if s.v2 {
		t.Error("v2 still in use after NOT_SUPPORTED")
	}
	if err := s.Close(); err != nil || len(lib.ShutdownCalls()) != 1 {
		t.Errorf("Close: %v, %d Shutdown calls", err, len(lib.ShutdownCalls()))
	}
}

func TestNVMLWithoutV2Symbol(t *testing.T) {
	dev := mockDevice("old", nil, &nvml.Memory{Total: 1 << 30, Free: 1 << 29, Used: 1 << 29})
	dev.GetMemoryInfo_v2Func = nil // calling it would panic: the symbol is missing
	s, err := newNVML(mockLib(errors.New("undefined symbol"), dev))
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Sample(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if r.GPUs[0].MemoryTotalMB != 1024 || r.GPUs[0].MemoryFreeMB != 512 {
		t.Errorf("got %+v", r.GPUs[0])
	}
}

func TestNVMLCountFailure(t *testing.T) {
	lib := mockLib(nil)
	lib.DeviceGetCountFunc = func() (int, nvml.Return) { return 0, nvml.ERROR_UNKNOWN }
	s, err := newNVML(lib)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Sample(t.Context()); err == nil || !strings.Contains(err.Error(), "counting devices") {
		t.Fatalf("error %v", err)
	}
}

// A whole DGX H100 from go-nvml's mocks: eight GPUs, an older driver without the v2 symbol.
func TestNVMLDGXH100(t *testing.T) {
	dgx := dgxh100.New()
	dgx.LookupSymbolFunc = func(string) error { return errors.New("undefined symbol") }
	for _, d := range dgx.Devices {
		dev := d.(*server.Device)
		dev.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) { return nvml.Utilization{Gpu: 7}, nvml.SUCCESS }
		dev.GetTemperatureFunc = func(nvml.TemperatureSensors) (uint32, nvml.Return) { return 33, nvml.SUCCESS }
		dev.GetPowerUsageFunc = func() (uint32, nvml.Return) { return 0, nvml.ERROR_NOT_SUPPORTED }
	}
	s, err := newNVML(dgx)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Sample(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(r.GPUs) != 8 {
		t.Fatalf("%d GPUs", len(r.GPUs))
	}
	for i, g := range r.GPUs {
		if g.Index != i || !strings.Contains(g.Name, "H100") || g.MemoryTotalMB < 80000 || !g.MemoryFreeMB.Known() ||
			g.TemperatureC != 33 || g.PowerW.Known() {
			t.Errorf("GPU %d: %+v", i, g)
		}
	}
}
