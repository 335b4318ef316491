package ollamaapi

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sollol-go/sollol/gpustats"
)

func serve(t *testing.T, status int, body string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestPS(t *testing.T) {
	url := serve(t, 200, `{"models":[
 {"name":"llama3.1:8b","model":"llama3.1:8b","size":5452595200,"size_vram":5452595200,"expires_at":"2026-11-27T10:00:00Z"},
 {"name":"","model":"qwen2.5:7b","size":4718592000,"size_vram":0},
 {"name":"bad name","size":1,"size_vram":5},
 {"name":"odd:1b","size":1048576,"size_vram":2097152}]}`)
	got, err := (&Client{URL: url + "/"}).PS(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []gpustats.LoadedModel{
		{Name: "llama3.1:8b", SizeMB: 5200, SizeVRAMMB: 5200, ExpiresAt: "2026-11-27T10:00:00Z"},
		{Name: "qwen2.5:7b", SizeMB: 4500},
		{Name: "odd:1b", SizeMB: 1, SizeVRAMMB: 1},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	if got, err := (&Client{URL: serve(t, 200, `{"models":[]}`)}).PS(context.Background()); err != nil || got == nil {
		t.Errorf("empty list: %v, %v; want an empty, non-nil list", got, err)
	}
}

func TestTags(t *testing.T) {
	url := serve(t, 200, `{"models":[{"name":"llama3.1:8b","size":4920000000},{"model":"qwen2.5:7b","size":4683087332}]}`)
	got, err := (&Client{URL: url}).Tags(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != (gpustats.InstalledModel{Name: "llama3.1:8b", SizeMB: 4692}) ||
		got[1] != (gpustats.InstalledModel{Name: "qwen2.5:7b", SizeMB: 4466}) {
		t.Errorf("got %+v", got)
	}
}

// TestNotOllama: answers that show another kind of server are ErrNotOllama; trouble that may pass is not.
func TestNotOllama(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
		not    bool
	}{
		{"404", 404, "404 page not found", true},
		{"405", 405, "", true},
		{"400 (HTTP to a TLS port)", 400, "Client sent an HTTP request to an HTTPS server.", true},
		{"401", 401, "", true},
		{"429", 429, "", false},
		{"html", 200, "<html><body>hello</body></html>", true},
		{"empty", 200, "", true},
		{"other JSON", 200, `{"upstream":"a"}`, true},
		{"array", 200, `[1,2]`, true},
		{"wrong type", 200, `{"models":"none"}`, true},
		{"500", 500, `{"error":"boom"}`, false},
		{"502", 502, "bad gateway", false},
		{"truncated", 200, `{"models":[{"name":"x"`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := (&Client{URL: serve(t, tc.status, tc.body)}).PS(context.Background())
			if err == nil || errors.Is(err, ErrNotOllama) != tc.not {
				t.Errorf("error %v; want not-Ollama %v", err, tc.not)
			}
		})
	}
}

func TestUnreachableAndSlow(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	closed := srv.URL
	srv.Close()
	if _, err := (&Client{URL: closed}).PS(context.Background()); err == nil || errors.Is(err, ErrNotOllama) {
		t.Errorf("closed port: %v", err)
	}
	block := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(block)
	start := time.Now()
	_, err := (&Client{URL: slow.URL, Timeout: 100 * time.Millisecond}).PS(context.Background())
	if err == nil || errors.Is(err, ErrNotOllama) || time.Since(start) > 5*time.Second {
		t.Errorf("slow server: %v after %s", err, time.Since(start))
	}
}

func TestToMiB(t *testing.T) {
	for in, want := range map[float64]float64{-1: 0, 0: 0, 1 << 19: 1, 1<<20 - 1: 1, 5 << 20: 5, 1e30: gpustats.MaxMemoryMB} {
		if got := ToMiB(in); got != want {
			t.Errorf("ToMiB(%v) = %v, want %v", in, got, want)
		}
	}
}
