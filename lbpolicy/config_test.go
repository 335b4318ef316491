package lbpolicy

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestConfigDefaults(t *testing.T) {
	got := Config{}.WithDefaults()
	want := Config{StaleAfter: 15 * time.Second, MaxSkew: 5 * time.Second, MinFreeMB: 2048, BoostFreeMB: 4096,
		BoostFactor: 1.5, HeadroomMB: 512, InFlightPenalty: 1, UtilizationPenalty: 0.5, DefaultModelMB: 4096,
		ReserveTTL: 30 * time.Second}
	if got != want {
		t.Errorf("defaults\n got %+v\nwant %+v", got, want)
	}
	none := Config{StaleAfter: 5 * time.Second, MinFreeMB: -1, BoostFreeMB: -1, HeadroomMB: -1, InFlightPenalty: -1,
		UtilizationPenalty: -1}.WithDefaults()
	if none.MinFreeMB != 0 || none.BoostFactor != 1 || none.HeadroomMB != 0 || none.InFlightPenalty != 0 ||
		none.UtilizationPenalty != 0 || none.ReserveTTL != 10*time.Second {
		t.Errorf("negative values: %+v", none)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
	if err := none.Validate(); err != nil {
		t.Errorf("negative values do not validate after defaults: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{StaleAfter: -time.Second}, "StaleAfter"},
		{Config{ReserveTTL: -time.Second}, "ReserveTTL"},
		{Config{MinFreeMB: math.NaN()}, "MinFreeMB"},
		{Config{HeadroomMB: math.Inf(1)}, "HeadroomMB"},
		{Config{BoostFactor: -1}, "BoostFactor"},
		{Config{UtilizationPenalty: 1}, "UtilizationPenalty"},
	} {
		err := tc.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want an error naming %s", tc.cfg, err, tc.want)
		}
	}
}
