package lbpolicy

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestConfigDefaults(t *testing.T) {
	got := Config{}.WithDefaults()
	want := Config{StaleAfter: 15 * time.Second, MaxSkew: DefaultMaxSkew, HeadroomMB: 512, DefaultModelMB: 4096,
		NumParallel: 1, RequestTime: 10 * time.Second, LoadMBps: 1000, LoadBase: 2 * time.Second, CPUSlowdown: 10,
		LearnWindow: 2 * time.Minute, ReserveTTL: 30 * time.Second, RefuseFor: time.Minute, PrefillSpeed: 4000}
	if got != want {
		t.Errorf("defaults\n got %+v\nwant %+v", got, want)
	}
	if c := (Config{HeadroomMB: -1}).WithDefaults(); c.HeadroomMB != 0 {
		t.Errorf("negative headroom: %v, want none", c.HeadroomMB)
	}
	if c := (Config{StaleAfter: time.Minute}).WithDefaults(); c.ReserveTTL != 2*time.Minute {
		t.Errorf("ReserveTTL follows StaleAfter: %v", c.ReserveTTL)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{StaleAfter: -time.Second}, "StaleAfter must not be negative"},
		{Config{RequestTime: -time.Second}, "RequestTime must not be negative"},
		{Config{LoadMBps: math.NaN()}, "LoadMBps must be a finite number"},
		{Config{LoadMBps: -1}, "LoadMBps must not be negative"},
		{Config{CPUSlowdown: 0.5}, "CPUSlowdown must be at least 1"},
		{Config{NumParallel: -2}, "NumParallel must not be negative"},
	} {
		err := tc.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.cfg, err, tc.want)
		}
	}
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("zero config: %v", err)
	}
}
