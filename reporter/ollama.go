package reporter

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/sollol-go/sollol/gpustats"
)

// Defaults of OllamaProbe.
const (
	DefaultOllamaURL     = "http://localhost:11434"
	DefaultOllamaTimeout = 2 * time.Second
	DefaultTagsEvery     = time.Minute
)

// maxOllamaBody bounds an answer from Ollama; /api/tags of a large model library stays far below.
const maxOllamaBody = 8 << 20

// OllamaProbe asks the node's Ollama server which models it holds: GET /api/ps (loaded models) on every call,
// GET /api/tags (installed models) only every TagsEvery, since the model library changes rarely. The zero value
// probes DefaultOllamaURL. A Probe never fails: an Ollama that does not answer is reported as unreachable.
type OllamaProbe struct {
	// URL is Ollama's base URL; empty means DefaultOllamaURL.
	URL string
	// Timeout bounds each request; zero means DefaultOllamaTimeout.
	Timeout time.Duration
	// TagsEvery is how often the installed models are refreshed; zero means DefaultTagsEvery.
	TagsEvery time.Duration
	// Client sends the requests; nil means a client with no proxy, so that a node's HTTP_PROXY setting does not
	// route the probe of its own Ollama elsewhere.
	Client *http.Client

	mu         sync.Mutex
	installed  []gpustats.InstalledModel
	tagsAt     time.Time
	clientOnce sync.Once
	client     *http.Client
}

// Probe asks Ollama now. Installed is the list from the last successful /api/tags within TagsEvery, nil (unknown)
// when there is none.
func (p *OllamaProbe) Probe(ctx context.Context) *gpustats.Ollama {
	var ps struct {
		Models []struct {
			Name      string  `json:"name"`
			Model     string  `json:"model"`
			Size      float64 `json:"size"`
			SizeVRAM  float64 `json:"size_vram"`
			ExpiresAt string  `json:"expires_at"`
		} `json:"models"`
	}
	if err := p.get(ctx, "/api/ps", &ps); err != nil {
		p.mu.Lock()
		p.installed, p.tagsAt = nil, time.Time{}
		p.mu.Unlock()
		return &gpustats.Ollama{Reachable: false, Loaded: []gpustats.LoadedModel{}}
	}
	loaded := []gpustats.LoadedModel{}
	for _, m := range ps.Models {
		name := modelName(m.Name, m.Model)
		if name == "" || len(loaded) == gpustats.MaxLoadedModels {
			continue
		}
		size := toMiB(m.Size)
		vram := min(toMiB(m.SizeVRAM), size)
		expires := m.ExpiresAt
		if len(expires) > 64 {
			expires = ""
		}
		loaded = append(loaded, gpustats.LoadedModel{Name: name, SizeMB: size, SizeVRAMMB: vram, ExpiresAt: expires})
	}
	return &gpustats.Ollama{Reachable: true, Loaded: loaded, Installed: p.tags(ctx)}
}

// tags returns the installed models, asking Ollama when the cached list is older than TagsEvery.
func (p *OllamaProbe) tags(ctx context.Context) []gpustats.InstalledModel {
	every := p.TagsEvery
	if every <= 0 {
		every = DefaultTagsEvery
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.tagsAt.IsZero() && time.Since(p.tagsAt) < every {
		return p.installed
	}
	var tags struct {
		Models []struct {
			Name  string  `json:"name"`
			Model string  `json:"model"`
			Size  float64 `json:"size"`
		} `json:"models"`
	}
	if err := p.get(ctx, "/api/tags", &tags); err != nil {
		// Keep the last list: what is on disk rarely changes, and /api/ps just answered.
		return p.installed
	}
	installed := []gpustats.InstalledModel{}
	for _, m := range tags.Models {
		name := modelName(m.Name, m.Model)
		if name == "" || len(installed) == gpustats.MaxInstalledModels {
			continue
		}
		installed = append(installed, gpustats.InstalledModel{Name: name, SizeMB: toMiB(m.Size)})
	}
	p.installed, p.tagsAt = installed, time.Now()
	return installed
}

func (p *OllamaProbe) get(ctx context.Context, path string, into any) error {
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = DefaultOllamaTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	base := p.URL
	if base == "" {
		base = DefaultOllamaURL
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+path, nil)
	if err != nil {
		return err
	}
	resp, err := p.httpClient().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxOllamaBody)).Decode(into); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return nil
}

func (p *OllamaProbe) httpClient() *http.Client {
	if p.Client != nil {
		return p.Client
	}
	p.clientOnce.Do(func() {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.Proxy = nil
		p.client = &http.Client{Transport: t}
	})
	return p.client
}

// modelName picks Ollama's "name", else "model", and drops names a report may not carry (empty, too long, with
// spaces or control characters), so that one odd model cannot make the whole report invalid.
func modelName(name, model string) string {
	if name == "" {
		name = model
	}
	if name == "" || len(name) > gpustats.MaxNameLen {
		return ""
	}
	for _, c := range name {
		if c == unicode.ReplacementChar || unicode.IsSpace(c) || !unicode.IsPrint(c) {
			return ""
		}
	}
	return name
}

// toMiB converts Ollama's bytes to MiB, rounded to a whole MiB and bounded to what a report may carry.
func toMiB(bytes float64) float64 {
	if !(bytes > 0) {
		return 0
	}
	return min(float64(int64(bytes/mib+0.5)), gpustats.MaxMemoryMB)
}
