package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/caddyserver/caddy/v2"

	// The HTTP app, the reverse proxy with its policies, and vram_aware.
	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp"
	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	_ "github.com/sollol-go/sollol/caddymodule"
	"github.com/sollol-go/sollol/lbpolicy"
)

// decisionHeader is the response header in which vram_aware names its choice and reason.
const decisionHeader = "X-Sollol-Decision"

// noAffinity is vram_aware with affinity off, for --policies.
const noAffinity = "vram_aware_no_affinity"

// isVRAMAware reports whether policy is vram_aware, with or without affinity.
func isVRAMAware(policy string) bool { return policy == "vram_aware" || policy == noAffinity }

// gatewayConfig is Caddy's JSON config: one HTTP server on addr proxying to upstreams with policy, its admin API
// off, nothing persisted, only errors logged. vram_aware watches the Redis at redisURL under prefix and falls back to
// least_conn, Caddy's usual choice for Ollama.
func gatewayConfig(addr, policy string, upstreams []string, redisURL, prefix string, o gatewayOpts) ([]byte, error) {
	scale := o.scale
	sel := map[string]any{"policy": policy}
	if isVRAMAware(policy) {
		sel["policy"] = "vram_aware"
		if policy == noAffinity {
			sel["affinity"] = "off"
		}
		sel["redis"] = redisURL
		// The policy's defaults for what it has not learned yet, and how long it remembers what it learned, in
		// the simulation's time: time passes scale times faster than the defaults assume
		// (lbpolicy.DefaultRequestTime, DefaultLoadMBps, DefaultLoadBase, DefaultLearnWindow).
		sel["request_time"] = time.Duration(float64(lbpolicy.DefaultRequestTime) / scale).String()
		sel["load_speed"] = int64(lbpolicy.DefaultLoadMBps * scale * (1 << 20))
		sel["load_start"] = time.Duration(float64(lbpolicy.DefaultLoadBase) / scale).String()
		sel["learn_window"] = time.Duration(float64(lbpolicy.DefaultLearnWindow) / scale).String()
		sel["prefill_speed"] = lbpolicy.DefaultPrefillSpeed * scale
		sel["decision_header"] = decisionHeader
		sel["fallback"] = map[string]any{"policy": "least_conn"}
		if prefix != "" {
			sel["prefix"] = prefix
		}
		// Gateways share their requests in flight and cold loads at vram_aware's default pace, in the simulation's time.
		if o.shareOff {
			sel["share_state_off"] = true
		} else {
			sel["share_interval"] = max(time.Duration(float64(250*time.Millisecond)/scale), time.Millisecond).String()
		}
	}
	ups := make([]map[string]any, len(upstreams))
	for i, u := range upstreams {
		ups[i] = map[string]any{"dial": u}
	}
	cfg := map[string]any{
		"admin":   map[string]any{"disabled": true, "config": map[string]any{"persist": false}},
		"logging": map[string]any{"logs": map[string]any{"default": map[string]any{"level": cmp.Or(os.Getenv("SOLLOL_DEMO_LOG_LEVEL"), "ERROR")}}},
		"apps": map[string]any{"http": map[string]any{"servers": map[string]any{"demo": map[string]any{
			"listen":          []string{addr},
			"automatic_https": map[string]any{"disable": true},
			"routes": []any{map[string]any{"handle": []any{map[string]any{
				"handler":        "reverse_proxy",
				"upstreams":      ups,
				"flush_interval": -1,
				"load_balancing": map[string]any{"selection_policy": sel},
			}}}},
		}}}},
	}
	return json.Marshal(cfg)
}

// startGateway (re)loads Caddy in-process with policy in front of upstreams, on a free loopback port, and returns
// the gateway's base URL.
func startGateway(policy string, upstreams []string, st *store, o gatewayOpts) (string, error) {
	addr, err := freeAddr()
	if err != nil {
		return "", err
	}
	cfg, err := gatewayConfig(addr, policy, upstreams, st.url, st.prefix, o)
	if err != nil {
		return "", err
	}
	if err := caddy.Load(cfg, true); err != nil {
		return "", fmt.Errorf("caddy: %w", err)
	}
	return "http://" + addr, nil
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// gatewayOpts are the gateways' settings: the scenario's time scale, and whether vram_aware's gateways share
// state (share_state) or each decides alone; one gateway alone has no one to share with.
type gatewayOpts struct {
	scale    float64
	shareOff bool
}

// gateways are the Caddy gateways of one run, all in front of the same nodes, watching the same Redis.
type gateways struct {
	bases []string
	stop  func()
}

// startGateways starts n gateways with policy. One gateway runs in this process; several need processes of
// their own (Caddy keeps one instance per process, and its upstreams' in-flight counts are shared per dial
// address within a process), which startProcesses provides.
func startGateways(ctx context.Context, n int, policy string, upstreams []string, st *store, o gatewayOpts) (*gateways, error) {
	if n > 1 {
		return startProcesses(ctx, n, policy, upstreams, st, o)
	}
	base, err := startGateway(policy, upstreams, st, o)
	if err != nil {
		return nil, err
	}
	return &gateways{bases: []string{base}, stop: func() {}}, nil
}
