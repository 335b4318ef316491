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
		!strings.Contains(string(p.FallbackRaw), `"policy":"random"`) {
		t.Errorf("parsed %+v", &p)
	}

	// Every error names the directive and the value at fault.
	for in, want := range map[string]string{
		"stale_after soon":         `stale_after "soon"`,
		"stale_after -5s":          `stale_after "-5s"`,
		"resync 0s":                `resync "0s"`,
		"min_free lots":            `min_free "lots"`,
		"boost_free 4 GiB":         "boost_free: unexpected argument",
		"max_body -1":              `max_body "-1"`,
		"model_from query":         `model_from "query"`,
		"model_from header":        "model_from header: name the header",
		"node gpu3:11434":          "node gpu3:11434: want node <upstream> <node_id>",
		"verify_channel yes":       "verify_channel: unexpected argument",
		"redis":                    "wrong argument count",
		"fallback no_such_policy":  "fallback no_such_policy",
		"fallback first\nfallback": "",
		"colour blue":              `unrecognized vram_aware option "colour"`,
	} {
		var p caddymodule.VRAMAware
		err := p.UnmarshalCaddyfile(caddyfile.NewTestDispenser("vram_aware {\n" + in + "\n}"))
		if want == "" {
			if err == nil {
				t.Errorf("%q: no error", in)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want it to contain %q", in, err, want)
		}
	}
}

func TestValidateNamesTheDirective(t *testing.T) {
	for _, tc := range []struct {
		p    *caddymodule.VRAMAware
		want string
	}{
		{&caddymodule.VRAMAware{Redis: "http://localhost:6379"}, "vram_aware: redis"},
		{&caddymodule.VRAMAware{Redis: "redis-sentinel://:pw@s1:26379"}, "master_name"},
		{&caddymodule.VRAMAware{ModelFrom: "header"}, "model_from header needs a header name"},
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
