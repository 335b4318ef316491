package ollamasim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxRequestBody bounds a request body.
const maxRequestBody = 32 << 20

// genRequest is the part of a generate, chat or OpenAI chat request the simulation uses.
type genRequest struct {
	Model    string `json:"model"`
	Prompt   string `json:"prompt"`
	System   string `json:"system"`
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	Stream    *bool           `json:"stream"`
	KeepAlive json.RawMessage `json:"keep_alive"`
	Options   struct {
		NumPredict *int `json:"num_predict"`
	} `json:"options"`
	MaxTokens           *int `json:"max_tokens"`
	MaxCompletionTokens *int `json:"max_completion_tokens"`
}

// readRequest decodes a request body; the error is what Ollama would answer with 400.
func readRequest(r *http.Request) (*genRequest, error) {
	var req genRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, maxRequestBody))
	if err := dec.Decode(&req); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("missing request body")
		}
		return nil, err
	}
	if req.Model == "" {
		return nil, errors.New("model is required")
	}
	return &req, nil
}

// stream says whether to stream, given the API's default.
func (q *genRequest) stream(def bool) bool {
	if q.Stream == nil {
		return def
	}
	return *q.Stream
}

// keepAlive parses keep_alive as Ollama does: a duration string such as "5m", or a number of seconds; negative
// means forever. Nil means not set.
func (q *genRequest) keepAlive() (*time.Duration, error) {
	if len(q.KeepAlive) == 0 || string(q.KeepAlive) == "null" {
		return nil, nil
	}
	var v any
	if err := json.Unmarshal(q.KeepAlive, &v); err != nil {
		return nil, err
	}
	var d time.Duration
	switch v := v.(type) {
	case float64:
		d = time.Duration(v * float64(time.Second))
	case string:
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			d = time.Duration(f * float64(time.Second))
		} else if d, err = time.ParseDuration(v); err != nil {
			return nil, fmt.Errorf("keep_alive %q: %w", v, err)
		}
	default:
		return nil, fmt.Errorf("keep_alive: want a duration such as \"5m\" or a number of seconds")
	}
	if d < 0 {
		d = -1
	}
	return &d, nil
}

// tokens is how many tokens to generate: the request's limit, else the node's default.
func (q *genRequest) tokens(def int) (n int, limited bool) {
	for _, p := range []*int{q.Options.NumPredict, q.MaxCompletionTokens, q.MaxTokens} {
		if p != nil && *p > 0 {
			return min(*p, maxTokensPerResponse), true
		}
	}
	return def, false
}

// text is the prompt as the model reads it (see render): the messages of a chat, or the system prompt and the
// prompt of a generate request.
func (q *genRequest) text() string {
	var b strings.Builder
	if q.System != "" {
		render(&b, "system", q.System)
	}
	if q.Prompt != "" {
		render(&b, "user", q.Prompt)
	}
	for _, m := range q.Messages {
		var content string
		if json.Unmarshal(m.Content, &content) != nil {
			content = string(m.Content) // the OpenAI form with parts: its JSON will do
		}
		render(&b, m.Role, content)
	}
	return b.String()
}

// result is what Ollama reports with the last chunk.
type result struct {
	Total, Load, PromptEval, Eval time.Duration
	PromptTokens, Tokens          int
	// Reason is why generation stopped: "stop", "length" (the request's limit) or "load" (nothing to answer).
	Reason string
}

// run admits req, reads the prompt past what the slot has cached, and generates, calling emit per chunk. start
// is called once the request is admitted, before any output; an error before it is the request's answer.
// Durations are Ollama's: total from arrival (queueing included), load from arrival until the model is loaded,
// prompt eval for the tokens not cached, eval for the tokens generated; the prompt eval count is the whole
// prompt, cached or not, as Ollama's runner reports it.
func (n *Node) run(ctx context.Context, req *genRequest, start func(), emit func(string) error) (result, error) {
	ka, err := req.keepAlive()
	if err != nil {
		return result{}, badRequest{err}
	}
	s, err := n.begin(ctx, req.Model, ka)
	if err != nil {
		return result{}, err
	}
	defer s.end()
	start()
	res := result{Load: s.load, Reason: "stop"}
	if req.Prompt == "" && len(req.Messages) == 0 {
		// Nothing to answer: only load the model, as Ollama does without taking a slot.
		res.Reason, res.Total = "load", n.cfg.Clock.Now().Sub(s.start)
		return res, nil
	}
	tokens, limited := req.tokens(n.cfg.Tokens)
	if limited {
		res.Reason = "length"
	}
	text := req.text()
	res.PromptTokens = max(1, tokenCount(len(text)))
	cached, err := s.takeSlot(ctx, text, res.PromptTokens)
	if err != nil {
		return res, err
	}
	if res.PromptEval, err = s.prefill(ctx, res.PromptTokens-cached); err != nil {
		return res, err
	}
	res.Eval, err = s.generate(ctx, tokens, n.cfg.ChunkTokens, emit)
	res.Total, res.Tokens = n.cfg.Clock.Now().Sub(s.start), tokens
	return res, err
}

type badRequest struct{ error }

// errorStatus is the HTTP status Ollama answers err with.
func errorStatus(err error) int {
	var (
		le *loadError
		nf errNotFound
		br badRequest
	)
	switch {
	case errors.As(err, &le):
		return http.StatusInternalServerError
	case errors.As(err, &nf):
		return http.StatusNotFound
	case errors.As(err, &errBusy{}):
		return http.StatusServiceUnavailable
	case errors.As(err, &br):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}
