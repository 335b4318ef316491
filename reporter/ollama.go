package reporter

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/sollol-go/sollol/gpustats"
	"github.com/sollol-go/sollol/ollamaapi"
)

// Defaults of OllamaProbe.
const (
	DefaultOllamaURL     = ollamaapi.DefaultURL
	DefaultOllamaTimeout = ollamaapi.DefaultTimeout
	DefaultTagsEvery     = time.Minute
)

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
	// NumParallel is reported as ollama.num_parallel: how many requests one loaded model serves at once
	// (Ollama's OLLAMA_NUM_PARALLEL, which Ollama's API does not tell). Zero leaves it out.
	NumParallel int
	// RAMMB is reported as ollama.ram_mb: the node's system memory (see SystemRAMMB). Zero leaves it out.
	RAMMB float64

	mu        sync.Mutex
	installed []gpustats.InstalledModel
	tagsAt    time.Time
}

// Probe asks Ollama now. Installed is the list from the last successful /api/tags within TagsEvery, nil (unknown)
// when there is none.
func (p *OllamaProbe) Probe(ctx context.Context) *gpustats.Ollama {
	c := p.api()
	loaded, err := c.PS(ctx)
	if err != nil {
		p.mu.Lock()
		p.installed, p.tagsAt = nil, time.Time{}
		p.mu.Unlock()
		return &gpustats.Ollama{Reachable: false, Loaded: []gpustats.LoadedModel{}, NumParallel: p.NumParallel, RAMMB: p.RAMMB}
	}
	return &gpustats.Ollama{Reachable: true, Loaded: loaded, Installed: p.tags(ctx, c), NumParallel: p.NumParallel,
		RAMMB: p.RAMMB}
}

// tags returns the installed models, asking Ollama when the cached list is older than TagsEvery.
func (p *OllamaProbe) tags(ctx context.Context, c *ollamaapi.Client) []gpustats.InstalledModel {
	every := p.TagsEvery
	if every <= 0 {
		every = DefaultTagsEvery
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.tagsAt.IsZero() && time.Since(p.tagsAt) < every {
		return p.installed
	}
	installed, err := c.Tags(ctx)
	if err != nil {
		// Keep the last list: what is on disk rarely changes, and /api/ps just answered.
		return p.installed
	}
	p.installed, p.tagsAt = installed, time.Now()
	return installed
}

func (p *OllamaProbe) api() *ollamaapi.Client {
	return &ollamaapi.Client{URL: p.URL, Timeout: p.Timeout, HTTP: p.Client}
}
