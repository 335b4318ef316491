package caddymodule

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/sollol-go/sollol/gpustats"
	"github.com/sollol-go/sollol/internal/redistest"
	"github.com/sollol-go/sollol/lbpolicy"
)

func TestGatewayDocRoundTrip(t *testing.T) {
	d := &gatewayDoc{ID: "gw1", Process: "p", At: 1764230000123, Upstreams: map[string]int{"10.0.0.5:11434": 3},
		Loads: []gatewayLoad{{Upstream: "10.0.0.5:11434", Model: strconv.FormatUint(lbpolicy.ModelKey("llama3.1:8b"), 16),
			MB: 6200, SinceMS: 1764230000000}}}
	b, err := encodeGateway(d)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeGateway(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != "gw1" || got.At != d.At || got.Upstreams["10.0.0.5:11434"] != 3 || len(got.Loads) != 1 || got.Loads[0] != d.Loads[0] {
		t.Errorf("decoded %+v from %s", got, b)
	}
}

func TestGatewayDocRejectsBadInput(t *testing.T) {
	for _, b := range []string{
		``, `[]`, `{"id":""}`, `{"id":"a b"}`, `{"id":"` + strings.Repeat("x", 129) + `"}`,
		`{"id":"g","upstreams":{"u":-1}}`, `{"id":"g","upstreams":{"u":2000000}}`,
		`{"id":"g","loads":[{"upstream":"u","model_key":"zz","mb":1,"since_ms":1}]}`,
		`{"id":"g","loads":[{"upstream":"u","model_key":"1f","mb":-1,"since_ms":1}]}`,
		`{"id":"g","loads":[{"upstream":"u","model_key":"1f","mb":1,"since_ms":0}]}`,
		`{"id":"g","pad":"` + strings.Repeat("x", maxGatewayDoc) + `"}`,
	} {
		if d, err := decodeGateway([]byte(b)); err == nil {
			t.Errorf("decodeGateway(%.60s) = %+v, want an error", b, d)
		}
	}
}

// merge sums the others' requests in flight per upstream, holds their loads in the herd guard, and leaves
// upstreams this process does not know alone; the loads it took from others are not written back as its own.
func TestGatewayMerge(t *testing.T) {
	a, b := "127.0.0.1:64001", "127.0.0.1:64002"
	sa, sb := stateFor(a), stateFor(b)
	t.Cleanup(func() {
		upstreamStates.Delete(a)
		upstreamStates.Delete(b)
	})
	s := testSharer(nil)
	now := time.Now()
	key := lbpolicy.ModelKey("llama3.1:8b")
	load := gatewayLoad{Upstream: b, Model: strconv.FormatUint(key, 16), MB: 6200, SinceMS: now.Add(-time.Second).UnixMilli()}
	s.merge([]*gatewayDoc{
		{ID: "g1", Upstreams: map[string]int{a: 2, b: 1, "127.0.0.1:1": 7}, Loads: []gatewayLoad{load, {Upstream: "127.0.0.1:1", Model: "1f", MB: 1, SinceMS: 1}}},
		{ID: "g2", Upstreams: map[string]int{a: 3}, Loads: []gatewayLoad{load}},
	}, now)
	if got := [2]int64{sa.fleet.others.Load(), sb.fleet.others.Load()}; got != [2]int64{5, 1} {
		t.Errorf("others in flight = %v, want [5 1]", got)
	}
	if _, ok := upstreamStates.Load("127.0.0.1:1"); ok {
		t.Error("an unknown upstream of another gateway's key was added")
	}
	loads := sb.policy.Loads(nil, now.Add(-time.Minute))
	if len(loads) != 1 || loads[0].Model != key || loads[0].MB != 6200 {
		t.Fatalf("loads held on b = %+v, want the one load of both gateways' keys", loads)
	}
	for _, l := range s.own(now).Loads {
		if l.Upstream == b {
			t.Errorf("own document writes back the others' load: %+v", l)
		}
	}
	if p := s.peers.Load(); p == nil || len(*p) != 2 || (*p)[0].ID != "g1" {
		t.Errorf("peers = %v", p)
	}
	s.merge(nil, now)
	if sa.fleet.others.Load() != 0 {
		t.Error("others in flight kept after forgetting the others")
	}
}

func TestGatewayCaddyfile(t *testing.T) {
	parse := func(body string) (*VRAMAware, error) {
		p := new(VRAMAware)
		err := p.UnmarshalCaddyfile(caddyfile.NewTestDispenser("vram_aware {\n" + body + "\n}"))
		return p, err
	}
	p, err := parse("redis redis://127.0.0.1:6379\ngateway_id gw-1\nshare_state 100ms")
	if err != nil || p.GatewayID != "gw-1" || time.Duration(p.ShareInterval) != 100*time.Millisecond {
		t.Fatalf("parse = %+v, %v", p.gatewayOptions, err)
	}
	if p, err = parse("share_state off"); err != nil || !p.ShareStateOff {
		t.Fatalf("share_state off = %+v, %v", p.gatewayOptions, err)
	}
	for body, want := range map[string]string{
		"gateway_id a/b":                     `gateway_id "a/b"`,
		"gateway_id":                         "gateway_id <id>",
		"share_state soon":                   `share_state "soon"`,
		"share_state 0s":                     "share_state",
		"share_state 100us":                  "share_state 100µs",
		"share_state 2m":                     "share_state 2m0s",
		"prefix sollol:\nredis redis://x:1/": `prefix "sollol:"`,
	} {
		if _, err := parse(body); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one naming %q", body, err, want)
		}
	}
}

func TestGatewayKeyspace(t *testing.T) {
	if ks := gatewayKeyspace(""); ks != "sollol:gateway:" || strings.HasPrefix(ks, "sollol:gpu:") {
		t.Errorf("default keyspace %q", ks)
	}
	if ks := gatewayKeyspace("fleet2:gpu:"); ks != "sollol:gateway:fleet2:gpu:" {
		t.Errorf("keyspace of another prefix: %q", ks)
	}
}

// On a Cluster the gateways' keys spread over the masters: every one is read, this process's own left out.
func TestGatewayReadsEveryMasterOfACluster(t *testing.T) {
	cl := redistest.StartCluster(t)
	client, err := gpustats.NewClient(cl.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	s := testSharer(client)
	ctx := context.Background()
	if err := s.write(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for i := range 12 {
		id := fmt.Sprintf("gw-%d", i)
		b, _ := encodeGateway(&gatewayDoc{ID: id, Process: "other", At: time.Now().UnixMilli(), Upstreams: map[string]int{"u": 1}})
		if err := client.Set(ctx, GatewayKeyspace+id, b, time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		want[id] = true
	}
	docs, err := s.read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range docs {
		if !want[d.ID] {
			t.Errorf("read %q, not another gateway's", d.ID)
		}
		delete(want, d.ID)
	}
	if len(want) > 0 {
		t.Errorf("not read: %v", want)
	}
	if ttl := client.PTTL(ctx, s.name).Val(); ttl <= 0 || ttl > 3*time.Second {
		t.Errorf("own key's TTL %s, want at most 3s", ttl)
	}
}

// Through Sentinel the exchange writes and reads on the master, as the watcher does.
func TestGatewaySharesThroughSentinel(t *testing.T) {
	sn := redistest.StartSentinel(t, 1)
	client, err := gpustats.NewClient(sn.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	s := testSharer(client)
	ctx := context.Background()
	b, _ := encodeGateway(&gatewayDoc{ID: "other", Process: "other", Upstreams: map[string]int{"u": 2}})
	if err := client.Set(ctx, GatewayKeyspace+"other", b, time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.exchange(ctx, time.Now(), true); err != nil {
		t.Fatal(err)
	}
	if p := s.peers.Load(); p == nil || len(*p) != 1 || (*p)[0].ID != "other" || (*p)[0].InFlight["u"] != 2 {
		t.Errorf("peers through Sentinel: %+v", p)
	}
	if n, _ := client.Exists(ctx, s.name).Result(); n != 1 {
		t.Error("own key not written through Sentinel")
	}
}

// TestGatewaySharesPrompts: a prompt this gateway sent is in its document, and a prompt in another gateway's
// document is where this gateway's next turn of that conversation finds it (once per prompt).
func TestGatewaySharesPrompts(t *testing.T) {
	b := "127.0.0.1:64003"
	stateFor(b)
	table := promptsFor(1000)
	t.Cleanup(func() {
		upstreamStates.Delete(b)
		promptTables.Delete(1000)
	})
	s := testSharer(nil)
	now := time.Now()
	turn := []byte(`[{"role":"user","content":"` + strings.Repeat("tell me about gateways. ", 40) + `"}`)
	m := table.Match("llama3.1:8b", turn, nil)
	if m.Key() == 0 || m.Known() {
		t.Fatalf("first turn: key %x known %v", m.Key(), m.Known())
	}
	sentPrompts.add(m.Key(), lbpolicy.ModelKey("llama3.1:8b"), &b, now)
	want := gatewayPrompt{Key: strconv.FormatUint(m.Key(), 16), Model: strconv.FormatUint(lbpolicy.ModelKey("llama3.1:8b"), 16),
		Upstream: b, AtMS: now.UnixMilli()}
	if own := s.own(now).Prompts; !slices.Contains(own, want) {
		t.Fatalf("own document's prompts %+v lack %+v", own, want)
	}
	next := append(append([]byte{}, turn...), `,{"role":"assistant","content":"they share"}`...)
	if table.Match("llama3.1:8b", next, nil).Known() {
		t.Fatal("the next turn is known before another gateway said anything")
	}
	s.merge([]*gatewayDoc{{ID: "g1", Process: "p1", Prompts: []gatewayPrompt{want,
		{Key: "zz", Model: "1", Upstream: b, AtMS: now.UnixMilli()}, {Key: "1", Model: "1", Upstream: "127.0.0.1:1", AtMS: now.UnixMilli()}}}}, now)
	if got := table.Match("llama3.1:8b", next, nil); !got.Known() || got.Tokens == 0 {
		t.Errorf("after another gateway's prompt: known %v, %v tokens cached", got.Known(), got.Tokens)
	}
	if _, ok := upstreamStates.Load("127.0.0.1:1"); ok {
		t.Error("an unknown upstream of another gateway's prompts was added")
	}
	if s.prompted["p1"] != now.UnixMilli() {
		t.Errorf("imported up to %d, want %d", s.prompted["p1"], now.UnixMilli())
	}
}

// testSharer is the exchange of gateway "me" on client (nil: none, for merging by hand), stale_after 15s.
func testSharer(client redis.UniversalClient) *sharer {
	shared := &sharedWatcher{client: client}
	shared.stale.Store(int64(15 * time.Second))
	return &sharer{key: sharerKey{id: "me"}, client: client, name: GatewayKeyspace + "me", pattern: GatewayKeyspace + "*",
		ttl: 3 * time.Second, shared: shared, log: zap.NewNop()}
}
