package main

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// The APIs a request may use.
const (
	endpointGenerate = "generate"
	endpointChat     = "chat"
	endpointOpenAI   = "openai"
)

func validEndpoint(e string) bool {
	return e == endpointGenerate || e == endpointChat || e == endpointOpenAI
}

// Request is one request of the workload.
type Request struct {
	// At is when the request is sent, in simulated time from the start.
	At       time.Duration
	Model    string
	Endpoint string
	Stream   bool
	Tokens   int
}

// Path is the URL path of the request's API.
func (r Request) Path() string {
	switch r.Endpoint {
	case endpointChat:
		return "/api/chat"
	case endpointOpenAI:
		return "/v1/chat/completions"
	}
	return "/api/generate"
}

// Body is the request's JSON body.
func (r Request) Body() string {
	switch r.Endpoint {
	case endpointChat:
		return fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":"Why is the sky blue?"}],"stream":%t,"options":{"num_predict":%d}}`,
			r.Model, r.Stream, r.Tokens)
	case endpointOpenAI:
		return fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":"Why is the sky blue?"}],"stream":%t,"max_tokens":%d}`,
			r.Model, r.Stream, r.Tokens)
	}
	return fmt.Sprintf(`{"model":%q,"prompt":"Why is the sky blue?","stream":%t,"options":{"num_predict":%d}}`,
		r.Model, r.Stream, r.Tokens)
}

// Workload draws the scenario's requests from its seed: Poisson arrivals at Rate for Duration, each request's
// model by weight, API by weight, streaming with probability StreamShare, and a uniform answer length.
func Workload(sc *Scenario) []Request {
	rng := rand.New(rand.NewPCG(sc.Seed, 0x5011))
	models := make([]string, len(sc.Models))
	modelW := make([]float64, len(sc.Models))
	for i, m := range sc.Models {
		models[i], modelW[i] = m.Name, m.Weight
	}
	endpoints := []string{endpointGenerate, endpointChat, endpointOpenAI} // fixed order: map order is random
	endpointW := make([]float64, len(endpoints))
	for i, e := range endpoints {
		endpointW[i] = sc.Endpoints[e]
	}
	var out []Request
	for t := 0.0; ; {
		t += rng.ExpFloat64() / sc.Rate
		at := time.Duration(t * float64(time.Second))
		if at >= time.Duration(sc.Duration) {
			return out
		}
		out = append(out, Request{
			At:       at,
			Model:    models[pick(rng, modelW)],
			Endpoint: endpoints[pick(rng, endpointW)],
			Stream:   rng.Float64() < sc.StreamShare,
			Tokens:   sc.TokensMin + rng.IntN(sc.TokensMax-sc.TokensMin+1),
		})
	}
}

// pick draws an index with probability proportional to its weight; all zero weights draw uniformly.
func pick(rng *rand.Rand, weights []float64) int {
	total := 0.0
	for _, w := range weights {
		total += w
	}
	if total == 0 {
		return rng.IntN(len(weights))
	}
	x := rng.Float64() * total
	for i, w := range weights {
		if x < w {
			return i
		}
		x -= w
	}
	return len(weights) - 1
}
