package lbpolicy

import (
	"time"

	"github.com/sollol-go/sollol/gpustats"
)

// Candidate is one upstream as Select sees it.
type Candidate struct {
	// Node is the upstream's latest report, nil when no report maps to it.
	Node *gpustats.Node
	// State is what the policy remembers of the upstream (see State); nil remembers nothing: no herd guard, no
	// learning, no refusals.
	State *State
	// Available is false when the upstream must not be chosen (health checks, circuit breaker, max_requests).
	Available bool
	// Tried is true when this request was already sent to the upstream and is being retried.
	Tried bool
	// InFlight is the number of requests in flight to the upstream.
	InFlight int
	// OthersInFlight is the number of requests in flight to the upstream from other gateways, as they last said:
	// it counts in the wait for a slot, not in what this gateway learns from its own requests.
	OthersInFlight int
}

// Request is what Select knows about the request being routed.
type Request struct {
	// Model is the requested model, canonical (gpustats.CanonicalModel); empty when the request names none.
	Model string
	// Now is the time of the decision; the zero time means time.Now().
	Now time.Time
	// Prompt is what the request's prompt shares with earlier ones (Prompts.Match of Prompts), and Prompts the
	// table where Select records where it sends it; nil turns affinity off for the request.
	Prompt  Prompt
	Prompts *Prompts
}
