package ollamasim

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestDecodeTimeFollowsParallelGain(t *testing.T) {
	c := Config{GPUs: []GPU{{VRAMMB: 1}}, ParallelGain: 2.5, Speed: 2}
	if err := c.setDefaults(); err != nil {
		t.Fatal(err)
	}
	m := &Model{Name: "m", SizeMB: 1, TokensPerSec: 50}
	one := c.decodeTime(m, 100, 1, 0)
	if one != time.Second { // 100 tokens at 50/s on a node of speed 2
		t.Fatalf("one request: %s, want 1s", one)
	}
	// Four at once: each at 2.5/4 of the speed of one, so that together they make 2.5 times the tokens.
	if four := c.decodeTime(m, 100, 4, 0); !near(four, time.Duration(float64(one)*4/2.5), 1e-9) {
		t.Errorf("four at once: %s each, want %s", four, time.Duration(float64(one)*4/2.5))
	}
	two := c.decodeTime(m, 100, 2, 0)
	if aggregate := 2 * float64(one) / float64(two); !(aggregate > 1 && aggregate < 2.5) {
		t.Errorf("two at once give %.2f× the throughput of one, want between 1 and 2.5", aggregate)
	}
	if lin := (Config{ParallelGain: 4, Speed: 1}); lin.decodeTime(m, 100, 3, 0) != 2*time.Second {
		// ParallelGain 4 is linear: each goes at the speed of one.
		t.Errorf("linear gain: %s", lin.decodeTime(m, 100, 3, 0))
	}
}

// TestParallelRequestsShareTheGPU runs four requests at once on a node with four slots and reads their
// eval_duration: together they generate about ParallelGain times the tokens per second of one alone.
func TestParallelRequestsShareTheGPU(t *testing.T) {
	n := startNode(t, 20, func(c *Config) { c.NumParallel = 4; fast(c) })
	generate(t, n, "small:1b", "")
	body := `{"model":"small:1b","prompt":"x","stream":false,"options":{"num_predict":200}}`
	alone := time.Duration(askOK(t, n, "/api/generate", body).EvalDuration)
	if !near(alone, 2*time.Second, 0.01) { // 200 tokens at 100 per second
		t.Fatalf("alone: eval %s, want 2s", alone)
	}
	var wg sync.WaitGroup
	evals := make([]time.Duration, 4)
	for i := range evals {
		wg.Go(func() { evals[i] = time.Duration(askOK(t, n, "/api/generate", body).EvalDuration) })
	}
	wg.Wait()
	for _, e := range evals {
		// All but a few first tokens run four at once: 2s × 4/2.5 = 3.2s.
		if gain := 4 * float64(alone) / float64(e); gain < 2.3 || gain > 2.7 {
			t.Errorf("four at once: eval %s, aggregate throughput %.2f× one, want about 2.5×", e, gain)
		}
	}
}

// TestDecodeSpeedFollowsRequestsJoiningMidGeneration starts a second request while the first is halfway through
// its answer: the first slows down while both generate and speeds up again after.
func TestDecodeSpeedFollowsRequestsJoiningMidGeneration(t *testing.T) {
	n := startNode(t, 20, func(c *Config) { c.NumParallel = 2; fast(c) })
	generate(t, n, "small:1b", "")
	resp, err := http.Post(n.URL()+"/api/generate", "application/json",
		strings.NewReader(`{"model":"small:1b","prompt":"x","options":{"num_predict":400}}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	var last final
	var second chan final
	got := 0
	for sc.Scan() {
		var l struct {
			Response string `json:"response"`
			final
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		got += len(strings.Fields(l.Response))
		if got >= 100 && second == nil {
			second = make(chan final, 1)
			go func() {
				second <- askOK(t, n, "/api/generate", `{"model":"small:1b","prompt":"x","stream":false,"options":{"num_predict":200}}`)
			}()
		}
		last = l.final
	}
	<-second
	alone := 4 * time.Second // 400 tokens at 100 per second
	both := time.Duration(float64(alone) * 2 / pairRate())
	eval := time.Duration(last.EvalDuration)
	// About 100 tokens alone, 200 beside the other at pairRate, 100 alone: 4.53 s.
	if !(eval > alone*105/100 && eval < both*97/100) {
		t.Fatalf("first request: eval %s, want between alone (%s) and two at once all along (%s)", eval, alone, both)
	}
}

// pairRate is the aggregate throughput of two at once relative to one, with the default gain.
func pairRate() float64 {
	c := Config{ParallelGain: DefaultParallelGain, Speed: 1}
	m := &Model{TokensPerSec: 1}
	return 2 * float64(c.decodeTime(m, 1, 1, 0)) / float64(c.decodeTime(m, 1, 2, 0))
}
