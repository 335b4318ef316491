package caddymodule_test

import (
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/sollol-go/sollol/caddymodule"
)

func TestCaddyfilePollOptions(t *testing.T) {
	var p caddymodule.VRAMAware
	err := p.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`vram_aware {
		ollama_poll 2s
		vram 10.0.0.5:11434 24GiB
		vram localhost:11435 16GB
	}`))
	if err != nil {
		t.Fatal(err)
	}
	if p.OllamaPoll != caddy.Duration(2*time.Second) || p.OllamaPollOff || len(p.VRAM) != 2 ||
		p.VRAM["10.0.0.5:11434"] != 24<<30 || p.VRAM["localhost:11435"] != 16e9 {
		t.Errorf("got poll %v off %v vram %v", p.OllamaPoll, p.OllamaPollOff, p.VRAM)
	}
	off := &caddymodule.VRAMAware{}
	if err := off.UnmarshalCaddyfile(caddyfile.NewTestDispenser("vram_aware {\nollama_poll off\n}")); err != nil || !off.OllamaPollOff {
		t.Errorf("ollama_poll off: %v, off %v", err, off.OllamaPollOff)
	}

	for in, want := range map[string]string{
		"ollama_poll":              "ollama_poll: want ollama_poll <interval> or ollama_poll off",
		"ollama_poll soon":         `ollama_poll "soon": want an interval such as 5s, or off`,
		"ollama_poll 0s":           `ollama_poll "0s": zero reads as not set`,
		"ollama_poll -1s":          "vram_aware: ollama_poll -1s: want an interval of at least 100ms, or off",
		"ollama_poll 1s 2s":        "ollama_poll 1s 2s: want ollama_poll <interval> or ollama_poll off",
		"vram 10.0.0.5:11434":      "vram 10.0.0.5:11434: want vram <upstream> <size>",
		"vram a:1 b:2 3GiB":        `vram a:1 "b:2 3GiB": want a size`,
		"vram 10.0.0.5:11434 lots": `vram 10.0.0.5:11434 "lots": want a size`,
		"vram 10.0.0.5:11434 0":    `vram_aware: vram "10.0.0.5:11434" 0: want vram <upstream> <size>`,
	} {
		p := &caddymodule.VRAMAware{}
		err := p.UnmarshalCaddyfile(caddyfile.NewTestDispenser("vram_aware {\n" + in + "\n}"))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one containing %q", in, err, want)
		}
	}
}

func TestValidatePollOptions(t *testing.T) {
	sec := func(s float64) caddy.Duration { return caddy.Duration(s * float64(time.Second)) }
	for _, tc := range []struct {
		name string
		p    *caddymodule.VRAMAware
		want string // "" for valid
	}{
		{"defaults", &caddymodule.VRAMAware{}, ""},
		{"short stale_after shortens the default", &caddymodule.VRAMAware{StaleAfter: sec(2)}, ""},
		{"half of stale_after", &caddymodule.VRAMAware{OllamaPoll: sec(7.5)}, ""},
		{"above half of stale_after", &caddymodule.VRAMAware{OllamaPoll: sec(10)},
			"ollama_poll 10s must be at most half of stale_after (15s)"},
		{"with a longer stale_after", &caddymodule.VRAMAware{OllamaPoll: sec(10), StaleAfter: sec(30)}, ""},
		{"too often", &caddymodule.VRAMAware{OllamaPoll: sec(0.01)}, "ollama_poll 10ms: want an interval of at least 100ms"},
		{"negative", &caddymodule.VRAMAware{OllamaPoll: sec(-1)}, "ollama_poll -1s"},
		{"off and an interval", &caddymodule.VRAMAware{OllamaPoll: sec(1), OllamaPollOff: true}, "ollama_poll: give an interval or off"},
		{"off and vram", &caddymodule.VRAMAware{OllamaPollOff: true, VRAM: map[string]int64{"a:1": 1 << 30}},
			"vram: GPU sizes apply to polled upstreams, and ollama_poll is off"},
		{"vram without size", &caddymodule.VRAMAware{VRAM: map[string]int64{"a:1": 0}}, `vram "a:1" 0`},
		{"vram without upstream", &caddymodule.VRAMAware{VRAM: map[string]int64{"": 1}}, `vram "" 1`},
		{"off", &caddymodule.VRAMAware{OllamaPollOff: true}, ""},
	} {
		err := tc.p.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		case err != nil && !strings.HasPrefix(err.Error(), "vram_aware: "):
			t.Errorf("%s: %v does not name the policy", tc.name, err)
		}
	}
}
