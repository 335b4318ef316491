package reporter

import (
	"context"
	"strings"
	"testing"

	"github.com/sollol-go/sollol/gpustats"
)

// The fake xpu-smi answers every subcommand with the same output, so discovery and dump are tested one at a time
// by parsing, and together through a script that switches on its first argument.
const xpuDiscovery = `{
    "device_list": [
        {"device_id": 0, "device_name": "Intel(R) Arc(TM) A770 Graphics", "device_type": "GPU",
         "uuid": "00000000-0000-0000-0000-56a05e001000", "memory_physical_size_byte": "17102532608"},
        {"device_id": 1, "device_name": "Intel(R) Arc(TM) A380 Graphics", "device_type": "GPU",
         "uuid": "00000000-0000-0000-0000-56a55e001000"}
    ]
}`

const xpuDump = `Timestamp, DeviceId, GPU Utilization (%), GPU Power (W), GPU Core Temperature (Celsius Degree), GPU Memory Used (MiB)
06:14:46.000,    0, 12.50, 35.20, 48.00, 2048.00
06:14:46.000,    1, N/A, , 40.00, 512
`

func TestIntel(t *testing.T) {
	dir := onlyPath(t)
	fakeTool(t, dir, "discovery", xpuDiscovery, "", 0)
	fakeTool(t, dir, "dump", xpuDump, "", 0)
	// Device 1's detail has no memory size either: its total stays unknown, and so does its free memory.
	fakeTool(t, dir, "detail", `{"device_id": 1, "device_name": "Intel(R) Arc(TM) A380 Graphics"}`, "", 0)
	writeExec(t, dir, "xpu-smi", `#!/bin/sh
d=$(dirname "$0")
case "$1 $2" in
"discovery -j") exec "$d/discovery" "$@" ;;
"discovery -d") exec "$d/detail" "$@" ;;
"dump "*) exec "$d/dump" "$@" ;;
esac
exit 2
`)
	t.Setenv("PATH", dir+":/usr/bin:/bin")
	r := sampleWith(t, "intel", Options{}, gpustats.VendorIntel)
	checkGPUs(t, r.GPUs, []gpustats.GPU{
		{Index: 0, Name: "Intel(R) Arc(TM) A770 Graphics", UUID: "00000000-0000-0000-0000-56a05e001000", MemoryTotalMB: 16310, MemoryUsedMB: 2048, MemoryFreeMB: 14262, UtilizationPct: 12.5, TemperatureC: 48, PowerW: 35.2},
		{Index: 1, Name: "Intel(R) Arc(TM) A380 Graphics", UUID: "00000000-0000-0000-0000-56a55e001000", MemoryTotalMB: u, MemoryUsedMB: 512, MemoryFreeMB: u, UtilizationPct: u, TemperatureC: 40, PowerW: u},
	})
	if args := readArgs(t, dir, "dump"); !strings.Contains(args, "dump -d 0,1 -m 0,1,3,18 -n 1") {
		t.Errorf("dump called with %q", args)
	}
	if args := readArgs(t, dir, "detail"); strings.TrimSpace(args) != "discovery -d 1 -j" {
		t.Errorf("detail asked with %q", args)
	}
}

func TestIntelNoDevice(t *testing.T) {
	dir := onlyPath(t)
	fakeTool(t, dir, "xpu-smi", `{"device_list": []}`, "", 0)
	_, err := Open(context.Background(), "intel", Options{})
	if err == nil || !strings.Contains(err.Error(), "lists no GPU") {
		t.Fatalf("error %v", err)
	}
}

func TestXPUDumpWithoutHeader(t *testing.T) {
	if _, err := parseXPUDump("0, 1, 2\n"); err == nil || !strings.Contains(err.Error(), "no DeviceId column") {
		t.Fatalf("error %v", err)
	}
}
