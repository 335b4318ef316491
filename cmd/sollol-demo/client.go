package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"
)

// Outcome classifies how a request ended.
type Outcome int

const (
	OK Outcome = iota
	// OutOfMemory is Ollama's 500 "model requires more system memory".
	OutOfMemory
	// NotInstalled is Ollama's 404 "model … not found, try pulling it first".
	NotInstalled
	// OtherError is anything else: 503 busy, 502 from the gateway, a timeout, a truncated stream.
	OtherError
)

// Result is what one request saw.
type Result struct {
	Outcome Outcome
	// Latency is the time to the last byte, in simulated time.
	Latency time.Duration
	// Reason is vram_aware's reason for its choice, empty for the other policies; Decision its whole header.
	Reason, Decision string
	Status           int
	Error            string
}

// newHTTPClient returns a client for the gateway on loopback: no proxy, enough idle connections for the burst.
func newHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	t.MaxIdleConns, t.MaxIdleConnsPerHost = 1000, 1000
	return &http.Client{Transport: t}
}

// send posts req to the gateway at base, reads the whole answer and classifies it. scale converts the wall-clock
// latency to simulated time.
func send(ctx context.Context, c *http.Client, base string, req Request, scale float64) Result {
	start := time.Now()
	res := sendRaw(ctx, c, base, req)
	res.Latency = time.Duration(float64(time.Since(start)) * scale)
	return res
}

func sendRaw(ctx context.Context, c *http.Client, base string, req Request) Result {
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, base+req.Path(), strings.NewReader(req.Body()))
	if err != nil {
		return Result{Outcome: OtherError, Error: err.Error()}
	}
	hr.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(hr)
	if err != nil {
		return Result{Outcome: OtherError, Error: err.Error()}
	}
	defer resp.Body.Close()
	res := Result{Status: resp.StatusCode, Decision: resp.Header.Get(decisionHeader)}
	res.Reason = decisionReason(res.Decision)
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	switch {
	case err != nil:
		res.Outcome, res.Error = OtherError, err.Error()
	case resp.StatusCode == http.StatusOK:
		if !complete(req, body) {
			res.Outcome, res.Error = OtherError, "incomplete answer"
		}
	default:
		res.Outcome, res.Error = classifyError(resp.StatusCode, body), string(bytes.TrimSpace(body))
	}
	return res
}

// classifyError tells Ollama's out-of-memory and not-installed answers from other failures, in both the native
// and the OpenAI error shapes.
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
	case status == http.StatusNotFound && strings.Contains(msg, "not found, try pulling it first"):
		return NotInstalled
	}
	return OtherError
}

// complete checks that an answer ended as the API says it ends: a final line with "done": true, or "data: [DONE]",
// or a non-streamed object.
func complete(req Request, body []byte) bool {
	if req.Endpoint == endpointOpenAI {
		if req.Stream {
			return bytes.HasSuffix(bytes.TrimSpace(body), []byte("data: [DONE]"))
		}
		var c struct{ Choices []json.RawMessage }
		return json.Unmarshal(body, &c) == nil && len(c.Choices) == 1
	}
	var last []byte
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, len(body)+1)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) > 0 {
			last = sc.Bytes()
		}
	}
	var done struct{ Done bool }
	return json.Unmarshal(last, &done) == nil && done.Done
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
