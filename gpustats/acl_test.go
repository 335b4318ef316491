package gpustats_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sollol-go/sollol/gpustats"
	"github.com/sollol-go/sollol/internal/redistest"
)

// The ACLs docs/operations.md recommends, for the default prefix. reporterACL is a reporter's for its own node id:
// it may set and delete its own key, publish on the update channel, and append to the history stream (through a
// Redis 7 selector, so that it cannot SET or DEL the stream itself). caddyACL only reads.
const (
	reporterACL = "on resetkeys resetchannels -@all ~sollol:gpu:%s &sollol:gpu:updates +set +del +publish +ping (~sollol:gpu:stats +xadd)"
	caddyACL    = "on resetkeys resetchannels -@all %R~sollol:gpu:* &sollol:gpu:updates +subscribe +scan +mget +get +xrevrange +xread +ping"
)

// setUser creates user with password pw and the given ACL rules, through admin.
func setUser(t *testing.T, admin *redis.Client, user, pw, rules string) {
	t.Helper()
	args := []any{"ACL", "SETUSER", user, "reset", ">" + pw}
	for _, r := range splitRules(rules) {
		args = append(args, r)
	}
	if err := admin.Do(context.Background(), args...).Err(); err != nil {
		t.Fatalf("ACL SETUSER %s %s: %v", user, rules, err)
	}
}

// splitRules splits ACL rules on spaces, keeping a parenthesised selector in one piece.
func splitRules(rules string) []string {
	var out []string
	for rules != "" {
		rules = strings.TrimSpace(rules)
		if strings.HasPrefix(rules, "(") {
			end := strings.Index(rules, ")") + 1
			out, rules = append(out, rules[:end]), rules[end:]
			continue
		}
		f, rest, _ := strings.Cut(rules, " ")
		out, rules = append(out, f), rest
	}
	return out
}

func noPerm(err error) bool { return err != nil && strings.Contains(err.Error(), "NOPERM") }

func TestPasswordAndACLUsers(t *testing.T) {
	srv := redistest.Start(t, "--requirepass", "admin-pw")
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr(), Password: "admin-pw"})
	defer admin.Close()
	ctx := context.Background()
	const gpu1, gpu2 = "10.0.0.5:11434", "10.0.0.6:11434"
	setUser(t, admin, "reporter-gpu1", "r1-pw", fmt.Sprintf(reporterACL, gpu1))
	setUser(t, admin, "caddy", "c-pw", caddyACL)

	// The password: none or a wrong one gets nowhere; the right one in the URL works.
	for _, u := range []string{srv.URL(), "redis://:wrong@" + srv.Addr() + "/0", "redis://caddy:r1-pw@" + srv.Addr() + "/0"} {
		if err := newClient(t, u+"?max_retries=-1").Ping(ctx).Err(); err == nil {
			t.Fatalf("%s: PING answered", gpustats.Redact(u))
		}
	}

	caddy := newClient(t, "redis://caddy:c-pw@"+srv.Addr()+"/0")
	w := startWatcher(t, caddy, gpustats.WatcherOptions{Resync: 200 * time.Millisecond})
	eventually(t, "caddy user connected", func() bool { return w.Stats().Connected })
	// A second gateway verifies every published report against its node's key.
	verifying := startWatcher(t, newClient(t, "redis://caddy:c-pw@"+srv.Addr()+"/0"),
		gpustats.WatcherOptions{Resync: time.Hour, VerifyChannel: true})
	eventually(t, "verifying watcher connected", func() bool { return verifying.Stats().Connected })

	rep := newClient(t, "redis://reporter-gpu1:r1-pw@"+srv.Addr()+"/0")
	p := gpustats.NewPublisher(rep, gpustats.PublisherOptions{})
	// Its own report: key, channel and stream.
	if err := p.Publish(ctx, report(gpu1, 1000, time.Now())); err != nil {
		t.Fatalf("reporter publishing its own report: %v", err)
	}
	eventually(t, "own report", func() bool { return freeOf(w, gpu1) == 1000 })
	eventually(t, "own report, verified against its key", func() bool { return freeOf(verifying, gpu1) == 1000 })
	if n, err := admin.XLen(ctx, "sollol:gpu:stats").Result(); err != nil || n != 1 {
		t.Fatalf("stream length %d (%v), want 1", n, err)
	}
	// Another node's key: refused, whether through Publish or directly.
	if err := p.Publish(ctx, report(gpu2, 20000, time.Now())); !noPerm(err) {
		t.Fatalf("reporter publishing another node's report: %v, want NOPERM", err)
	}
	for name, err := range map[string]error{
		"SET other":    rep.Set(ctx, "sollol:gpu:"+gpu2, "x", 0).Err(),
		"DEL stream":   rep.Del(ctx, "sollol:gpu:stats").Err(),
		"SET stream":   rep.Set(ctx, "sollol:gpu:stats", "x", 0).Err(),
		"GET own":      rep.Get(ctx, "sollol:gpu:"+gpu1).Err(),
		"PUBLISH else": rep.Publish(ctx, "other", "x").Err(),
		"FLUSHALL":     rep.FlushAll(ctx).Err(),
	} {
		if !noPerm(err) {
			t.Errorf("reporter %s: %v, want NOPERM", name, err)
		}
	}
	if n, _ := admin.Exists(ctx, "sollol:gpu:"+gpu2).Result(); n != 0 {
		t.Fatal("the reporter wrote another node's key")
	}
	// Publish pipelines SET, PUBLISH and XADD without a transaction: the SET was refused, but the channel and the
	// stream accepted the forged report. ACLs cannot tie a channel message to a node id: a watcher that trusts the
	// channel takes the forged report, one that verifies it against the node's key (verify_channel) does not.
	eventually(t, "forged report reaches the trusting watcher", func() bool { return freeOf(w, gpu2) == 20000 })
	// The channel keeps order: once the verifying watcher holds a report published after the forged one, it has
	// judged the forged one.
	if err := p.Publish(ctx, report(gpu1, 1500, time.Now())); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a later report, verified", func() bool { return freeOf(verifying, gpu1) == 1500 })
	if freeOf(verifying, gpu2) != -1 {
		t.Fatal("the verifying watcher took a report that is not stored under its node's key")
	}

	// The Caddy user reads but cannot write, publish or delete.
	for name, err := range map[string]error{
		"SET":      caddy.Set(ctx, "sollol:gpu:"+gpu2, "x", 0).Err(),
		"DEL":      caddy.Del(ctx, "sollol:gpu:"+gpu1).Err(),
		"PUBLISH":  caddy.Publish(ctx, "sollol:gpu:updates", "x").Err(),
		"XADD":     caddy.XAdd(ctx, &redis.XAddArgs{Stream: "sollol:gpu:stats", Values: []string{"a", "b"}}).Err(),
		"GET else": caddy.Get(ctx, "other").Err(),
	} {
		if !noPerm(err) {
			t.Errorf("caddy %s: %v, want NOPERM", name, err)
		}
	}
	eventually(t, "resyncs as the caddy user", func() bool { return w.Stats().Resyncs >= 3 })
	if st := w.Stats(); !st.Connected || st.LastError != "" {
		t.Fatalf("caddy watcher: %+v", st)
	}

	// The reporter's clean shutdown: DEL of its own key and the tombstone.
	if err := p.Tombstone(ctx, gpu1); err != nil {
		t.Fatalf("tombstone: %v", err)
	}
	eventually(t, "tombstone", func() bool { return w.Snapshot().Node(gpu1) == nil })
	eventually(t, "tombstone, verified", func() bool { return verifying.Snapshot().Node(gpu1) == nil })
}
