package ollamasim

import (
	"fmt"
	"math"

	"github.com/sollol-go/sollol/gpustats"
	"github.com/sollol-go/sollol/reporter"
)

// State is the node's GPUs as gpu-reporter's "sim" sampler reads them: memory used by the loaded models, and a
// GPU's utilisation the share of its models' parallel slots in use.
func (n *Node) State() reporter.SimState {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stateLocked()
}

func (n *Node) stateLocked() reporter.SimState {
	busy := make([]float64, len(n.cfg.GPUs))
	for _, r := range n.runners {
		for i, a := range r.perGPU {
			if a > 0 {
				busy[i] += float64(r.active) / float64(n.cfg.NumParallel)
			}
		}
	}
	gpus := make([]gpustats.GPU, len(n.cfg.GPUs))
	for i, g := range n.cfg.GPUs {
		used := math.Round(min(n.usedMB[i], g.VRAMMB))
		util := math.Round(100 * min(1, busy[i]))
		gpus[i] = gpustats.GPU{Index: i, Name: g.Name, UUID: fmt.Sprintf("GPU-sim-%s-%d", n.cfg.Name, i),
			MemoryTotalMB: gpustats.Measure(g.VRAMMB), MemoryUsedMB: gpustats.Measure(used),
			MemoryFreeMB: gpustats.Measure(g.VRAMMB - used), UtilizationPct: gpustats.Measure(util),
			TemperatureC: gpustats.Measure(35 + util/2)}
	}
	return reporter.SimState{Vendor: gpustats.VendorNVIDIA, GPUs: gpus}
}

// writeState writes StateFile when the state changed since the last write.
func (n *Node) writeState() error {
	if n.cfg.StateFile == "" {
		return nil
	}
	n.mu.Lock()
	if n.written == n.version+1 {
		n.mu.Unlock()
		return nil
	}
	st, v := n.stateLocked(), n.version
	n.mu.Unlock()
	if err := reporter.WriteSimState(n.cfg.StateFile, st); err != nil {
		return fmt.Errorf("ollamasim: %s: %w", n.cfg.Name, err)
	}
	n.mu.Lock()
	n.written = v + 1
	n.mu.Unlock()
	return nil
}
