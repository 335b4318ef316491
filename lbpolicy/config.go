package lbpolicy

import (
	"fmt"
	"math"
	"time"

	"github.com/sollol-go/sollol/gpustats"
)

// Defaults, each the value assumed where nothing better is known (see the package documentation).
const (
	DefaultStaleAfter = 15 * time.Second
	DefaultMaxSkew    = gpustats.DefaultMaxSkew
	// DefaultHeadroomMB is what Ollama needs beyond a model's size for its context and graph buffers.
	DefaultHeadroomMB = 512
	// DefaultModelMB is the size of a model that no report gives a size for: an 8B model at Q4 with its context.
	DefaultModelMB = 4096
	// DefaultNumParallel is Ollama v0.17's OLLAMA_NUM_PARALLEL.
	DefaultNumParallel = 1
	// DefaultRequestTime is how long a request is assumed to take on a node that has not served enough yet to
	// learn it: a few hundred tokens at a consumer GPU's speed.
	DefaultRequestTime = 10 * time.Second
	// DefaultLoadMBps and DefaultLoadBase give a cold load's time on a node whose load speed is not learned yet:
	// size ÷ DefaultLoadMBps + DefaultLoadBase (reading the file from an SSD, starting the runner).
	DefaultLoadMBps = 1000
	DefaultLoadBase = 2 * time.Second
	// DefaultCPUSlowdown is how many times slower the part of a model on the CPU decodes than on a GPU.
	DefaultCPUSlowdown = 10
	// DefaultLearnWindow is the time over which request times and load speeds are averaged.
	DefaultLearnWindow = 2 * time.Minute
	// DefaultPrefillSpeed is how many prompt tokens a node reads per second for a model of DefaultModelMB, in
	// proportion slower for larger ones: a mid-range consumer GPU's prompt speed for an 8B model at Q4. It
	// prices what a prompt cache saves.
	DefaultPrefillSpeed = 4000
	// DefaultRefuseFor is how long a node that refused a model (a retried 500 or 503) ranks below the others for it.
	DefaultRefuseFor = time.Minute
)

// Config tunes Select. A zero field takes its default (see WithDefaults). Memory is in MiB, as in reports.
type Config struct {
	// StaleAfter is the age beyond which a report is not trusted. Default 15s.
	StaleAfter time.Duration
	// MaxSkew is how far in the future a report's timestamp may lie and still be trusted. Default
	// gpustats.DefaultMaxSkew.
	MaxSkew time.Duration
	// HeadroomMB is kept free beyond a model's size when judging whether it fits. Default 512; negative: none.
	HeadroomMB float64
	// DefaultModelMB is the size assumed for a model that no node reports a size for. Default 4096.
	DefaultModelMB float64
	// NumParallel is the requests a loaded model serves at once on nodes whose report does not say. Default 1.
	NumParallel int
	// RequestTime is how long a request takes on a node whose time is not learned yet. Default 10s.
	RequestTime time.Duration
	// LoadMBps and LoadBase give the time of a cold load on a node whose speed is not learned yet. Defaults
	// 1000 MiB/s and 2s.
	LoadMBps float64
	LoadBase time.Duration
	// CPUSlowdown is how many times slower a model's share on the CPU runs. Default 10.
	CPUSlowdown float64
	// LearnWindow is the time constant of the learned averages. Default 2m.
	LearnWindow time.Duration
	// ReserveTTL bounds how long a load the herd guard holds counts when no newer report arrives from the node.
	// Default twice StaleAfter.
	ReserveTTL time.Duration
	// RefuseFor is how long a node that refused a model ranks below the others for it. Default 1m.
	RefuseFor time.Duration
	// PrefillSpeed is the prompt tokens per second read for a model of DefaultModelMB (in proportion for other
	// sizes): what a cached prompt saves. Default 4000.
	PrefillSpeed float64
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	setIfZero(&c.StaleAfter, DefaultStaleAfter)
	setIfZero(&c.MaxSkew, DefaultMaxSkew)
	setIfZero(&c.ReserveTTL, 2*c.StaleAfter)
	setIfZero(&c.DefaultModelMB, DefaultModelMB)
	setIfZero(&c.NumParallel, DefaultNumParallel)
	setIfZero(&c.RequestTime, DefaultRequestTime)
	setIfZero(&c.LoadMBps, DefaultLoadMBps)
	setIfZero(&c.LoadBase, DefaultLoadBase)
	setIfZero(&c.CPUSlowdown, DefaultCPUSlowdown)
	setIfZero(&c.LearnWindow, DefaultLearnWindow)
	setIfZero(&c.RefuseFor, DefaultRefuseFor)
	setIfZero(&c.PrefillSpeed, DefaultPrefillSpeed)
	switch {
	case c.HeadroomMB == 0:
		c.HeadroomMB = DefaultHeadroomMB
	case c.HeadroomMB < 0:
		c.HeadroomMB = 0
	}
	return c
}

func setIfZero[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

// Validate reports the first field that Select cannot work with, by its Go name.
func (c Config) Validate() error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"StaleAfter", c.StaleAfter}, {"MaxSkew", c.MaxSkew}, {"ReserveTTL", c.ReserveTTL}, {"RequestTime", c.RequestTime},
		{"LoadBase", c.LoadBase}, {"LearnWindow", c.LearnWindow}, {"RefuseFor", c.RefuseFor}} {
		if d.v < 0 {
			return fmt.Errorf("lbpolicy: %s must not be negative, got %s", d.name, d.v)
		}
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"HeadroomMB", c.HeadroomMB}, {"DefaultModelMB", c.DefaultModelMB}, {"LoadMBps", c.LoadMBps}, {"CPUSlowdown", c.CPUSlowdown}, {"PrefillSpeed", c.PrefillSpeed}} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			return fmt.Errorf("lbpolicy: %s must be a finite number, got %v", f.name, f.v)
		}
	}
	switch {
	case c.DefaultModelMB < 0:
		return fmt.Errorf("lbpolicy: DefaultModelMB must not be negative, got %v", c.DefaultModelMB)
	case c.LoadMBps < 0:
		return fmt.Errorf("lbpolicy: LoadMBps must not be negative, got %v", c.LoadMBps)
	case c.PrefillSpeed < 0:
		return fmt.Errorf("lbpolicy: PrefillSpeed must not be negative, got %v", c.PrefillSpeed)
	case c.CPUSlowdown != 0 && c.CPUSlowdown < 1:
		return fmt.Errorf("lbpolicy: CPUSlowdown must be at least 1, got %v", c.CPUSlowdown)
	case c.NumParallel < 0:
		return fmt.Errorf("lbpolicy: NumParallel must not be negative, got %d", c.NumParallel)
	}
	return nil
}
