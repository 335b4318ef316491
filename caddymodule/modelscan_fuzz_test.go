package caddymodule

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"
)

// FuzzScanModel checks that scanModel never panics, never reports a model for a body that is not an object,
// returns for every valid body what encoding/json decodes into a struct with a `json:"model"` field (the model
// Ollama reads: duplicates, case variants and nulls included), and never reports a wrong model for a prefix of a
// body, whole or cut at a limit.
func FuzzScanModel(f *testing.F) {
	for _, tc := range scanModelCases {
		f.Add([]byte(tc.body))
	}
	f.Add(chatBody(1<<10, true))
	f.Add(chatBody(1<<10, false))
	f.Fuzz(func(t *testing.T, body []byte) {
		model, ok := scanModel(body, false)
		if trimmed := bytes.TrimLeft(body, " \t\r\n"); ok && (len(trimmed) == 0 || trimmed[0] != '{') {
			t.Fatalf("scanModel(%q) = %q, true for a body that is not an object", body, model)
		}
		if !json.Valid(body) {
			return
		}
		if want, wantOK := jsonModel(t, body); model != want || ok != wantOK {
			t.Fatalf("scanModel(%q) = %q, %v; encoding/json decodes %q, %v", body, model, ok, want, wantOK)
		}

		// A body cut short gives nothing or the same model; cut at a limit, nothing or a model it names.
		named := modelStrings(body)
		step := 1
		if len(body) > 512 {
			step = len(body)/256 + 1
		}
		for n := 0; n < len(body); n += step {
			if pm, pok := scanModel(body[:n:n], false); pok && (!ok || pm != model) {
				t.Fatalf("prefix %d of %q gives %q; full body gives %q, %v", n, body, pm, model, ok)
			}
			if pm, pok := scanModel(body[:n:n], true); pok && !slices.Contains(named, pm) {
				t.Fatalf("prefix %d of %q, cut, gives %q; its model members name %q", n, body, pm, named)
			}
		}
	})
}
