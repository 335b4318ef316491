package caddymodule

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

type scanModelCase struct {
	name  string
	body  string
	model string
	ok    bool
}

// scanModelCases is the table for TestScanModel and the seed corpus of
// FuzzScanModel.
var scanModelCases = []scanModelCase{
	// Real-looking bodies.
	{"ollama generate", `{"model":"llama3.1:8b","prompt":"Why is the sky blue?","stream":false}`, "llama3.1:8b", true},
	{"ollama chat", `{
  "model": "qwen2.5:14b-instruct-q4_K_M",
  "messages": [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "hi"}
  ],
  "options": {"temperature": 0.2, "num_ctx": 8192},
  "keep_alive": "10m"
}`, "qwen2.5:14b-instruct-q4_K_M", true},
	{"ollama embed", `{"model":"nomic-embed-text","input":["a","b"],"truncate":true}`, "nomic-embed-text", true},
	{"ollama embeddings", `{"model":"all-minilm","prompt":"The sky is blue"}`, "all-minilm", true},
	{"ollama chat with tools, model last", `{"messages":[{"role":"user","content":"weather?"}],"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"model":{"type":"string"}},"required":["model"]}}}],"stream":true,"model":"llama3.2"}`, "llama3.2", true},
	{"openai chat completions", `{"model":"gpt-oss:20b","messages":[{"role":"developer","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"hello"}]}],"temperature":0.7,"max_tokens":256,"stream":true,"stream_options":{"include_usage":true}}`, "gpt-oss:20b", true},
	{"openai completions, model after prompt", `{"prompt":"Say this is a test","max_tokens":7,"temperature":0,"model":"mistral:7b"}`, "mistral:7b", true},
	{"openai embeddings", `{"input":"The food was delicious","model":"mxbai-embed-large","encoding_format":"float"}`, "mxbai-embed-large", true},
	{"registry path model", `{"model":"registry.example.com/team/coder:33b-q8_0"}`, "registry.example.com/team/coder:33b-q8_0", true},

	// Decoys.
	{"nested model in options first", `{"options":{"model":"decoy"},"model":"real"}`, "real", true},
	{"nested model in messages", `{"messages":[{"role":"user","model":"decoy","content":"x"}],"model":"real"}`, "real", true},
	{"model text inside content", `{"messages":[{"role":"user","content":"set \"model\": \"decoy\" please"}],"model":"real"}`, "real", true},
	{"model text inside key string", `{"\"model\":\"decoy\"":1,"model":"real"}`, "real", true},
	{"escaped backslash before quote", `{"prompt":"C:\\path\\","model":"real"}`, "real", true},
	{"only nested model", `{"options":{"model":"decoy"},"messages":[{"model":"decoy2"}]}`, "", false},
	{"model as value not key", `{"name":"model","x":["model"]}`, "", false},
	{"brackets inside strings", `{"a":"}]}]{[","b":[{"c":"]"}],"model":"m"}`, "m", true},
	{"deep nesting before model", `{"a":[[[[{"b":[{"c":{"d":[1,2,{"model":"x"}]}}]}]]]],"model":"m"}`, "m", true},

	// Escapes and unicode.
	{"escaped quote in value", `{"model":"a\"b"}`, `a"b`, true},
	{"escaped backslash and slash", `{"model":"a\\b\/c"}`, `a\b/c`, true},
	{"control escapes", `{"model":"\b\f\n\r\t"}`, "\b\f\n\r\t", true},
	{"unicode escape", `{"model":"caf\u00e9"}`, "café", true},
	{"surrogate pair escape", `{"model":"\ud83d\ude00x"}`, "😀x", true},
	{"lone high surrogate", `{"model":"\ud800x"}`, "\uFFFDx", true},
	{"lone low surrogate", `{"model":"\udc00"}`, "\uFFFD", true},
	{"reversed surrogates", `{"model":"\udc00\ud800"}`, "\uFFFD\uFFFD", true},
	{"high surrogate then non-surrogate escape", `{"model":"\ud800\u0041"}`, "\uFFFDA", true},
	{"raw utf8", `{"model":"模型-ü"}`, "模型-ü", true},
	{"invalid utf8", "{\"model\":\"a\xffb\"}", "a\uFFFDb", true},
	{"nul escape", `{"model":"a\u0000b"}`, "a\x00b", true},
	{"escaped key", `{"mod\u0065l":"m"}`, "m", true},
	{"fully escaped key", `{"\u006d\u006F\u0064\u0065\u006c":"m"}`, "m", true},
	{"escaped key with extra", `{"mod\u0065l\u0000":"x","model":"m"}`, "m", true},
	{"capitalised key", `{"Model":"x"}`, "x", true},
	{"upper-case key", `{"prompt":"p","MODEL":"llama3.3:70b"}`, "llama3.3:70b", true},
	{"mixed-case escaped key", `{"mO\u0044eL":"m"}`, "m", true},
	{"long s is no ASCII s", `{"modeſ":"x","model":"m"}`, "m", true},
	{"kelvin sign is no k", `{"\u212aey":"x","model":"m"}`, "m", true},
	{"empty model", `{"model":""}`, "", true},

	// Layout.
	{"whitespace everywhere", " \t\r\n{ \n\"model\" \t:\r\n \"m\" \n} \n", "m", true},
	{"keys in any order", `{"stream":false,"format":"json","raw":true,"images":null,"model":"m","prompt":"p"}`, "m", true},
	{"duplicate model: the last wins", `{"model":"llama3.2:3b","prompt":"p","model":"llama3.3:70b"}`, "llama3.3:70b", true},
	{"case variants: the last wins", `{"model":"a","Model":"b","MODEL":"c"}`, "c", true},
	{"null after a model keeps it", `{"model":"a","Model":null}`, "a", true},
	{"model after null", `{"model":null,"model":"b"}`, "b", true},
	{"numbers before model", `{"a":-0.5e+10,"b":0,"c":1E3,"d":12.25,"model":"m"}`, "m", true},
	{"literals before model", `{"a":true,"b":false,"c":null,"model":"m"}`, "m", true},
	{"empty containers before model", `{"a":{},"b":[],"model":"m"}`, "m", true},
	{"truncated after model", `{"model":"m","messages":[{"role":"us`, "", false},
	{"garbage after model", `{"model":"m"!!!`, "", false},
	{"bytes after the object are not read", `{"model":"m"} {"model":"x"}`, "m", true},

	// Not a string model.
	{"null model", `{"model":null}`, "", false},
	{"number model", `{"model":42}`, "", false},
	{"bool model", `{"model":true}`, "", false},
	{"object model", `{"model":{"name":"m"}}`, "", false},
	{"array model", `{"model":["m"]}`, "", false},
	{"first model not a string", `{"model":1,"model":"m"}`, "", false},
	{"last model not a string", `{"model":"m","model":1}`, "", false},
	{"case variant not a string", `{"model":"m","Model":["x"]}`, "", false},

	// Not an object.
	{"empty body", ``, "", false},
	{"whitespace body", " \n\t", "", false},
	{"null body", `null`, "", false},
	{"array body", `[{"model":"m"}]`, "", false},
	{"string body", `"{\"model\":\"m\"}"`, "", false},
	{"number body", `42`, "", false},
	{"empty object", `{}`, "", false},
	{"bom", "\xef\xbb\xbf{\"model\":\"m\"}", "", false},

	// Malformed and truncated.
	{"truncated in key", `{"mod`, "", false},
	{"truncated after key", `{"model"`, "", false},
	{"truncated after colon", `{"model":`, "", false},
	{"truncated in value", `{"model":"llama`, "", false},
	{"truncated in escape", `{"model":"a\`, "", false},
	{"truncated in unicode escape", `{"model":"a\u00`, "", false},
	{"truncated in messages", `{"messages":[{"role":"user","content":"long text`, "", false},
	{"truncated in scalar", `{"n":12`, "", false},
	{"missing colon", `{"model" "m"}`, "", false},
	{"missing comma", `{"a":1 "model":"m"}`, "", false},
	{"trailing comma", `{"a":1,}`, "", false},
	{"leading comma", `{,"model":"m"}`, "", false},
	{"unquoted key", `{model:"m"}`, "", false},
	{"single quotes", `{'model':'m'}`, "", false},
	{"bad escape in value", `{"model":"a\x"}`, "", false},
	{"bad unicode escape in value", `{"model":"\u12g4"}`, "", false},
	{"control char in value", "{\"model\":\"a\nb\"}", "", false},
	{"control char in key", "{\"mo\tdel\":\"m\"}", "", false},
	{"bad literal before model", `{"a":tru,"model":"m"}`, "", false},
	{"bad number before model", `{"a":01,"model":"m"}`, "", false},
	{"bare minus before model", `{"a":-,"model":"m"}`, "", false},
	{"mismatched brackets before model", `{"a":[1,2},"model":"m"}`, "", false},
	{"unclosed string before model", `{"a":"x,"model":"m"}`, "", false},
	{"object then model outside", `{"a":1}"model":"m"`, "", false},
	{"closing bracket body", `}`, "", false},
}

func TestScanModel(t *testing.T) {
	for _, tc := range scanModelCases {
		t.Run(tc.name, func(t *testing.T) {
			model, ok := scanModel([]byte(tc.body), false)
			if model != tc.model || ok != tc.ok {
				t.Fatalf("scanModel(%q) = %q, %v; want %q, %v", tc.body, model, ok, tc.model, tc.ok)
			}
		})
	}
}

// TestScanModelAgreesWithTableOracle checks the table itself against
// encoding/json for every case that encoding/json accepts.
func TestScanModelAgreesWithTableOracle(t *testing.T) {
	for _, tc := range scanModelCases {
		body := []byte(tc.body)
		if !json.Valid(body) {
			continue
		}
		want, wantOK := jsonModel(t, body)
		if want != tc.model || wantOK != tc.ok {
			t.Errorf("%s: table says %q, %v; encoding/json says %q, %v", tc.name, tc.model, tc.ok, want, wantOK)
		}
	}
}

func TestScanModelNestingLimit(t *testing.T) {
	deep := func(n int) []byte {
		return []byte(`{"a":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `,"model":"m"}`)
	}
	// The object itself is one level: encoding/json allows maxScanDepth in
	// all, and so does scanModel.
	for _, n := range []int{63, 64, 65, 200, maxScanDepth - 1} {
		if m, ok := scanModel(deep(n), false); !ok || m != "m" {
			t.Errorf("depth %d: got %q, %v", n, m, ok)
		}
		if !json.Valid(deep(n)) {
			t.Errorf("depth %d: encoding/json rejects it", n)
		}
	}
	if json.Valid(deep(maxScanDepth)) {
		t.Errorf("encoding/json accepts depth %d", maxScanDepth)
	}
	if _, ok := scanModel(deep(maxScanDepth), false); ok {
		t.Errorf("depth past limit accepted")
	}
	// Mismatched kinds below the 64 tracked levels are still caught when
	// they close a tracked level.
	bad := []byte(`{"a":` + strings.Repeat("[", 100) + strings.Repeat("]", 99) + `},"model":"m"}`)
	if _, ok := scanModel(bad, false); ok {
		t.Errorf("mismatched outer bracket accepted")
	}
}

// TestScanModelPrefixes checks what a body cut anywhere gives: read as a whole body, nothing or the full body's
// answer; read as a body cut at a limit, nothing or a model that one of its model members names.
func TestScanModelPrefixes(t *testing.T) {
	for _, tc := range scanModelCases {
		checkPrefixes(t, []byte(tc.body))
	}
	for _, body := range [][]byte{chatBody(2<<10, true), chatBody(2<<10, false)} {
		checkPrefixes(t, body)
	}
	// Cut after its model, a long chat still routes by it.
	body := chatBody(64<<10, true)
	if m, ok := scanModel(body[:32<<10], true); !ok || m != "llama3.1:8b-instruct-q4_K_M" {
		t.Fatalf("chat cut at 32 KiB: %q, %v", m, ok)
	}
}

func checkPrefixes(t testing.TB, body []byte) {
	t.Helper()
	full, fullOK := scanModel(body, false)
	named := modelStrings(body)
	for n := 0; n < len(body); n++ {
		if m, ok := scanModel(body[:n:n], false); ok && (!fullOK || m != full) {
			t.Fatalf("prefix %d of %q gives %q; full body gives %q, %v", n, body, m, full, fullOK)
		}
		if m, ok := scanModel(body[:n:n], true); ok && !slices.Contains(named, m) {
			t.Fatalf("prefix %d of %q, cut, gives %q; the body's model members name %q", n, body, m, named)
		}
	}
}

// modelStrings returns the raw string values of body's top-level members whose key, unescaped, is "model" in
// any case, as far as body reads as JSON tokens.
func modelStrings(body []byte) []string {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil
	}
	var out []string
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return out
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return out
		}
		var s string
		if k, _ := kt.(string); strings.EqualFold(k, "model") && json.Unmarshal(raw, &s) == nil && raw[0] == '"' {
			out = append(out, s)
		}
	}
	return out
}

func TestScanModelAllocs(t *testing.T) {
	bodies := map[string][]byte{
		"first":    chatBody(16<<10, true),
		"last":     chatBody(16<<10, false),
		"escaped":  []byte(`{"messages":[],"mod\u0065l":"caf\u00e9 \ud83d\ude00 ` + strings.Repeat("x", 300) + `"}`),
		"repeated": []byte(`{"model":"a","messages":[],"MODEL":"caf\u00e9","Model":null}`),
		"invalid":  []byte("{\"model\":\"a\xffb\"}"),
		"no model": []byte(`{"messages":[{"role":"user","content":"hi"}],"options":{"model":"x"}}`),
	}
	for name, body := range bodies {
		allocs := testing.AllocsPerRun(100, func() { scanModel(body, false) })
		want := 1.0
		if name == "no model" {
			want = 0
		}
		if allocs != want {
			t.Errorf("%s: %v allocs per run, want %v", name, allocs, want)
		}
	}
}

// TestScanModelDifferential compares scanModel with encoding/json on many
// generated bodies: random layouts, nested decoys, escapes, unicode,
// duplicate and non-string models.
func TestScanModelDifferential(t *testing.T) {
	n := 20000
	if testing.Short() {
		n = 2000
	}
	rng := rand.New(rand.NewPCG(1, 2))
	stats := map[string]int{}
	for i := 0; i < n; i++ {
		g := &bodyGen{rng: rng}
		body := g.topLevel()
		if !json.Valid(body) {
			t.Fatalf("generator produced invalid JSON: %q", body)
		}
		want, wantOK := jsonModel(t, body)
		got, gotOK := scanModel(body, false)
		if got != want || gotOK != wantOK {
			t.Fatalf("body %q:\nscanModel = %q, %v\nencoding/json = %q, %v", body, got, gotOK, want, wantOK)
		}
		switch {
		case !wantOK:
			stats["no string model"]++
		case g.modelKeys > 1:
			stats["duplicate model"]++
		default:
			stats["model"]++
		}
	}
	t.Logf("generated bodies: %v", stats)
	for _, k := range []string{"no string model", "duplicate model", "model"} {
		if stats[k] < n/50 {
			t.Errorf("generator produced too few %q bodies: %v", k, stats)
		}
	}
}

// jsonModel is the encoding/json oracle: what Ollama binds, json.Unmarshal into a struct with a `json:"model"`
// string field, and whether some top-level model member (any case) holds a string, which tells a missing model
// from an empty one. A body that json.Unmarshal refuses gives ("", false). body must be valid JSON.
func jsonModel(t testing.TB, body []byte) (string, bool) {
	t.Helper()
	var v struct {
		Model string `json:"model"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		var te *json.UnmarshalTypeError
		if !errors.As(err, &te) {
			t.Fatalf("oracle: %v on %q", err, body)
		}
		return "", false
	}
	return v.Model, len(modelStrings(body)) > 0
}

// bodyGen writes random valid JSON request bodies.
type bodyGen struct {
	rng       *rand.Rand
	buf       bytes.Buffer
	modelKeys int // top-level keys that unescape to "model" in any case
}

// modelKeyForms are the spellings of the model key that encoding/json matches.
var modelKeyForms = []string{"model", "model", "model", "Model", "MODEL", "mODel"}

var genWords = []string{
	"model", "Model", "messages", "role", "content", "user", "assistant", "options",
	"temperature", "stream", "prompt", "llama3.1:8b", "qwen2.5:14b", `"model": "decoy"`,
	"}", "]", "{", "[", `\`, `"`, "模型", "😀", "ü", "\x7f", "a\u2028b", "",
}

func (g *bodyGen) ws() {
	if g.rng.IntN(3) != 0 {
		return
	}
	for n := g.rng.IntN(3); n >= 0; n-- {
		g.buf.WriteByte(" \t\r\n"[g.rng.IntN(4)])
	}
}

// str writes s as a JSON string, escaping randomly but validly.
func (g *bodyGen) str(s string) {
	g.buf.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			if g.rng.IntN(4) == 0 {
				fmt.Fprintf(&g.buf, `\u%04x`, r)
			} else {
				g.buf.WriteByte('\\')
				g.buf.WriteRune(r)
			}
		case r < 0x20:
			fmt.Fprintf(&g.buf, `\u%04X`, r)
		case g.rng.IntN(8) == 0:
			if r >= 0x10000 {
				r -= 0x10000
				fmt.Fprintf(&g.buf, `\u%04x\u%04x`, 0xD800+(r>>10), 0xDC00+(r&0x3FF))
			} else {
				fmt.Fprintf(&g.buf, `\u%04x`, r)
			}
		case r == '/' && g.rng.IntN(2) == 0:
			g.buf.WriteString(`\/`)
		default:
			g.buf.WriteRune(r)
		}
	}
	// Occasionally odd but valid content.
	switch g.rng.IntN(20) {
	case 0:
		g.buf.WriteString(`\ud800`) // lone surrogate
	case 1:
		g.buf.WriteString("\xff") // invalid UTF-8
	case 2:
		g.buf.WriteString(`\n\t\b\f\r\\\"\/`)
	}
	g.buf.WriteByte('"')
}

func (g *bodyGen) text() string {
	var sb strings.Builder
	for n := g.rng.IntN(4); n >= 0; n-- {
		sb.WriteString(genWords[g.rng.IntN(len(genWords))])
		if g.rng.IntN(2) == 0 {
			sb.WriteByte(' ')
		}
	}
	if g.rng.IntN(6) == 0 {
		sb.WriteRune(rune(g.rng.IntN(0x20))) // control character, escaped by str
	}
	return sb.String()
}

func (g *bodyGen) value(depth int) {
	k := g.rng.IntN(10)
	if depth > 4 && k >= 7 {
		k = 0
	}
	switch k {
	case 0, 1, 2:
		g.str(g.text())
	case 3:
		g.buf.WriteString([]string{"0", "-1", "3.25", "1e9", "-0.5E-3", "12345678901234567890"}[g.rng.IntN(6)])
	case 4:
		g.buf.WriteString([]string{"true", "false", "null"}[g.rng.IntN(3)])
	case 5, 6:
		g.str(strings.Repeat(g.text(), 1+g.rng.IntN(50)))
	case 7, 8:
		g.buf.WriteByte('{')
		for n := g.rng.IntN(4); n > 0; n-- {
			g.ws()
			g.str(genWords[g.rng.IntN(len(genWords))])
			g.ws()
			g.buf.WriteByte(':')
			g.ws()
			g.value(depth + 1)
			g.ws()
			if n > 1 {
				g.buf.WriteByte(',')
			}
		}
		g.buf.WriteByte('}')
	default:
		g.buf.WriteByte('[')
		for n := g.rng.IntN(4); n > 0; n-- {
			g.ws()
			g.value(depth + 1)
			g.ws()
			if n > 1 {
				g.buf.WriteByte(',')
			}
		}
		g.buf.WriteByte(']')
	}
}

func (g *bodyGen) topLevel() []byte {
	g.ws()
	if g.rng.IntN(30) == 0 {
		g.value(0) // maybe not an object at all
		g.ws()
		return g.buf.Bytes()
	}
	g.buf.WriteByte('{')
	n := g.rng.IntN(6)
	modelAt := g.rng.IntN(n + 1)
	if g.rng.IntN(10) == 0 {
		modelAt = -1 // no model
	}
	for i := 0; i <= n; i++ {
		if i > 0 {
			g.buf.WriteByte(',')
		}
		g.ws()
		isModel := i == modelAt || g.rng.IntN(15) == 0
		var key string
		if isModel {
			key = modelKeyForms[g.rng.IntN(len(modelKeyForms))]
		} else {
			key = genWords[g.rng.IntN(len(genWords))]
		}
		if strings.EqualFold(key, "model") {
			g.modelKeys++
		}
		g.str(key)
		g.ws()
		g.buf.WriteByte(':')
		g.ws()
		switch k := g.rng.IntN(16); {
		case isModel && k == 0:
			g.buf.WriteString("null")
		case isModel && k > 1:
			g.str(g.text())
		default:
			g.value(0)
		}
		g.ws()
	}
	g.buf.WriteByte('}')
	g.ws()
	return g.buf.Bytes()
}

// chatBody returns an Ollama /api/chat body of at least size bytes, with the
// model member first or last.
func chatBody(size int, modelFirst bool) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	if modelFirst {
		b.WriteString(`"model":"llama3.1:8b-instruct-q4_K_M",`)
	}
	b.WriteString(`"messages":[{"role":"system","content":"You are a helpful assistant. Answer in JSON like {\"model\": \"x\", \"ok\": true}.\nKeep it short."}`)
	turns := []string{
		`{"role":"user","content":"Summarise the following log:\n2024-05-01T10:00:00Z INFO loaded \"llama3\" in 3.2s\n2024-05-01T10:00:04Z WARN vram low (1.2 GiB free)\n"}`,
		`{"role":"assistant","content":"The model \"llama3\" loaded in 3.2 s; shortly after, free VRAM dropped to 1.2 GiB, which risks offloading layers to the CPU.","tool_calls":[{"function":{"name":"lookup","arguments":{"model":"decoy","path":"C:\\models\\"}}}]}`,
		`{"role":"tool","content":"{\"model\":\"decoy\",\"size_vram\":4661224676,\"details\":{\"family\":\"llama\"}}"}`,
	}
	tail := `],"stream":false,"options":{"temperature":0.7,"num_ctx":8192,"stop":["</s>"]},"keep_alive":"5m"`
	if !modelFirst {
		tail += `,"model":"llama3.1:8b-instruct-q4_K_M"`
	}
	tail += `}`
	for t := 0; b.Len()+len(tail) < size; t++ {
		b.WriteByte(',')
		b.WriteString(turns[t%len(turns)])
	}
	b.WriteString(tail)
	return b.Bytes()
}

func TestChatBody(t *testing.T) {
	for _, size := range []int{2 << 10, 256 << 10} {
		for _, first := range []bool{true, false} {
			body := chatBody(size, first)
			if !json.Valid(body) || len(body) < size || !utf8.Valid(body) {
				t.Fatalf("bad bench body size=%d first=%v len=%d", size, first, len(body))
			}
			if m, ok := scanModel(body, false); !ok || m != "llama3.1:8b-instruct-q4_K_M" {
				t.Fatalf("size=%d first=%v: %q, %v", size, first, m, ok)
			}
		}
	}
}

var benchBodies = []struct {
	name string
	size int
}{{"2KiB", 2 << 10}, {"256KiB", 256 << 10}}

var benchSink string

func BenchmarkScanModel(b *testing.B) {
	for _, bb := range benchBodies {
		for _, pos := range []string{"first", "last"} {
			body := chatBody(bb.size, pos == "first")
			b.Run(bb.name+"/"+pos, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(body)))
				for b.Loop() {
					m, ok := scanModel(body, false)
					if !ok {
						b.Fatal("no model")
					}
					benchSink = m
				}
			})
		}
	}
}

func BenchmarkUnmarshalModel(b *testing.B) {
	for _, bb := range benchBodies {
		for _, pos := range []string{"first", "last"} {
			body := chatBody(bb.size, pos == "first")
			b.Run(bb.name+"/"+pos, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(body)))
				for b.Loop() {
					var v struct {
						Model string `json:"model"`
					}
					if err := json.Unmarshal(body, &v); err != nil {
						b.Fatal(err)
					}
					benchSink = v.Model
				}
			})
		}
	}
}
