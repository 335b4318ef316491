package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/sollol-go/sollol/internal/ollamasim"
)

// Scenario is a fleet and a workload, as read from a --scenario file. Durations are strings such as "6m", all in
// simulated time.
type Scenario struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Seed makes the workload repeatable: the same seed sends the same requests at the same simulated times.
	Seed uint64 `json:"seed"`
	// TimeScale is how many simulated seconds pass per wall-clock second; default 40.
	TimeScale float64 `json:"time_scale,omitempty"`
	// Duration is how long requests keep arriving; default 6m, or the sum of the phases.
	Duration duration `json:"duration,omitempty"`
	// Rate is the mean number of requests per simulated second; arrivals are a Poisson process. Required unless
	// Phases is set.
	Rate float64 `json:"rate,omitempty"`
	// Phases, when set, replaces Duration and Rate: the run goes through them in order, each with its own rate
	// and, optionally, its own model weights (ramp up, burst, go quiet; a model that becomes popular mid-run).
	Phases []Phase `json:"phases,omitempty"`
	// Conversations, when set, makes a share of the arrivals multi-turn chats.
	Conversations *Conversations `json:"conversations,omitempty"`
	// PromptTokens, when set, draws the length of each user message; unset, every request asks the same short
	// question.
	PromptTokens *Spread `json:"prompt_tokens,omitempty"`
	// SystemPrompt, when set, starts a share of the requests with one system prompt that all of them share.
	SystemPrompt *SystemPrompt `json:"system_prompt,omitempty"`
	// Gateways is how many Caddy gateways share the Redis, each request sent to one at random; default 1.
	Gateways int `json:"gateways,omitempty"`
	// ShareState "off" keeps each vram_aware gateway to itself (its share_state off); by default they share
	// their requests in flight and pending cold loads through the Redis.
	ShareState string `json:"share_state,omitempty"`
	// StreamShare is the share of requests that stream their answer, 0–1.
	StreamShare float64 `json:"stream_share"`
	// Endpoints weighs the APIs requests use: "generate" (/api/generate), "chat" (/api/chat) and "openai"
	// (/v1/chat/completions); default equal weights.
	Endpoints map[string]float64 `json:"endpoints,omitempty"`
	// TokensMin and TokensMax bound the answer length, drawn uniformly; default 50 and 400.
	TokensMin int `json:"tokens_min,omitempty"`
	TokensMax int `json:"tokens_max,omitempty"`
	// Timeout bounds one request, as a client would; default 10m.
	Timeout duration `json:"timeout,omitempty"`
	// ReportInterval is the gpu-reporter interval; default 5s, gpu-reporter's own default. At TimeScale 60 the
	// reporters run every 83 ms of wall-clock time.
	ReportInterval duration `json:"report_interval,omitempty"`
	// Models is the catalogue; Weight sets each model's share of the requests (skewed popularity).
	Models []ScenarioModel `json:"models"`
	// Nodes is the fleet.
	Nodes []ScenarioNode `json:"nodes"`
}

// Phase is a stretch of the run with its own arrival rate.
type Phase struct {
	Duration duration `json:"duration"`
	// Rate is the mean number of requests per simulated second in this phase; 0 is a quiet phase.
	Rate float64 `json:"rate"`
	// Weights, when set, replaces the models' weights during this phase; a model it does not name gets none.
	Weights map[string]float64 `json:"weights,omitempty"`
}

// Conversations describes the multi-turn chats. A chat sends its turns one after another: each turn resends the
// whole conversation so far (its user messages and the answers it got) plus a new user message, a think time
// after the previous answer. Chats use /api/chat or /v1/chat/completions, by the endpoints' weights.
type Conversations struct {
	// Share is the share of arrivals that start a chat instead of a single request, 0–1.
	Share float64 `json:"share"`
	// TurnsMin and TurnsMax bound the number of turns, drawn uniformly; default 2 and 10.
	TurnsMin int `json:"turns_min,omitempty"`
	TurnsMax int `json:"turns_max,omitempty"`
	// ThinkMin and ThinkMax bound the time between an answer and the next turn, drawn uniformly; default 10s
	// and 60s.
	ThinkMin duration `json:"think_min,omitempty"`
	ThinkMax duration `json:"think_max,omitempty"`
}

// Spread is a length in tokens drawn log-uniformly between Min and Max: as many draws fall between 20 and 200
// as between 200 and 2000, so short prompts are common and long ones still appear.
type Spread struct {
	Min int `json:"min"`
	Max int `json:"max"`
}

// SystemPrompt is one system prompt shared by a share of the requests (many users of one application).
type SystemPrompt struct {
	Tokens int `json:"tokens"`
	// Share is the share of requests (of chats: of conversations) that start with it, 0–1.
	Share float64 `json:"share"`
}

// ScenarioModel is a model of the catalogue and how popular it is.
type ScenarioModel struct {
	ollamasim.Model
	Weight float64 `json:"weight"`
}

// ScenarioNode is one simulated Ollama server. Zero values are Ollama's defaults (see ollamasim.Config).
type ScenarioNode struct {
	Name string          `json:"name"`
	GPUs []ollamasim.GPU `json:"gpus"`
	// Models names the installed models; empty means the whole catalogue.
	Models      []string `json:"models,omitempty"`
	Speed       float64  `json:"speed,omitempty"`
	LoadMBps    float64  `json:"load_mbps,omitempty"`
	NumParallel int      `json:"num_parallel,omitempty"`
	// MultiUserCache is OLLAMA_MULTIUSER_CACHE: each slot keeps one of the conversations last served.
	MultiUserCache bool     `json:"multiuser_cache,omitempty"`
	MaxLoaded      int      `json:"max_loaded,omitempty"`
	KeepAlive      duration `json:"keep_alive,omitempty"`
	// RAMMB is the node's system memory in MiB: a model larger than the free VRAM but within VRAM plus RAM
	// loads partly on the CPU; zero is the simulator's default.
	RAMMB float64 `json:"ram_mb,omitempty"`
	// ParallelGain is the throughput of four parallel requests over one on this node; zero is the simulator's
	// default.
	ParallelGain float64 `json:"parallel_gain,omitempty"`
}

// LoadScenario reads and checks a scenario file.
func LoadScenario(path string) (*Scenario, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseScenario(b)
}

// ParseScenario decodes a scenario, rejecting unknown members, and fills in its defaults.
func ParseScenario(b []byte) (*Scenario, error) {
	var sc Scenario
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sc); err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	if err := sc.setDefaults(); err != nil {
		return nil, fmt.Errorf("scenario %s: %w", sc.Name, err)
	}
	return &sc, nil
}

func (sc *Scenario) setDefaults() error {
	if sc.TimeScale == 0 {
		sc.TimeScale = 40
	}
	if err := sc.setPhases(); err != nil {
		return err
	}
	if sc.Timeout == 0 {
		sc.Timeout = duration(10 * time.Minute)
	}
	if sc.ReportInterval == 0 {
		sc.ReportInterval = duration(5 * time.Second)
	}
	if sc.TokensMin == 0 && sc.TokensMax == 0 {
		sc.TokensMin, sc.TokensMax = 50, 400
	}
	if len(sc.Endpoints) == 0 {
		sc.Endpoints = map[string]float64{endpointGenerate: 1, endpointChat: 1, endpointOpenAI: 1}
	}
	switch {
	case sc.TimeScale < 1 || sc.TimeScale > 1000:
		return errors.New("time_scale must be between 1 and 1000")
	case sc.Duration < 0 || sc.Timeout < 0 || sc.ReportInterval < 0:
		return errors.New("durations must be positive")
	case sc.Gateways < 0:
		return errors.New("gateways must not be negative")
	case sc.StreamShare < 0 || sc.StreamShare > 1:
		return errors.New("stream_share must be between 0 and 1")
	case sc.TokensMin < 1 || sc.TokensMax < sc.TokensMin:
		return errors.New("want 1 ≤ tokens_min ≤ tokens_max")
	case len(sc.Models) == 0 || len(sc.Nodes) == 0:
		return errors.New("want at least one model and one node")
	case time.Duration(sc.ReportInterval) < time.Duration(sc.TimeScale*float64(20*time.Millisecond)):
		return fmt.Errorf("report_interval must be at least %s at time_scale %g (20ms of wall-clock time)",
			time.Duration(sc.TimeScale*float64(20*time.Millisecond)), sc.TimeScale)
	}
	for e, w := range sc.Endpoints {
		if !validEndpoint(e) || w < 0 {
			return fmt.Errorf("endpoints: %q: want generate, chat or openai with a weight ≥ 0", e)
		}
	}
	known := map[string]bool{}
	for i, m := range sc.Models {
		if m.Weight < 0 {
			return fmt.Errorf("model %s: weight must not be negative", m.Name)
		}
		sc.Models[i].Name = ollamasim.CanonicalName(m.Name)
		known[sc.Models[i].Name] = true
	}
	if err := sc.checkWorkload(known); err != nil {
		return err
	}
	names := map[string]bool{}
	for i, n := range sc.Nodes {
		if n.Name == "" || names[n.Name] {
			return fmt.Errorf("node %d: want a unique name", i)
		}
		names[n.Name] = true
		for j, m := range n.Models {
			m = ollamasim.CanonicalName(m)
			if !known[m] {
				return fmt.Errorf("node %s: model %s is not in the catalogue", n.Name, m)
			}
			sc.Nodes[i].Models[j] = m
		}
		if err := sc.nodeConfig(i, nil, "").Validate(); err != nil {
			return fmt.Errorf("node %s: %w", n.Name, err)
		}
	}
	return nil
}

// nodeConfig is the simulator configuration of node i.
func (sc *Scenario) nodeConfig(i int, clock *ollamasim.Clock, stateFile string) ollamasim.Config {
	n := sc.Nodes[i]
	var models []ollamasim.Model
	for _, m := range sc.Models {
		if len(n.Models) == 0 || contains(n.Models, m.Name) {
			models = append(models, m.Model)
		}
	}
	return ollamasim.Config{Name: n.Name, GPUs: n.GPUs, Models: models, Speed: n.Speed, LoadMBps: n.LoadMBps,
		NumParallel: n.NumParallel, MultiUserCache: n.MultiUserCache, MaxLoaded: n.MaxLoaded, KeepAlive: time.Duration(n.KeepAlive), RAMMB: n.RAMMB,
		ParallelGain: n.ParallelGain, Clock: clock, StateFile: stateFile, StateEvery: 50 * time.Millisecond}
}

// fitsSomewhere reports whether some node has model installed and the VRAM to hold it.
func (sc *Scenario) fitsSomewhere(model string) bool {
	_, _, ok := sc.fastestHolder(model)
	return ok
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// duration is a time.Duration written as a string such as "90s" in JSON.
type duration time.Duration

func (d *duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration such as \"90s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = duration(v)
	return nil
}

func (d duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

func (d duration) String() string { return time.Duration(d).String() }
