package caddymodule

import (
	"fmt"
	"math"
	"slices"
	"strconv"
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
//		num_parallel <n>                   # requests a loaded model serves at once where a report does not say
//		request_time <duration>            # a request's time until one is learned; default 10s
//		load_speed   <size>/s              # a cold load's speed until one is learned; default 1000MiB/s
//		load_start   <duration>            # added to a cold load until its speed is learned; default 2s
//		learn_window <duration>            # how long learned request times and load speeds take to fade; default 2m
//		affinity     on | off              # a conversation's next turn where its prompt is cached; default on
//		affinity_entries <n>               # prompts remembered; default 16384
//		prefill_speed <tokens>/s           # prompt tokens read per second for a 4 GiB model; default 4000
//		model_from   body | header <name> | off
//		max_body     <size>
//		node         <upstream> <node_id>  # repeatable
//		ollama_poll  <interval> | off      # poll upstreams without a fresh report; default 5s
//		vram         <upstream> <size>     # repeatable: total GPU memory of a polled upstream
//		decision_header <name>
//		fallback     <policy> [{ … }]
//		gateway_id   <id>                  # this gateway among several; default Caddy's instance id and pid
//		share_state  <interval> | off      # share in-flight counts and pending loads with the other gateways; default 250ms
//	}
//
// The parser reads values; what they may be is Validate's, which it calls at the end so that a bad Caddyfile
// fails at adapt time. A value that reads as zero is refused: zero is how a field says "not set".
func (p *VRAMAware) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // policy name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		var err error
		switch d.Val() {
		case "redis":
			err = stringArg(d, &p.Redis, "redis <url>, such as redis redis://10.0.0.1:6379")
		case "prefix":
			err = stringArg(d, &p.Prefix, "prefix <key prefix>, such as prefix sollol:gpu:")
		case "hmac_key":
			err = appendArg(d, &p.HMACKeys, "hmac_key <key>, such as hmac_key {env.SOLLOL_HMAC_KEY}")
		case "hmac_key_file":
			err = appendArg(d, &p.HMACKeyFiles, "hmac_key_file <path>")
		case "verify_channel":
			err = flagArg(d, &p.VerifyChannel)
		case "stale_after":
			err = durationArg(d, &p.StaleAfter, "stale_after <duration>, such as stale_after 15s")
		case "resync":
			err = durationArg(d, &p.Resync, "resync <duration>, such as resync 10s")
		case "min_free":
			err = sizeArg(d, &p.MinFree)
		case "boost_free":
			err = sizeArg(d, &p.BoostFree)
		case "headroom":
			err = sizeArg(d, &p.Headroom)
		case "max_body":
			err = sizeArg(d, &p.MaxBody)
		case "num_parallel":
			err = intArg(d, &p.NumParallel, "num_parallel <n>, such as num_parallel 4")
		case "request_time":
			err = durationArg(d, &p.RequestTime, "request_time <duration>, such as request_time 20s")
		case "load_speed":
			err = speedArg(d, &p.LoadSpeed)
		case "load_start":
			err = durationArg(d, &p.LoadStart, "load_start <duration>, such as load_start 2s")
		case "learn_window":
			err = durationArg(d, &p.LearnWindow, "learn_window <duration>, such as learn_window 5m")
		case "affinity":
			err = onOffArg(d, &p.Affinity)
		case "affinity_entries":
			err = intArg(d, &p.AffinityEntries, "affinity_entries <n>, such as affinity_entries 16384")
		case "prefill_speed":
			err = tokenSpeedArg(d, &p.PrefillSpeed)
		case "model_from":
			err = p.modelFromArgs(d)
		case "node":
			err = pairArg(d, &p.Nodes, "node <upstream> <node_id>, such as node gpu3:11434 10.0.0.7:11434")
		case "ollama_poll":
			err = p.ollamaPollArg(d)
		case "vram":
			err = vramArg(d, &p.VRAM)
		case "decision_header":
			err = stringArg(d, &p.DecisionHeader, "decision_header <name>, such as decision_header X-Vram-Aware")
		case "fallback":
			err = p.fallbackArgs(d)
		case "gateway_id", "share_state":
			err = p.gatewayArg(d) // gateways.go
		default:
			return unknownOption(d)
		}
		if err != nil {
			return err
		}
	}
	if err := p.validate(); err != nil {
		return d.WrapErr(err)
	}
	return nil
}

// caddyfileOptions are the options UnmarshalCaddyfile knows, for the error that names them.
var caddyfileOptions = []string{"redis", "prefix", "hmac_key", "hmac_key_file", "verify_channel", "stale_after",
	"resync", "min_free", "boost_free", "headroom", "num_parallel", "request_time", "load_speed", "load_start", "learn_window", "affinity", "affinity_entries", "prefill_speed", "model_from", "max_body", "node", "ollama_poll",
	"vram", "decision_header", "fallback", "gateway_id", "share_state"}

func unknownOption(d *caddyfile.Dispenser) error {
	return d.Errf("unrecognized vram_aware option %q%s; the options are %s", d.Val(), didYouMean(d.Val(), caddyfileOptions),
		strings.Join(caddyfileOptions, ", "))
}

// args returns the directive's n arguments, or an error that shows the directive's form.
func args(d *caddyfile.Dispenser, n int, form string) ([]string, error) {
	name := d.Val()
	a := d.RemainingArgs()
	if len(a) != n {
		return nil, d.Errf("%s: want %s", strings.Join(append([]string{name}, a...), " "), form)
	}
	return a, nil
}

func stringArg(d *caddyfile.Dispenser, dst *string, form string) error {
	a, err := args(d, 1, form)
	if err == nil {
		*dst = a[0]
	}
	return err
}

func appendArg(d *caddyfile.Dispenser, dst *[]string, form string) error {
	a, err := args(d, 1, form)
	if err == nil {
		*dst = append(*dst, a[0])
	}
	return err
}

func flagArg(d *caddyfile.Dispenser, dst *bool) error {
	name := d.Val()
	if d.NextArg() {
		return d.Errf("%s: unexpected argument %q; the option takes none", name, d.Val())
	}
	*dst = true
	return nil
}

// notZero refuses a value that parsed as zero, which the field would read as "not set".
func notZero(d *caddyfile.Dispenser, name, value string, zero bool) error {
	if zero {
		return d.Errf("%s %q: zero reads as not set (the default); leave the line out for the default, or give another value",
			name, value)
	}
	return nil
}

func durationArg(d *caddyfile.Dispenser, dst *caddy.Duration, form string) error {
	name := d.Val()
	a, err := args(d, 1, form)
	if err != nil {
		return err
	}
	dur, err := caddy.ParseDuration(a[0])
	if err != nil {
		return d.Errf("%s %q: want a duration, such as 15s or 500ms", name, a[0])
	}
	*dst = caddy.Duration(dur)
	return notZero(d, name, a[0], dur == 0)
}

func intArg(d *caddyfile.Dispenser, dst *int, form string) error {
	name := d.Val()
	a, err := args(d, 1, form)
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(a[0])
	if err != nil {
		return d.Errf("%s %q: want a whole number; %s", name, a[0], form)
	}
	*dst = n
	return notZero(d, name, a[0], n == 0)
}

// onOffArg reads on or off.
func onOffArg(d *caddyfile.Dispenser, dst *string) error {
	name := d.Val()
	a, err := args(d, 1, name+" on|off")
	if err != nil {
		return err
	}
	if a[0] != affinityOn && a[0] != affinityOff {
		return d.Errf("%s %q: want on or off", name, a[0])
	}
	*dst = a[0]
	return nil
}

// tokenSpeedArg reads a number of tokens per second such as 4000/s ("/s" may be left out).
func tokenSpeedArg(d *caddyfile.Dispenser, dst *float64) error {
	name := d.Val()
	form := name + " <tokens>/s, such as " + name + " 4000/s"
	a, err := args(d, 1, form)
	if err != nil {
		return err
	}
	v, err := strconv.ParseFloat(strings.TrimSuffix(a[0], "/s"), 64)
	if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return d.Errf("%s %q: want prompt tokens per second; %s", name, a[0], form)
	}
	*dst = v
	return notZero(d, name, a[0], v == 0)
}

// sizeArg reads a size such as 2GiB. The words of the line are one size, so that "2 GiB" reads as "2GiB" and
// "2 gigs" is refused as "2gigs" is.
func sizeArg(d *caddyfile.Dispenser, dst *int64) error {
	name := d.Val()
	a := d.RemainingArgs()
	if len(a) == 0 {
		return d.Errf("%s: want %s <size>, such as %s 2GiB", name, name, name)
	}
	v := strings.Join(a, " ")
	n, err := parseSize(d, name, v)
	if err != nil {
		return err
	}
	*dst = n
	return notZero(d, name, v, n == 0)
}

// speedArg reads a size per second such as 1000MiB/s ("/s" may be left out).
func speedArg(d *caddyfile.Dispenser, dst *int64) error {
	name := d.Val()
	a := d.RemainingArgs()
	if len(a) == 0 {
		return d.Errf("%s: want %s <size>/s, such as %s 1000MiB/s", name, name, name)
	}
	v := strings.Join(a, " ")
	n, err := parseSize(d, name, strings.TrimSuffix(v, "/s"))
	if err != nil {
		return err
	}
	*dst = n
	return notZero(d, name, v, n == 0)
}

func parseSize(d *caddyfile.Dispenser, name, v string) (int64, error) {
	size, err := humanize.ParseBytes(v)
	if err != nil || size > math.MaxInt64 {
		return 0, d.Errf("%s %q: want a size such as 2GiB or 512MiB", name, v)
	}
	return int64(size), nil
}

// pairArg reads "<upstream> <value>" into a map, a later line for the same upstream replacing an earlier one.
func pairArg(d *caddyfile.Dispenser, dst *map[string]string, form string) error {
	a, err := args(d, 2, form)
	if err != nil {
		return err
	}
	if *dst == nil {
		*dst = map[string]string{}
	}
	(*dst)[a[0]] = a[1]
	return nil
}

// vramArg reads "vram <upstream> <size>", the size as sizeArg reads one.
func vramArg(d *caddyfile.Dispenser, dst *map[string]int64) error {
	a := d.RemainingArgs()
	if len(a) < 2 {
		return d.Errf("%s: want vram <upstream> <size>, such as vram 10.0.0.5:11434 24GiB", strings.Join(append([]string{"vram"}, a...), " "))
	}
	size, err := parseSize(d, "vram "+a[0], strings.Join(a[1:], " "))
	if err != nil {
		return err
	}
	if *dst == nil {
		*dst = map[string]int64{}
	}
	(*dst)[a[0]] = size
	return nil
}

func (p *VRAMAware) modelFromArgs(d *caddyfile.Dispenser) error {
	a := d.RemainingArgs()
	if len(a) == 0 || len(a) > 2 {
		return d.Errf("%s: want model_from body, model_from header <name> or model_from off",
			strings.Join(append([]string{"model_from"}, a...), " "))
	}
	p.ModelFrom = a[0]
	if len(a) == 2 {
		p.ModelHeader = a[1]
	}
	return nil
}

func (p *VRAMAware) ollamaPollArg(d *caddyfile.Dispenser) error {
	a, err := args(d, 1, "ollama_poll <interval> or ollama_poll off")
	if err != nil {
		return err
	}
	if a[0] == "off" {
		p.OllamaPollOff = true
		return nil
	}
	dur, err := caddy.ParseDuration(a[0])
	if err != nil {
		return d.Errf("ollama_poll %q: want an interval such as 5s, or off", a[0])
	}
	p.OllamaPoll = caddy.Duration(dur)
	return notZero(d, "ollama_poll", a[0], dur == 0)
}

// selectionPolicies is the namespace of Caddy's selection policies, where fallback finds its policy.
const selectionPolicies = "http.reverse_proxy.selection_policies"

// fallbackArgs reads "fallback <policy>" and the policy's own block, which the policy parses.
func (p *VRAMAware) fallbackArgs(d *caddyfile.Dispenser) error {
	if p.FallbackRaw != nil {
		return d.Err("fallback: policy already specified")
	}
	if !d.NextArg() {
		return d.Errf("fallback: want fallback <policy>, such as fallback least_conn")
	}
	policy := d.Val()
	if _, err := caddy.GetModule(selectionPolicies + "." + policy); err != nil {
		var names []string
		for _, m := range caddy.GetModules(selectionPolicies) {
			names = append(names, m.ID.Name())
		}
		return d.Errf("fallback %q: no such selection policy%s; the policies are %s", policy, didYouMean(policy, names),
			strings.Join(names, ", "))
	}
	unm, err := caddyfile.UnmarshalModule(d, selectionPolicies+"."+policy)
	if err != nil {
		return err // the policy's own error, which names its place in the Caddyfile
	}
	if _, ok := unm.(reverseproxy.Selector); !ok {
		return d.Errf("fallback %s: not a selection policy", policy)
	}
	p.FallbackRaw = caddyconfig.JSONModuleObject(unm, "policy", policy, nil)
	return nil
}

// didYouMean is " (did you mean X?)" for the option closest to name, where one is close enough to be a typo: the
// same but for underscores and hyphens, or at most two edits away.
func didYouMean(name string, options []string) string {
	bare := func(s string) string { return strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(s)) }
	best, bestDist := "", 3
	for _, o := range options {
		dist := editDistance(name, o)
		if bare(name) == bare(o) {
			dist = 0
		}
		if dist < bestDist {
			best, bestDist = o, dist
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %s?)", best)
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = slices.Min([]int{prev[j] + 1, cur[j-1] + 1, prev[j-1] + cost})
		}
		prev = cur
	}
	return prev[len(b)]
}

var _ caddyfile.Unmarshaler = (*VRAMAware)(nil)
