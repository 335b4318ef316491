package ollamasim

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestDurationsAndFirstTokenAsOllama: total_duration counts from arrival, queueing included; load_duration from
// arrival until the model is loaded; the first streamed chunk comes after the load and the prefill, so that a
// client measures the time to first token.
func TestDurationsAndFirstTokenAsOllama(t *testing.T) {
	// small:1b: 1000 MiB at 1000 MiB/s plus 2 s = a 3 s load; 1000 prompt tokens at 5000/s = 0.2 s.
	n := startNode(t, 100, func(c *Config) { c.LoadBase = 2 * time.Second; c.LoadMBps = 1000 })
	clock := n.cfg.Clock
	prompt := strings.Repeat("abcd", 999) // with "user\n…\n": 4002 bytes, 1000 tokens
	sent := clock.Now()
	resp, err := http.Post(n.URL()+"/api/generate", "application/json",
		strings.NewReader(`{"model":"small:1b","prompt":"`+prompt+`","options":{"num_predict":1000}}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	var a final
	var ttft time.Duration
	var second chan final
	for sc.Scan() {
		if ttft == 0 {
			ttft = clock.Now().Sub(sent)
			second = make(chan final, 1)
			go func() {
				second <- askOK(t, n, "/api/generate", `{"model":"small:1b","prompt":"x","stream":false,"options":{"num_predict":10}}`)
			}()
		}
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatal(err)
		}
	}
	load, prefill := time.Duration(a.Load), time.Duration(a.PromptEvalDuration)
	if load < 3*time.Second || prefill != 200*time.Millisecond || a.PromptEvalCount != 1000 {
		t.Errorf("load %s, prefill %s of %d tokens: want ≥ 3s, 200ms of 1000", load, prefill, a.PromptEvalCount)
	}
	if ttft < load+prefill || ttft > load+prefill+time.Second {
		t.Errorf("first chunk after %s, want load + prefill + one token = %s", ttft, load+prefill+10*time.Millisecond)
	}
	if total := time.Duration(a.Total); total < load+prefill+time.Duration(a.EvalDuration) {
		t.Errorf("total %s < load %s + prefill %s + eval %s", total, load, prefill, time.Duration(a.EvalDuration))
	}

	// The second request came while the first held the one slot for its 1000 tokens: it waited seconds (however
	// late a busy machine sent it), which only total_duration shows.
	b := <-second
	queued := time.Duration(b.Total - b.Load - b.PromptEvalDuration - b.EvalDuration)
	if b.Load > int64(100*time.Millisecond) || queued < 500*time.Millisecond {
		t.Errorf("second request: load %s, queued %s: want a warm model and the wait for the slot in total_duration",
			time.Duration(b.Load), queued)
	}
}

// TestLoadDurationCountsTheQueueForALoad: a request whose model waits for another to make room reports that wait
// in load_duration, as Ollama's handler times the whole scheduling.
func TestLoadDurationCountsTheQueueForALoad(t *testing.T) {
	n := startNode(t, 100, func(c *Config) { c.GPUs = []GPU{{Name: "12G", VRAMMB: 12288}}; fast(c) })
	generate(t, n, "big:14b", "")
	busy := make(chan final, 1)
	go func() {
		busy <- askOK(t, n, "/api/generate", `{"model":"big:14b","prompt":"x","stream":false,"options":{"num_predict":200}}`) // 5 s
	}()
	waitFor(t, n, "big:14b busy", func() bool { return n.running == 1 })
	f := askOK(t, n, "/api/generate", `{"model":"mid:8b","prompt":"x","stream":false,"options":{"num_predict":1}}`)
	if load := time.Duration(f.Load); load < 4*time.Second || time.Duration(f.Total) < load {
		t.Errorf("load %s, total %s: want the wait for big:14b (about 5s) in both", load, time.Duration(f.Total))
	}
	<-busy
}

// TestDecodeTakesItsTimeOnTheWallClock: a long answer, generated a chunk at a time at 100× real time, takes the
// decode time it reports and not more: each chunk ends its time after the previous one's end, so the timer's
// lateness (about half a millisecond of wall-clock time per chunk, 50 ms of simulated time here) does not add up.
func TestDecodeTakesItsTimeOnTheWallClock(t *testing.T) {
	n := startNode(t, 100, nil)
	clock := n.cfg.Clock
	askOK(t, n, "/api/generate", `{"model":"small:1b","prompt":"x","stream":false,"options":{"num_predict":1}}`) // load it
	sent := clock.Now()
	// 3000 tokens at 100/s: 30 s in 121 chunks of 25 tokens or fewer.
	a := askOK(t, n, "/api/generate", `{"model":"small:1b","prompt":"x","stream":false,"options":{"num_predict":3000}}`)
	took, eval := clock.Now().Sub(sent), time.Duration(a.EvalDuration)
	if eval < 29*time.Second || eval > 31*time.Second {
		t.Fatalf("eval_duration %s, want 30s", eval)
	}
	// Slack for the HTTP round trip and one late timer on a busy machine: 2 s of simulated time, 20 ms of wall clock.
	if took > eval+2*time.Second {
		t.Errorf("the answer took %s of simulated time for %s of decode", took, eval)
	}
}
