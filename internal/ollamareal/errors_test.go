//go:build ollama

package ollamareal_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/sollol-go/sollol/gpustats"
	"github.com/sollol-go/sollol/internal/ollamareal"
	"github.com/sollol-go/sollol/internal/redistest"
)

// TestMissingModel: Ollama's own 404 bodies for a model it does not have, on its API and its OpenAI API.
func TestMissingModel(t *testing.T) {
	s := start(t, ollamareal.Options{}, tiny)
	msgs := []ollamareal.Message{{Role: "user", Content: "hi"}}
	for _, tc := range []struct{ path, want string }{
		{"/api/chat", `{"error":"model 'nope:1b' not found"}`},
		{"/v1/chat/completions", `{"error":{"message":"model 'nope:1b' not found","type":"api_error","param":null,"code":null}}`},
	} {
		status, body, err := s.Post(ctx(t), tc.path, map[string]any{"model": "nope:1b", "messages": msgs, "stream": false})
		if err != nil || status != 404 || string(body) != tc.want {
			t.Errorf("%s: %d %s %v\nwant 404 %s", tc.path, status, body, err, tc.want)
		}
	}
}

const busyBody = `{"error":"server busy, please try again.  maximum pending requests exceeded"}`

// burst sends n chats for model to url at once and returns each answer's status and body.
func burst(t *testing.T, url, model string, n int) (statuses []int, bodies []string) {
	t.Helper()
	statuses, bodies = make([]int, n), make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			status, body, err := ollamareal.Post(ctx(t), url+"/api/chat", map[string]any{"model": model, "stream": false,
				"messages": []ollamareal.Message{{Role: "user", Content: "burst"}}})
			if err != nil {
				t.Errorf("burst request %d: %v", i, err)
			}
			statuses[i], bodies[i] = status, string(body)
		})
	}
	wg.Wait()
	return statuses, bodies
}

// TestBusyRetriedElsewhere: with OLLAMA_MAX_QUEUE=1 a burst for a cold model gets Ollama's 503 "server busy";
// through the gateway, with the 503 in lb_retry_match, each one is retried on the other server and succeeds.
func TestBusyRetriedElsewhere(t *testing.T) {
	a := start(t, ollamareal.Options{MaxQueue: 1}, tiny, other)
	b := start(t, ollamareal.Options{}, tiny)

	// Straight to a: one request loads the model, one waits, the rest are refused.
	statuses, bodies := burst(t, a.URL, other.Name, 6)
	busy := 0
	for i, status := range statuses {
		switch {
		case status == 503 && bodies[i] == busyBody:
			busy++
		case status != 200:
			t.Errorf("burst answer %d: %d %s", i, status, bodies[i])
		}
	}
	if busy == 0 || busy > 4 {
		t.Errorf("%d of 6 answered %s, want 1 to 4: statuses %v", busy, busyBody, statuses)
	}

	// Through the gateway. a's report says tiny is loaded there, as it was until its keep_alive ran out after the
	// report, with room for 8 requests at once: the policy sends the whole burst to a, which must load the model
	// again and refuses what it cannot queue.
	rds := redistest.Start(t)
	pub := gpustats.NewPublisher(rds.Client(), gpustats.PublisherOptions{})
	reportOf := func(s *ollamareal.Server, parallel int, loaded ...string) *gpustats.Report {
		r := &gpustats.Report{Vendor: gpustats.VendorNVIDIA, NodeID: s.Addr, Timestamp: gpustats.Timestamp(time.Now()),
			Schema: gpustats.Schema, GPUs: []gpustats.GPU{{Index: 0, Name: "RTX 4090", MemoryTotalMB: 24564,
				MemoryFreeMB: 20000, MemoryUsedMB: 4564, TemperatureC: 40}},
			Ollama: &gpustats.Ollama{Reachable: true, NumParallel: parallel, Loaded: []gpustats.LoadedModel{},
				Installed: []gpustats.InstalledModel{{Name: tiny.Name, SizeMB: 7}}}}
		for _, m := range loaded {
			r.Ollama.Loaded = append(r.Ollama.Loaded, gpustats.LoadedModel{Name: m, SizeMB: 8, SizeVRAMMB: 8})
		}
		return r
	}
	g := startGateway(t, "redis "+rds.URL()+"\nfallback first",
		"lb_retries 3\nrequest_buffers 1MiB\nlb_retry_match {\n\texpression `{rp.status_code} == 503`\n}", b, a)
	for _, r := range []*gpustats.Report{reportOf(a, 8, tiny.Name), reportOf(b, 1)} {
		if err := pub.Publish(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, func() string { return policySees([]*ollamareal.Server{a, b}, anyLoaded) })

	aBefore, bBefore := served(t, a, "/api/chat"), served(t, b, "/api/chat")
	statuses, bodies = burst(t, g.URL, tiny.Name, 6)
	for i, status := range statuses {
		if status != 200 {
			t.Errorf("through the gateway, burst answer %d: %d %s", i, status, bodies[i])
		}
	}
	aAfter, bAfter := served(t, a, "/api/chat"), served(t, b, "/api/chat")
	refused, retried := aAfter[503]-aBefore[503], bAfter[200]-bBefore[200]
	if refused == 0 || retried < refused || aAfter[200]-aBefore[200]+retried != 6 {
		t.Errorf("a answered %d 503 and %d 200, b %d 200: want a's 503s retried on b, 6 answers in all",
			refused, aAfter[200]-aBefore[200], retried)
	}
	t.Logf("burst of 6 through the gateway: a refused %d (503), b answered %d", refused, retried)
}
