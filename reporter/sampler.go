package reporter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/sollol-go/sollol/gpustats"
)

// Sampler reads the GPUs of this node. Sample is called once per reporting cycle, never concurrently.
//
// A Sampler that holds resources (NVML) also implements io.Closer; Run closes it when it ends.
type Sampler interface {
	// Name is the name Open knows the sampler by.
	Name() string
	// Sample reads every GPU now. An error means nothing could be read this time; a single value the device
	// does not give is reported as gpustats.Unknown instead.
	Sample(ctx context.Context) (Reading, error)
}

// Reading is what a Sampler saw.
type Reading struct {
	// Vendor is one of the gpustats Vendor constants.
	Vendor string
	// GPUs lists every device, ordered by index. Empty for a CPU-only node.
	GPUs []gpustats.GPU
}

// Options configures the samplers. The zero value uses the system's paths and tools.
type Options struct {
	// SysfsRoot is where sysfs is mounted; empty means "/sys". Tests point it at a fake tree.
	SysfsRoot string
	// SimState is the file the "sim" sampler reads (see SimState). Required for "sim".
	SimState string
	// CommandTimeout bounds each run of an external tool (nvidia-smi, rocm-smi, xpu-smi); zero means 5s.
	CommandTimeout time.Duration
	// Logger receives the auto-detection verdicts; nil logs nothing.
	Logger *zap.Logger
}

func (o Options) sysfs() string {
	if o.SysfsRoot == "" {
		return "/sys"
	}
	return o.SysfsRoot
}

func (o Options) timeout() time.Duration {
	if o.CommandTimeout <= 0 {
		return 5 * time.Second
	}
	return o.CommandTimeout
}

func (o Options) logger() *zap.Logger {
	if o.Logger == nil {
		return zap.NewNop()
	}
	return o.Logger
}

// Opener makes a sampler ready or says why it cannot be used on this node.
type Opener func(ctx context.Context, opts Options) (Sampler, error)

// samplerEntry is one row of the samplers table. auto is false for a sampler that detection must never pick.
type samplerEntry struct {
	name string
	open Opener
	auto bool
}

// samplers is the table Open chooses from, in the order "auto" tries them. "nvml" lives in reporter/nvml, which
// links go-nvml through cgo: only a program that imports that package (gpu-reporter) has it, so that the gateway
// and the demo, which use this package too, do not compile the binding.
var samplers = []samplerEntry{
	{"nvml", notLinked("nvml", "github.com/sollol-go/sollol/reporter/nvml"), true},
	{"nvidia-smi", openNvidiaSMI, true},
	{"amd", openAMDSysfs, true},
	{"rocm-smi", openROCmSMI, true},
	{"intel", openIntel, true},
	{"none", openNone, true},
	{"sim", openSim, false},
}

// Register supplies the opener of the sampler called name, whose code lives in a package of its own: the
// package calls it from its init function, so that importing the package is what links the sampler in. It panics
// on a name that the table does not hold.
func Register(name string, open Opener) {
	for i := range samplers {
		if samplers[i].name == name {
			samplers[i].open = open
			return
		}
	}
	panic("reporter: Register of unknown sampler " + name)
}

// notLinked is the opener of a sampler whose package the program does not import.
func notLinked(name, pkg string) Opener {
	return func(context.Context, Options) (Sampler, error) {
		return nil, fmt.Errorf("this program does not include the %s sampler (it is in %s, which gpu-reporter imports)", name, pkg)
	}
}

// Auto is the sampler name that detects the best sampler for this node.
const Auto = "auto"

// Names lists every name Open accepts, Auto first.
func Names() []string {
	names := []string{Auto}
	for _, s := range samplers {
		names = append(names, s.name)
	}
	return names
}

// Open returns the sampler called name, ready to sample, or an error saying why it cannot be used here. Auto
// tries every automatic sampler in order (see Detect).
func Open(ctx context.Context, name string, opts Options) (Sampler, error) {
	if name == Auto || name == "" {
		s, _ := Detect(ctx, opts)
		return s, nil
	}
	for _, s := range samplers {
		if s.name == name {
			sm, err := s.open(ctx, opts)
			if err != nil {
				return nil, fmt.Errorf("reporter: sampler %q: %w", name, err)
			}
			return sm, nil
		}
	}
	return nil, fmt.Errorf("reporter: unknown sampler %q (one of %s)", name, strings.Join(Names(), ", "))
}

// Verdict is why detection chose or passed over one sampler.
type Verdict struct {
	Sampler string
	Chosen  bool
	Reason  string
}

// Detect tries the automatic samplers in table order (NVML, nvidia-smi, AMD sysfs, rocm-smi, Intel, none) and
// returns the first that opens and sees at least one GPU, falling back to "none". Every verdict is logged at info
// level and returned. "sim" is never detected: it must be asked for.
func Detect(ctx context.Context, opts Options) (Sampler, []Verdict) {
	log := opts.logger()
	var verdicts []Verdict
	pass := func(name, reason string) {
		verdicts = append(verdicts, Verdict{Sampler: name, Reason: reason})
		log.Info("sampler passed over", zap.String("sampler", name), zap.String("reason", reason))
	}
	for _, c := range samplers {
		if !c.auto {
			continue
		}
		s, err := c.open(ctx, opts)
		if err != nil {
			pass(c.name, err.Error())
			continue
		}
		reason := "it opened and sees no GPU: this node is CPU-only"
		if c.name != "none" {
			r, err := s.Sample(ctx)
			if err == nil && len(r.GPUs) == 0 {
				err = errors.New("it opened but sees no GPU")
			}
			if err != nil {
				closeSampler(s)
				pass(c.name, err.Error())
				continue
			}
			reason = fmt.Sprintf("it sees %d %s GPU(s)", len(r.GPUs), r.Vendor)
		}
		verdicts = append(verdicts, Verdict{Sampler: c.name, Chosen: true, Reason: reason})
		log.Info("sampler chosen", zap.String("sampler", c.name), zap.String("reason", reason))
		return s, verdicts
	}
	// Unreachable while "none" is in the table, kept so that a table edit cannot return nil.
	return noneSampler{}, verdicts
}

func closeSampler(s Sampler) {
	if c, ok := s.(io.Closer); ok {
		c.Close()
	}
}
