package caddymodule

import (
	"bytes"
	"io"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/sollol-go/sollol/gpustats"
	"github.com/sollol-go/sollol/lbpolicy"
)

// Where the requested model name comes from (model_from).
const (
	modelFromBody   = "body"
	modelFromHeader = "header"
	modelFromOff    = "off"
)

// modelPaths are the endpoints whose JSON body names a model: Ollama's and its OpenAI-compatible ones.
var modelPaths = []string{"/api/generate", "/api/chat", "/api/embed", "/api/embeddings",
	"/v1/chat/completions", "/v1/completions", "/v1/embeddings"}

// requestVar is the request variable that caches what was read from the body, so that retries, which call
// Select again on the same request, do not read the body again.
const requestVar = "vram_aware.request"

// requestInfo is what the policy read of a request: the canonical model it names, and what its prompt shares
// with earlier ones (affinity). The decision log keeps &model, and with it the whole struct, past the request and
// past config reloads, so it holds nothing that belongs to one configuration.
type requestInfo struct {
	model  string
	prompt lbpolicy.Prompt
}

// requestModel returns the canonical model a request names, or "", what its prompt shares with earlier ones,
// and a pointer to a string holding the model that stays valid after the request (for the decision log), or nil
// where keeping one would cost an allocation.
func (p *VRAMAware) requestModel(r *http.Request) (string, lbpolicy.Prompt, *string) {
	switch p.modelFrom {
	case modelFromHeader:
		v := r.Header[p.modelHeader]
		if len(v) == 0 {
			return "", lbpolicy.Prompt{}, nil
		}
		if m := gpustats.CanonicalModel(v[0]); m != v[0] {
			return m, lbpolicy.Prompt{}, nil
		}
		return v[0], lbpolicy.Prompt{}, &v[0]
	case modelFromOff:
		return "", lbpolicy.Prompt{}, nil
	}
	if cached, ok := caddyhttp.GetVar(r.Context(), requestVar).(*requestInfo); ok {
		return cached.model, cached.prompt, &cached.model
	}
	info := new(requestInfo)
	if r.Method == http.MethodPost && r.Body != nil && r.Body != http.NoBody && hasModelPath(r.URL.Path) {
		model, body := peekModel(r, p.MaxBody)
		info.model = gpustats.CanonicalModel(model)
		if p.prompts != nil && info.model != "" {
			first, then, shared := scanPrompt(body)
			info.prompt = p.prompts.Match(info.model, first, then)
			info.prompt.SetShared(shared)
		}
	}
	caddyhttp.SetVar(r.Context(), requestVar, info)
	return info.model, info.prompt, &info.model
}

func hasModelPath(path string) bool {
	for _, p := range modelPaths {
		if strings.HasSuffix(path, p) {
			return true
		}
	}
	return false
}

// peekModel reads at most limit bytes of the body, finds the model Ollama will read there (see scanModel), and
// puts those bytes back in front of the rest of the body, so that the upstream receives the request unchanged.
// It returns the model and the bytes read.
func peekModel(r *http.Request, limit int64) (string, []byte) {
	n := limit
	if r.ContentLength >= 0 && r.ContentLength < n {
		n = r.ContentLength
	}
	buf := make([]byte, n)
	read, err := io.ReadFull(r.Body, buf)
	buf = buf[:read]
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		// The upstream sees the same error when it reads on; route without a model.
		r.Body = restoredBody{io.MultiReader(bytes.NewReader(buf), errReader{err}), r.Body}
		return "", nil
	}
	r.Body = restoredBody{io.MultiReader(bytes.NewReader(buf), r.Body), r.Body}
	// A body that goes on past the limit is cut: its model is the last one within the bytes read.
	cut := int64(read) == limit && r.ContentLength != limit
	model, _ := scanModel(buf, cut)
	return model, buf
}

// restoredBody reads the peeked bytes, then the rest; closing closes the original body.
type restoredBody struct {
	io.Reader
	io.Closer
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
