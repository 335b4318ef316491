package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
)

// outcomeNames name the outcomes as the tables head them.
var outcomeNames = [...]string{OK: "ok", OutOfMemory: "OOM", NotInstalled: "not installed", Busy: "503",
	Timeout: "timeout", OtherError: "other"}

// traceLine is one request of one run, as --trace writes it: what was asked, what came back, and vram_aware's
// decision header (node, reason, upstream and the report's source), to follow single slow requests.
type traceLine struct {
	Policy  string  `json:"policy"`
	Seed    uint64  `json:"seed"`
	Request int     `json:"request"`
	Model   string  `json:"model"`
	Chat    int     `json:"chat,omitempty"`
	Turn    int     `json:"turn,omitempty"`
	Tokens  int     `json:"tokens"`
	Stream  bool    `json:"stream"`
	Outcome string  `json:"outcome"`
	Latency float64 `json:"latency_s"`
	TTFT    float64 `json:"ttft_s"`
	// Decision is vram_aware's decision header, empty for the other policies.
	Decision string `json:"decision,omitempty"`
}

// writeTrace writes every request of every run to path, one JSON object per line, in run and workload order.
func (c *Comparison) writeTrace(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for i, runs := range c.Runs {
		for _, s := range runs {
			for k, r := range s.Results {
				q := s.Workload[k]
				if err == nil {
					err = enc.Encode(traceLine{Policy: c.Policies[i], Seed: s.Seed, Request: k, Model: q.Model, Chat: q.Chat,
						Turn: q.Turn, Tokens: q.Tokens, Stream: q.Stream, Outcome: outcomeNames[r.Outcome],
						Latency: r.Latency.Seconds(), TTFT: secs(r.TTFT), Decision: r.Decision})
				}
			}
		}
	}
	return errors.Join(err, w.Flush(), f.Close())
}
