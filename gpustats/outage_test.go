package gpustats_test

import (
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sollol-go/sollol/gpustats"
	"github.com/sollol-go/sollol/internal/redistest"
)

// warnings counts the warnings logged so far with message msg.
func warnings(logs *observer.ObservedLogs, msg string) int {
	return logs.FilterLevelExact(zapcore.WarnLevel).FilterMessage(msg).Len()
}

func TestRedisDownThenUpOneWarningEach(t *testing.T) {
	srv := redistest.Start(t)
	srv.Stop() // the port is known and nothing listens on it
	core, logs := observer.New(zapcore.DebugLevel)
	const resync = time.Second
	w := startWatcher(t, newClient(t, srv.URL()+"?max_retries=-1"), gpustats.WatcherOptions{Resync: resync, Logger: zap.New(core)})
	// Retries every Resync at most: several attempts, one warning.
	eventually(t, "several failed attempts", func() bool {
		return logs.FilterMessage("Redis still unreachable").Len() >= 3
	})
	if n := warnings(logs, "cannot reach Redis; retrying in the background"); n != 1 {
		t.Fatalf("%d warnings while Redis is down, want 1", n)
	}
	if st := w.Stats(); st.Connected || st.LastError == "" {
		t.Fatalf("stats while down: %+v", st)
	}
	// How soon stats flow again (the backoff is capped at Resync) is TestReconnectBackoffExactly's, on a fake clock.
	srv.Restart()
	gpustats.NewPublisher(srv.Client(), gpustats.PublisherOptions{}).Publish(t.Context(), report("10.0.0.5:11434", 1000, time.Now()))
	eventually(t, "report after Redis came up", func() bool { return freeOf(w, "10.0.0.5:11434") == 1000 })
	// An outage of a running connection: one warning too, however long it lasts.
	before := logs.FilterMessage("Redis still unreachable").Len()
	srv.Stop()
	eventually(t, "retries after losing Redis", func() bool {
		return logs.FilterMessage("Redis still unreachable").Len() >= before+2
	})
	if n := warnings(logs, "lost connection to Redis; routing on last known GPU stats until they go stale"); n != 1 {
		t.Fatalf("%d lost-connection warnings, want 1", n)
	}
	if n := warnings(logs, "cannot reach Redis; retrying in the background"); n != 1 {
		t.Fatalf("%d cannot-reach warnings in all, want still 1", n)
	}
	if w.Snapshot().Node("10.0.0.5:11434") == nil {
		t.Fatal("the last known report was dropped during the outage")
	}
}
