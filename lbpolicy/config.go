package lbpolicy

import (
	"fmt"
	"math"
	"time"

	"github.com/sollol-go/sollol/gpustats"
)

// Defaults. MinFreeMB, BoostFreeMB and BoostFactor are SOLLOL's documented values.
const (
	DefaultStaleAfter         = 15 * time.Second
	DefaultMaxSkew            = gpustats.DefaultMaxSkew
	DefaultMinFreeMB          = 2048
	DefaultBoostFreeMB        = 4096
	DefaultBoostFactor        = 1.5
	DefaultHeadroomMB         = 512
	DefaultInFlightPenalty    = 1
	DefaultUtilizationPenalty = 0.5
	DefaultModelMB            = 4096
)

// Config tunes Select. A zero field takes its default (see WithDefaults); a negative size or penalty means none.
// Memory is in MiB, as in reports.
type Config struct {
	// StaleAfter is the age beyond which a report is not trusted. Default 15s.
	StaleAfter time.Duration
	// MaxSkew is how far in the future a report's timestamp may lie and still be trusted (node clocks drift).
	// Default gpustats.DefaultMaxSkew.
	MaxSkew time.Duration
	// MinFreeMB: a node with less free GPU memory is overwhelmed and used only when nothing else qualifies.
	// Default 2048 (2 GiB).
	MinFreeMB float64
	// BoostFreeMB: a node with more free GPU memory has its free memory counted BoostFactor times. Default 4096
	// (4 GiB); negative disables the boost (WithDefaults sets BoostFactor 1).
	BoostFreeMB float64
	// BoostFactor multiplies free memory above BoostFreeMB. Default 1.5.
	BoostFactor float64
	// HeadroomMB is kept free beyond a model's size when judging whether it fits (context, graph buffers).
	// Default 512.
	HeadroomMB float64
	// InFlightPenalty divides a node's score by 1 + InFlightPenalty × in-flight requests. Default 1.
	InFlightPenalty float64
	// UtilizationPenalty multiplies a node's score by 1 − UtilizationPenalty × utilisation/100; it must be below 1.
	// Default 0.5.
	UtilizationPenalty float64
	// DefaultModelMB is the size assumed for a model that no node reports a size for. Default 4096.
	DefaultModelMB float64
	// ReserveTTL bounds how long the herd guard holds a reservation when no newer report arrives from the node.
	// Default twice StaleAfter.
	ReserveTTL time.Duration
}

// WithDefaults returns c with zero fields set to their defaults and negative sizes and penalties set to none.
func (c Config) WithDefaults() Config {
	if c.StaleAfter == 0 {
		c.StaleAfter = DefaultStaleAfter
	}
	if c.MaxSkew == 0 {
		c.MaxSkew = DefaultMaxSkew
	}
	if c.ReserveTTL == 0 {
		c.ReserveTTL = 2 * c.StaleAfter
	}
	sizeOrPenalty := func(v *float64, def float64) {
		switch {
		case *v == 0:
			*v = def
		case *v < 0:
			*v = 0
		}
	}
	sizeOrPenalty(&c.MinFreeMB, DefaultMinFreeMB)
	sizeOrPenalty(&c.HeadroomMB, DefaultHeadroomMB)
	sizeOrPenalty(&c.InFlightPenalty, DefaultInFlightPenalty)
	sizeOrPenalty(&c.UtilizationPenalty, DefaultUtilizationPenalty)
	sizeOrPenalty(&c.DefaultModelMB, DefaultModelMB)
	switch {
	case c.BoostFreeMB < 0:
		c.BoostFreeMB, c.BoostFactor = 0, 1
	case c.BoostFreeMB == 0:
		c.BoostFreeMB = DefaultBoostFreeMB
	}
	if c.BoostFactor == 0 {
		c.BoostFactor = DefaultBoostFactor
	}
	return c
}

// Validate reports the first field that Select cannot work with, by its Go name.
func (c Config) Validate() error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"StaleAfter", c.StaleAfter}, {"MaxSkew", c.MaxSkew}, {"ReserveTTL", c.ReserveTTL}} {
		if d.v < 0 {
			return fmt.Errorf("lbpolicy: %s must not be negative, got %s", d.name, d.v)
		}
	}
	for _, f := range []struct {
		name string
		v    float64
	}{
		{"MinFreeMB", c.MinFreeMB}, {"BoostFreeMB", c.BoostFreeMB}, {"BoostFactor", c.BoostFactor},
		{"HeadroomMB", c.HeadroomMB}, {"InFlightPenalty", c.InFlightPenalty},
		{"UtilizationPenalty", c.UtilizationPenalty}, {"DefaultModelMB", c.DefaultModelMB},
	} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			return fmt.Errorf("lbpolicy: %s must be a finite number, got %v", f.name, f.v)
		}
	}
	if c.BoostFactor < 0 {
		return fmt.Errorf("lbpolicy: BoostFactor must not be negative, got %v", c.BoostFactor)
	}
	if c.UtilizationPenalty >= 1 {
		return fmt.Errorf("lbpolicy: UtilizationPenalty must be below 1, got %v", c.UtilizationPenalty)
	}
	return nil
}
