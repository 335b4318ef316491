package reporter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/sollol-go/sollol/gpustats"
)

// SimState is the state of a simulated node, as the "sim" sampler reads it from the file named by Options.SimState
// (flag --sim-state). A simulator writes it with WriteSimState whenever its GPUs change; the sampler reads the file
// afresh every cycle, so the reporter follows the simulation without a restart. An example:
//
//	{"vendor":"nvidia","gpus":[{"index":0,"name":"Sim GPU","memory_total_mb":24576,"memory_free_mb":20480,
//	  "memory_used_mb":4096,"utilization_percent":10,"temperature_c":40}]}
//
// A GPU member left out is unknown. An empty vendor means "nvidia" when there are GPUs and "none" otherwise.
type SimState struct {
	Vendor string         `json:"vendor,omitempty"`
	GPUs   []gpustats.GPU `json:"gpus"`
}

// maxSimStateBytes bounds the state file; a node's GPUs take a few kilobytes.
const maxSimStateBytes = 1 << 20

// WriteSimState writes state to path atomically (a temporary file renamed over it), so that the sampler never
// reads half a file.
func WriteSimState(path string, state SimState) error {
	b, err := json.Marshal(state)
	if err != nil {
		return fmt.Errorf("reporter: encoding sim state: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".sim-state-*")
	if err != nil {
		return fmt.Errorf("reporter: writing sim state: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("reporter: writing sim state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("reporter: writing sim state: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("reporter: writing sim state: %w", err)
	}
	return nil
}

// ReadSimState reads a state written by WriteSimState.
func ReadSimState(path string) (SimState, error) {
	f, err := os.Open(path)
	if err != nil {
		return SimState{}, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSimStateBytes+1))
	if err != nil {
		return SimState{}, err
	}
	if len(b) > maxSimStateBytes {
		return SimState{}, fmt.Errorf("%s is larger than %d bytes", path, maxSimStateBytes)
	}
	var s SimState
	if err := json.Unmarshal(b, &s); err != nil {
		return SimState{}, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// simSampler reports whatever the simulation's state file says.
type simSampler struct{ path string }

func openSim(_ context.Context, opts Options) (Sampler, error) {
	if opts.SimState == "" {
		return nil, errors.New("no state file: set --sim-state")
	}
	return simSampler{path: opts.SimState}, nil
}

func (simSampler) Name() string { return "sim" }

func (s simSampler) Sample(context.Context) (Reading, error) {
	st, err := ReadSimState(s.path)
	if err != nil {
		return Reading{}, fmt.Errorf("sim state: %w", err)
	}
	vendor := st.Vendor
	if vendor == "" {
		vendor = gpustats.VendorNVIDIA
		if len(st.GPUs) == 0 {
			vendor = gpustats.VendorNone
		}
	}
	return Reading{Vendor: vendor, GPUs: st.GPUs}, nil
}
