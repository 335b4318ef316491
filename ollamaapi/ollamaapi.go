// Package ollamaapi asks an Ollama server which models it holds: GET /api/ps (the models in memory) and GET
// /api/tags (the models on disk), turned into the gpustats types. gpu-reporter uses it for the node's own Ollama,
// and the vram_aware policy for its upstreams when it polls them directly. It needs nothing but net/http.
package ollamaapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/sollol-go/sollol/gpustats"
)

// Defaults of Client.
const (
	DefaultURL     = "http://localhost:11434"
	DefaultTimeout = 2 * time.Second
)

// maxBody bounds an answer; /api/tags of a large model library stays far below.
const maxBody = 8 << 20

// ErrNotOllama is returned (wrapped) when the server answers, but not as Ollama's API does: a client error such
// as 404 for the path (408 and 429 excepted), or a body that is not a JSON object with a "models" list. Asking
// again soon will not change that.
var ErrNotOllama = errors.New("not an Ollama API")

// Client asks one Ollama server. The zero value asks DefaultURL with DefaultTimeout through NewTransport.
type Client struct {
	// URL is Ollama's base URL, such as http://10.0.0.5:11434; empty means DefaultURL.
	URL string
	// Timeout bounds each request; zero means DefaultTimeout.
	Timeout time.Duration
	// HTTP sends the requests; nil means a client on a shared transport from NewTransport.
	HTTP *http.Client
}

var defaultHTTP = &http.Client{Transport: NewTransport()}

// NewTransport returns a transport that ignores HTTP_PROXY and the like, so that asking Ollama on the local network
// is not routed through a proxy meant for the outside.
func NewTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	return t
}

// PS returns the models in memory. Names Ollama gives that a report may not carry are dropped (see the package
// gpustats limits), sizes are in MiB, and size_vram is bounded by size.
func (c *Client) PS(ctx context.Context) ([]gpustats.LoadedModel, error) {
	var ps struct {
		Models *[]struct {
			Name      string  `json:"name"`
			Model     string  `json:"model"`
			Size      float64 `json:"size"`
			SizeVRAM  float64 `json:"size_vram"`
			ExpiresAt string  `json:"expires_at"`
		} `json:"models"`
	}
	if err := c.get(ctx, "/api/ps", &ps); err != nil {
		return nil, err
	}
	if ps.Models == nil {
		return nil, fmt.Errorf("GET /api/ps: no models list: %w", ErrNotOllama)
	}
	loaded := []gpustats.LoadedModel{}
	for _, m := range *ps.Models {
		name := ModelName(m.Name, m.Model)
		if name == "" || len(loaded) == gpustats.MaxLoadedModels {
			continue
		}
		size := ToMiB(m.Size)
		expires := m.ExpiresAt
		if len(expires) > 64 {
			expires = ""
		}
		loaded = append(loaded, gpustats.LoadedModel{Name: name, SizeMB: size, SizeVRAMMB: min(ToMiB(m.SizeVRAM), size),
			ExpiresAt: expires})
	}
	return loaded, nil
}

// Tags returns the models on disk, sizes in MiB.
func (c *Client) Tags(ctx context.Context) ([]gpustats.InstalledModel, error) {
	var tags struct {
		Models *[]struct {
			Name  string  `json:"name"`
			Model string  `json:"model"`
			Size  float64 `json:"size"`
		} `json:"models"`
	}
	if err := c.get(ctx, "/api/tags", &tags); err != nil {
		return nil, err
	}
	if tags.Models == nil {
		return nil, fmt.Errorf("GET /api/tags: no models list: %w", ErrNotOllama)
	}
	installed := []gpustats.InstalledModel{}
	for _, m := range *tags.Models {
		name := ModelName(m.Name, m.Model)
		if name == "" || len(installed) == gpustats.MaxInstalledModels {
			continue
		}
		installed = append(installed, gpustats.InstalledModel{Name: name, SizeMB: ToMiB(m.Size)})
	}
	return installed, nil
}

func (c *Client) get(ctx context.Context, path string, into any) error {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	base := c.URL
	if base == "" {
		base = DefaultURL
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	hc := c.HTTP
	if hc == nil {
		hc = defaultHTTP
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusRequestTimeout &&
		resp.StatusCode != http.StatusTooManyRequests:
		// Ollama answers these paths to anyone: a client error means another server (or TLS, or a login) in front.
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("GET %s: %s: %w", path, resp.Status, ErrNotOllama)
	case resp.StatusCode != http.StatusOK:
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	if len(body) > maxBody {
		return fmt.Errorf("GET %s: answer larger than %d bytes", path, maxBody)
	}
	if err := json.Unmarshal(body, into); err != nil {
		// A body cut short is a server in trouble; anything else that is not a JSON object is another API.
		if t := bytes.TrimSpace(body); len(t) == 0 || t[0] != '{' || json.Valid(t) {
			return fmt.Errorf("GET %s: %v: %w", path, err, ErrNotOllama)
		}
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return nil
}

// ModelName picks Ollama's "name", else "model", and returns "" for names a report may not carry (empty, too long,
// with spaces or control characters), so that one odd model cannot make a whole report invalid.
func ModelName(name, model string) string {
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

// ToMiB converts Ollama's bytes to MiB, rounded to a whole MiB and bounded to what a report may carry.
func ToMiB(bytes float64) float64 {
	mb := bytes / (1 << 20)
	switch {
	case !(mb > 0):
		return 0
	case mb >= gpustats.MaxMemoryMB:
		return gpustats.MaxMemoryMB
	}
	return float64(int64(mb + 0.5))
}
