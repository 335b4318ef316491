package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"
)

// Outcome classifies how a request ended.
type Outcome int

const (
	OK Outcome = iota
	// OutOfMemory is Ollama's 500 "model requires more system memory" (or a CUDA out-of-memory error).
	OutOfMemory
	// NotInstalled is Ollama's 404 "model … not found".
	NotInstalled
	// Busy is a 503: Ollama's "server busy" when its load queue is full, or Caddy with no upstream available.
	Busy
	// Timeout is the client giving up after the scenario's timeout.
	Timeout
	// OtherError is anything else: a 502 from the gateway, a truncated stream, a refused connection.
	OtherError
)

// Result is what one request saw.
type Result struct {
	Outcome Outcome
	// Latency is the time to the last byte, in simulated time.
	Latency time.Duration
	// TTFT is the time to the first token in simulated time, -1 where unknown (see firstToken).
	TTFT time.Duration
	// Reason is vram_aware's reason for its choice, empty for the other policies; Decision its whole header.
	Reason, Decision string
	Status           int
	Error            string
	// Answer is the generated text, kept for chats, whose next turn resends it.
	Answer string `json:"-"`
}

// newHTTPClient returns a client for the gateway on loopback: no proxy, enough idle connections for the burst.
func newHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	t.MaxIdleConns, t.MaxIdleConnsPerHost = 1000, 1000
	return &http.Client{Transport: t}
}

// send posts body for req to the gateway at base, reads the whole answer and classifies it. scale converts
// wall-clock times to simulated time.
//
// The time to the first token is measured where the client sees it: for a streamed answer, when the first byte
// of the body arrives (Caddy flushes each chunk at once); for a non-streamed native answer, from Ollama's own
// figures, total_duration − eval_duration (queue, load and prefill); a non-streamed OpenAI answer carries no
// durations, so its TTFT is unknown.
func send(ctx context.Context, c *http.Client, base string, req Request, body string, scale float64) Result {
	start := time.Now()
	res := Result{TTFT: -1}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, base+req.Path(), strings.NewReader(body))
	if err != nil {
		res.Outcome, res.Error = OtherError, err.Error()
		return res
	}
	hr.Header.Set("Content-Type", "application/json")
	sim := func(d time.Duration) time.Duration { return time.Duration(float64(d) * scale) }
	resp, err := c.Do(hr)
	if err != nil {
		res.Outcome, res.Error = failure(ctx, err), err.Error()
		res.Latency = sim(time.Since(start))
		return res
	}
	defer resp.Body.Close()
	res.Status, res.Decision = resp.StatusCode, resp.Header.Get(decisionHeader)
	res.Reason = decisionReason(res.Decision)
	fr := &firstByte{r: io.LimitReader(resp.Body, 16<<20)}
	b, err := io.ReadAll(fr)
	res.Latency = sim(time.Since(start))
	switch {
	case err != nil:
		res.Outcome, res.Error = failure(ctx, err), err.Error()
	case resp.StatusCode == http.StatusOK:
		a, ok := parseAnswer(req, b)
		if !ok {
			res.Outcome, res.Error = OtherError, "incomplete answer"
			break
		}
		res.Answer = a.text
		switch {
		case req.Stream && !fr.at.IsZero():
			res.TTFT = sim(fr.at.Sub(start))
		case !req.Stream && a.total > 0:
			res.TTFT = a.total - a.eval
		}
	default:
		res.Outcome, res.Error = classifyError(resp.StatusCode, b), string(bytes.TrimSpace(b))
	}
	return res
}

// failure classifies a transport error: the client's timeout, or anything else.
func failure(ctx context.Context, err error) Outcome {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return Timeout
	}
	return OtherError
}

// firstByte notes when the first byte comes through r.
type firstByte struct {
	r  io.Reader
	at time.Time
}

func (f *firstByte) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if n > 0 && f.at.IsZero() {
		f.at = time.Now()
	}
	return n, err
}

// classifyError tells Ollama's out-of-memory, not-installed and busy answers from other failures, in both the
// native and the OpenAI error shapes.
func classifyError(status int, body []byte) Outcome {
	var e struct {
		Error json.RawMessage `json:"error"`
	}
	msg := ""
	if json.Unmarshal(body, &e) == nil {
		var s string
		var o struct{ Message string }
		if json.Unmarshal(e.Error, &s) == nil {
			msg = s
		} else if json.Unmarshal(e.Error, &o) == nil {
			msg = o.Message
		}
	}
	switch {
	case status == http.StatusInternalServerError && (strings.Contains(msg, "requires more system memory") ||
		strings.Contains(msg, "out of memory")):
		return OutOfMemory
	case status == http.StatusNotFound && strings.Contains(msg, "not found"):
		return NotInstalled
	case status == http.StatusServiceUnavailable:
		return Busy
	}
	return OtherError
}

// answer is what a successful response carried.
type answer struct {
	text        string
	total, eval time.Duration // Ollama's total_duration and eval_duration; zero where the API gives none
}

// ollamaChunk is a native answer, or one line of a streamed one.
type ollamaChunk struct {
	Response string `json:"response"`
	Message  struct {
		Content string `json:"content"`
	} `json:"message"`
	Done          bool  `json:"done"`
	TotalDuration int64 `json:"total_duration"`
	EvalDuration  int64 `json:"eval_duration"`
}

// openAIChunk is a non-streamed OpenAI answer, or one event of a streamed one.
type openAIChunk struct {
	Choices []struct {
		Message struct{ Content string } `json:"message"`
		Delta   struct{ Content string } `json:"delta"`
	} `json:"choices"`
}

// parseAnswer reads an answer's text and durations, and checks that it ended as the API says it ends: a final
// line with "done": true, "data: [DONE]", or one complete object.
func parseAnswer(req Request, body []byte) (answer, bool) {
	var a answer
	var text strings.Builder
	if req.Endpoint == endpointOpenAI {
		if !req.Stream {
			var c openAIChunk
			if json.Unmarshal(body, &c) != nil || len(c.Choices) != 1 {
				return a, false
			}
			a.text = c.Choices[0].Message.Content
			return a, true
		}
		done := false
		for line := range strings.Lines(string(body)) {
			data, ok := strings.CutPrefix(strings.TrimSpace(line), "data: ")
			if !ok {
				continue
			}
			if data == "[DONE]" {
				done = true
				continue
			}
			var c openAIChunk
			if json.Unmarshal([]byte(data), &c) == nil && len(c.Choices) > 0 {
				text.WriteString(c.Choices[0].Delta.Content)
			}
		}
		a.text = text.String()
		return a, done
	}
	var last ollamaChunk
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, len(body)+1)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		last = ollamaChunk{}
		if json.Unmarshal(sc.Bytes(), &last) != nil {
			return a, false
		}
		text.WriteString(last.Response)
		text.WriteString(last.Message.Content)
	}
	a.text = text.String()
	a.total, a.eval = time.Duration(last.TotalDuration), time.Duration(last.EvalDuration)
	return a, last.Done
}

// decisionReason takes the reason out of vram_aware's "node=…; reason=…; upstream=…" header.
func decisionReason(h string) string {
	for part := range strings.SplitSeq(h, ";") {
		if r, ok := strings.CutPrefix(strings.TrimSpace(part), "reason="); ok {
			return r
		}
	}
	return ""
}
