package reporter

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/sollol-go/sollol/gpustats"
)

// GPULine formats one GPU as SOLLOL's reporter logs it:
//
//	GPU 0: NVIDIA GeForce RTX 3070 | VRAM: 4123/8192MB | Util: 55% | Temp: 62°C
//
// An unknown value prints as "?".
func GPULine(g gpustats.GPU) string {
	return fmt.Sprintf("GPU %d: %s | VRAM: %s/%sMB | Util: %s%% | Temp: %s°C", g.Index, g.Name,
		measureText(g.MemoryUsedMB), measureText(g.MemoryTotalMB), measureText(g.UtilizationPct), measureText(g.TemperatureC))
}

func measureText(m gpustats.Measure) string {
	if !m.Known() {
		return "?"
	}
	return strconv.FormatFloat(float64(m), 'f', -1, 64)
}

// shape is what makes a report worth an info-level log line when it changes: not the readings, which change
// every cycle, but what the node is.
func shape(rep *gpustats.Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s|%s|%t", rep.Vendor, rep.Note, rep.Draining)
	for _, g := range rep.GPUs {
		fmt.Fprintf(&b, "|%d:%s:%v", g.Index, g.Name, g.MemoryTotalMB.Known())
	}
	if rep.Ollama != nil {
		fmt.Fprintf(&b, "|ollama:%t", rep.Ollama.Reachable)
	}
	return b.String()
}
