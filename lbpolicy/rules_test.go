package lbpolicy

import (
	"testing"
	"time"
)

const llama = "llama3.1:8b"

// Rule 1: only available upstreams are candidates.
func TestRuleAvailableOnly(t *testing.T) {
	runCases(t, []selectCase{
		{name: "unavailable best node is skipped",
			cands: []Candidate{down(node("a", free(20000))), up(node("b", free(5000)))},
			want:  1, reason: ReasonMostFree},
		{name: "no candidates", cands: []Candidate{}, want: -1, reason: ReasonFallbackNoCandidate},
		{name: "none available",
			cands: []Candidate{down(node("a", free(20000))), down(node("b", free(5000)))},
			want:  -1, reason: ReasonFallbackNoCandidate},
		{name: "an unavailable upstream's fresh report does not count",
			cands: []Candidate{down(node("a", free(20000))), up(nil)},
			want:  -1, reason: ReasonFallbackNoFreshStats},
	})
}

// Rule 3: no candidate with a fresh report: the fallback policy decides.
func TestRuleFreshStats(t *testing.T) {
	runCases(t, []selectCase{
		{name: "all stale",
			cands: []Candidate{up(node("a", free(20000), age(16*time.Second))), up(node("b", free(9000), age(time.Minute)))},
			want:  -1, reason: ReasonFallbackNoFreshStats},
		{name: "no reports", cands: []Candidate{up(nil), up(nil)}, want: -1, reason: ReasonFallbackNoFreshStats},
		{name: "exactly stale_after old is fresh",
			cands: []Candidate{up(node("a", free(20000), age(15*time.Second)))},
			want:  0, reason: ReasonMostFree},
		{name: "custom stale_after",
			cfg:   Config{StaleAfter: 5 * time.Second},
			cands: []Candidate{up(node("a", free(20000), age(6*time.Second)))},
			want:  -1, reason: ReasonFallbackNoFreshStats},
		{name: "from the future beyond the skew",
			cands: []Candidate{up(node("a", free(20000), age(-6*time.Second)))},
			want:  -1, reason: ReasonFallbackNoFreshStats},
		{name: "from the future within the skew",
			cands: []Candidate{up(node("a", free(20000), age(-4*time.Second)))},
			want:  0, reason: ReasonMostFree},
		{name: "stale node with more free loses to a fresh one",
			cands: []Candidate{up(node("a", free(20000), age(time.Minute))), up(node("b", free(3000)))},
			want:  1, reason: ReasonMostFree},
		{name: "without a report ranks below a fresh fit",
			cands: []Candidate{up(nil), up(node("b", free(3000)))},
			want:  1, reason: ReasonMostFree},
		{name: "without a report ranks above an overwhelmed node",
			cands: []Candidate{up(node("a", free(1000))), up(nil)},
			want:  1, reason: ReasonNoStats},
		{name: "stale nodes rank by in-flight requests",
			cands: []Candidate{busy(nil, 3), busy(node("b", free(1000), age(time.Hour)), 1), up(node("c", cpuOnly))},
			want:  1, reason: ReasonNoStats},
	})
}

// Rule 4: draining nodes take nothing while any other candidate qualifies.
func TestRuleDraining(t *testing.T) {
	runCases(t, []selectCase{
		{name: "draining node with the most free is passed over",
			cands: []Candidate{up(node("a", free(20000), draining)), up(node("b", free(3000)))},
			want:  1, reason: ReasonMostFree},
		{name: "below an overwhelmed node",
			cands: []Candidate{up(node("a", free(20000), draining)), up(node("b", free(500)))},
			want:  1, reason: ReasonOverwhelmed},
		{name: "below a CPU-only node",
			cands: []Candidate{up(node("a", free(20000), draining)), up(node("b", cpuOnly))},
			want:  1, reason: ReasonCPUOnly},
		{name: "below an upstream without stats",
			cands: []Candidate{up(node("a", free(20000), draining)), up(nil)},
			want:  1, reason: ReasonNoStats},
		{name: "below a node where the model must make room",
			model: llama,
			cands: []Candidate{up(node("a", free(20000), loaded(llama, 5000, 5000), draining)), up(node("b", free(1000)))},
			want:  1, reason: ReasonMakeRoom},
		{name: "only draining nodes: the best of them",
			model: llama,
			cands: []Candidate{up(node("a", free(20000), draining)), up(node("b", free(3000), loaded(llama, 5000, 5000), draining))},
			want:  1, reason: ReasonDraining},
		{name: "an unavailable alternative does not count",
			cands: []Candidate{down(node("a", free(3000))), up(node("b", free(20000), draining))},
			want:  1, reason: ReasonDraining},
	})
}

// Rule 5: with a model named, residency, installation and fit.
func TestRuleModel(t *testing.T) {
	runCases(t, []selectCase{
		{name: "resident beats more free memory",
			model: llama,
			cands: []Candidate{up(node("a", free(20000))), up(node("b", free(3000), loaded(llama, 5000, 5000)))},
			want:  1, reason: ReasonResident},
		{name: "resident even when overwhelmed: nothing has to load",
			model: llama,
			cands: []Candidate{up(node("a", free(20000))), up(node("b", free(500), loaded(llama, 5000, 5000)))},
			want:  1, reason: ReasonResident},
		{name: "partly offloaded counts as resident",
			model: llama,
			cands: []Candidate{up(node("a", free(20000))), up(node("b", free(3000), loaded(llama, 9000, 4000)))},
			want:  1, reason: ReasonResident},
		{name: "loaded on the CPU only is not resident",
			model: llama,
			cands: []Candidate{up(node("a", free(3000), loaded(llama, 5000, 0))), up(node("b", free(20000)))},
			want:  1, reason: ReasonFits},
		{name: "another model resident does not count",
			model: llama,
			cands: []Candidate{up(node("a", free(3000), loaded("qwen2:7b", 5000, 5000))), up(node("b", free(20000)))},
			want:  1, reason: ReasonFits},
		{name: "among residents the score decides",
			model: llama,
			cands: []Candidate{busy(node("a", free(20000), loaded(llama, 5000, 5000)), 4), up(node("b", free(8000), loaded(llama, 5000, 5000)))},
			want:  1, reason: ReasonResident},
		{name: "not installed is excluded while another node has it",
			model: llama,
			cands: []Candidate{up(node("a", free(20000), installed(model("qwen2:7b", 4000)))), up(node("b", free(6000), installed(model(llama, 4700))))},
			want:  1, reason: ReasonFits},
		{name: "not installed ranks below a node that must make room",
			model: llama,
			cands: []Candidate{up(node("a", free(20000), installed())), up(node("b", free(1000), installed(model(llama, 4700))))},
			want:  1, reason: ReasonMakeRoom},
		{name: "not installed ranks below a CPU-only node",
			model: llama,
			cands: []Candidate{up(node("a", free(20000), installed())), up(node("b", cpuOnly))},
			want:  1, reason: ReasonCPUOnly},
		{name: "not installed ranks below a node that did not list its models",
			model: llama,
			cands: []Candidate{up(node("a", free(20000), installed())), up(node("b", free(6000)))},
			want:  1, reason: ReasonFits},
		{name: "installed nowhere: the best node anyway",
			model: llama,
			cands: []Candidate{up(node("a", free(6000), installed())), up(node("b", free(20000), installed()))},
			want:  1, reason: ReasonNotInstalled},
		{name: "does not fit is excluded",
			model: llama,
			cands: []Candidate{up(node("a", free(5300), installed(model(llama, 4700)))), up(node("b", free(5500), installed(model(llama, 5200))))},
			want:  0, reason: ReasonFits},
		{name: "headroom counts",
			model: llama,
			cfg:   Config{HeadroomMB: 1000},
			cands: []Candidate{up(node("a", free(5500), installed(model(llama, 4700)))), busy(node("b", free(5800), installed(model(llama, 4700))), 2)},
			want:  1, reason: ReasonFits},
		{name: "multi-GPU: free memory is summed over the GPUs",
			model: llama,
			cands: []Candidate{
				up(node("a", free(12000), installed(model(llama, 16000)))),
				busy(node("b", gpu(12000, 9000), gpu(12000, 9000), installed(model(llama, 16000))), 1),
			},
			want: 1, reason: ReasonFits},
		{name: "nowhere fits: the node able to unload the most",
			model: "big:70b",
			cands: []Candidate{
				up(node("a", free(8000), installed(model("big:70b", 40000)))),
				up(node("b", free(2000), loaded("qwen2:7b", 20000, 20000), installed(model("big:70b", 40000)))),
			},
			want: 1, reason: ReasonTooSmall},
		{name: "nowhere fits now: a node large enough to make room beats smaller ones",
			model: "big:70b",
			cands: []Candidate{
				up(node("a", gpu(24576, 24000), installed(model("big:70b", 40000)))),
				up(node("b", gpu(49152, 8000), loaded("qwen2:32b", 40000, 40000), installed(model("big:70b", 40000)))),
			},
			want: 1, reason: ReasonMakeRoom},
		{name: "nowhere fits: a node without Ollama state counts its total",
			model: "big:70b",
			cands: []Candidate{
				up(node("a", free(8000), installed(model("big:70b", 40000)))),
				up(node("b", gpu(48000, 1000), noOllama)),
			},
			want: 1, reason: ReasonMakeRoom},
		{name: "model size from another node decides the fit",
			model: "big:70b",
			cands: []Candidate{up(node("a", free(20000))), up(node("b", free(5000), installed(model("big:70b", 40000))))},
			want:  0, reason: ReasonTooSmall},
		{name: "a loaded footprint elsewhere beats the default size",
			model: llama,
			cands: []Candidate{up(node("a", free(6000))), up(node("b", cpuOnly, loaded(llama, 6000, 0)))},
			want:  0, reason: ReasonMakeRoom},
		{name: "the default size when no node knows the model",
			model: llama,
			cands: []Candidate{up(node("a", free(4000))), up(node("b", free(5000)))},
			want:  1, reason: ReasonFits},
	})
}

// Models on nodes whose GPU memory is unknown: ranked by residency, installation and in-flight requests.
func TestRuleMemoryUnknown(t *testing.T) {
	runCases(t, []selectCase{
		{name: "below a known fit",
			model: llama,
			cands: []Candidate{up(node("a", memoryUnknown)), busy(node("b", free(6000)), 5)},
			want:  1, reason: ReasonFits},
		{name: "above a known misfit",
			model: llama,
			cands: []Candidate{up(node("a", free(1000))), busy(node("b", memoryUnknown), 5)},
			want:  1, reason: ReasonMemoryUnknown},
		{name: "resident still wins",
			model: llama,
			cands: []Candidate{up(node("a", free(20000))), busy(node("b", memoryUnknown, loaded(llama, 5000, 5000)), 3)},
			want:  1, reason: ReasonResident},
		{name: "installed ranks first",
			model: llama,
			cands: []Candidate{up(node("a", memoryUnknown)), busy(node("b", memoryUnknown, installed(model(llama, 4700))), 3)},
			want:  1, reason: ReasonMemoryUnknown},
		{name: "then in-flight requests",
			model: llama,
			cands: []Candidate{busy(node("a", memoryUnknown), 2), busy(node("b", memoryUnknown), 1)},
			want:  1, reason: ReasonMemoryUnknown},
		{name: "without a model",
			cands: []Candidate{busy(node("a", memoryUnknown), 2), up(node("b", free(1000)))},
			want:  0, reason: ReasonMemoryUnknown},
	})
}

// Rule 6: overwhelmed nodes only when nothing else qualifies; CPU-only nodes last.
func TestRuleOverwhelmedAndCPU(t *testing.T) {
	runCases(t, []selectCase{
		{name: "overwhelmed scores higher but loses",
			cands: []Candidate{up(node("a", free(1900))), busy(node("b", free(2100)), 5)},
			want:  1, reason: ReasonMostFree},
		{name: "overwhelmed though the model fits",
			model: "tiny:1b",
			cands: []Candidate{up(node("a", free(1900), installed(model("tiny:1b", 800)))), busy(node("b", free(2100), installed(model("tiny:1b", 800))), 5)},
			want:  1, reason: ReasonFits},
		{name: "only overwhelmed nodes",
			cands: []Candidate{up(node("a", free(1000))), up(node("b", free(1500)))},
			want:  1, reason: ReasonOverwhelmed},
		{name: "custom min_free",
			cfg:   Config{MinFreeMB: 1024},
			cands: []Candidate{up(node("a", free(1000))), busy(node("b", free(1500)), 2)},
			want:  1, reason: ReasonMostFree},
		{name: "overwhelmed fit ranks above a misfit",
			model: "tiny:1b",
			cands: []Candidate{up(node("a", free(1500), installed(model("tiny:1b", 800)))), up(node("b", free(8000), installed(model("tiny:1b", 9000))))},
			want:  0, reason: ReasonOverwhelmed},
		{name: "CPU-only below an overwhelmed GPU",
			cands: []Candidate{up(node("a", cpuOnly)), busy(node("b", free(100), util(100)), 9)},
			want:  1, reason: ReasonOverwhelmed},
		{name: "CPU-only below a node that must make room",
			model: llama,
			cands: []Candidate{up(node("a", cpuOnly, loaded(llama, 5000, 0))), up(node("b", free(1000)))},
			want:  1, reason: ReasonMakeRoom},
		{name: "only CPU-only nodes: the least busy",
			model: llama,
			cands: []Candidate{busy(node("a", cpuOnly), 2), busy(node("b", cpuOnly), 1)},
			want:  1, reason: ReasonCPUOnly},
		{name: "an idle GPU is a GPU",
			cands: []Candidate{up(node("a", cpuOnly)), busy(node("b", free(24000), util(0)), 1)},
			want:  1, reason: ReasonMostFree},
	})
}

// Rule 7: the score.
func TestRuleScore(t *testing.T) {
	runCases(t, []selectCase{
		{name: "more free wins", cands: []Candidate{up(node("a", free(5000))), up(node("b", free(9000)))},
			want: 1, reason: ReasonMostFree},
		{name: "boost above boost_free",
			cands: []Candidate{up(node("a", free(3000))), busy(node("b", free(4100)), 1)},
			want:  1, reason: ReasonMostFree},
		{name: "boost disabled",
			cfg:   Config{BoostFreeMB: -1},
			cands: []Candidate{up(node("a", free(3000))), busy(node("b", free(4100)), 1)},
			want:  0, reason: ReasonMostFree},
		{name: "in-flight requests",
			cands: []Candidate{busy(node("a", free(20000)), 3), up(node("b", free(10000)))},
			want:  1, reason: ReasonMostFree},
		{name: "utilisation",
			cands: []Candidate{up(node("a", free(10000), util(100))), up(node("b", free(8000), util(0)))},
			want:  1, reason: ReasonMostFree},
		{name: "multi-GPU utilisation is the mean",
			cands: []Candidate{up(node("a", free(10000), util(60))), up(node("b", gpu(12000, 5000), gpu(12000, 5000), util(50)))},
			want:  1, reason: ReasonMostFree},
	})
}

func TestScoreFormula(t *testing.T) {
	s := NewSelector(Config{}, nil, nil)
	for _, tc := range []struct {
		freeMB   float64
		inFlight int
		util     float64
		want     float64
	}{
		{0, 0, 0, 1},
		{-500, 0, 0, 1.0 / 501},
		{-500, 1, 0, 1.0 / 501 / 2},
		{4096, 0, 0, 4097},
		{4097, 0, 0, 1 + 4097*1.5},
		{10000, 1, 0, (1 + 15000) / 2.0},
		{10000, 3, 50, (1 + 15000) / 4.0 * 0.75},
		{10000, 0, 100, (1 + 15000) * 0.5},
		{10000, 0, 250, (1 + 15000) * 0.5},
		{10000, -2, -5, 1 + 15000},
	} {
		if got := s.inFlightScore(s.baseScore(tc.freeMB, tc.util), tc.inFlight); got != tc.want {
			t.Errorf("score(%g, %d, %g) = %g, want %g", tc.freeMB, tc.inFlight, tc.util, got, tc.want)
		}
	}
}
