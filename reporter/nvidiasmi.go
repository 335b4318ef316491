package reporter

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/sollol-go/sollol/gpustats"
)

// nvidiaSMIQuery is the query SOLLOL's reporter makes, plus uuid and power. Units are MiB, %, °C and W.
var nvidiaSMIQuery = []string{
	"--query-gpu=index,name,uuid,memory.total,memory.used,memory.free,utilization.gpu,temperature.gpu,power.draw",
	"--format=csv,noheader,nounits",
}

// openNvidiaSMI runs nvidia-smi every cycle. It is the fallback for NVIDIA nodes where NVML cannot be loaded into
// this process (a binary built without cgo) but the driver's tool works.
var openNvidiaSMI = toolOpener("nvidia-smi", nvidiaSMIQuery, gpustats.VendorNVIDIA,
	func(out []byte) ([]gpustats.GPU, error) { return parseNvidiaSMI(string(out)) })

// parseNvidiaSMI reads the CSV lines of nvidiaSMIQuery. "[N/A]", "[Not Supported]" and anything else that is not
// a number become unknown; a line with too few fields is an error, since the columns could not be trusted.
func parseNvidiaSMI(out string) ([]gpustats.GPU, error) {
	var gpus []gpustats.GPU
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		raw := strings.Split(line, ",")
		f := slices.Clone(raw)
		for i := range f {
			f[i] = strings.TrimSpace(f[i])
		}
		if len(f) < 9 {
			return nil, fmt.Errorf("nvidia-smi: %d fields in %.80q, want 9", len(f), line)
		}
		// A name with a comma in it spreads over several fields: the seven after it are fixed.
		n := len(f)
		index, err := strconv.Atoi(f[0])
		if err != nil || index < 0 {
			return nil, fmt.Errorf("nvidia-smi: bad GPU index in %.80q", line)
		}
		g := gpustats.GPU{
			Index:          index,
			Name:           strings.TrimSpace(strings.Join(raw[1:n-7], ",")),
			UUID:           f[n-7],
			MemoryTotalMB:  parseMeasure(f[n-6], 1),
			MemoryUsedMB:   parseMeasure(f[n-5], 1),
			MemoryFreeMB:   parseMeasure(f[n-4], 1),
			UtilizationPct: parseMeasure(f[n-3], 1),
			TemperatureC:   parseMeasure(f[n-2], 1),
			PowerW:         parseMeasure(f[n-1], 1),
		}
		if strings.HasPrefix(g.UUID, "[") {
			g.UUID = ""
		}
		Tidy(&g)
		gpus = append(gpus, g)
		if len(gpus) > gpustats.MaxGPUs {
			return nil, fmt.Errorf("nvidia-smi: more than %d GPUs", gpustats.MaxGPUs)
		}
	}
	return gpus, nil
}
