package caddymodule

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/sollol-go/sollol/lbpolicy"
)

// gatewayPrompt is one prompt in a gatewayDoc: sent by that gateway to the upstream at AtMS, so that another
// gateway sends the conversation's next turn there too (affinity).
type gatewayPrompt struct {
	// Key is the prompt's hash (lbpolicy.Prompt.Key) and Model the model's key (lbpolicy.ModelKey), hexadecimal.
	Key      string `json:"key"`
	Model    string `json:"model_key"`
	Upstream string `json:"upstream"`
	AtMS     int64  `json:"at_ms"`
}

// maxGatewayPrompts bounds the prompts of a gatewayDoc.
const maxGatewayPrompts = 4096

// sentPrompts are the prompts this process sent lately, for its gateway document.
var sentPrompts promptRing

// promptRing holds the last len(slots) prompts sent, written by Select without locks.
type promptRing struct {
	next  atomic.Uint64
	slots [1024]sentPrompt
}

type sentPrompt struct {
	key, model atomic.Uint64
	atMS       atomic.Int64 // 0 while being written
	upstream   atomic.Pointer[string]
}

func (r *promptRing) add(key, model uint64, upstream *string, at time.Time) {
	s := &r.slots[(r.next.Add(1)-1)%uint64(len(r.slots))]
	s.atMS.Store(0)
	s.key.Store(key)
	s.model.Store(model)
	s.upstream.Store(upstream)
	s.atMS.Store(at.UnixMilli())
}

// since appends to dst the prompts sent at cutMS or after.
func (r *promptRing) since(dst []gatewayPrompt, cutMS int64) []gatewayPrompt {
	for i := range r.slots {
		s := &r.slots[i]
		at := s.atMS.Load()
		up := s.upstream.Load()
		if at < cutMS || at == 0 || up == nil {
			continue
		}
		p := gatewayPrompt{Key: strconv.FormatUint(s.key.Load(), 16), Model: strconv.FormatUint(s.model.Load(), 16),
			Upstream: *up, AtMS: at}
		if s.atMS.Load() == at { // not rewritten while read
			dst = append(dst, p)
		}
	}
	return dst
}

// importPrompts records the others' prompts sent after what was imported of each process before, in every
// affinity table, as sent to the upstream now; seen holds, by process, the latest prompt imported.
func importPrompts(docs []*gatewayDoc, seen map[string]int64) {
	for _, d := range docs {
		last := seen[d.Process]
		for _, p := range d.Prompts {
			v, ok := upstreamStates.Load(p.Upstream)
			if !ok || p.AtMS <= seen[d.Process] {
				continue
			}
			key, err1 := strconv.ParseUint(p.Key, 16, 64)
			model, err2 := strconv.ParseUint(p.Model, 16, 64)
			if err1 != nil || err2 != nil {
				continue
			}
			st := &v.(*upstreamState).policy
			promptTables.Range(func(_, t any) bool {
				t.(*lbpolicy.Prompts).Import(key, model, st, time.UnixMilli(p.AtMS))
				return true
			})
			last = max(last, p.AtMS)
		}
		seen[d.Process] = last
	}
}
