package ollamasim

import (
	"fmt"
	"strings"
)

// Model is a model a node has installed.
type Model struct {
	// Name is the model's name; a name without a tag means ":latest", as in Ollama.
	Name string `json:"name"`
	// SizeMB is the size on disk in MiB, what /api/tags reports.
	SizeMB float64 `json:"size_mb"`
	// VRAMMB is the memory the loaded model takes in MiB (weights plus KV cache), what /api/ps reports; zero means
	// SizeMB.
	VRAMMB float64 `json:"vram_mb,omitempty"`
	// TokensPerSec is the generation speed on a node of speed 1; zero means DefaultTokensPerSec.
	TokensPerSec float64 `json:"tokens_per_s,omitempty"`
	// PrefillTokensPerSec is how fast the prompt is read on a node of speed 1; zero means DefaultPrefillFactor
	// times TokensPerSec.
	PrefillTokensPerSec float64 `json:"prefill_tokens_per_s,omitempty"`
	// Family and ParameterSize fill the details in /api/tags and /api/ps, such as "llama" and "8.0B"; optional.
	Family        string `json:"family,omitempty"`
	ParameterSize string `json:"parameter_size,omitempty"`
}

// DefaultTokensPerSec is a Model's generation speed when it does not say.
const DefaultTokensPerSec = 50

// DefaultPrefillFactor is how many times faster than it generates a model reads its prompt when it does not say.
// llama.cpp on one RTX 4090 reads an 8B model's prompt 50 to 80 times faster than it generates (see
// BENCHMARKS.md); 50 is the low end.
const DefaultPrefillFactor = 50

// FootprintMB is the memory the loaded model takes: VRAMMB, else SizeMB.
func (m Model) FootprintMB() float64 {
	if m.VRAMMB > 0 {
		return m.VRAMMB
	}
	return m.SizeMB
}

func (m Model) tokensPerSec() float64 {
	if m.TokensPerSec > 0 {
		return m.TokensPerSec
	}
	return DefaultTokensPerSec
}

func (m Model) prefillPerSec() float64 {
	if m.PrefillTokensPerSec > 0 {
		return m.PrefillTokensPerSec
	}
	return DefaultPrefillFactor * m.tokensPerSec()
}

func (m Model) validate() error {
	switch {
	case m.Name == "" || strings.ContainsAny(m.Name, " \t\n\"\\"):
		return fmt.Errorf("model name %q: want a name such as llama3.1:8b", m.Name)
	case !(m.SizeMB > 0):
		return fmt.Errorf("model %s: size_mb must be positive", m.Name)
	case m.VRAMMB < 0 || m.TokensPerSec < 0 || m.PrefillTokensPerSec < 0:
		return fmt.Errorf("model %s: vram_mb, tokens_per_s and prefill_tokens_per_s must not be negative", m.Name)
	}
	return nil
}

// CanonicalName is the name Ollama knows a model by: "llama3" is "llama3:latest".
func CanonicalName(name string) string {
	if name == "" || strings.Contains(name[strings.LastIndex(name, "/")+1:], ":") {
		return name
	}
	return name + ":latest"
}
