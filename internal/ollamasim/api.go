package ollamasim

import (
	"encoding/json"
	"net/http"
	"time"
)

// Handler serves Ollama's API.
func (n *Node) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/generate", func(w http.ResponseWriter, r *http.Request) { n.serveNative(w, r, false) })
	mux.HandleFunc("POST /api/chat", func(w http.ResponseWriter, r *http.Request) { n.serveNative(w, r, true) })
	mux.HandleFunc("POST /v1/chat/completions", n.serveOpenAIChat)
	mux.HandleFunc("GET /api/ps", n.servePS)
	mux.HandleFunc("GET /api/tags", n.serveTags)
	mux.HandleFunc("GET /api/version", n.serveVersion)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("Ollama is running"))
	})
	return mux
}

// nativeChunk is one line of /api/generate (Response) or /api/chat (Message) output.
type nativeChunk struct {
	Model              string         `json:"model"`
	CreatedAt          string         `json:"created_at"`
	Response           *string        `json:"response,omitempty"`
	Message            *nativeMessage `json:"message,omitempty"`
	Done               bool           `json:"done"`
	DoneReason         string         `json:"done_reason,omitempty"`
	Context            []int          `json:"context,omitempty"`
	TotalDuration      int64          `json:"total_duration,omitempty"`
	LoadDuration       int64          `json:"load_duration,omitempty"`
	PromptEvalCount    int            `json:"prompt_eval_count,omitempty"`
	PromptEvalDuration int64          `json:"prompt_eval_duration,omitempty"`
	EvalCount          int            `json:"eval_count,omitempty"`
	EvalDuration       int64          `json:"eval_duration,omitempty"`
}

type nativeMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// serveNative answers /api/generate, or /api/chat when chat is set: NDJSON lines as the tokens come unless the
// request says "stream": false.
func (n *Node) serveNative(w http.ResponseWriter, r *http.Request, chat bool) {
	req, err := readRequest(r)
	if err != nil {
		writeError(w, badRequest{err})
		return
	}
	stream := req.stream(true)
	name := CanonicalName(req.Model)
	chunk := func(text string) nativeChunk {
		c := nativeChunk{Model: name, CreatedAt: n.cfg.Clock.Now().UTC().Format(time.RFC3339Nano)}
		if chat {
			c.Message = &nativeMessage{Role: "assistant", Content: text}
		} else {
			c.Response = &text
		}
		return c
	}
	enc := json.NewEncoder(w)
	flusher, _ := w.(http.Flusher)
	var all []byte
	start := func() {
		if stream {
			w.Header().Set("Content-Type", "application/x-ndjson")
		} else {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
		}
	}
	emit := func(text string) error {
		if !stream {
			all = append(all, text...)
			return nil
		}
		if err := enc.Encode(chunk(text)); err != nil {
			return err
		}
		if flusher != nil {
			flusher.Flush()
		}
		return nil
	}
	res, err := n.run(r.Context(), req, start, emit)
	if err != nil {
		if res.Reason == "" { // nothing written yet
			writeError(w, err)
		}
		return
	}
	last := chunk(string(all))
	last.Done, last.DoneReason = true, res.Reason
	if !chat && res.Reason != "load" {
		last.Context = []int{1, 2, 3}
	}
	last.TotalDuration, last.LoadDuration = int64(res.Total), int64(res.Load)
	last.PromptEvalCount, last.PromptEvalDuration = res.PromptTokens, int64(res.PromptEval)
	last.EvalCount, last.EvalDuration = res.Tokens, int64(res.Eval)
	enc.Encode(last)
}

// writeError answers err as Ollama does: its status and {"error": "…"}.
func writeError(w http.ResponseWriter, err error) {
	writeJSON(w, errorStatus(err), map[string]string{"error": err.Error()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
