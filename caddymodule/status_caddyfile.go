package caddymodule

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("vram_aware_status", parseStatusCaddyfile)
	// Where Caddy puts its own metrics directive: after respond, before reverse_proxy, so that a matcher such as
	// `vram_aware_status /fleet/*` next to a reverse_proxy in the same site answers before the proxy does.
	httpcaddyfile.RegisterDirectiveOrder("vram_aware_status", httpcaddyfile.After, "metrics")
}

// UnmarshalCaddyfile sets up the status page from Caddyfile tokens. It takes no arguments and no block:
//
//	vram_aware_status [<matcher>]
//
// Mount it under a path, behind whatever authentication the site uses:
//
//	handle_path /fleet/* {
//		basic_auth {
//			admin <bcrypt hash from `caddy hash-password`>
//		}
//		vram_aware_status
//	}
func (s *Status) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	if d.NextBlock(0) {
		return d.Errf("vram_aware_status takes no block, found %q", d.Val())
	}
	return nil
}

func parseStatusCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	var s Status
	err := s.UnmarshalCaddyfile(h.Dispenser)
	return s, err
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Status)(nil)
