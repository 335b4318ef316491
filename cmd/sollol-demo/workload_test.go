package main

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestWorkloadIsSeededPoissonWithSkew(t *testing.T) {
	sc, err := ParseScenario([]byte(smallScenario))
	if err != nil {
		t.Fatal(err)
	}
	sc.Duration = duration(time.Hour)
	a, b := Workload(sc), Workload(sc)
	if !slices.Equal(a, b) {
		t.Fatal("same seed, different workloads")
	}
	sc.Seed++
	if slices.Equal(a, Workload(sc)) {
		t.Fatal("another seed, same workload")
	}
	// One request per second for an hour: about 3600, within a few standard deviations (60).
	if n := float64(len(a)); math.Abs(n-3600) > 240 {
		t.Errorf("%v requests, want about 3600", n)
	}
	count := map[string]int{}
	streamed := 0
	for i, r := range a {
		count[r.Model]++
		if r.Stream {
			streamed++
		}
		if i > 0 && r.At < a[i-1].At || r.Tokens < sc.TokensMin || r.Tokens > sc.TokensMax || !validEndpoint(r.Endpoint) || r.Chat != 0 {
			t.Fatalf("request %d: %+v", i, r)
		}
		var body map[string]any
		if err := json.Unmarshal([]byte(r.Body("", nil)), &body); err != nil || body["model"] != r.Model || body["stream"] != r.Stream {
			t.Fatalf("body %s: %v", r.Body("", nil), err)
		}
	}
	share := float64(count["llama3.1:8b:latest"]+count["llama3.1:8b"]) / float64(len(a))
	if math.Abs(share-0.40) > 0.04 || count["llama3.3:70b"] > count["llama3.1:8b"] {
		t.Errorf("popularity %v, want 8b at about 40%%", count)
	}
	if s := float64(streamed) / float64(len(a)); math.Abs(s-0.5) > 0.05 {
		t.Errorf("streamed share %.2f", s)
	}
}

// TestShippedWorkloadsUnchanged checks that the scenarios that predate phases, chats and prompts still draw the
// same requests, request for request (fingerprints taken with the code before those members existed).
func TestShippedWorkloadsUnchanged(t *testing.T) {
	for name, want := range map[string]string{
		"default":             "332 9ba0c09188d7f725",
		"homogeneous":         "332 3eca71dd3e85e9d5",
		"one-huge-many-small": "332 91173ed2fd59e211",
	} {
		sc, err := LoadScenario("../../scenarios/" + name + ".json")
		if err != nil {
			t.Fatal(err)
		}
		reqs := Workload(sc)
		h := sha256.New()
		for _, r := range reqs {
			fmt.Fprintf(h, "%d %s %s %t %d\n", r.At, r.Model, r.Endpoint, r.Stream, r.Tokens)
		}
		if got := fmt.Sprintf("%d %x", len(reqs), h.Sum(nil)[:8]); got != want {
			t.Errorf("%s: %s, want %s", name, got, want)
		}
	}
}

// phased is smallScenario with three phases: busy, quiet, and a burst in which only the 70B model is asked for.
var phased = strings.Replace(smallScenario, `"duration": "2m", "rate": 1.0,`, `"phases": [
  {"duration": "10m", "rate": 2},
  {"duration": "10m", "rate": 0},
  {"duration": "5m", "rate": 4, "weights": {"llama3.3:70b": 1}}],`, 1)

func TestWorkloadPhases(t *testing.T) {
	sc, err := ParseScenario([]byte(phased))
	if err != nil {
		t.Fatal(err)
	}
	if sc.Duration != duration(25*time.Minute) {
		t.Errorf("duration %s, want the phases' 25m", sc.Duration)
	}
	var first, quiet, burst int
	for _, r := range Workload(sc) {
		switch {
		case r.At < 10*time.Minute:
			first++
		case r.At < 20*time.Minute:
			quiet++
		default:
			burst++
			if r.Model != "llama3.3:70b" {
				t.Fatalf("burst request for %s", r.Model)
			}
		}
	}
	// 1200 and 1200 expected, a few standard deviations (35) apart at most.
	if math.Abs(float64(first)-1200) > 150 || quiet != 0 || math.Abs(float64(burst)-1200) > 150 {
		t.Errorf("per phase %d, %d, %d; want about 1200, 0, 1200", first, quiet, burst)
	}
}

// chatty is smallScenario where 40% of the arrivals start a chat of 3 to 5 turns, prompts are 20–2000 tokens and
// 80% of the requests share a 500-token system prompt.
var chatty = strings.Replace(smallScenario, `"stream_share": 0.5,`, `"stream_share": 0.5,
  "conversations": {"share": 0.4, "turns_min": 3, "turns_max": 5, "think_min": "5s", "think_max": "15s"},
  "prompt_tokens": {"min": 20, "max": 2000},
  "system_prompt": {"tokens": 500, "share": 0.8},`, 1)

func TestWorkloadConversations(t *testing.T) {
	sc, err := ParseScenario([]byte(chatty))
	if err != nil {
		t.Fatal(err)
	}
	sc.Duration = duration(time.Hour)
	reqs := Workload(sc)
	chats, arrivals, system, short := map[int][]Request{}, 0, 0, 0
	for _, r := range reqs {
		if r.Turn == 0 {
			arrivals++
		}
		if r.System {
			system++
		}
		if r.Prompt < 20 || r.Prompt > 2000 {
			t.Fatalf("prompt of %d tokens", r.Prompt)
		}
		if r.Prompt < 200 {
			short++
		}
		if r.Chat > 0 {
			chats[r.Chat] = append(chats[r.Chat], r)
		}
	}
	if s := float64(len(chats)) / float64(arrivals); math.Abs(s-0.4) > 0.05 {
		t.Errorf("chat share %.2f of %d arrivals", s, arrivals)
	}
	if s := float64(system) / float64(len(reqs)); math.Abs(s-0.8) > 0.05 {
		t.Errorf("system prompt share %.2f", s)
	}
	// Log-uniform on 20–2000: half the prompts below 200 tokens.
	if s := float64(short) / float64(len(reqs)); math.Abs(s-0.5) > 0.05 {
		t.Errorf("share of prompts under 200 tokens %.2f", s)
	}
	for id, turns := range chats {
		if len(turns) < 3 || len(turns) > 5 {
			t.Fatalf("chat %d: %d turns", id, len(turns))
		}
		for k, r := range turns {
			if r.Turn != k || r.Model != turns[0].Model || r.Endpoint == endpointGenerate || r.System != turns[0].System {
				t.Fatalf("chat %d turn %d: %+v", id, k, r)
			}
			if k > 0 && (r.At < 5*time.Second || r.At > 15*time.Second) {
				t.Fatalf("think time %s", r.At)
			}
		}
	}
	// A later turn resends the system prompt, the conversation so far and its new message.
	var turn2 Request
	for _, turns := range chats {
		if turns[1].System && turns[1].Endpoint == endpointChat {
			turn2 = turns[1]
			break
		}
	}
	history := []message{{"user", "first question"}, {"assistant", "first answer"}}
	var body struct {
		Messages []message
		Options  struct {
			NumPredict int `json:"num_predict"`
		} `json:"options"`
	}
	if err := json.Unmarshal([]byte(turn2.Body(systemText(500), history)), &body); err != nil {
		t.Fatal(err)
	}
	if len(body.Messages) != 4 || body.Messages[0].Role != "system" || body.Messages[2].Content != "first answer" ||
		!strings.HasPrefix(body.Messages[3].Content, fmt.Sprintf("Chat %d, turn 2: ", turn2.Chat)) ||
		math.Abs(float64(len(body.Messages[3].Content))/4-float64(turn2.Prompt)) > 3 ||
		len(body.Messages[0].Content)/4 != 500 || body.Options.NumPredict != turn2.Tokens {
		t.Errorf("turn 2 body: %+v", body)
	}
}

func TestScenarioErrors(t *testing.T) {
	for _, tc := range []struct{ in, edit, want string }{
		{smallScenario, `"rate": 1.0`, `"rate": 0`},
		{smallScenario, `"rate": 1.0`, `"rate": 1, "bogus": 1`},
		{smallScenario, `"duration": "2m"`, `"duration": "two minutes"`},
		{smallScenario, `{"name": "a", "gpus"`, `{"name": "b", "gpus"`},
		{smallScenario, `"gpus": [{"name": "RTX 4090", "vram_mb": 24564}]`, `"gpus": []`},
		{smallScenario, `{"name": "a", "gpus": [{"name": "RTX 4090", "vram_mb": 24564}]}`, `{"name": "a", "models": ["nope"], "gpus": [{"name": "x", "vram_mb": 1}]}`},
		{smallScenario, `"rate": 1.0,`, `"rate": 1.0, "phases": [{"duration": "1m", "rate": 1}],`},
		{phased, `"rate": 0}`, `"rate": -1}`},
		{phased, `"duration": "10m", "rate": 2`, `"duration": "0s", "rate": 2`},
		{phased, `{"llama3.3:70b": 1}`, `{"nope": 1}`},
		{phased, `{"llama3.3:70b": 1}`, `{"llama3.3:70b": 0}`},
		{strings.Replace(phased, `"rate": 2}`, `"rate": 0}`, 1), `"rate": 4`, `"rate": 0`},
		{chatty, `"share": 0.4`, `"share": 1.5`},
		{chatty, `"turns_max": 5`, `"turns_max": 2`},
		{chatty, `"think_max": "15s"`, `"think_max": "1s"`},
		{chatty, `"min": 20, "max": 2000`, `"min": 0, "max": 2000`},
		{chatty, `{"tokens": 500, "share": 0.8}`, `{"tokens": 0, "share": 0.8}`},
		{chatty, `"share": 0.8`, `"share": -1`},
		{smallScenario, `"rate": 1.0,`, `"rate": 1.0, "gateways": 99,`},
		{smallScenario, `"rate": 1.0,`, `"rate": 1.0, "gateways": -1,`},
	} {
		in := strings.Replace(tc.in, tc.edit, tc.want, 1)
		if in == tc.in {
			t.Fatalf("edit %q did not apply", tc.edit)
		}
		if _, err := ParseScenario([]byte(in)); err == nil {
			t.Errorf("%s: want an error", tc.want)
		} else {
			t.Logf("%s: %v", tc.want, err)
		}
	}
	for _, in := range []string{phased, chatty} {
		if _, err := ParseScenario([]byte(in)); err != nil {
			t.Errorf("%v", err)
		}
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
		want   Outcome
	}{
		{500, `{"error":"model requires more system memory (43.5 GiB) than is available (24.0 GiB)"}`, OutOfMemory},
		{500, `{"error":{"message":"model requires more system memory (1 GiB) than is available (0.5 GiB)","type":"api_error"}}`, OutOfMemory},
		{500, `{"error":"CUDA error: out of memory"}`, OutOfMemory},
		{404, `{"error":"model 'x' not found"}`, NotInstalled},
		{404, `{"error":"model 'x' not found"}`, NotInstalled},
		{404, `{"error":{"message":"model 'x' not found","type":"api_error","param":null,"code":null}}`, NotInstalled},
		{404, `404 page not found`, OtherError},
		{503, `{"error":"server busy, please try again.  maximum pending requests exceeded"}`, Busy},
		{503, ``, Busy},
		{502, ``, OtherError},
		{500, `{"error":"something else"}`, OtherError},
	} {
		if got := classifyError(tc.status, []byte(tc.body)); got != tc.want {
			t.Errorf("%d %s: %v, want %v", tc.status, tc.body, got, tc.want)
		}
	}
}

func TestParseAnswer(t *testing.T) {
	gen := Request{Endpoint: endpointGenerate, Stream: true}
	chat := Request{Endpoint: endpointChat}
	oai := Request{Endpoint: endpointOpenAI, Stream: true}
	for _, tc := range []struct {
		req         Request
		body        string
		ok          bool
		text        string
		total, eval time.Duration
	}{
		{gen, "{\"response\":\"a \",\"done\":false}\n{\"response\":\"b\",\"done\":true,\"total_duration\":9,\"eval_duration\":4}\n", true, "a b", 9, 4},
		{gen, "{\"response\":\"a\",\"done\":false}\n", false, "a", 0, 0},
		{gen, "{\"response\":\"a\",\"done\":false}\n{\"resp", false, "", 0, 0},
		{chat, `{"message":{"role":"assistant","content":"hi"},"done":true,"total_duration":5,"eval_duration":2}`, true, "hi", 5, 2},
		{oai, "data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"y\"}}]}\n\ndata: [DONE]\n\n", true, "xy", 0, 0},
		{oai, "data: {}\n\n", false, "", 0, 0},
		{Request{Endpoint: endpointOpenAI}, `{"choices":[{"message":{"content":"z"}}]}`, true, "z", 0, 0},
		{Request{Endpoint: endpointOpenAI}, `{"choices":[]}`, false, "", 0, 0},
	} {
		a, ok := parseAnswer(tc.req, []byte(tc.body))
		if ok != tc.ok || ok && (a.text != tc.text || a.total != tc.total || a.eval != tc.eval) {
			t.Errorf("%+v %q: %+v %v", tc.req, tc.body, a, ok)
		}
	}
	if r := decisionReason("node=a:1; reason=resident; upstream=a:1"); r != "resident" {
		t.Error(r)
	}
}

func TestPercentileAndMedian(t *testing.T) {
	d := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	if percentile(d, 0, 0, 50) != 5 || percentile(d, 0, 0, 95) != 10 || percentile(d, 0, 0, 10) != 1 ||
		percentile(nil, 0, 0, 50) != -1 {
		t.Error("percentile")
	}
	// Ten answered and ten failed: the median is the slowest answer, the p95 a failure, counted as the timeout.
	if percentile(d, 10, 600, 50) != 10 || percentile(d, 10, 600, 95) != 600 || percentile(nil, 1, 600, 50) != 600 {
		t.Error("percentile with failures")
	}
	if median([]float64{3, 1, 2}) != 2 || median([]float64{4, 1, 2, 3}) != 2.5 || median(nil) != 0 {
		t.Error("median")
	}
	runs := []Figures{{OK: 1, P95: 9, Nodes: []NodeFigures{{Name: "a", BusyShare: 0.1}}},
		{OK: 3, P95: 1, Nodes: []NodeFigures{{Name: "a", BusyShare: 0.5}}},
		{OK: 2, P95: 5, Nodes: []NodeFigures{{Name: "a", BusyShare: 0.3}}}}
	if m := medianFigures(runs); m.OK != 2 || m.P95 != 5 || m.Nodes[0].Name != "a" || m.Nodes[0].BusyShare != 0.3 {
		t.Errorf("%+v", m)
	}
}
