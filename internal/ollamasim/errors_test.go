package ollamasim

import (
	"net/http"
	"testing"
)

func TestNotInstalledIs404WithOllamasBody(t *testing.T) {
	n := startNode(t, 1000, nil)
	for _, path := range []string{"/api/generate", "/api/chat"} {
		status, ctype, body := post(t, n, path, `{"model":"nope","prompt":"hi"}`)
		want := `{"error":"model \"nope\" not found, try pulling it first"}` + "\n"
		if status != http.StatusNotFound || body != want || ctype != "application/json; charset=utf-8" {
			t.Errorf("%s: %d %q %q, want 404 %q", path, status, ctype, body, want)
		}
	}
	status, _, body := post(t, n, "/v1/chat/completions", `{"model":"nope","messages":[{"role":"user","content":"hi"}]}`)
	want := `{"error":{"code":null,"message":"model \"nope\" not found, try pulling it first","param":null,"type":"not_found_error"}}` + "\n"
	if status != http.StatusNotFound || body != want {
		t.Errorf("openai: %d %q, want 404 %q", status, body, want)
	}
	if s := n.Stats(); s.NotFound != 3 || s.ColdLoads != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestModelLargerThanVRAMIs500WithOllamasBody(t *testing.T) {
	n := startNode(t, 1000, nil)
	generate(t, n, "small:1b", "")
	status, _, body := post(t, n, "/api/generate", `{"model":"huge:70b","prompt":"hi"}`)
	want := `{"error":"model requires more system memory (39.1 GiB) than is available (24.0 GiB)"}` + "\n"
	if status != http.StatusInternalServerError || body != want {
		t.Fatalf("%d %q, want 500 %q", status, body, want)
	}
	if got := loaded(t, n); len(got) != 1 || got[0] != "small:1b" {
		t.Errorf("a model that cannot fit unloaded others: %v", got)
	}
	if s := n.Stats(); s.OutOfMemory != 1 || s.ColdLoads != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestBadRequests(t *testing.T) {
	n := startNode(t, 1000, nil)
	for body, want := range map[string]string{
		``:                `{"error":"missing request body"}`,
		`{"prompt":"hi"}`: `{"error":"model is required"}`,
		`{"model":"small:1b","keep_alive":"soon"}`: `{"error":"keep_alive \"soon\": time: invalid duration \"soon\""}`,
	} {
		status, _, got := post(t, n, "/api/generate", body)
		if status != http.StatusBadRequest || got != want+"\n" {
			t.Errorf("%q: %d %q, want 400 %q", body, status, got, want)
		}
	}
}

func TestQueueLimitIs503(t *testing.T) {
	n := startNode(t, 100, func(c *Config) { c.MaxQueue = 1; c.NumParallel = 1 })
	done := make(chan int, 3)
	for range 3 {
		go func() {
			status, _, _ := post(t, n, "/api/generate", `{"model":"small:1b","prompt":"hi","stream":false,"options":{"num_predict":500}}`)
			done <- status
		}()
	}
	got := map[int]int{}
	for range 3 {
		got[<-done]++
	}
	if got[http.StatusServiceUnavailable] == 0 || got[200] == 0 {
		t.Fatalf("statuses %v: want some 200 and some 503", got)
	}
}
