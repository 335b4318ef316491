package lbpolicy

import "strings"

// Reason says what decided the choice. Its String form is stable and meant for metrics labels and logs.
type Reason uint8

// The reasons. A reason that starts with "fallback:" comes with Index -1: the fallback policy decides.
const (
	// ReasonUnknown is the zero Reason; Select never returns it.
	ReasonUnknown Reason = iota
	// ReasonResident: the model is loaded on the node; the estimate is the wait for a slot plus the request.
	ReasonResident
	// ReasonCached: the model is loaded on the node and a slot there still holds the conversation's earlier
	// prompt, so the request reads only what is new; the prefill saved was taken off the estimate.
	ReasonCached
	// ReasonLoading: an earlier request started loading the model on the node; this one joins that load.
	ReasonLoading
	// ReasonFits: the model loads cold into the node's free GPU memory.
	ReasonFits
	// ReasonMakeRoom: the model loads cold after Ollama unloads idle models to make room.
	ReasonMakeRoom
	// ReasonSpill: the model is larger than the room on the node's GPUs and runs partly on its CPU.
	ReasonSpill
	// ReasonMemoryUnknown: the node did not report its GPU memory; the load was counted as one that makes room.
	ReasonMemoryUnknown
	// ReasonCPUOnly: the node has no GPU; the model runs on its CPU.
	ReasonCPUOnly
	// ReasonNoModel: the request names no model; the shortest wait won.
	ReasonNoModel
	// ReasonNoStats: the upstream has no fresh report, and every upstream with one had a hard limit.
	ReasonNoStats
	// ReasonDraining: the node is draining; nothing else was available.
	ReasonDraining
	// ReasonRefused: the node refused the model recently (a retried 500 or 503); nothing else was available.
	ReasonRefused
	// ReasonTooSmall: the node cannot hold the model even with everything unloaded and its RAM; nothing that
	// can was available.
	ReasonTooSmall
	// ReasonNotInstalled: the node reports that it does not have the model, and neither does any other upstream.
	ReasonNotInstalled
	// ReasonTried: the request was already sent to this upstream; every other one was worse.
	ReasonTried
	// ReasonFallbackNoFreshStats: no available upstream has a fresh report.
	ReasonFallbackNoFreshStats
	// ReasonFallbackNoCandidate: no upstream is available.
	ReasonFallbackNoCandidate

	reasonCount
)

var reasonNames = [reasonCount]string{
	ReasonUnknown:              "unknown",
	ReasonResident:             "resident",
	ReasonCached:               "cached",
	ReasonLoading:              "loading",
	ReasonFits:                 "fits",
	ReasonMakeRoom:             "make-room",
	ReasonSpill:                "spill",
	ReasonMemoryUnknown:        "memory-unknown",
	ReasonCPUOnly:              "cpu-only",
	ReasonNoModel:              "no-model",
	ReasonNoStats:              "no-stats",
	ReasonDraining:             "draining",
	ReasonRefused:              "refused",
	ReasonTooSmall:             "too-small",
	ReasonNotInstalled:         "not-installed",
	ReasonTried:                "tried",
	ReasonFallbackNoFreshStats: "fallback:no-fresh-stats",
	ReasonFallbackNoCandidate:  "fallback:no-candidate",
}

// String returns the reason's name, such as "resident" or "fallback:no-fresh-stats".
func (r Reason) String() string {
	if r >= reasonCount {
		return reasonNames[ReasonUnknown]
	}
	return reasonNames[r]
}

// Fallback reports whether the reason leaves the choice to the fallback policy.
func (r Reason) Fallback() bool {
	return r == ReasonFallbackNoFreshStats || r == ReasonFallbackNoCandidate
}

// Reasons lists every reason Select can return, for example to initialise metrics.
func Reasons() []Reason {
	rs := make([]Reason, 0, reasonCount-1)
	for r := ReasonUnknown + 1; r < reasonCount; r++ {
		rs = append(rs, r)
	}
	return rs
}

// Defaults says which facts of a decision's estimate were not known and took their documented default.
type Defaults uint8

const (
	// DefaultedSlots: the report did not give num_parallel (Config.NumParallel was used).
	DefaultedSlots Defaults = 1 << iota
	// DefaultedRequestTime: the node has not learned its request time yet (the others' figure or
	// Config.RequestTime was used).
	DefaultedRequestTime
	// DefaultedLoadSpeed: the node's load speed is not learned yet (Config.LoadMBps and LoadBase were used).
	DefaultedLoadSpeed
	// DefaultedModelSize: no report gives the model's size (Config.DefaultModelMB was used).
	DefaultedModelSize
	// DefaultedMemory: the node did not report its GPU memory; the load was counted as one that makes room.
	DefaultedMemory
	// DefaultedResidency: the report carries no Ollama state; the model was assumed not loaded.
	DefaultedResidency
)

var defaultNames = [...]string{"slots", "request-time", "load-speed", "model-size", "memory", "residency"}

// String lists the defaulted facts, such as "slots,request-time"; "" when none.
func (d Defaults) String() string {
	var b strings.Builder
	for i, name := range defaultNames {
		if d&(1<<i) != 0 {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(name)
		}
	}
	return b.String()
}
