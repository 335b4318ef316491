package ollamasim

import (
	"sync"
	"testing"
	"time"
)

func TestActivityAndBusyTime(t *testing.T) {
	n := startNode(t, 100, fast)
	generate(t, n, "small:1b", "")
	idleFrom := n.cfg.Clock.Now()
	waitFor(t, n, "idle", func() bool { return n.running == 0 })
	before := n.Stats().Busy
	start := n.cfg.Clock.Now()
	var wg sync.WaitGroup
	var evals [2]time.Duration
	for i := range evals {
		wg.Go(func() {
			f := askOK(t, n, "/api/generate", `{"model":"small:1b","prompt":"x","stream":false,"options":{"num_predict":100}}`)
			evals[i] = time.Duration(f.EvalDuration)
		})
	}
	wg.Wait()
	elapsed := n.cfg.Clock.Now().Sub(start)
	busy := n.Stats().Busy - before
	if busy < evals[0]+evals[1] || busy > elapsed {
		t.Errorf("busy %s: want at least both answers (%s) one after the other, at most the %s elapsed", busy,
			evals[0]+evals[1], elapsed)
	}
	act := n.Activity()
	sawQueue := false
	for i, a := range act {
		if i > 0 && a.At.Before(act[i-1].At) {
			t.Fatalf("entry %d goes back in time: %+v", i, act)
		}
		if i > 0 && a.Running == act[i-1].Running && a.Waiting == act[i-1].Waiting {
			t.Fatalf("entry %d changes nothing: %+v", i, act)
		}
		if a.At.After(idleFrom) && a.Running == 1 && a.Waiting == 1 {
			sawQueue = true
		}
		if a.Running > 1 {
			t.Fatalf("two running on one slot: %+v", act)
		}
	}
	if last := act[len(act)-1]; !sawQueue || last.Running != 0 || last.Waiting != 0 {
		t.Fatalf("activity %+v: want one running while one waits, then nothing", act)
	}
}

func TestActivityIsBounded(t *testing.T) {
	defer func(m int) { maxActivity = m }(maxActivity)
	maxActivity = 8
	n := startNode(t, 1000, fast)
	for range 10 {
		generate(t, n, "small:1b", "")
	}
	act := n.Activity()
	if len(act) > 8 || len(act) < 4 {
		t.Fatalf("%d entries kept, want at most 8 and the latest", len(act))
	}
	if last := act[len(act)-1]; last.Running != 0 || last.Waiting != 0 {
		t.Errorf("the latest entry was dropped: %+v", act)
	}
}
