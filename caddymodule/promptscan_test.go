package caddymodule

import "testing"

func TestScanPrompt(t *testing.T) {
	for _, tc := range []struct {
		name, body, first, then string
		shared                  int
	}{
		{"chat", `{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":false}`,
			`[{"role":"user","content":"hi"}]`, "", 0},
		{"chat behind a system prompt", `{"model":"m","messages":[ {"content":"be brief","role":"system"} ,{"role":"user","content":"hi"}]}`,
			`[ {"content":"be brief","role":"system"} ,{"role":"user","content":"hi"}]`, "", 40},
		{"chat: a system message cut short is not shared", `{"model":"m","messages":[{"role":"system","content":"be`,
			`[{"role":"system","content":"be`, "", 0},
		{"chat, messages first", ` { "messages" : [ ] , "model":"m"}`, `[ ]`, "", 0},
		{"generate: system, then prompt", `{"prompt":"tell me","model":"m","system":"be \"kind\""}`,
			`"be \"kind\""`, `"tell me"`, 13},
		{"completions: prompt only", `{"model":"m","prompt":"once upon"}`, "", `"once upon"`, 0},
		{"nested members are not the prompt", `{"model":"m","options":{"messages":[1],"prompt":"x"}}`, "", "", 0},
		{"cut short in the messages: what was read", `{"model":"m","messages":[{"role":"user","content":"long`,
			`[{"role":"user","content":"long`, "", 0},
		{"cut short in a key", `{"model":"m","messages":[1],"pro`, "[1]", "", 0},
		{"cut after a colon", `{"model":"m","messages": `, "", "", 0},
		{"not an object", `["messages"]`, "", "", 0},
		{"empty", ``, "", "", 0},
		{"malformed after the messages", `{"messages":[2] "prompt":"p"}`, "[2]", "", 0},
	} {
		first, then, shared := scanPrompt([]byte(tc.body))
		if string(first) != tc.first || string(then) != tc.then || shared != tc.shared {
			t.Errorf("%s: scanPrompt = %q, %q, %d; want %q, %q, %d", tc.name, first, then, shared, tc.first, tc.then, tc.shared)
		}
	}
}

func FuzzScanPrompt(f *testing.F) {
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
	f.Add([]byte(`{"system":"s","prompt":"p"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		first, then, shared := scanPrompt(body) // must not panic
		if len(first) > len(body) || len(then) > len(body) || shared < 0 || shared > len(first) {
			t.Fatalf("prompt of %d and %d bytes, %d shared, from a body of %d", len(first), len(then), shared, len(body))
		}
	})
}
