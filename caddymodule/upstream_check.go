package caddymodule

import (
	"sort"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"go.uber.org/zap"
)

// warnUnknownUpstreams logs a warning for each vram and node line whose upstream is none of the reverse proxy's:
// such a line is most likely a typo, and has no effect. Caddy gives a selection policy no list of upstreams; the
// reverse_proxy handler that loads the policy is the module above it in ctx, and its static upstreams are known
// by now. With dynamic upstreams, or dial addresses holding placeholders, nothing is known and nothing is said.
func (p *VRAMAware) warnUnknownUpstreams(ctx caddy.Context) {
	if len(p.VRAM) == 0 && len(p.Nodes) == 0 {
		return
	}
	dials, ok := staticUpstreams(ctx)
	if !ok {
		return
	}
	for _, line := range unknownUpstreams(dials, p.VRAM, p.Nodes) {
		p.log.Warn("vram_aware: a "+line.directive+" line names an address that is no upstream of this reverse_proxy, so it has no effect",
			zap.String(line.directive, line.upstream), zap.Strings("upstreams", dials))
	}
}

// staticUpstreams returns the dial addresses of the reverse proxy that loads the policy, when they are all known.
func staticUpstreams(ctx caddy.Context) ([]string, bool) {
	mods := ctx.Modules()
	for i := len(mods) - 1; i >= 0; i-- {
		h, ok := mods[i].(*reverseproxy.Handler)
		if !ok {
			continue
		}
		if h.DynamicUpstreamsRaw != nil || h.DynamicUpstreams != nil {
			return nil, false
		}
		dials := make([]string, 0, len(h.Upstreams))
		for _, u := range h.Upstreams {
			if strings.Contains(u.Dial, "{") {
				return nil, false
			}
			dials = append(dials, u.Dial)
		}
		return dials, true
	}
	return nil, false
}

// upstreamLine is a vram or node line.
type upstreamLine struct{ directive, upstream string }

// unknownUpstreams lists, in order, the vram and node lines whose upstream is not one of dials.
func unknownUpstreams(dials []string, vram map[string]int64, nodes map[string]string) []upstreamLine {
	known := make(map[string]bool, len(dials))
	for _, d := range dials {
		known[d] = true
	}
	var out []upstreamLine
	for up := range vram {
		if !known[up] {
			out = append(out, upstreamLine{"vram", up})
		}
	}
	for up := range nodes {
		if !known[up] {
			out = append(out, upstreamLine{"node", up})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].directive != out[j].directive {
			return out[i].directive > out[j].directive
		}
		return out[i].upstream < out[j].upstream
	})
	return out
}
