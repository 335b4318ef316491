package ollamasim

import (
	"strings"
	"testing"
	"time"
)

// TestDefaultsAreOllamas checks the defaults against Ollama v0.17.4's envconfig: OLLAMA_NUM_PARALLEL 1,
// OLLAMA_MAX_LOADED_MODELS three per GPU, OLLAMA_KEEP_ALIVE 5m, OLLAMA_MAX_QUEUE 512.
func TestDefaultsAreOllamas(t *testing.T) {
	n, err := New(Config{GPUs: []GPU{{VRAMMB: 8192}, {VRAMMB: 8192}}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	c := n.Config()
	if c.NumParallel != 1 || c.MaxLoaded != 6 || c.KeepAlive != 5*time.Minute || c.MaxQueue != 512 ||
		c.ParallelGain != 2.5 || c.RAMMB != 32768 {
		t.Errorf("defaults %+v", c)
	}
}

func TestValidateRejectsBadGainAndMemory(t *testing.T) {
	for _, tc := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.ParallelGain = 5 }, "parallel_gain 5: want the throughput of 4 requests at once"},
		{func(c *Config) { c.ParallelGain = 0.5 }, "parallel_gain 0.5"},
		{func(c *Config) { c.RAMMB = -1 }, "must not be negative"},
		{func(c *Config) { c.Models = []Model{{Name: "m", SizeMB: 1, PrefillTokensPerSec: -1}} }, "prefill_tokens_per_s"},
	} {
		c := Config{GPUs: []GPU{{VRAMMB: 8192}}}
		tc.edit(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", c, err, tc.want)
		}
	}
}
