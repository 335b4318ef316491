package main

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/sollol-go/sollol/internal/ollamasim"
)

// maxGateways bounds Scenario.Gateways: each gateway is a Caddy process of its own.
const maxGateways = 8

// setPhases checks Rate and Duration, or Phases in their place, and sets Duration to the length of the run.
func (sc *Scenario) setPhases() error {
	if len(sc.Phases) == 0 {
		if sc.Duration == 0 {
			sc.Duration = duration(6 * time.Minute)
		}
		if !(sc.Rate > 0) || math.IsInf(sc.Rate, 0) {
			return errors.New("rate must be positive")
		}
		return nil
	}
	if sc.Rate != 0 || sc.Duration != 0 {
		return errors.New("phases replace rate and duration: set either phases or rate and duration")
	}
	var total time.Duration
	busy := false
	for i, p := range sc.Phases {
		if !(p.Duration > 0) {
			return fmt.Errorf("phase %d: duration must be positive", i+1)
		}
		if !(p.Rate >= 0) || math.IsInf(p.Rate, 0) {
			return fmt.Errorf("phase %d: rate must not be negative", i+1)
		}
		total += time.Duration(p.Duration)
		busy = busy || p.Rate > 0
	}
	if !busy {
		return errors.New("phases: at least one phase needs a positive rate")
	}
	sc.Duration = duration(total)
	return nil
}

// checkWorkload checks the optional workload members and fills in their defaults; known holds the catalogue's
// model names.
func (sc *Scenario) checkWorkload(known map[string]bool) error {
	for i, p := range sc.Phases {
		if p.Weights == nil {
			continue
		}
		w, total := map[string]float64{}, 0.0
		for name, v := range p.Weights {
			name = ollamasim.CanonicalName(name)
			if !known[name] {
				return fmt.Errorf("phase %d: model %s is not in the catalogue", i+1, name)
			}
			if !(v >= 0) || math.IsInf(v, 0) {
				return fmt.Errorf("phase %d: weight of %s must not be negative", i+1, name)
			}
			w[name] = v
			total += v
		}
		if total == 0 {
			return fmt.Errorf("phase %d: weights: give at least one model a positive weight", i+1)
		}
		sc.Phases[i].Weights = w
	}
	if c := sc.Conversations; c != nil {
		setIfZero(&c.TurnsMin, 2)
		setIfZero(&c.TurnsMax, max(10, c.TurnsMin))
		setIfZero(&c.ThinkMin, duration(10*time.Second))
		setIfZero(&c.ThinkMax, max(duration(time.Minute), c.ThinkMin))
		switch {
		case !(c.Share >= 0 && c.Share <= 1):
			return errors.New("conversations: share must be between 0 and 1")
		case c.TurnsMin < 1 || c.TurnsMax < c.TurnsMin || c.TurnsMax > 1000:
			return errors.New("conversations: want 1 ≤ turns_min ≤ turns_max ≤ 1000")
		case c.ThinkMin < 0 || c.ThinkMax < c.ThinkMin:
			return errors.New("conversations: want 0 ≤ think_min ≤ think_max")
		}
	}
	if p := sc.PromptTokens; p != nil && (p.Min < 1 || p.Max < p.Min || p.Max > 1<<20) {
		return errors.New("prompt_tokens: want 1 ≤ min ≤ max ≤ 1048576")
	}
	if s := sc.SystemPrompt; s != nil && (s.Tokens < 1 || s.Tokens > 1<<20 || !(s.Share >= 0 && s.Share <= 1)) {
		return errors.New("system_prompt: want 1 ≤ tokens ≤ 1048576 and a share between 0 and 1")
	}
	setIfZero(&sc.Gateways, 1)
	return sc.validateGateways()
}

// validateGateways checks gateways and share_state, also when the command line set them.
func (sc *Scenario) validateGateways() error {
	switch {
	case sc.Gateways < 1 || sc.Gateways > maxGateways:
		return fmt.Errorf("gateways %d: want 1 to %d", sc.Gateways, maxGateways)
	case sc.ShareState != "" && sc.ShareState != "off" && sc.ShareState != "on":
		return fmt.Errorf("share_state %q: want on or off", sc.ShareState)
	}
	return nil
}

func setIfZero[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}
