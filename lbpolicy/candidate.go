package lbpolicy

import (
	"time"

	"github.com/sollol-go/sollol/gpustats"
)

// Candidate is one upstream as Select sees it.
type Candidate struct {
	// Node is the upstream's latest report, nil when no report maps to it.
	Node *gpustats.Node
	// Available is false when the upstream must not be chosen (health checks, circuit breaker, max_requests).
	Available bool
	// InFlight is the number of requests the gateway has in flight to the upstream.
	InFlight int
}

// Candidates is the list Select chooses from, read through an interface so that callers can present their own
// upstream list without copying it on every request. Select calls Len once and may call At more than once for an
// index; At must give the same candidate each time during one Select.
type Candidates interface {
	Len() int
	At(i int) Candidate
}

// CandidateSlice is a ready-made Candidates.
type CandidateSlice []Candidate

// Len returns len(s).
func (s CandidateSlice) Len() int { return len(s) }

// At returns s[i].
func (s CandidateSlice) At(i int) Candidate { return s[i] }

// Request is what Select knows about the request being routed.
type Request struct {
	// Model is the requested model, canonical (gpustats.CanonicalModel); empty when the request names none.
	Model string
	// Now is the time of the decision; the zero time means time.Now().
	Now time.Time
}
