package lbpolicy

// Reason says why Select chose what it chose. Its String form is stable and meant for metrics labels and logs.
type Reason uint8

// The reasons, best first. A reason that starts with "fallback:" comes with Index -1: the fallback policy decides.
const (
	// ReasonUnknown is the zero Reason; Select never returns it.
	ReasonUnknown Reason = iota
	// ReasonResident: the model is loaded in the node's GPU memory.
	ReasonResident
	// ReasonLoading: an earlier request sent the model to this node to load, and its reports do not show it yet;
	// the request joins that load.
	ReasonLoading
	// ReasonFits: the model is not loaded but fits in the node's free GPU memory.
	ReasonFits
	// ReasonMostFree: no model was named; the node has the best score among nodes that are not overwhelmed.
	ReasonMostFree
	// ReasonMemoryUnknown: the node has GPUs but did not report their memory, so whether the model fits is
	// unknown; it was ranked by residency, installed models, in-flight requests and utilisation only.
	ReasonMemoryUnknown
	// ReasonNoStats: the upstream has no fresh report; it was chosen because every upstream that has one is worse
	// (overwhelmed, cannot fit the model, CPU-only, draining or without the model).
	ReasonNoStats
	// ReasonOverwhelmed: the node has less free GPU memory than MinFreeMB, and nothing better was available.
	ReasonOverwhelmed
	// ReasonMakeRoom: the model fits on no node; this one is the most able to make room by unloading models.
	ReasonMakeRoom
	// ReasonTooSmall: the model is larger than the node's GPU memory in total; no node with a GPU large enough
	// was available.
	ReasonTooSmall
	// ReasonCPUOnly: the node has no GPU; nothing with a GPU was available.
	ReasonCPUOnly
	// ReasonDraining: the node is draining; nothing else was available.
	ReasonDraining
	// ReasonNotInstalled: the node reports that it does not have the model, and neither does any other upstream.
	ReasonNotInstalled
	// ReasonFallbackNoFreshStats: no available upstream has a fresh report.
	ReasonFallbackNoFreshStats
	// ReasonFallbackNoCandidate: no upstream is available.
	ReasonFallbackNoCandidate

	reasonCount
)

var reasonNames = [reasonCount]string{
	ReasonUnknown:              "unknown",
	ReasonResident:             "resident",
	ReasonLoading:              "loading",
	ReasonFits:                 "fits",
	ReasonMostFree:             "most-free",
	ReasonMemoryUnknown:        "memory-unknown",
	ReasonNoStats:              "no-stats",
	ReasonOverwhelmed:          "overwhelmed",
	ReasonMakeRoom:             "make-room",
	ReasonTooSmall:             "too-small",
	ReasonCPUOnly:              "cpu-only",
	ReasonDraining:             "draining",
	ReasonNotInstalled:         "not-installed",
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
