package reporter

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sollol-go/sollol/gpustats"
)

// fakeOllama serves /api/ps and /api/tags with the given bodies and counts the requests.
type fakeOllama struct {
	ps, tags        atomic.Value
	psHits, tagHits atomic.Int32
	srv             *httptest.Server
}

func newFakeOllama(t *testing.T, ps, tags string) *fakeOllama {
	f := &fakeOllama{}
	f.ps.Store(ps)
	f.tags.Store(tags)
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/ps":
			f.psHits.Add(1)
			w.Write([]byte(f.ps.Load().(string)))
		case "/api/tags":
			f.tagHits.Add(1)
			w.Write([]byte(f.tags.Load().(string)))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

const (
	psTwoModels = `{"models":[
 {"name":"llama3.1:8b","model":"llama3.1:8b","size":5452595200,"size_vram":5452595200,"digest":"x","details":{"family":"llama"},"expires_at":"2026-11-27T10:00:00Z"},
 {"name":"","model":"qwen2.5:7b","size":4718592000,"size_vram":2097152000,"expires_at":"2026-11-27T10:05:00Z"},
 {"name":"bad name","size":1,"size_vram":5},
 {"name":"odd:1b","size":1048576,"size_vram":2097152}]}`
	tagsTwoModels = `{"models":[{"name":"llama3.1:8b","model":"llama3.1:8b","size":4920000000},{"name":"qwen2.5:7b","size":4683087332}]}`
)

func TestOllamaProbe(t *testing.T) {
	f := newFakeOllama(t, psTwoModels, tagsTwoModels)
	p := &OllamaProbe{URL: f.srv.URL + "/", TagsEvery: time.Hour, NumParallel: 4, RAMMB: 64206}
	got := p.Probe(context.Background())
	want := &gpustats.Ollama{
		Reachable: true, NumParallel: 4, RAMMB: 64206,
		Loaded: []gpustats.LoadedModel{
			{Name: "llama3.1:8b", SizeMB: 5200, SizeVRAMMB: 5200, ExpiresAt: "2026-11-27T10:00:00Z"},
			{Name: "qwen2.5:7b", SizeMB: 4500, SizeVRAMMB: 2000, ExpiresAt: "2026-11-27T10:05:00Z"},
			// size_vram above size is bounded by size, so that the report stays valid.
			{Name: "odd:1b", SizeMB: 1, SizeVRAMMB: 1},
		},
		Installed: []gpustats.InstalledModel{{Name: "llama3.1:8b", SizeMB: 4692}, {Name: "qwen2.5:7b", SizeMB: 4466}},
	}
	checkOllama(t, got, want)
	r := gpustats.Report{Vendor: "none", NodeID: "n:1", Timestamp: 1, Ollama: got}
	if err := r.Validate(r.Time(), 0); err != nil {
		t.Errorf("probe result fails validation: %v", err)
	}

	// /api/tags is not asked again within TagsEvery; /api/ps is asked every time.
	f.tags.Store(`{"models":[]}`)
	got = p.Probe(context.Background())
	if f.psHits.Load() != 2 || f.tagHits.Load() != 1 || len(got.Installed) != 2 {
		t.Errorf("ps %d, tags %d, installed %v", f.psHits.Load(), f.tagHits.Load(), got.Installed)
	}
	p.TagsEvery = time.Nanosecond
	got = p.Probe(context.Background())
	if f.tagHits.Load() != 2 || got.Installed == nil || len(got.Installed) != 0 {
		t.Errorf("after refresh: tags %d, installed %#v", f.tagHits.Load(), got.Installed)
	}
}

func TestOllamaUnreachable(t *testing.T) {
	f := newFakeOllama(t, "", "")
	url := f.srv.URL
	f.srv.Close()
	p := &OllamaProbe{URL: url, Timeout: time.Second, NumParallel: 2, RAMMB: 1024}
	got := p.Probe(context.Background())
	// The node's own facts are reported even while its Ollama does not answer.
	checkOllama(t, got, &gpustats.Ollama{Reachable: false, Loaded: []gpustats.LoadedModel{}, NumParallel: 2, RAMMB: 1024})
}

func TestOllamaBadAnswers(t *testing.T) {
	for name, ps := range map[string]string{"not JSON": "<html>", "truncated": `{"models":[{"name":"x"`} {
		t.Run(name, func(t *testing.T) {
			f := newFakeOllama(t, ps, tagsTwoModels)
			got := (&OllamaProbe{URL: f.srv.URL}).Probe(context.Background())
			if got.Reachable {
				t.Errorf("reported reachable: %+v", got)
			}
		})
	}
	t.Run("slow", func(t *testing.T) {
		block := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-block:
			case <-r.Context().Done():
			}
		}))
		defer srv.Close()
		defer close(block)
		start := time.Now()
		got := (&OllamaProbe{URL: srv.URL, Timeout: 100 * time.Millisecond}).Probe(context.Background())
		if got.Reachable || time.Since(start) > 5*time.Second {
			t.Errorf("reachable %v after %s", got.Reachable, time.Since(start))
		}
	})
	t.Run("tags fail", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/api/ps" {
				w.Write([]byte(`{"models":[]}`))
				return
			}
			http.Error(w, "boom", http.StatusInternalServerError)
		}))
		defer srv.Close()
		got := (&OllamaProbe{URL: srv.URL}).Probe(context.Background())
		if !got.Reachable || got.Installed != nil {
			t.Errorf("got %+v: want reachable with installed unknown (nil)", got)
		}
	})
}

func checkOllama(t *testing.T, got, want *gpustats.Ollama) {
	t.Helper()
	if got.Reachable != want.Reachable || len(got.Loaded) != len(want.Loaded) || len(got.Installed) != len(want.Installed) ||
		(got.Installed == nil) != (want.Installed == nil) || got.Loaded == nil || got.NumParallel != want.NumParallel ||
		got.RAMMB != want.RAMMB {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	for i := range want.Loaded {
		if got.Loaded[i] != want.Loaded[i] {
			t.Errorf("loaded %d: got %+v, want %+v", i, got.Loaded[i], want.Loaded[i])
		}
	}
	for i := range want.Installed {
		if got.Installed[i] != want.Installed[i] {
			t.Errorf("installed %d: got %+v, want %+v", i, got.Installed[i], want.Installed[i])
		}
	}
}
