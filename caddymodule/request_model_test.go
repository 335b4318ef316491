package caddymodule

import (
	"bytes"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

// peekModel routes by the model Ollama will read, reads at most the limit, and leaves the body as it was.
func TestPeekModel(t *testing.T) {
	long := `{"model":"llama3.1:8b","messages":[{"role":"user","content":"` + strings.Repeat("x", 4096) + `"}],"model":"llama3.3:70b"}`
	for _, tc := range []struct {
		name, body string
		limit      int64
		unknownLen bool // chunked: no Content-Length
		want       string
	}{
		{"duplicate model", `{"model":"llama3.2:3b","prompt":"p","model":"llama3.3:70b"}`, 1 << 20, false, "llama3.3:70b"},
		{"capitalised key", `{"Model":"llama3.3:70b","prompt":"p"}`, 1 << 20, false, "llama3.3:70b"},
		{"upper-case key", `{"MODEL":"llama3.3:70b","prompt":"p"}`, 1 << 20, true, "llama3.3:70b"},
		{"whole body within the limit", long, 1 << 20, false, "llama3.3:70b"},
		{"cut at the limit: the last model before the cut", long, 1024, false, "llama3.1:8b"},
		{"cut, no length", long, 1024, true, "llama3.1:8b"},
		{"exactly the limit", `{"model":"m"}`, 13, false, "m"},
		{"malformed", `{"model":"m",`, 1 << 20, false, ""},
	} {
		r := httptest.NewRequest("POST", "/api/chat", strings.NewReader(tc.body))
		if tc.unknownLen {
			r.ContentLength = -1
		}
		if got, _ := peekModel(r, tc.limit); got != tc.want {
			t.Errorf("%s: model %q, want %q", tc.name, got, tc.want)
		}
		if rest, err := io.ReadAll(r.Body); err != nil || !bytes.Equal(rest, []byte(tc.body)) {
			t.Errorf("%s: the upstream would read %d bytes (%v), not the %d sent", tc.name, len(rest), err, len(tc.body))
		}
	}
}
