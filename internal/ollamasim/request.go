package ollamasim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// maxRequestBody bounds a request body.
const maxRequestBody = 32 << 20

// genRequest is the part of a generate, chat or OpenAI chat request the simulation uses.
type genRequest struct {
	Model    string `json:"model"`
	Prompt   string `json:"prompt"`
	Messages []struct {
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

// promptTokens estimates the prompt's length in tokens, about four bytes each.
func (q *genRequest) promptTokens() int {
	n := len(q.Prompt)
	for _, m := range q.Messages {
		n += len(m.Content)
	}
	return max(1, n/4)
}

// result is what Ollama reports with the last chunk.
type result struct {
	Total, Load, PromptEval, Eval time.Duration
	PromptTokens, Tokens          int
	// Reason is why generation stopped: "stop", "length" (the request's limit) or "load" (nothing to answer).
	Reason string
}

// run admits req, waits for the prompt to be read, and generates, calling emit per chunk (everything at once when
// stream is false). start is called once the request is admitted, before any output; an error before it is the
// request's answer.
func (n *Node) run(ctx context.Context, req *genRequest, stream bool, start func(), emit func(string) error) (result, error) {
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
	res := result{Load: s.loadWait, PromptTokens: req.promptTokens(), Reason: "stop"}
	tokens, limited := req.tokens(n.cfg.Tokens)
	switch {
	case req.Prompt == "" && len(req.Messages) == 0:
		tokens, res.Reason, res.PromptTokens = 0, "load", 0 // nothing to answer: only load the model
	case limited:
		res.Reason = "length"
	}
	if res.PromptEval, err = s.promptEval(ctx, res.PromptTokens); err != nil {
		return res, err
	}
	chunk := 0
	if stream {
		chunk = n.cfg.ChunkTokens
	}
	genStart := n.cfg.Clock.Now()
	err = s.generate(ctx, tokens, chunk, emit)
	now := n.cfg.Clock.Now()
	res.Eval, res.Total, res.Tokens = now.Sub(genStart), now.Sub(s.start), tokens
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
