package ollamasim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
)

var completionID atomic.Int64

type openAIChoice struct {
	Index        int            `json:"index"`
	Message      *nativeMessage `json:"message,omitempty"`
	Delta        *nativeMessage `json:"delta,omitempty"`
	FinishReason *string        `json:"finish_reason"`
}

type openAIUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

type openAICompletion struct {
	ID                string         `json:"id"`
	Object            string         `json:"object"`
	Created           int64          `json:"created"`
	Model             string         `json:"model"`
	SystemFingerprint string         `json:"system_fingerprint"`
	Choices           []openAIChoice `json:"choices"`
	Usage             *openAIUsage   `json:"usage,omitempty"`
}

// serveOpenAIChat answers /v1/chat/completions as Ollama's OpenAI compatibility layer does: one JSON object, or
// server-sent events ending with "data: [DONE]" when the request says "stream": true.
func (n *Node) serveOpenAIChat(w http.ResponseWriter, r *http.Request) {
	req, err := readRequest(r)
	if err != nil {
		writeOpenAIError(w, badRequest{err})
		return
	}
	stream := req.stream(false)
	head := openAICompletion{ID: fmt.Sprintf("chatcmpl-%d", completionID.Add(1)), Object: "chat.completion",
		Created: n.cfg.Clock.Now().Unix(), Model: req.Model, SystemFingerprint: "fp_ollama"}
	flusher, _ := w.(http.Flusher)
	var all []byte
	event := func(v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
			return err
		}
		if flusher != nil {
			flusher.Flush()
		}
		return nil
	}
	chunk := func(text string, finish *string) openAICompletion {
		c := head
		c.Object = "chat.completion.chunk"
		c.Choices = []openAIChoice{{Delta: &nativeMessage{Role: "assistant", Content: text}, FinishReason: finish}}
		return c
	}
	start := func() {
		if stream {
			w.Header().Set("Content-Type", "text/event-stream")
		} else {
			w.Header().Set("Content-Type", "application/json")
		}
	}
	emit := func(text string) error {
		if !stream {
			all = append(all, text...)
			return nil
		}
		return event(chunk(text, nil))
	}
	res, err := n.run(r.Context(), req, start, emit)
	if err != nil {
		if res.Reason == "" {
			writeOpenAIError(w, err)
		}
		return
	}
	finish := res.Reason
	if finish == "load" {
		finish = "stop"
	}
	if stream {
		event(chunk("", &finish))
		fmt.Fprint(w, "data: [DONE]\n\n")
		return
	}
	c := head
	c.Choices = []openAIChoice{{Message: &nativeMessage{Role: "assistant", Content: string(all)}, FinishReason: &finish}}
	c.Usage = &openAIUsage{PromptTokens: res.PromptTokens, CompletionTokens: res.Tokens, TotalTokens: res.PromptTokens + res.Tokens}
	w.WriteHeader(http.StatusOK)
	json.NewEncoder(w).Encode(c)
}

// writeOpenAIError answers err in the OpenAI error shape Ollama uses there.
func writeOpenAIError(w http.ResponseWriter, err error) {
	status := errorStatus(err)
	typ := "api_error" // Ollama v0.17.4's type for a missing model too
	if status == http.StatusBadRequest {
		typ = "invalid_request_error"
	}
	type openAIError struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	}
	writeJSON(w, status, map[string]any{"error": openAIError{Message: err.Error(), Type: typ}})
}
