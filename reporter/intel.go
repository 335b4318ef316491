package reporter

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"

	"github.com/sollol-go/sollol/gpustats"
)

// xpu-smi dump metric ids: GPU Utilization (%), GPU Power (W), GPU Core Temperature (Celsius Degree),
// GPU Memory Used (MiB). The columns are found by their header names, not their order.
const xpuDumpMetrics = "0,1,3,18"

// intelSampler reads Intel GPUs (Arc, Flex, Max) through xpu-smi: `discovery -j` once for names and memory sizes,
// `dump` every cycle for the live numbers. What the driver does not give stays unknown; in particular free memory
// is only known when both the size and the used memory are.
type intelSampler struct {
	opts    Options
	devices []intelDevice
}

type intelDevice struct {
	id      int
	name    string
	uuid    string
	totalMB gpustats.Measure
}

func openIntel(ctx context.Context, opts Options) (Sampler, error) {
	if _, err := exec.LookPath("xpu-smi"); err != nil {
		return nil, fmt.Errorf("xpu-smi not found on PATH")
	}
	out, err := runTool(ctx, opts, "xpu-smi", "discovery", "-j")
	if err != nil {
		return nil, err
	}
	devices, err := parseXPUDiscovery(out)
	if err != nil {
		return nil, err
	}
	if len(devices) == 0 {
		return nil, fmt.Errorf("xpu-smi discovery lists no GPU")
	}
	// Older xpu-smi list the memory size only in the per-device detail.
	for i := range devices {
		if devices[i].totalMB.Known() {
			continue
		}
		if out, err := runTool(ctx, opts, "xpu-smi", "discovery", "-d", strconv.Itoa(devices[i].id), "-j"); err == nil {
			var d xpuDevice
			if json.Unmarshal(out, &d) == nil {
				devices[i].totalMB = parseMeasure(jsonText(d.MemoryBytes), 1.0/mib)
			}
		}
	}
	return &intelSampler{opts: opts, devices: devices}, nil
}

type xpuDevice struct {
	ID          *int   `json:"device_id"`
	Name        string `json:"device_name"`
	Type        string `json:"device_type"`
	UUID        string `json:"uuid"`
	MemoryBytes any    `json:"memory_physical_size_byte"`
}

func parseXPUDiscovery(out []byte) ([]intelDevice, error) {
	var list struct {
		Devices []xpuDevice `json:"device_list"`
	}
	if err := json.Unmarshal(out, &list); err != nil {
		return nil, fmt.Errorf("xpu-smi discovery: %w", err)
	}
	var devices []intelDevice
	for _, d := range list.Devices {
		if d.ID == nil || *d.ID < 0 || (d.Type != "" && d.Type != "GPU") {
			continue
		}
		devices = append(devices, intelDevice{id: *d.ID, name: d.Name, uuid: d.UUID,
			totalMB: parseMeasure(jsonText(d.MemoryBytes), 1.0/mib)})
		if len(devices) == gpustats.MaxGPUs {
			break
		}
	}
	return devices, nil
}

func (*intelSampler) Name() string { return "intel" }

func (s *intelSampler) Sample(ctx context.Context) (Reading, error) {
	ids := make([]string, len(s.devices))
	for i, d := range s.devices {
		ids[i] = strconv.Itoa(d.id)
	}
	out, err := runTool(ctx, s.opts, "xpu-smi", "dump", "-d", strings.Join(ids, ","), "-m", xpuDumpMetrics, "-n", "1")
	if err != nil {
		return Reading{}, err
	}
	rows, err := parseXPUDump(string(out))
	if err != nil {
		return Reading{}, err
	}
	gpus := make([]gpustats.GPU, len(s.devices))
	for i, d := range s.devices {
		g := UnknownGPU(i)
		g.Name, g.UUID, g.MemoryTotalMB = d.name, d.uuid, d.totalMB
		if r, ok := rows[d.id]; ok {
			g.UtilizationPct, g.PowerW, g.TemperatureC, g.MemoryUsedMB = r.util, r.power, r.temp, r.usedMB
		}
		Tidy(&g)
		gpus[i] = g
	}
	return Reading{Vendor: gpustats.VendorIntel, GPUs: gpus}, nil
}

type xpuRow struct{ util, power, temp, usedMB gpustats.Measure }

// parseXPUDump reads `xpu-smi dump` CSV: a header line naming the columns, then one line per device (the last
// line for a device wins). Empty and "N/A" cells are unknown.
func parseXPUDump(out string) (map[int]xpuRow, error) {
	r := csv.NewReader(strings.NewReader(out))
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	records, err := r.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("xpu-smi dump: %w", err)
	}
	col := map[string]int{}
	rows := map[int]xpuRow{}
	for _, rec := range records {
		if len(col) == 0 {
			for i, h := range rec {
				h = strings.TrimSpace(h)
				switch {
				case h == "DeviceId":
					col["id"] = i
				case strings.HasPrefix(h, "GPU Utilization"):
					col["util"] = i
				case strings.HasPrefix(h, "GPU Power"):
					col["power"] = i
				case strings.HasPrefix(h, "GPU Core Temperature"):
					col["temp"] = i
				case strings.HasPrefix(h, "GPU Memory Used"):
					col["used"] = i
				}
			}
			if _, ok := col["id"]; !ok {
				return nil, fmt.Errorf("xpu-smi dump: no DeviceId column in %.80q", strings.Join(rec, ","))
			}
			continue
		}
		cell := func(name string) string {
			i, ok := col[name]
			if !ok || i >= len(rec) {
				return ""
			}
			return rec[i]
		}
		id, err := strconv.Atoi(strings.TrimSpace(cell("id")))
		if err != nil {
			continue
		}
		rows[id] = xpuRow{util: parseMeasure(cell("util"), 1), power: parseMeasure(cell("power"), 1),
			temp: parseMeasure(cell("temp"), 1), usedMB: parseMeasure(cell("used"), 1)}
	}
	return rows, nil
}
