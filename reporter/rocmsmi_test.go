package reporter

import (
	"context"
	"strings"
	"testing"

	"github.com/sollol-go/sollol/gpustats"
)

const rocmSMIOutput = `WARNING: AMD GPU device(s) is/are in a low-power state. Check power control/runtime_status

{"card1": {"GPU use (%)": "N/A", "VRAM Total Memory (B)": "17163091968", "VRAM Total Used Memory (B)": "N/A", "Temperature (Sensor edge) (C)": "40.0"},
 "card0": {"GPU use (%)": "12", "VRAM Total Memory (B)": "25753026560", "VRAM Total Used Memory (B)": "1073741824", "Temperature (Sensor edge) (C)": "55.0"},
 "system": {"Driver version": "6.7.0"}}
`

func TestROCmSMI(t *testing.T) {
	dir := onlyPath(t)
	fakeTool(t, dir, "rocm-smi", rocmSMIOutput, "", 0)
	r := sampleWith(t, "rocm-smi", Options{}, gpustats.VendorAMD)
	checkGPUs(t, r.GPUs, []gpustats.GPU{
		{Index: 0, Name: "AMD GPU (card0)", MemoryTotalMB: 24560, MemoryUsedMB: 1024, MemoryFreeMB: 23536, UtilizationPct: 12, TemperatureC: 55, PowerW: u},
		{Index: 1, Name: "AMD GPU (card1)", MemoryTotalMB: 16368, MemoryUsedMB: u, MemoryFreeMB: u, UtilizationPct: u, TemperatureC: 40, PowerW: u},
	})
	if args := readArgs(t, dir, "rocm-smi"); strings.TrimSpace(args) != "--showmeminfo vram --showuse --showtemp --json" {
		t.Errorf("rocm-smi called with %q", args)
	}
}

func TestROCmSMIOddOutput(t *testing.T) {
	for _, tc := range []struct{ name, out, want string }{
		{"no JSON", "WARNING: no AMD GPU found\n", "no JSON"},
		{"truncated JSON", `{"card0": {"GPU use (%)": "1"`, "rocm-smi"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := onlyPath(t)
			fakeTool(t, dir, "rocm-smi", tc.out, "", 0)
			s, err := Open(context.Background(), "rocm-smi", Options{})
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Sample(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
