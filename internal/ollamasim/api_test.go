package ollamasim

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

type nativeLine struct {
	Model      string `json:"model"`
	CreatedAt  string `json:"created_at"`
	Response   string `json:"response"`
	Message    *struct{ Role, Content string }
	Done       bool   `json:"done"`
	DoneReason string `json:"done_reason"`
	EvalCount  int    `json:"eval_count"`
	Total      int64  `json:"total_duration"`
	Load       int64  `json:"load_duration"`
}

func decodeLines(t *testing.T, body string) []nativeLine {
	t.Helper()
	var out []nativeLine
	for _, l := range lines(body) {
		var v nativeLine
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		out = append(out, v)
	}
	return out
}

func TestGenerateStreamsNDJSONByDefault(t *testing.T) {
	n := startNode(t, 1000, nil)
	status, ctype, body := post(t, n, "/api/generate", `{"model":"small:1b","prompt":"hi","options":{"num_predict":60}}`)
	if status != 200 || ctype != "application/x-ndjson" {
		t.Fatalf("%d %s", status, ctype)
	}
	ls := decodeLines(t, body)
	// 60 tokens: the first alone, then chunks of 25: 1, 25, 25, 9, then the final line.
	if len(ls) != 5 {
		t.Fatalf("%d lines: %s", len(ls), body)
	}
	text := ""
	for _, l := range ls[:4] {
		if l.Done || l.Model != "small:1b" || l.CreatedAt == "" {
			t.Fatalf("chunk %+v", l)
		}
		text += l.Response
	}
	last := ls[4]
	if !last.Done || last.DoneReason != "length" || last.EvalCount != 60 || last.Load <= 0 || last.Total < last.Load {
		t.Fatalf("final line %+v", last)
	}
	if text != Answer(60) {
		t.Errorf("streamed %q, want Answer(60)", text)
	}
	if _, err := time.Parse(time.RFC3339Nano, last.CreatedAt); err != nil {
		t.Error(err)
	}
}

func TestChatStreamAndNot(t *testing.T) {
	n := startNode(t, 1000, nil)
	status, _, body := post(t, n, "/api/chat", `{"model":"small:1b","messages":[{"role":"user","content":"hi"}],"stream":false}`)
	ls := decodeLines(t, body)
	if status != 200 || len(ls) != 1 || !ls[0].Done || ls[0].Message == nil || ls[0].Message.Role != "assistant" ||
		len(strings.Fields(ls[0].Message.Content)) != DefaultTokens || ls[0].DoneReason != "stop" {
		t.Fatalf("%d %s", status, body)
	}
	_, ctype, body := post(t, n, "/api/chat", `{"model":"small:1b","messages":[{"role":"user","content":"hi"}],"options":{"num_predict":30}}`)
	ls = decodeLines(t, body)
	if ctype != "application/x-ndjson" || len(ls) != 4 || ls[0].Message == nil || ls[0].Done || !ls[3].Done {
		t.Fatalf("%s %s", ctype, body)
	}
}

func TestGenerateWithoutPromptOnlyLoads(t *testing.T) {
	n := startNode(t, 1000, nil)
	_, _, body := post(t, n, "/api/generate", `{"model":"mid:8b"}`)
	ls := decodeLines(t, body)
	if len(ls) != 1 || ls[0].DoneReason != "load" || ls[0].Response != "" {
		t.Fatalf("%s", body)
	}
	if got := loaded(t, n); len(got) != 1 {
		t.Fatalf("loaded %v", got)
	}
}

func TestOpenAIChat(t *testing.T) {
	n := startNode(t, 1000, nil)
	status, ctype, body := post(t, n, "/v1/chat/completions", `{"model":"small:1b","messages":[{"role":"user","content":"hi"}],"max_tokens":7}`)
	var c struct {
		ID, Object, Model string
		Choices           []struct {
			Message      struct{ Role, Content string }
			FinishReason string `json:"finish_reason"`
		}
		Usage struct {
			CompletionTokens int `json:"completion_tokens"`
		}
	}
	if err := json.Unmarshal([]byte(body), &c); err != nil || status != 200 || ctype != "application/json" {
		t.Fatalf("%d %s %s %v", status, ctype, body, err)
	}
	if c.Object != "chat.completion" || !strings.HasPrefix(c.ID, "chatcmpl-") || len(c.Choices) != 1 ||
		c.Choices[0].Message.Role != "assistant" || c.Choices[0].FinishReason != "length" || c.Usage.CompletionTokens != 7 {
		t.Fatalf("%s", body)
	}

	status, ctype, body = post(t, n, "/v1/chat/completions", `{"model":"small:1b","messages":[{"role":"user","content":"hi"}],"stream":true,"max_tokens":30}`)
	ls := lines(body)
	if status != 200 || ctype != "text/event-stream" || len(ls) != 5 || ls[4] != "data: [DONE]" {
		t.Fatalf("%d %s %q", status, ctype, ls)
	}
	for i, l := range ls[:4] {
		var ch struct {
			Object  string
			Choices []struct {
				Delta        struct{ Content string }
				FinishReason *string `json:"finish_reason"`
			}
		}
		if err := json.Unmarshal([]byte(strings.TrimPrefix(l, "data: ")), &ch); err != nil || ch.Object != "chat.completion.chunk" {
			t.Fatalf("event %q: %v", l, err)
		}
		if last := i == 3; (ch.Choices[0].FinishReason != nil) != last {
			t.Fatalf("event %d %q: finish_reason set only on the last", i, l)
		}
	}
}

func TestPSAndTagsShape(t *testing.T) {
	n := startNode(t, 1000, nil)
	generate(t, n, "mid:8b", "")
	var ps struct{ Models []psEntry }
	getJSON(t, n, "/api/ps", &ps)
	if len(ps.Models) != 1 {
		t.Fatalf("%+v", ps)
	}
	m := ps.Models[0]
	exp, err := time.Parse(time.RFC3339Nano, m.ExpiresAt)
	if m.Name != "mid:8b" || m.Model != "mid:8b" || m.Size != 9000<<20 || m.SizeVRAM != m.Size || len(m.Digest) != 64 ||
		m.Details.Format != "gguf" || m.Details.Family != "mid" || err != nil || exp.Before(time.Now()) {
		t.Fatalf("%+v %v", m, err)
	}
	var tags struct {
		Models []struct {
			Name string
			Size int64
		}
	}
	getJSON(t, n, "/api/tags", &tags)
	if len(tags.Models) != len(testModels) || tags.Models[1].Name != "mid:8b" || tags.Models[1].Size != 8000<<20 {
		t.Fatalf("%+v", tags)
	}
	var v struct{ Version string }
	getJSON(t, n, "/api/version", &v)
	if v.Version != DefaultVersion {
		t.Fatal(v)
	}
	resp, err := http.Get(n.URL() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatal(resp.Status)
	}
}

func TestCanonicalName(t *testing.T) {
	for in, want := range map[string]string{"llama3": "llama3:latest", "llama3:8b": "llama3:8b",
		"reg.io:5000/ns/m": "reg.io:5000/ns/m:latest", "": ""} {
		if got := CanonicalName(in); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}
