package reporter

import (
	"context"
	"fmt"
	"os/exec"

	"github.com/sollol-go/sollol/gpustats"
)

// toolSampler runs a vendor's command-line tool every cycle and parses what it prints.
type toolSampler struct {
	opts   Options
	tool   string
	args   []string
	vendor string
	parse  func([]byte) ([]gpustats.GPU, error)
}

// toolOpener returns the Opener of a toolSampler, which fails when the tool is not on PATH.
func toolOpener(tool string, args []string, vendor string, parse func([]byte) ([]gpustats.GPU, error)) Opener {
	return func(_ context.Context, opts Options) (Sampler, error) {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%s not found on PATH", tool)
		}
		return toolSampler{opts: opts, tool: tool, args: args, vendor: vendor, parse: parse}, nil
	}
}

func (s toolSampler) Name() string { return s.tool }

func (s toolSampler) Sample(ctx context.Context) (Reading, error) {
	out, err := runTool(ctx, s.opts, s.tool, s.args...)
	if err != nil {
		return Reading{}, err
	}
	gpus, err := s.parse(out)
	if err != nil {
		return Reading{}, err
	}
	return Reading{Vendor: s.vendor, GPUs: gpus}, nil
}
