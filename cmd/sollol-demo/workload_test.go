package main

import (
	"encoding/json"
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
		if i > 0 && r.At < a[i-1].At || r.Tokens < sc.TokensMin || r.Tokens > sc.TokensMax || !validEndpoint(r.Endpoint) {
			t.Fatalf("request %d: %+v", i, r)
		}
		var body map[string]any
		if err := json.Unmarshal([]byte(r.Body()), &body); err != nil || body["model"] != r.Model || body["stream"] != r.Stream {
			t.Fatalf("body %s: %v", r.Body(), err)
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

func TestScenarioErrors(t *testing.T) {
	for _, tc := range []struct{ edit, want string }{
		{`"rate": 1.0`, `"rate": 0`},
		{`"rate": 1.0`, `"rate": 1, "bogus": 1`},
		{`"duration": "2m"`, `"duration": "two minutes"`},
		{`{"name": "a", "gpus"`, `{"name": "b", "gpus"`},
		{`"gpus": [{"name": "RTX 4090", "vram_mb": 24564}]`, `"gpus": []`},
		{`{"name": "a", "gpus": [{"name": "RTX 4090", "vram_mb": 24564}]}`, `{"name": "a", "models": ["nope"], "gpus": [{"name": "x", "vram_mb": 1}]}`},
	} {
		in := strings.Replace(smallScenario, tc.edit, tc.want, 1)
		if in == smallScenario {
			t.Fatalf("edit %q did not apply", tc.edit)
		}
		if _, err := ParseScenario([]byte(in)); err == nil {
			t.Errorf("%s: want an error", tc.want)
		} else {
			t.Logf("%s: %v", tc.want, err)
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
		{404, `{"error":"model \"x\" not found, try pulling it first"}`, NotInstalled},
		{404, `{"error":{"message":"model \"x\" not found, try pulling it first","type":"not_found_error"}}`, NotInstalled},
		{404, `404 page not found`, OtherError},
		{503, `{"error":"server busy"}`, OtherError},
		{502, ``, OtherError},
	} {
		if got := classifyError(tc.status, []byte(tc.body)); got != tc.want {
			t.Errorf("%d %s: %v, want %v", tc.status, tc.body, got, tc.want)
		}
	}
}

func TestComplete(t *testing.T) {
	gen := Request{Endpoint: endpointGenerate, Stream: true}
	oai := Request{Endpoint: endpointOpenAI, Stream: true}
	for _, tc := range []struct {
		req  Request
		body string
		want bool
	}{
		{gen, "{\"response\":\"a\",\"done\":false}\n{\"response\":\"\",\"done\":true}\n", true},
		{gen, "{\"response\":\"a\",\"done\":false}\n", false},
		{oai, "data: {}\n\ndata: [DONE]\n\n", true},
		{oai, "data: {}\n\n", false},
		{Request{Endpoint: endpointOpenAI}, `{"choices":[{}]}`, true},
	} {
		if got := complete(tc.req, []byte(tc.body)); got != tc.want {
			t.Errorf("%+v %q: %v", tc.req, tc.body, got)
		}
	}
	if r := decisionReason("node=a:1; reason=resident; upstream=a:1"); r != "resident" {
		t.Error(r)
	}
}

func TestPercentile(t *testing.T) {
	d := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	if percentile(d, 50) != 5 || percentile(d, 95) != 10 || percentile(d, 10) != 1 || percentile(nil, 50) != -1 {
		t.Error("percentile")
	}
}
