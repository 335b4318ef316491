package reporter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/sollol-go/sollol/gpustats"
)

var rocmSMIArgs = []string{"--showmeminfo", "vram", "--showuse", "--showtemp", "--json"}

// openROCmSMI runs rocm-smi every cycle: the second AMD source, for nodes where the amdgpu sysfs files are not
// visible (some containers) but ROCm's tool is installed.
var openROCmSMI = toolOpener("rocm-smi", rocmSMIArgs, gpustats.VendorAMD, parseROCmSMI)

// parseROCmSMI reads rocm-smi's JSON: an object with one member per card ("card0", …) whose values are all
// strings. rocm-smi sometimes prints WARNING lines before the JSON; everything before the first '{' is skipped.
func parseROCmSMI(out []byte) ([]gpustats.GPU, error) {
	start := bytes.IndexByte(out, '{')
	if start < 0 {
		return nil, fmt.Errorf("rocm-smi: no JSON in its output: %.80q", firstLine(string(out)))
	}
	var cards map[string]map[string]any
	if err := json.Unmarshal(out[start:], &cards); err != nil {
		return nil, fmt.Errorf("rocm-smi: %w", err)
	}
	type card struct {
		n      int
		fields map[string]any
	}
	var found []card
	for key, fields := range cards {
		n, err := strconv.Atoi(strings.TrimPrefix(key, "card"))
		if !strings.HasPrefix(key, "card") || err != nil || n < 0 {
			continue
		}
		found = append(found, card{n, fields})
	}
	slices.SortFunc(found, func(a, b card) int { return a.n - b.n })
	if len(found) > gpustats.MaxGPUs {
		return nil, fmt.Errorf("rocm-smi: more than %d GPUs", gpustats.MaxGPUs)
	}
	gpus := make([]gpustats.GPU, 0, len(found))
	for i, c := range found {
		g := UnknownGPU(i)
		g.Name = "AMD GPU (card" + strconv.Itoa(c.n) + ")"
		g.MemoryTotalMB = parseMeasure(jsonText(c.fields["VRAM Total Memory (B)"]), 1.0/mib)
		g.MemoryUsedMB = parseMeasure(jsonText(c.fields["VRAM Total Used Memory (B)"]), 1.0/mib)
		g.UtilizationPct = parseMeasure(jsonText(c.fields["GPU use (%)"]), 1)
		g.TemperatureC = parseMeasure(jsonText(c.fields["Temperature (Sensor edge) (C)"]), 1)
		Tidy(&g)
		gpus = append(gpus, g)
	}
	return gpus, nil
}

// jsonText returns a JSON string or number as text; tools disagree on which they write.
func jsonText(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return ""
}
