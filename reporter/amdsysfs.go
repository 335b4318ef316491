package reporter

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/sollol-go/sollol/gpustats"
)

// amdVendorID is AMD's PCI vendor id as sysfs writes it.
const amdVendorID = "0x1002"

var drmCard = regexp.MustCompile(`^card([0-9]+)$`)

// amdSysfsSampler reads AMD GPUs from the amdgpu driver's sysfs files: no tool needed.
//
//	<root>/class/drm/cardN/device/vendor                  0x1002
//	<root>/class/drm/cardN/device/mem_info_vram_total     bytes
//	<root>/class/drm/cardN/device/mem_info_vram_used      bytes
//	<root>/class/drm/cardN/device/gpu_busy_percent        %
//	<root>/class/drm/cardN/device/hwmon/hwmon*/temp1_input     m°C
//	<root>/class/drm/cardN/device/hwmon/hwmon*/power1_average  µW (power1_input on newer kernels)
//	<root>/class/drm/cardN/device/product_name, unique_id  optional
type amdSysfsSampler struct{ root string }

func openAMDSysfs(_ context.Context, opts Options) (Sampler, error) {
	s := amdSysfsSampler{root: opts.sysfs()}
	cards, err := s.cards()
	if err != nil {
		return nil, err
	}
	if len(cards) == 0 {
		return nil, fmt.Errorf("no AMD GPU (vendor %s) under %s", amdVendorID, filepath.Join(s.root, "class/drm"))
	}
	return s, nil
}

func (amdSysfsSampler) Name() string { return "amd" }

// cards returns the device directories of AMD cards, ordered by card number.
func (s amdSysfsSampler) cards() ([]string, error) {
	dir := filepath.Join(s.root, "class/drm")
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", dir, err)
	}
	type card struct {
		n   int
		dev string
	}
	var found []card
	for _, e := range entries {
		m := drmCard.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		dev := filepath.Join(dir, e.Name(), "device")
		if readString(filepath.Join(dev, "vendor")) != amdVendorID {
			continue
		}
		n, _ := strconv.Atoi(m[1])
		found = append(found, card{n, dev})
	}
	slices.SortFunc(found, func(a, b card) int { return a.n - b.n })
	devs := make([]string, len(found))
	for i, c := range found {
		devs[i] = c.dev
	}
	return devs, nil
}

func (s amdSysfsSampler) Sample(context.Context) (Reading, error) {
	cards, err := s.cards()
	if err != nil {
		return Reading{}, err
	}
	if len(cards) > gpustats.MaxGPUs {
		cards = cards[:gpustats.MaxGPUs]
	}
	gpus := make([]gpustats.GPU, 0, len(cards))
	for i, dev := range cards {
		g := UnknownGPU(i)
		g.Name = readString(filepath.Join(dev, "product_name"))
		if g.Name == "" {
			g.Name = strings.TrimSpace("AMD GPU " + readString(filepath.Join(dev, "device")))
		}
		g.UUID = readString(filepath.Join(dev, "unique_id"))
		g.MemoryTotalMB = parseMeasure(readString(filepath.Join(dev, "mem_info_vram_total")), 1.0/mib)
		g.MemoryUsedMB = parseMeasure(readString(filepath.Join(dev, "mem_info_vram_used")), 1.0/mib)
		g.UtilizationPct = parseMeasure(readString(filepath.Join(dev, "gpu_busy_percent")), 1)
		if hw := firstHwmon(dev); hw != "" {
			g.TemperatureC = parseMeasure(readString(filepath.Join(hw, "temp1_input")), 1e-3)
			g.PowerW = parseMeasure(readString(filepath.Join(hw, "power1_average")), 1e-6)
			if !g.PowerW.Known() {
				g.PowerW = parseMeasure(readString(filepath.Join(hw, "power1_input")), 1e-6)
			}
		}
		Tidy(&g)
		gpus = append(gpus, g)
	}
	return Reading{Vendor: gpustats.VendorAMD, GPUs: gpus}, nil
}

func firstHwmon(dev string) string {
	m, _ := filepath.Glob(filepath.Join(dev, "hwmon", "hwmon*"))
	if len(m) == 0 {
		return ""
	}
	slices.Sort(m)
	return m[0]
}

// readString returns a small sysfs file's content without surrounding space, or "" when it cannot be read.
func readString(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	buf := make([]byte, 512)
	n, _ := f.Read(buf)
	return strings.TrimSpace(string(buf[:n]))
}
