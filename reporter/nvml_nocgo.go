//go:build !cgo

package reporter

import (
	"context"
	"errors"
)

// openNVML fails in a binary built without cgo: go-nvml needs cgo to load libnvidia-ml. nvidia-smi still works.
func openNVML(context.Context, Options) (Sampler, error) {
	return nil, errors.New("this gpu-reporter was built without cgo, so it cannot load NVML; use --sampler nvidia-smi")
}
