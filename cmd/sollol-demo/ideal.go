package main

import (
	"slices"
	"time"

	"github.com/sollol-go/sollol/internal/ollamasim"
)

// idealRun is the limit no policy can beat: each request served on the fastest node that has its model
// installed and can hold it in VRAM, with no queue and no load, taking only its own prefill and decode. A chat's
// later turn prefills only its new user message, as if the node still held the conversation in its prompt
// cache. Requests whose model no node can hold in VRAM are left out (they count as not served).
func idealRun(sc *Scenario, reqs []Request) *Summary {
	s := &Summary{Policy: "ideal", Seed: sc.Seed}
	s.Requests = float64(len(reqs))
	system := 0
	if sc.SystemPrompt != nil {
		system = len(systemText(sc.SystemPrompt.Tokens))
	}
	for _, q := range reqs {
		m, speed, ok := sc.fastestHolder(q.Model)
		if !ok {
			continue
		}
		bytes := len(q.userText())
		if q.System && q.Turn == 0 {
			bytes += system
		}
		prefill := time.Duration(float64(max(1, bytes/4)) / (prefillPerSec(m) * speed) * float64(time.Second))
		decode := time.Duration(float64(q.Tokens) / (tokensPerSec(m) * speed) * float64(time.Second))
		s.OK++
		s.Latencies = append(s.Latencies, prefill+decode)
		s.TTFTs = append(s.TTFTs, prefill)
	}
	slices.Sort(s.Latencies)
	slices.Sort(s.TTFTs)
	s.setPercentiles()
	s.P95OverIdeal = 1
	return s
}

// fastestHolder returns model's definition and the speed of the fastest node that has it installed and can hold
// it in its GPUs' memory.
func (sc *Scenario) fastestHolder(model string) (m ollamasim.Model, speed float64, ok bool) {
	for i := range sc.Nodes {
		cfg := sc.nodeConfig(i, nil, "")
		total := 0.0
		for _, g := range cfg.GPUs {
			total += g.VRAMMB
		}
		sp := cfg.Speed
		if sp == 0 {
			sp = 1
		}
		for _, c := range cfg.Models {
			if c.Name == model && c.FootprintMB() <= total && sp > speed {
				m, speed, ok = c, sp, true
			}
		}
	}
	return m, speed, ok
}

// tokensPerSec and prefillPerSec are the simulator's speeds of m on a node of speed 1, defaults included.
func tokensPerSec(m ollamasim.Model) float64 {
	if m.TokensPerSec > 0 {
		return m.TokensPerSec
	}
	return ollamasim.DefaultTokensPerSec
}

func prefillPerSec(m ollamasim.Model) float64 {
	if m.PrefillTokensPerSec > 0 {
		return m.PrefillTokensPerSec
	}
	return ollamasim.DefaultPrefillFactor * tokensPerSec(m)
}
