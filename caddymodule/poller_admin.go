package caddymodule

import (
	"net/http"

	"github.com/caddyserver/caddy/v2"
)

func init() {
	caddy.RegisterModule(pollAdminAPI{})
}

// pollAdminAPI serves the Ollama poller's state on Caddy's admin endpoint:
//
//	GET /vram_aware/ollama   every polled upstream: state, last poll, last error, and the report built from it
type pollAdminAPI struct{}

// CaddyModule returns the Caddy module information.
func (pollAdminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "admin.api.vram_aware_ollama", New: func() caddy.Module { return new(pollAdminAPI) }}
}

// Routes returns the admin routes.
func (pollAdminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{{Pattern: "/vram_aware/ollama", Handler: caddy.AdminHandlerFunc(servePolled)}}
}

func servePolled(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: errMethod}
	}
	return writeJSON(w, PolledUpstreams())
}
