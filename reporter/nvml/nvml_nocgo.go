//go:build !cgo

package nvml

import (
	"context"
	"errors"

	"github.com/sollol-go/sollol/reporter"
)

func init() { reporter.Register("nvml", open) }

// open fails in a binary built without cgo: go-nvml needs cgo to load libnvidia-ml. nvidia-smi still works.
func open(context.Context, reporter.Options) (reporter.Sampler, error) {
	return nil, errors.New("this gpu-reporter was built without cgo, so it cannot load NVML; use --sampler nvidia-smi")
}
