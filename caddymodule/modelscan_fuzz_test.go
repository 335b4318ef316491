package caddymodule

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzScanModel checks that scanModel never panics, never reports a model for
// a body that is not an object, agrees with encoding/json on every valid
// body, and never reports a wrong model for a prefix of a valid body.
func FuzzScanModel(f *testing.F) {
	for _, tc := range scanModelCases {
		f.Add([]byte(tc.body))
	}
	f.Add(chatBody(1<<10, true))
	f.Add(chatBody(1<<10, false))
	f.Fuzz(func(t *testing.T, body []byte) {
		model, ok := scanModel(body)

		if trimmed := bytes.TrimLeft(body, " \t\r\n"); ok && (len(trimmed) == 0 || trimmed[0] != '{') {
			t.Fatalf("scanModel(%q) = %q, true for a body that is not an object", body, model)
		}
		if !json.Valid(body) {
			return
		}

		// The first top-level "model" decides, whether or not it repeats.
		want, wantOK := jsonFirstTopLevelModel(t, body)
		if model != want || ok != wantOK {
			t.Fatalf("scanModel(%q) = %q, %v; encoding/json first top-level model = %q, %v", body, model, ok, want, wantOK)
		}

		// With a single top-level "model" string, json.Unmarshal agrees.
		var m map[string]any
		if err := json.Unmarshal(body, &m); err == nil {
			if s, isString := m["model"].(string); isString && topLevelModelKeys(body) == 1 {
				if !ok || model != s {
					t.Fatalf("scanModel(%q) = %q, %v; json.Unmarshal model = %q", body, model, ok, s)
				}
			}
		}

		// A body cut short gives nothing or the same model.
		step := 1
		if len(body) > 512 {
			step = len(body)/256 + 1
		}
		for n := 0; n < len(body); n += step {
			if pm, pok := scanModel(body[:n:n]); pok && (!ok || pm != model) {
				t.Fatalf("prefix %d of %q gives %q; full body gives %q, %v", n, body, pm, model, ok)
			}
		}
	})
}

// topLevelModelKeys counts the top-level keys of a valid JSON object that
// unescape to "model".
func topLevelModelKeys(body []byte) int {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // a number token such as 1E700 must not fail the oracle
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return 0
	}
	n := 0
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return n
		}
		if kt == "model" {
			n++
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return n
		}
	}
	return n
}
