package caddymodule

import "testing"

func TestScanPrompt(t *testing.T) {
	for _, tc := range []struct{ name, body, first, then string }{
		{"chat", `{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":false}`,
			`[{"role":"user","content":"hi"}]`, ""},
		{"chat, messages first", ` { "messages" : [ ] , "model":"m"}`, `[ ]`, ""},
		{"generate: system, then prompt", `{"prompt":"tell me","model":"m","system":"be \"kind\""}`,
			`"be \"kind\""`, `"tell me"`},
		{"completions: prompt only", `{"model":"m","prompt":"once upon"}`, "", `"once upon"`},
		{"nested members are not the prompt", `{"model":"m","options":{"messages":[1],"prompt":"x"}}`, "", ""},
		{"cut short in the messages: what was read", `{"model":"m","messages":[{"role":"user","content":"long`,
			`[{"role":"user","content":"long`, ""},
		{"cut short in a key", `{"model":"m","messages":[1],"pro`, "[1]", ""},
		{"cut after a colon", `{"model":"m","messages": `, "", ""},
		{"not an object", `["messages"]`, "", ""},
		{"empty", ``, "", ""},
		{"malformed after the messages", `{"messages":[2] "prompt":"p"}`, "[2]", ""},
	} {
		first, then := scanPrompt([]byte(tc.body))
		if string(first) != tc.first || string(then) != tc.then {
			t.Errorf("%s: scanPrompt = %q, %q; want %q, %q", tc.name, first, then, tc.first, tc.then)
		}
	}
}

func FuzzScanPrompt(f *testing.F) {
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
	f.Add([]byte(`{"system":"s","prompt":"p"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		first, then := scanPrompt(body) // must not panic
		if len(first) > len(body) || len(then) > len(body) {
			t.Fatal("prompt longer than the body")
		}
	})
}
