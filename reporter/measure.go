package reporter

import (
	"strconv"
	"strings"

	"github.com/sollol-go/sollol/gpustats"
)

const mib = 1 << 20

// parseMeasure reads a number printed by a vendor tool, scaled by scale. Anything that is not a finite,
// non-negative number ("[N/A]", "[Not Supported]", "N/A", "", garbage) is unknown.
func parseMeasure(s string, scale float64) gpustats.Measure {
	s = strings.TrimSpace(s)
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f != f || f > 1e300 {
		return gpustats.Unknown
	}
	return gpustats.Measure(f * scale)
}

// Tidy completes and bounds a GPU's readings so that the report passes gpustats validation whatever a driver
// said: a missing memory figure is derived from the other two, an out-of-range value becomes unknown (a broken
// sensor must not make the whole report unpublishable), and memory is rounded to whole MiB as SOLLOL reports it.
func Tidy(g *gpustats.GPU) {
	clamp := func(m *gpustats.Measure, max float64) {
		if m.Known() && (*m < 0 || float64(*m) > max) {
			*m = gpustats.Unknown
		}
	}
	for _, m := range []*gpustats.Measure{&g.MemoryTotalMB, &g.MemoryFreeMB, &g.MemoryUsedMB} {
		if m.Known() {
			*m = gpustats.Measure(float64(int64(*m)))
		}
		clamp(m, gpustats.MaxMemoryMB)
	}
	clamp(&g.UtilizationPct, 100)
	clamp(&g.TemperatureC, 250)
	clamp(&g.PowerW, 100000)
	t, f, u := &g.MemoryTotalMB, &g.MemoryFreeMB, &g.MemoryUsedMB
	if t.Known() {
		if f.Known() && *f > *t {
			*f = gpustats.Unknown
		}
		if u.Known() && *u > *t {
			*u = gpustats.Unknown
		}
		switch {
		case !f.Known() && u.Known():
			*f = *t - *u
		case f.Known() && !u.Known():
			*u = *t - *f
		}
	}
	if len(g.Name) > gpustats.MaxNameLen {
		g.Name = g.Name[:gpustats.MaxNameLen]
	}
	if len(g.UUID) > gpustats.MaxNameLen {
		g.UUID = ""
	}
}

// UnknownGPU is a GPU whose every reading is unknown: where a sampler starts before it reads a device.
func UnknownGPU(index int) gpustats.GPU {
	return gpustats.GPU{Index: index, MemoryTotalMB: gpustats.Unknown, MemoryFreeMB: gpustats.Unknown,
		MemoryUsedMB: gpustats.Unknown, UtilizationPct: gpustats.Unknown, TemperatureC: gpustats.Unknown,
		PowerW: gpustats.Unknown}
}
