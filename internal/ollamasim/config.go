package ollamasim

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// GPU is one simulated device.
type GPU struct {
	// Name is the device name the reporter publishes, such as "NVIDIA GeForce RTX 4090".
	Name string `json:"name"`
	// VRAMMB is the device memory in MiB.
	VRAMMB float64 `json:"vram_mb"`
}

// Defaults of Config. NumParallel, MaxQueue and KeepAlive are Ollama v0.17.4's (envconfig.NumParallel,
// MaxQueue, KeepAlive; MaxLoaded is three per GPU, its defaultModelsPerGPU); BENCHMARKS.md says where the others
// come from.
const (
	DefaultKeepAlive     = 5 * time.Minute
	DefaultNumParallel   = 1
	DefaultMaxQueue      = 512
	DefaultParallelGain  = 2.5
	DefaultRAMMB         = 32768
	DefaultLoadMBps      = 2000
	DefaultLoadBase      = time.Second
	DefaultTokens        = 200
	DefaultChunkTokens   = 25
	DefaultStateEvery    = 100 * time.Millisecond
	DefaultVersion       = "0.0.0-ollamasim"
	maxTokensPerResponse = 1 << 20
)

// Config describes one simulated node. The zero values of the optional fields are Ollama's defaults.
type Config struct {
	// Name names the node in logs and errors.
	Name string
	// GPUs are the node's devices; at least one.
	GPUs []GPU
	// Models are the installed models.
	Models []Model
	// Speed scales generation: 2 generates twice as fast as the models' TokensPerSec; zero means 1.
	Speed float64
	// LoadMBps is how fast a cold model loads, in MiB per simulated second; zero means DefaultLoadMBps.
	LoadMBps float64
	// LoadBase is added to every cold load (starting the runner); zero means DefaultLoadBase.
	LoadBase time.Duration
	// MaxLoaded is OLLAMA_MAX_LOADED_MODELS; zero means Ollama's default, three per GPU.
	MaxLoaded int
	// NumParallel is OLLAMA_NUM_PARALLEL, the requests one loaded model serves at a time (its slots); zero means
	// DefaultNumParallel, 1 as in Ollama.
	NumParallel int
	// MultiUserCache is OLLAMA_MULTIUSER_CACHE: the runner keeps the conversations last served in its slots,
	// one each, instead of letting conversations behind a shared prefix take turns in one (see takeSlotLocked).
	MultiUserCache bool
	// MaxQueue is OLLAMA_MAX_QUEUE, how many requests may wait for a model load before the node answers 503;
	// requests for a loaded model wait for a slot without limit. Zero means DefaultMaxQueue.
	MaxQueue int
	// ParallelGain is the aggregate decode throughput of four requests decoding at once relative to one; zero
	// means DefaultParallelGain. It must lie between 1 (no gain) and 4 (linear). It applies to the requests of
	// one loaded model, which Ollama's runner batches; models beside each other do not slow each other here.
	ParallelGain float64
	// RAMMB is the system memory in MiB that a model too large for the GPUs may spill into; zero means
	// DefaultRAMMB.
	RAMMB float64
	// KeepAlive is OLLAMA_KEEP_ALIVE, how long an idle model stays loaded; zero means DefaultKeepAlive, negative
	// forever. A request's keep_alive overrides it.
	KeepAlive time.Duration
	// Tokens is how many tokens a response has when the request sets no limit; zero means DefaultTokens.
	Tokens int
	// ChunkTokens is how many tokens one streamed chunk carries after the first token, which comes alone; zero
	// means DefaultChunkTokens.
	ChunkTokens int
	// Clock is the simulated time; nil means real time.
	Clock *Clock
	// StateFile, when set, is where the node keeps its reporter.SimState for gpu-reporter's "sim" sampler.
	StateFile string
	// StateEvery is the wall-clock period at which idle models are unloaded and StateFile refreshed; zero means
	// DefaultStateEvery.
	StateEvery time.Duration
	// Version is what /api/version answers; empty means DefaultVersion.
	Version string
}

// Validate reports what New would reject in c.
func (c Config) Validate() error { return c.setDefaults() }

func (c *Config) setDefaults() error {
	if len(c.GPUs) == 0 {
		return errors.New("ollamasim: a node needs at least one GPU")
	}
	for _, g := range c.GPUs {
		if !(g.VRAMMB > 0) {
			return fmt.Errorf("ollamasim: GPU %q: vram_mb must be positive", g.Name)
		}
	}
	seen := map[string]bool{}
	models := make([]Model, len(c.Models))
	for i, m := range c.Models {
		if err := m.validate(); err != nil {
			return fmt.Errorf("ollamasim: %w", err)
		}
		m.Name = CanonicalName(m.Name)
		if seen[m.Name] {
			return fmt.Errorf("ollamasim: model %s listed twice", m.Name)
		}
		seen[m.Name] = true
		models[i] = m
	}
	c.Models = models
	if c.Speed < 0 || c.LoadMBps < 0 || c.LoadBase < 0 || c.MaxLoaded < 0 || c.NumParallel < 0 || c.MaxQueue < 0 ||
		c.Tokens < 0 || c.ChunkTokens < 0 || c.StateEvery < 0 || c.RAMMB < 0 {
		return errors.New("ollamasim: speeds, sizes, counts and durations must not be negative")
	}
	if c.ParallelGain != 0 && !(c.ParallelGain >= 1 && c.ParallelGain <= 4) {
		return fmt.Errorf("ollamasim: parallel_gain %g: want the throughput of 4 requests at once relative to one, "+
			"from 1 (no gain) to 4 (linear)", c.ParallelGain)
	}
	setIfZero(&c.Speed, 1)
	setIfZero(&c.LoadMBps, DefaultLoadMBps)
	setIfZero(&c.LoadBase, DefaultLoadBase)
	setIfZero(&c.MaxLoaded, 3*len(c.GPUs))
	setIfZero(&c.NumParallel, DefaultNumParallel)
	setIfZero(&c.MaxQueue, DefaultMaxQueue)
	setIfZero(&c.ParallelGain, DefaultParallelGain)
	setIfZero(&c.RAMMB, DefaultRAMMB)
	setIfZero(&c.KeepAlive, DefaultKeepAlive)
	setIfZero(&c.Tokens, DefaultTokens)
	setIfZero(&c.ChunkTokens, DefaultChunkTokens)
	setIfZero(&c.StateEvery, DefaultStateEvery)
	setIfZero(&c.Version, DefaultVersion)
	if c.Clock == nil {
		c.Clock = NewClock(1)
	}
	return nil
}

func setIfZero[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

// loadTime is how long a cold load of m takes.
func (c *Config) loadTime(m *Model) time.Duration {
	return c.LoadBase + time.Duration(m.FootprintMB()/c.LoadMBps*float64(time.Second))
}

// CPUSlowdown is how many times slower a model's layers run when they spilled to system memory than on a GPU: a
// model with a share f of its size on the CPU reads and generates 1 + (CPUSlowdown-1)·f times slower, since its
// layers run one after the other. Token generation is bound by memory bandwidth, about 1 TB/s on a current GPU
// against 60 to 100 GB/s of dual-channel DDR5.
const CPUSlowdown = 10

// decodeTime is how long generating tokens of m takes while k requests of it generate at once, each at the speed
// of one times k^(a-1), where 4^a = ParallelGain: together they go faster than one, but not k times.
func (c *Config) decodeTime(m *Model, tokens, k int, cpuShare float64) time.Duration {
	a := math.Log(c.ParallelGain) / math.Log(4)
	rate := m.tokensPerSec() * c.Speed * math.Pow(float64(max(k, 1)), a-1)
	return seconds(float64(tokens) / rate * (1 + (CPUSlowdown-1)*cpuShare))
}

// prefillTime is how long reading tokens of a prompt for m takes.
func (c *Config) prefillTime(m *Model, tokens int, cpuShare float64) time.Duration {
	return seconds(float64(tokens) / (m.prefillPerSec() * c.Speed) * (1 + (CPUSlowdown-1)*cpuShare))
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
