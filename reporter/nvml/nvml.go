//go:build cgo

package nvml

import (
	"context"
	"fmt"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/sollol-go/sollol/gpustats"
	"github.com/sollol-go/sollol/reporter"
)

func init() { reporter.Register("nvml", open) }

// nvmlSampler reads NVIDIA GPUs through NVML, the library nvidia-smi itself uses, loaded at run time from
// libnvidia-ml.so.1: no process per cycle and no tool on PATH.
type nvmlSampler struct {
	lib nvml.Interface
	// v2 is whether nvmlDeviceGetMemoryInfo_v2 is used. v2 separates the driver's reserved memory from used
	// memory; drivers before R510 lack it, and then v1 is used.
	v2 bool
}

func open(context.Context, reporter.Options) (reporter.Sampler, error) {
	return newNVML(nvml.New())
}

// newNVML initialises lib. After a failed Init it calls nothing else in lib, not even ErrorString: go-nvml's
// functions dereference symbols that were never loaded and would kill the process.
func newNVML(lib nvml.Interface) (*nvmlSampler, error) {
	if ret := lib.Init(); ret != nvml.SUCCESS {
		return nil, fmt.Errorf("NVML unavailable: %s", nvmlReturnText(ret))
	}
	s := &nvmlSampler{lib: lib}
	s.v2 = lib.Extensions().LookupSymbol("nvmlDeviceGetMemoryInfo_v2") == nil
	return s, nil
}

func (*nvmlSampler) Name() string { return "nvml" }

// Close shuts NVML down.
func (s *nvmlSampler) Close() error {
	if ret := s.lib.Shutdown(); ret != nvml.SUCCESS {
		return fmt.Errorf("nvml shutdown: %s", nvmlReturnText(ret))
	}
	return nil
}

func (s *nvmlSampler) Sample(context.Context) (reporter.Reading, error) {
	n, ret := s.lib.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return reporter.Reading{}, fmt.Errorf("nvml: counting devices: %s", nvmlReturnText(ret))
	}
	n = min(n, gpustats.MaxGPUs)
	gpus := make([]gpustats.GPU, 0, n)
	for i := range n {
		g := reporter.UnknownGPU(i)
		if dev, ret := s.lib.DeviceGetHandleByIndex(i); ret == nvml.SUCCESS {
			s.read(dev, &g)
		}
		reporter.Tidy(&g)
		gpus = append(gpus, g)
	}
	return reporter.Reading{Vendor: gpustats.VendorNVIDIA, GPUs: gpus}, nil
}

// read fills what dev gives; every value it does not give stays unknown.
func (s *nvmlSampler) read(dev nvml.Device, g *gpustats.GPU) {
	if name, ret := dev.GetName(); ret == nvml.SUCCESS {
		g.Name = name
	}
	if uuid, ret := dev.GetUUID(); ret == nvml.SUCCESS {
		g.UUID = uuid
	}
	s.readMemory(dev, g)
	if u, ret := dev.GetUtilizationRates(); ret == nvml.SUCCESS {
		g.UtilizationPct = gpustats.Measure(u.Gpu)
	}
	if t, ret := dev.GetTemperature(nvml.TEMPERATURE_GPU); ret == nvml.SUCCESS {
		g.TemperatureC = gpustats.Measure(t)
	}
	if mw, ret := dev.GetPowerUsage(); ret == nvml.SUCCESS {
		g.PowerW = gpustats.Measure(float64(mw) / 1000)
	}
}

func (s *nvmlSampler) readMemory(dev nvml.Device, g *gpustats.GPU) {
	if s.v2 {
		m, ret := dev.GetMemoryInfo_v2()
		if ret == nvml.SUCCESS {
			g.MemoryTotalMB, g.MemoryFreeMB, g.MemoryUsedMB = mibOf(m.Total), mibOf(m.Free), mibOf(m.Used)
			return
		}
		if ret == nvml.ERROR_FUNCTION_NOT_FOUND || ret == nvml.ERROR_NOT_SUPPORTED {
			s.v2 = false
		}
	}
	if m, ret := dev.GetMemoryInfo(); ret == nvml.SUCCESS {
		g.MemoryTotalMB, g.MemoryFreeMB, g.MemoryUsedMB = mibOf(m.Total), mibOf(m.Free), mibOf(m.Used)
	}
}

func mibOf(bytes uint64) gpustats.Measure { return gpustats.Measure(float64(bytes) / (1 << 20)) }

// nvmlReturnText names an NVML return code without asking the library, which may not be loaded.
func nvmlReturnText(ret nvml.Return) string {
	switch ret {
	case nvml.ERROR_LIBRARY_NOT_FOUND:
		return "libnvidia-ml.so.1 not found (no NVIDIA driver installed)"
	case nvml.ERROR_DRIVER_NOT_LOADED:
		return "the NVIDIA kernel driver is not loaded"
	case nvml.ERROR_NO_PERMISSION:
		return "no permission to access the GPU"
	case nvml.ERROR_LIB_RM_VERSION_MISMATCH:
		return "driver and library versions differ (reboot after a driver update)"
	case nvml.ERROR_FUNCTION_NOT_FOUND:
		return "function not found in libnvidia-ml (driver too old)"
	case nvml.ERROR_NOT_SUPPORTED:
		return "not supported by this device"
	case nvml.ERROR_UNINITIALIZED:
		return "NVML not initialised"
	}
	return fmt.Sprintf("NVML error %d", int32(ret))
}
