package main

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
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
	// At is when a single request or a chat's first turn is sent, in simulated time from the start; for a later
	// turn of a chat it is the think time after the previous turn's answer.
	At       time.Duration
	Model    string
	Endpoint string
	Stream   bool
	// Tokens is the answer's length.
	Tokens int
	// Prompt is the length in tokens of the request's user message; 0 asks a short question.
	Prompt int
	// System says whether the request starts with the scenario's shared system prompt.
	System bool
	// Chat numbers the conversation the request belongs to, from 1; 0 for a single request. Turn counts its
	// turns from 0.
	Chat, Turn int
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

// message is one entry of a chat's message list.
type message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Body is the request's JSON body. system is the shared system prompt's text (used when r.System is set) and
// history the chat so far, before this turn's user message.
func (r Request) Body(system string, history []message) string {
	if !r.System {
		system = ""
	}
	user := r.userText()
	var v any
	switch r.Endpoint {
	case endpointGenerate:
		type options struct {
			NumPredict int `json:"num_predict"`
		}
		v = struct {
			Model   string  `json:"model"`
			System  string  `json:"system,omitempty"`
			Prompt  string  `json:"prompt"`
			Stream  bool    `json:"stream"`
			Options options `json:"options"`
		}{r.Model, system, user, r.Stream, options{r.Tokens}}
	default:
		msgs := make([]message, 0, len(history)+2)
		if system != "" {
			msgs = append(msgs, message{"system", system})
		}
		msgs = append(append(msgs, history...), message{"user", user})
		if r.Endpoint == endpointOpenAI {
			v = struct {
				Model     string    `json:"model"`
				Messages  []message `json:"messages"`
				Stream    bool      `json:"stream"`
				MaxTokens int       `json:"max_tokens"`
			}{r.Model, msgs, r.Stream, r.Tokens}
			break
		}
		type options struct {
			NumPredict int `json:"num_predict"`
		}
		v = struct {
			Model    string    `json:"model"`
			Messages []message `json:"messages"`
			Stream   bool      `json:"stream"`
			Options  options   `json:"options"`
		}{r.Model, msgs, r.Stream, options{r.Tokens}}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// userText is the request's user message: the short question, or a text of about Prompt tokens (four bytes
// each, as the simulator counts them). A chat's messages start with their chat and turn, so that two chats never
// share more than the system prompt.
func (r Request) userText() string {
	tag := ""
	if r.Chat > 0 {
		tag = fmt.Sprintf("Chat %d, turn %d: ", r.Chat, r.Turn+1)
	}
	if r.Prompt == 0 {
		return tag + "Why is the sky blue?"
	}
	return fillText(tag, r.Prompt)
}

// systemText is the shared system prompt of about tokens tokens.
func systemText(tokens int) string { return fillText("You are the assistant of the demo. ", tokens) }

var fillWords = strings.Fields("explain the reasons behind this in plain words with an example and a short " +
	"summary of what matters most for someone who is new to the subject")

// fillText is prefix followed by words, about 4×tokens bytes in all.
func fillText(prefix string, tokens int) string {
	var b strings.Builder
	b.WriteString(prefix)
	for i := 0; b.Len() < 4*tokens; i++ {
		b.WriteString(fillWords[i%len(fillWords)])
		b.WriteByte(' ')
	}
	return b.String()
}

// Workload draws the scenario's requests from its seed: Poisson arrivals at each phase's rate (or at Rate for
// Duration), each request's model by weight, API by weight, streaming with probability StreamShare, and a
// uniform answer length; then, where the scenario asks for them, a prompt length, the shared system prompt, and
// whether the arrival starts a chat, whose later turns follow it in the list. Without those members the draws
// are the same as before they existed, so a scenario's requests do not change.
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
	phases := sc.Phases
	if len(phases) == 0 {
		phases = []Phase{{Duration: sc.Duration, Rate: sc.Rate}}
	}
	var out []Request
	chats := 0
	var begin time.Duration
	for _, ph := range phases {
		end := min(begin+time.Duration(ph.Duration), time.Duration(sc.Duration))
		weights := modelW
		if ph.Weights != nil {
			weights = make([]float64, len(models))
			for i, m := range models {
				weights[i] = ph.Weights[m]
			}
		}
		for t := begin.Seconds(); ph.Rate > 0; {
			t += rng.ExpFloat64() / ph.Rate
			at := time.Duration(t * float64(time.Second))
			if at >= end {
				break
			}
			r := Request{
				At:       at,
				Model:    models[pick(rng, weights)],
				Endpoint: endpoints[pick(rng, endpointW)],
				Stream:   rng.Float64() < sc.StreamShare,
				Tokens:   sc.TokensMin + rng.IntN(sc.TokensMax-sc.TokensMin+1),
			}
			if sc.PromptTokens != nil {
				r.Prompt = spread(rng, *sc.PromptTokens)
			}
			if sc.SystemPrompt != nil {
				r.System = rng.Float64() < sc.SystemPrompt.Share
			}
			if c := sc.Conversations; c == nil || rng.Float64() >= c.Share {
				out = append(out, r)
				continue
			}
			chats++
			out = append(out, sc.chat(rng, r, chats, endpointW)...)
		}
		begin = end
	}
	return out
}

// chat makes the turns of a chat that starts with first.
func (sc *Scenario) chat(rng *rand.Rand, first Request, id int, endpointW []float64) []Request {
	c := sc.Conversations
	first.Chat = id
	if first.Endpoint == endpointGenerate { // /api/generate has no message list
		first.Endpoint = endpointChat
		if pick(rng, endpointW[1:]) == 1 {
			first.Endpoint = endpointOpenAI
		}
	}
	turns := c.TurnsMin + rng.IntN(c.TurnsMax-c.TurnsMin+1)
	out := []Request{first}
	for k := 1; k < turns; k++ {
		r := first
		r.Turn = k
		r.At = time.Duration(c.ThinkMin) + time.Duration(rng.Int64N(int64(c.ThinkMax-c.ThinkMin)+1))
		r.Tokens = sc.TokensMin + rng.IntN(sc.TokensMax-sc.TokensMin+1)
		if sc.PromptTokens != nil {
			r.Prompt = spread(rng, *sc.PromptTokens)
		}
		out = append(out, r)
	}
	return out
}

// spread draws a length log-uniformly within s.
func spread(rng *rand.Rand, s Spread) int {
	lo, hi := math.Log(float64(s.Min)), math.Log(float64(s.Max)+1)
	return min(s.Max, int(math.Exp(lo+rng.Float64()*(hi-lo))))
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
