package reporter

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sollol-go/sollol/gpustats"
)

// writeTree creates files (path → content) under root.
func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAMDSysfs(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		// card10 sorts after card2 by number, not by name.
		"class/drm/card10/device/vendor":                     "0x1002\n",
		"class/drm/card10/device/device":                     "0x73bf\n",
		"class/drm/card10/device/mem_info_vram_total":        "17163091968\n",
		"class/drm/card10/device/mem_info_vram_used":         "[N/A]\n",
		"class/drm/card2/device/vendor":                      "0x1002\n",
		"class/drm/card2/device/product_name":                "AMD Radeon RX 7900 XTX\n",
		"class/drm/card2/device/unique_id":                   "a1b2c3d4\n",
		"class/drm/card2/device/mem_info_vram_total":         "25753026560\n",
		"class/drm/card2/device/mem_info_vram_used":          "4294967296\n",
		"class/drm/card2/device/gpu_busy_percent":            "37\n",
		"class/drm/card2/device/hwmon/hwmon4/temp1_input":    "51000\n",
		"class/drm/card2/device/hwmon/hwmon4/power1_average": "87000000\n",
		"class/drm/card1/device/vendor":                      "0x10de\n", // an NVIDIA card is not ours
		"class/drm/card2-DP-1/status":                        "connected\n",
		"class/drm/renderD128/device/vendor":                 "0x1002\n",
		"class/drm/card3/device/vendor":                      "0x1002\n",
		"class/drm/card3/device/mem_info_vram_total":         "1073741824\n",
		"class/drm/card3/device/mem_info_vram_used":          "2147483648\n", // more than total: a broken reading
		"class/drm/card3/device/gpu_busy_percent":            "250\n",
		"class/drm/card3/device/hwmon/hwmon9/power1_input":   "15500000\n",
		"class/drm/card3/device/hwmon/hwmon9/temp1_input":    "garbage\n",
	})
	r := sampleWith(t, "amd", Options{SysfsRoot: root}, gpustats.VendorAMD)
	checkGPUs(t, r.GPUs, []gpustats.GPU{
		{Index: 0, Name: "AMD Radeon RX 7900 XTX", UUID: "a1b2c3d4", MemoryTotalMB: 24560, MemoryUsedMB: 4096, MemoryFreeMB: 20464, UtilizationPct: 37, TemperatureC: 51, PowerW: 87},
		{Index: 1, Name: "AMD GPU", MemoryTotalMB: 1024, MemoryUsedMB: u, MemoryFreeMB: u, UtilizationPct: u, TemperatureC: u, PowerW: 15.5},
		{Index: 2, Name: "AMD GPU 0x73bf", MemoryTotalMB: 16368, MemoryUsedMB: u, MemoryFreeMB: u, UtilizationPct: u, TemperatureC: u, PowerW: u},
	})
}

func TestAMDSysfsNoCard(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{"class/drm/card0/device/vendor": "0x8086\n"})
	_, err := Open(context.Background(), "amd", Options{SysfsRoot: root})
	if err == nil || !strings.Contains(err.Error(), "no AMD GPU") {
		t.Fatalf("error %v", err)
	}
	_, err = Open(context.Background(), "amd", Options{SysfsRoot: filepath.Join(root, "missing")})
	if err == nil || !strings.Contains(err.Error(), "no AMD GPU") {
		t.Fatalf("error without a drm directory: %v", err)
	}
}
