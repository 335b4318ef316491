package caddymodule

import (
	"bytes"
	"io"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/sollol-go/sollol/gpustats"
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

// modelVar is the request variable that caches the model read from the body, so that retries, which call Select
// again on the same request, do not read the body again.
const modelVar = "vram_aware.model"

// requestModel returns the canonical model a request names, or "", and a pointer to a string holding it that
// stays valid after the request (for the decision log), or nil where keeping one would cost an allocation.
func (p *VRAMAware) requestModel(r *http.Request) (string, *string) {
	switch p.modelFrom {
	case modelFromHeader:
		v := r.Header[p.modelHeader]
		if len(v) == 0 {
			return "", nil
		}
		if m := gpustats.CanonicalModel(v[0]); m != v[0] {
			return m, nil
		}
		return v[0], &v[0]
	case modelFromOff:
		return "", nil
	}
	if cached, ok := caddyhttp.GetVar(r.Context(), modelVar).(*string); ok {
		return *cached, cached
	}
	model := ""
	if r.Method == http.MethodPost && r.Body != nil && r.Body != http.NoBody && hasModelPath(r.URL.Path) {
		model = gpustats.CanonicalModel(peekModel(r, p.MaxBody))
	}
	caddyhttp.SetVar(r.Context(), modelVar, &model)
	return model, &model
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
func peekModel(r *http.Request, limit int64) string {
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
		return ""
	}
	r.Body = restoredBody{io.MultiReader(bytes.NewReader(buf), r.Body), r.Body}
	// A body that goes on past the limit is cut: its model is the last one within the bytes read.
	cut := int64(read) == limit && r.ContentLength != limit
	model, _ := scanModel(buf, cut)
	return model
}

// restoredBody reads the peeked bytes, then the rest; closing closes the original body.
type restoredBody struct {
	io.Reader
	io.Closer
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
