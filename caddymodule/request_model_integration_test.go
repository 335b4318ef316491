package caddymodule_test

import (
	"testing"

	"github.com/sollol-go/sollol/internal/redistest"
)

// The gateway routes by the model Ollama reads from the body: the last of several model members, in any case of
// the key. Node a holds llama3.3:70b with little room left; b has room but would have to load it.
func TestRoutesByTheModelOllamaReads(t *testing.T) {
	rds := redistest.Start(t)
	a, b := newOllama(t, "a"), newOllama(t, "b")
	g := startGateway(t, "redis "+rds.URL()+"\nfallback first", a, b)
	publish(t, rds, map[*ollama]nodeSpec{a: {free: 500, loaded: []string{"llama3.3:70b"}}, b: {free: 20000}})
	until(t, "a", func() string { return g.post("/api/generate", `{"model":"llama3.3:70b","prompt":"p"}`) })
	for _, body := range []string{
		`{"model":"llama3.2:3b","prompt":"p","model":"llama3.3:70b"}`,
		`{"Model":"llama3.3:70b","prompt":"p"}`,
		`{"prompt":"p","MODEL":"llama3.3:70b"}`,
	} {
		if got := g.post("/api/generate", body); got != "a" {
			t.Errorf("%s went to %s, not to the node that holds llama3.3:70b", body, got)
		}
	}
}
