package caddymodule

import (
	"embed"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	caddy.RegisterModule(Status{})
}

// Status serves a live page of the fleet as the vram_aware policies of this Caddy see it: every node's GPUs as
// memory bars, its loaded and installed models, the age of its report and whether it drains, and the latest
// routing decisions with their reasons. It answers wherever it is mounted, so the site's own TLS, basic_auth or
// forward_auth protect it; nothing on the page is an absolute URL.
//
// Under the path it is mounted at (say /fleet/) it serves:
//
//	/fleet/                 the page, which fetches the two documents below every 2 seconds
//	/fleet/nodes.json       every Redis target: connection state, report counters, and each node's latest report
//	/fleet/decisions.json   the latest decisions, newest first (?limit=N, at most 256)
//	/fleet/ollama.json      the upstreams the policy polls directly (ollama_poll) and what each answered
//	/fleet/gateways.json    the other gateways this one shares state with (share_state), as the admin API's /vram_aware/gateways
//
// The JSON documents are those of the admin API's /vram_aware/nodes and /vram_aware/decisions. A request for the
// mount path without its trailing slash is redirected to it, so that the page's relative links resolve under it.
// Reports are untrusted input: the page writes every value as text, and a Content-Security-Policy allows only the
// page's own scripts and styles.
type Status struct{}

// CaddyModule returns the Caddy module information.
func (Status) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.vram_aware_status", New: func() caddy.Module { return new(Status) }}
}

//go:embed assets
var assets embed.FS

// statusFiles are the page's files, by the last element of the request path.
var statusFiles = map[string]struct{ name, contentType string }{
	"":           {"assets/index.html", "text/html; charset=utf-8"},
	"index.html": {"assets/index.html", "text/html; charset=utf-8"},
	"status.css": {"assets/status.css", "text/css; charset=utf-8"},
	"status.js":  {"assets/status.js", "text/javascript; charset=utf-8"},
}

// statusCSP lets the page load its own script, style and JSON, and nothing else.
const statusCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// ServeHTTP serves the page, its files and the JSON documents. It is a terminal handler: it never calls next.
func (Status) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		return caddyhttp.Error(http.StatusMethodNotAllowed, errMethod)
	}
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	name := path.Base("/" + r.URL.Path)
	if strings.HasSuffix(r.URL.Path, "/") || name == "/" {
		name = ""
	}
	switch name {
	case "nodes.json":
		return statusJSON(w, Targets())
	case "ollama.json":
		return statusJSON(w, PolledUpstreams())
	case "upstreams.json":
		return statusJSON(w, Upstreams())
	case "gateways.json":
		return statusJSON(w, Gateways())
	case "decisions.json":
		limit, ok := decisionLimit(r)
		if !ok {
			return caddyhttp.Error(http.StatusBadRequest, errLimit)
		}
		return statusJSON(w, RecentDecisions(limit))
	}
	f, ok := statusFiles[name]
	switch {
	case !ok && strings.Contains(name, "."):
		return caddyhttp.Error(http.StatusNotFound, errNoSuchFile)
	case !ok:
		// The mount path itself, without its trailing slash (route /fleet*): send the browser under it.
		return redirectUnder(w, name)
	case name == "":
		// handle_path /fleet* strips /fleet to an empty path: the original request tells where the browser is.
		if orig := originalPath(r); !strings.HasSuffix(orig, "/") {
			return redirectUnder(w, path.Base(orig))
		}
	}
	b, err := assets.ReadFile(f.name)
	if err != nil {
		return caddyhttp.Error(http.StatusInternalServerError, err)
	}
	h.Set("Content-Type", f.contentType)
	if strings.HasPrefix(f.contentType, "text/html") {
		h.Set("Content-Security-Policy", statusCSP)
		h.Set("Referrer-Policy", "no-referrer")
	}
	h.Set("Content-Length", strconv.Itoa(len(b)))
	_, err = w.Write(b)
	return err
}

// redirectUnder redirects to last+"/" relative to the request, so that the redirect holds behind any prefix
// that Caddy stripped or a proxy in front of it added.
func redirectUnder(w http.ResponseWriter, last string) error {
	w.Header().Set("Location", url.PathEscape(last)+"/")
	w.WriteHeader(http.StatusFound)
	return nil
}

// originalPath is the request's path before any rewrite or handle_path.
func originalPath(r *http.Request) string {
	if orig, ok := r.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request); ok && orig.URL != nil {
		return orig.URL.Path
	}
	return r.URL.Path
}

func statusJSON(w http.ResponseWriter, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return caddyhttp.Error(http.StatusInternalServerError, err)
	}
	w.Header().Set("Content-Type", "application/json")
	_, err = w.Write(append(b, '\n'))
	return err
}

var errNoSuchFile = errors.New("vram_aware_status: no such file")

// Interface guards
var _ caddyhttp.MiddlewareHandler = Status{}
