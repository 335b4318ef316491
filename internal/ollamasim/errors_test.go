package ollamasim

import (
	"net/http"
	"testing"
)

func TestNotInstalledIs404WithOllamasBody(t *testing.T) {
	n := startNode(t, 1000, nil)
	for _, path := range []string{"/api/generate", "/api/chat"} {
		status, ctype, body := post(t, n, path, `{"model":"nope","prompt":"hi"}`)
		// As real Ollama v0.17.4 answers (internal/ollamareal's TestMissingModel).
		want := `{"error":"model 'nope' not found"}` + "\n"
		if status != http.StatusNotFound || body != want || ctype != "application/json; charset=utf-8" {
			t.Errorf("%s: %d %q %q, want 404 %q", path, status, ctype, body, want)
		}
	}
	status, _, body := post(t, n, "/v1/chat/completions", `{"model":"nope","messages":[{"role":"user","content":"hi"}]}`)
	want := `{"error":{"message":"model 'nope' not found","type":"api_error","param":null,"code":null}}` + "\n"
	if status != http.StatusNotFound || body != want {
		t.Errorf("openai: %d %q, want 404 %q", status, body, want)
	}
	if s := n.Stats(); s.NotFound != 3 || s.ColdLoads != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestModelLargerThanGPUsAndRAMIs500WithOllamasBody(t *testing.T) {
	// 40000 MiB on a 24 GiB GPU with 8 GiB of system memory: 15424 MiB would go to the CPU.
	n := startNode(t, 1000, func(c *Config) { c.RAMMB = 8192 })
	generate(t, n, "small:1b", "")
	status, _, body := post(t, n, "/api/generate", `{"model":"huge:70b","prompt":"hi"}`)
	want := `{"error":"model requires more system memory (15.1 GiB) than is available (8.0 GiB)"}` + "\n"
	if status != http.StatusInternalServerError || body != want {
		t.Fatalf("%d %q, want 500 %q", status, body, want)
	}
	if got := loaded(t, n); len(got) != 1 || got[0] != "small:1b" {
		t.Errorf("a model that cannot fit unloaded others: %v", got)
	}
	if s := n.Stats(); s.OutOfMemory != 1 || s.ColdLoads != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestBadRequests(t *testing.T) {
	n := startNode(t, 1000, nil)
	for body, want := range map[string]string{
		``:                `{"error":"missing request body"}`,
		`{"prompt":"hi"}`: `{"error":"model is required"}`,
		`{"model":"small:1b","keep_alive":"soon"}`: `{"error":"keep_alive \"soon\": time: invalid duration \"soon\""}`,
	} {
		status, _, got := post(t, n, "/api/generate", body)
		if status != http.StatusBadRequest || got != want+"\n" {
			t.Errorf("%q: %d %q, want 400 %q", body, status, got, want)
		}
	}
}

// TestMaxQueueBoundsOnlyRequestsWaitingForALoad follows Ollama's scheduler: OLLAMA_MAX_QUEUE bounds the requests
// whose model is neither loaded nor loading (they queue for the one-at-a-time load path), while requests for a
// loaded model wait for a slot without limit.
func TestMaxQueueBoundsOnlyRequestsWaitingForALoad(t *testing.T) {
	n := startNode(t, 100, func(c *Config) { c.MaxQueue = 1; c.GPUs = []GPU{{Name: "12G", VRAMMB: 12288}} })
	long := `{"model":"big:14b","prompt":"x","stream":false,"options":{"num_predict":1000}}` // 25 s simulated
	statuses := make(chan int, 10)
	send := func(body string) {
		go func() {
			status, _, _ := post(t, n, "/api/generate", body)
			statuses <- status
		}()
	}
	generate(t, n, "big:14b", "")
	send(long) // holds big:14b, which leaves no room for mid:8b
	waitFor(t, n, "big:14b busy", func() bool { return n.running == 1 })
	mid := `{"model":"mid:8b","prompt":"x","stream":false,"options":{"num_predict":5}}`
	send(mid) // taken by the load path, which waits for big:14b to go idle
	waitFor(t, n, "the first mid:8b in the load path", func() bool { return n.waiting == 1 && n.loadQueue == 0 })
	send(mid) // mid:8b is not loading yet: the queue holds it
	waitFor(t, n, "the second mid:8b queued", func() bool { return n.loadQueue == 1 })

	status, _, body := post(t, n, "/api/generate", `{"model":"small:1b","prompt":"x"}`)
	want := `{"error":"server busy, please try again.  maximum pending requests exceeded"}` + "\n"
	if status != http.StatusServiceUnavailable || body != want {
		t.Fatalf("a third request for a cold model: %d %q, want 503 %q", status, body, want)
	}
	for range 4 {
		send(long) // big:14b is loaded: these wait for its one slot, however many
	}
	waitFor(t, n, "four more for big:14b waiting", func() bool { return n.waiting == 6 })
	got := map[int]int{}
	for range 7 {
		got[<-statuses]++
	}
	if got[200] != 7 {
		t.Fatalf("statuses %v: want every admitted request served", got)
	}
	if s := n.Stats(); s.QueueFull != 1 {
		t.Errorf("stats %+v", s)
	}
}
