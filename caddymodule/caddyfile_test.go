package caddymodule_test

import (
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/sollol-go/sollol/caddymodule"
)

func TestCaddyfileEveryDirective(t *testing.T) {
	var p caddymodule.VRAMAware
	err := p.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`vram_aware {
		redis redis://:{env.REDIS_PASSWORD}@10.0.0.1:6379/0
		prefix fleet:
		hmac_key {env.KEY}
		hmac_key_file /etc/sollol/key
		verify_channel
		stale_after 20s
		resync 5s
		min_free 3GiB
		boost_free 6GiB
		headroom 256MiB
		num_parallel 4
		request_time 30s
		load_speed 2GiB/s
		load_start 1s
		learn_window 5m
		affinity off
		affinity_entries 4096
		prefill_speed 8000/s
		model_from header X-Model
		max_body 64KiB
		node gpu3:11434 10.0.0.7:11434
		decision_header X-Vram-Aware
		fallback random
	}`))
	if err != nil {
		t.Fatal(err)
	}
	want := &caddymodule.VRAMAware{Redis: "redis://:{env.REDIS_PASSWORD}@10.0.0.1:6379/0", Prefix: "fleet:",
		HMACKeys: []string{"{env.KEY}"}, HMACKeyFiles: []string{"/etc/sollol/key"}, VerifyChannel: true,
		StaleAfter: caddy.Duration(20 * time.Second), Resync: caddy.Duration(5 * time.Second), MinFree: 3 << 30,
		BoostFree: 6 << 30, Headroom: 256 << 20, ModelFrom: "header", ModelHeader: "X-Model", MaxBody: 64 << 10,
		DecisionHeader: "X-Vram-Aware"}
	if p.Redis != want.Redis || p.Prefix != want.Prefix || strings.Join(p.HMACKeys, ",") != "{env.KEY}" ||
		strings.Join(p.HMACKeyFiles, ",") != "/etc/sollol/key" || !p.VerifyChannel || p.StaleAfter != want.StaleAfter ||
		p.Resync != want.Resync || p.MinFree != want.MinFree || p.BoostFree != want.BoostFree ||
		p.Headroom != want.Headroom || p.ModelFrom != want.ModelFrom || p.ModelHeader != want.ModelHeader ||
		p.MaxBody != want.MaxBody || p.Nodes["gpu3:11434"] != "10.0.0.7:11434" || p.DecisionHeader != want.DecisionHeader ||
		p.NumParallel != 4 || p.RequestTime != caddy.Duration(30*time.Second) || p.LoadSpeed != 2<<30 ||
		p.LoadStart != caddy.Duration(time.Second) || p.LearnWindow != caddy.Duration(5*time.Minute) || p.Affinity != "off" || p.AffinityEntries != 4096 || p.PrefillSpeed != 8000 ||
		!strings.Contains(string(p.FallbackRaw), `"policy":"random"`) {
		t.Errorf("parsed %+v", &p)
	}

	// Every error names the directive and the value at fault, and its place in the Caddyfile once.
	for in, want := range map[string]string{
		"stale_after soon":         `stale_after "soon": want a duration`,
		"stale_after -5s":          "vram_aware: stale_after -5s must be positive",
		"resync 0s":                `resync "0s": zero reads as not set (the default); leave the line out`,
		"min_free lots":            `min_free "lots": want a size such as 2GiB`,
		"min_free 2gigs":           `min_free "2gigs": want a size such as 2GiB`,
		"min_free 2 gigs":          `min_free "2 gigs": want a size such as 2GiB`,
		"min_free 0":               `min_free "0": zero reads as not set`,
		"min_free":                 "min_free: want min_free <size>, such as min_free 2GiB",
		"max_body -1":              `max_body "-1": want a size`,
		"num_parallel 0":           `num_parallel "0": zero reads as not set`,
		"num_parallel -1":          "vram_aware: num_parallel -1: want 1 to 1024",
		"num_parallel 2000":        "vram_aware: num_parallel 2000: want 1 to 1024",
		"num_parallel four":        `num_parallel "four": want a whole number`,
		"request_time -1s":         "vram_aware: request_time -1s must be positive",
		"load_speed fast":          `load_speed "fast": want a size such as 2GiB`,
		"load_speed 0/s":           `load_speed "0/s": zero reads as not set`,
		"load_start 0s":            `load_start "0s": zero reads as not set`,
		"learn_window -1m":         "vram_aware: learn_window -1m0s must be positive",
		"affinity maybe":           `affinity "maybe": want on or off`,
		"affinity":                 "affinity: want affinity on|off",
		"affinity_entries 0":       `affinity_entries "0": zero reads as not set`,
		"affinity_entries -3":      "vram_aware: affinity_entries -3: want 1 to 67108864 prompts",
		"prefill_speed fast":       `prefill_speed "fast": want prompt tokens per second; prefill_speed <tokens>/s`,
		"prefill_speed -1":         `prefill_speed "-1": want prompt tokens per second`,
		"model_from query":         `vram_aware: model_from "query": want body, header <name> or off`,
		"model_from header":        "vram_aware: model_from header: name the header, such as model_from header X-Model",
		"model_from body X-Model":  `vram_aware: model_from body takes no header name ("X-Model")`,
		"model_from":               "model_from: want model_from body, model_from header <name> or model_from off",
		"node gpu3:11434":          "node gpu3:11434: want node <upstream> <node_id>",
		"verify_channel yes":       `verify_channel: unexpected argument "yes"; the option takes none`,
		"redis":                    "redis: want redis <url>, such as redis redis://10.0.0.1:6379",
		"redis a b":                "redis a b: want redis <url>",
		"redis http://x:6379":      "vram_aware: redis: redis URL",
		"fallback no_such_policy":  `fallback "no_such_policy": no such selection policy; the policies are `,
		"fallback leastconn":       `fallback "leastconn": no such selection policy (did you mean least_conn?); the policies are `,
		"fallback":                 "fallback: want fallback <policy>, such as fallback least_conn",
		"fallback first\nfallback": "fallback: policy already specified",
		"colour blue":              `unrecognized vram_aware option "colour"; the options are redis, prefix,`,
		"stale_afer 20s":           `unrecognized vram_aware option "stale_afer" (did you mean stale_after?); the options are redis, prefix,`,
	} {
		var p caddymodule.VRAMAware
		err := p.UnmarshalCaddyfile(caddyfile.NewTestDispenser("vram_aware {\n" + in + "\n}"))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want it to contain %q", in, err, want)
			continue
		}
		if n := strings.Count(err.Error(), ", at Testfile:"); n != 1 {
			t.Errorf("%q: the place shows %d times: %v", in, n, err)
		}
	}
}

// The list of options that an unknown option's error gives is the list the parser knows.
func TestCaddyfileOptionsListed(t *testing.T) {
	var p caddymodule.VRAMAware
	err := p.UnmarshalCaddyfile(caddyfile.NewTestDispenser("vram_aware {\nnope\n}"))
	_, list, _ := strings.Cut(err.Error(), "the options are ")
	list, _, _ = strings.Cut(list, ", at ")
	options := strings.Split(list, ", ")
	if len(options) < 18 {
		t.Fatalf("options %q", options)
	}
	for _, o := range options {
		var p caddymodule.VRAMAware
		err := p.UnmarshalCaddyfile(caddyfile.NewTestDispenser("vram_aware {\n" + o + "\n}"))
		if err != nil && strings.Contains(err.Error(), "unrecognized") {
			t.Errorf("listed option %s is not parsed: %v", o, err)
		}
	}
	// Sizes may be written with a space, as humanize reads them.
	if err := p.UnmarshalCaddyfile(caddyfile.NewTestDispenser("vram_aware {\nboost_free 6 GiB\n}")); err != nil || p.BoostFree != 6<<30 {
		t.Errorf("boost_free 6 GiB: %v, %d", err, p.BoostFree)
	}
}

func TestValidateNamesTheDirective(t *testing.T) {
	for _, tc := range []struct {
		p    *caddymodule.VRAMAware
		want string
	}{
		{&caddymodule.VRAMAware{Redis: "http://localhost:6379"}, "vram_aware: redis"},
		{&caddymodule.VRAMAware{Redis: "redis-sentinel://:pw@s1:26379"}, "master_name"},
		{&caddymodule.VRAMAware{ModelFrom: "header"}, "model_from header: name the header"},
		{&caddymodule.VRAMAware{NumParallel: -1}, "num_parallel -1: want 1 to 1024"},
		{&caddymodule.VRAMAware{Headroom: 1 << 60}, "headroom 1152921504606846976 bytes: want a size from 0 to 1PiB"},
		{&caddymodule.VRAMAware{StaleAfter: -1}, "stale_after"},
		{&caddymodule.VRAMAware{MinFree: -1}, "min_free"},
	} {
		err := tc.p.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want it to contain %q", tc.p, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), ":pw@") {
			t.Errorf("error shows the password: %v", err)
		}
	}
}
