package caddymodule

import (
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"github.com/dustin/go-humanize"
)

// UnmarshalCaddyfile sets up the policy from Caddyfile tokens. Every option may be left out: a bare
// "lb_policy vram_aware" polls the upstreams' Ollama APIs and routes by the models they hold.
//
//	lb_policy vram_aware {
//		redis        <url>
//		prefix       <key prefix>
//		hmac_key     <key>                 # repeatable: two keys during a rotation
//		hmac_key_file <path>               # repeatable
//		verify_channel
//		stale_after  <duration>
//		resync       <duration>
//		min_free     <size>
//		boost_free   <size>
//		headroom     <size>
//		model_from   body | header <name> | off
//		max_body     <size>
//		node         <upstream> <node_id>  # repeatable
//		ollama_poll  <interval> | off      # poll upstreams without a fresh report; default 5s
//		vram         <upstream> <size>     # repeatable: total GPU memory of a polled upstream
//		decision_header <name>
//		fallback     <policy> [{ … }]
//	}
func (p *VRAMAware) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // policy name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		name := d.Val()
		switch name {
		case "redis", "prefix", "hmac_key", "hmac_key_file", "decision_header":
			if !d.NextArg() {
				return d.ArgErr()
			}
			v := d.Val()
			switch name {
			case "redis":
				p.Redis = v
			case "prefix":
				p.Prefix = v
			case "hmac_key":
				p.HMACKeys = append(p.HMACKeys, v)
			case "hmac_key_file":
				p.HMACKeyFiles = append(p.HMACKeyFiles, v)
			case "decision_header":
				p.DecisionHeader = v
			}
		case "stale_after", "resync":
			if !d.NextArg() {
				return d.ArgErr()
			}
			dur, err := caddy.ParseDuration(d.Val())
			if err != nil || dur <= 0 {
				return d.Errf("%s %q: want a positive duration such as 15s", name, d.Val())
			}
			if name == "stale_after" {
				p.StaleAfter = caddy.Duration(dur)
			} else {
				p.Resync = caddy.Duration(dur)
			}
		case "ollama_poll":
			if !d.NextArg() {
				return d.ArgErr()
			}
			if d.Val() == "off" {
				p.OllamaPollOff = true
				break
			}
			dur, err := caddy.ParseDuration(d.Val())
			if err != nil || dur <= 0 {
				return d.Errf("ollama_poll %q: want an interval such as 5s, or off", d.Val())
			}
			p.OllamaPoll = caddy.Duration(dur)
		case "vram":
			args := d.RemainingArgs()
			if len(args) != 2 {
				return d.Errf("vram %s: want vram <upstream> <size>, such as vram 10.0.0.5:11434 24GiB", strings.Join(args, " "))
			}
			size, err := humanize.ParseBytes(args[1])
			if err != nil || size == 0 || size > 1<<50 {
				return d.Errf("vram %s %q: want a size such as 24GiB", args[0], args[1])
			}
			if p.VRAM == nil {
				p.VRAM = map[string]int64{}
			}
			p.VRAM[args[0]] = int64(size)
		case "min_free", "boost_free", "headroom", "max_body":
			if !d.NextArg() {
				return d.ArgErr()
			}
			size, err := humanize.ParseBytes(d.Val())
			if err != nil || size > 1<<50 {
				return d.Errf("%s %q: want a size such as 2GiB or 512MiB", name, d.Val())
			}
			*map[string]*int64{"min_free": &p.MinFree, "boost_free": &p.BoostFree, "headroom": &p.Headroom,
				"max_body": &p.MaxBody}[name] = int64(size)
		case "model_from":
			if !d.NextArg() {
				return d.ArgErr()
			}
			p.ModelFrom = d.Val()
			switch p.ModelFrom {
			case modelFromHeader:
				if !d.NextArg() {
					return d.Errf("model_from header: name the header, such as model_from header X-Model")
				}
				p.ModelHeader = d.Val()
			case modelFromBody, modelFromOff:
			default:
				return d.Errf("model_from %q: want body, header <name> or off", p.ModelFrom)
			}
		case "verify_channel":
			p.VerifyChannel = true
		case "node":
			args := d.RemainingArgs()
			if len(args) != 2 {
				return d.Errf("node %s: want node <upstream> <node_id>", strings.Join(args, " "))
			}
			if p.Nodes == nil {
				p.Nodes = map[string]string{}
			}
			p.Nodes[args[0]] = args[1]
		case "fallback":
			if !d.NextArg() {
				return d.ArgErr()
			}
			if p.FallbackRaw != nil {
				return d.Err("fallback: policy already specified")
			}
			policy := d.Val()
			unm, err := caddyfile.UnmarshalModule(d, "http.reverse_proxy.selection_policies."+policy)
			if err != nil {
				return d.Errf("fallback %s: %v", policy, err)
			}
			if _, ok := unm.(reverseproxy.Selector); !ok {
				return d.Errf("fallback %s: not a selection policy", policy)
			}
			p.FallbackRaw = caddyconfig.JSONModuleObject(unm, "policy", policy, nil)
		default:
			return d.Errf("unrecognized vram_aware option %q", name)
		}
		if d.NextArg() {
			return d.Errf("%s: unexpected argument %q", name, d.Val())
		}
	}
	return nil
}

var _ caddyfile.Unmarshaler = (*VRAMAware)(nil)
