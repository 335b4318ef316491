package caddymodule

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/sollol-go/sollol/gpustats"
	"github.com/sollol-go/sollol/lbpolicy"
)

func init() {
	caddy.RegisterModule(adminAPI{})
}

// adminAPI serves the policy's state on Caddy's admin endpoint:
//
//	GET /vram_aware/nodes       every Redis target: connection state, report counters, and each node's report
//	GET /vram_aware/decisions   the latest decisions, newest first (?limit=N, at most 256)
//	GET /vram_aware/gateways    every Redis target shared with other gateways: this gateway's id and the others seen
//	GET /vram_aware/upstreams   what the policy learned of each upstream
type adminAPI struct{}

// CaddyModule returns the Caddy module information.
func (adminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "admin.api.vram_aware", New: func() caddy.Module { return new(adminAPI) }}
}

// Routes returns the admin routes.
func (adminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{
		{Pattern: "/vram_aware/nodes", Handler: caddy.AdminHandlerFunc(serveNodes)},
		{Pattern: "/vram_aware/decisions", Handler: caddy.AdminHandlerFunc(serveDecisions)},
		{Pattern: "/vram_aware/gateways", Handler: caddy.AdminHandlerFunc(func(w http.ResponseWriter, _ *http.Request) error {
			return writeJSON(w, Gateways())
		})},
		{Pattern: "/vram_aware/upstreams", Handler: caddy.AdminHandlerFunc(func(w http.ResponseWriter, _ *http.Request) error {
			return writeJSON(w, Upstreams())
		})},
	}
}

// Target is one Redis target in GET /vram_aware/nodes.
type Target struct {
	Redis      string            `json:"redis"`
	Prefix     string            `json:"prefix,omitempty"`
	Connected  bool              `json:"connected"`
	LastError  string            `json:"last_error,omitempty"`
	Accepted   uint64            `json:"reports_accepted"`
	Rejected   map[string]uint64 `json:"reports_rejected"`
	StaleAfter string            `json:"stale_after"`
	Nodes      []NodeState       `json:"nodes"`
}

// NodeState is one node in GET /vram_aware/nodes.
type NodeState struct {
	ID       string  `json:"node_id"`
	AgeS     float64 `json:"age_s"`
	Stale    bool    `json:"stale"`
	Draining bool    `json:"draining"`
	FreeMB   float64 `json:"free_mb"`
	TotalMB  float64 `json:"total_mb"`
	// Report is the node's latest report as received.
	Report *gpustats.Report `json:"report"`
}

// Targets returns the state of every Redis target in use, for the admin API and the status page.
func Targets() []Target {
	now := time.Now()
	out := []Target{}
	eachWatcher(func(s *sharedWatcher) {
		st := s.watcher.Stats()
		t := Target{Redis: gpustats.Redact(s.key.url), Prefix: s.key.prefix, Connected: st.Connected, LastError: st.LastError,
			Accepted: st.Accepted, Rejected: st.Rejected, StaleAfter: s.staleAfter().String(), Nodes: []NodeState{}}
		for _, n := range s.watcher.Snapshot().Nodes() {
			t.Nodes = append(t.Nodes, NodeState{ID: n.Report.NodeID, AgeS: n.Age(now).Seconds(), Stale: n.Age(now) > s.staleAfter(),
				Draining: n.Report.Draining, FreeMB: n.FreeMB, TotalMB: n.TotalMB, Report: n.Report})
		}
		out = append(out, t)
	})
	return out
}

// RecentDecisions returns up to n of the latest decisions, newest first.
func RecentDecisions(n int) []Decision { return decisions.recent(n) }

func serveNodes(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: errMethod}
	}
	return writeJSON(w, Targets())
}

func serveDecisions(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: errMethod}
	}
	limit, ok := decisionLimit(r)
	if !ok {
		return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: errLimit}
	}
	return writeJSON(w, RecentDecisions(limit))
}

// decisionLimit reads the limit query parameter of a decisions request: the whole log when absent, false when it
// is not a positive integer.
func decisionLimit(r *http.Request) (int, bool) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return decisionLogSize, true
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n > 0
}

func writeJSON(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

var (
	errMethod = apiErr("method not allowed: use GET")
	errLimit  = apiErr("limit: want a positive integer")
)

type apiErr string

func (e apiErr) Error() string { return string(e) }

// Learned is one upstream in GET /vram_aware/upstreams: what the policy learned of it (see README, How routing
// decides). Zero means not learned yet: the estimate uses the other upstreams' figures or the defaults.
type Learned struct {
	Upstream string `json:"upstream"`
	lbpolicy.Learned
}

// Upstreams returns what the policy learned of every upstream it routed to, sorted by address.
func Upstreams() []Learned {
	out := []Learned{}
	upstreamStates.Range(func(k, v any) bool {
		if dial := k.(string); dial != "" {
			out = append(out, Learned{Upstream: dial, Learned: v.(*upstreamState).policy.Learned()})
		}
		return true
	})
	slices.SortFunc(out, func(a, b Learned) int { return strings.Compare(a.Upstream, b.Upstream) })
	return out
}
