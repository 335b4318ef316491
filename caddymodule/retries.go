package caddymodule

import (
	"net/http"
	"slices"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
)

// triedVar is the request variable that holds the upstreams a request was sent to, so that its retries (Caddy
// calls Select again on the same request) rank them below every other: the first as a *reverseproxy.Upstream,
// which costs no allocation, and from the second retry on a *[]*reverseproxy.Upstream.
const triedVar = "vram_aware.tried"

// tries is the upstreams a request was sent to, in order.
type tries struct {
	first *reverseproxy.Upstream
	more  []*reverseproxy.Upstream
}

func triedUpstreams(r *http.Request) tries {
	switch v := caddyhttp.GetVar(r.Context(), triedVar).(type) {
	case *reverseproxy.Upstream:
		return tries{first: v}
	case *[]*reverseproxy.Upstream:
		return tries{first: (*v)[0], more: (*v)[1:]}
	}
	return tries{}
}

func (t tries) any() bool { return t.first != nil }

func (t tries) has(u *reverseproxy.Upstream) bool {
	return t.first != nil && (t.first == u || slices.Contains(t.more, u))
}

func (t tries) last() *reverseproxy.Upstream {
	if len(t.more) > 0 {
		return t.more[len(t.more)-1]
	}
	return t.first
}

// rememberTry adds up to the request's tries.
func rememberTry(r *http.Request, t tries, up *reverseproxy.Upstream) {
	if t.first == nil {
		caddyhttp.SetVar(r.Context(), triedVar, up)
		return
	}
	all := append([]*reverseproxy.Upstream{t.first}, t.more...)
	all = append(all, up)
	caddyhttp.SetVar(r.Context(), triedVar, &all)
}
