package reporter

import (
	"context"

	"github.com/sollol-go/sollol/gpustats"
)

// noneSampler reports a CPU-only node: vendor "none" and no GPU.
type noneSampler struct{}

func openNone(context.Context, Options) (Sampler, error) { return noneSampler{}, nil }

func (noneSampler) Name() string { return "none" }

func (noneSampler) Sample(context.Context) (Reading, error) {
	return Reading{Vendor: gpustats.VendorNone}, nil
}
