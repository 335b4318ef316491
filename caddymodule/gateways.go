package caddymodule

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/sollol-go/sollol/gpustats"
	"github.com/sollol-go/sollol/lbpolicy"
)

// Several gateways in front of one fleet share what each alone knows: its requests in flight per upstream and the
// cold loads its herd guard holds. Each gateway writes its own key, a small JSON document, every share_state
// interval (and soon after it starts a cold load), with a TTL, and reads the others' keys: their summed requests
// in flight count in the wait for a slot, their loads are held by its own herd guard. Select reads what the last
// exchange left in memory and never waits on Redis; with Redis down each gateway decides alone.
//
// The keys live under GatewayKeyspace, outside the report prefix: SOLLOL's reader (KEYS sollol:gpu:*) and the
// watcher never list them.

// GatewayKeyspace is where the gateways' keys live with the default report prefix: sollol:gateway:<gateway id>.
// With another prefix P, they live under sollol:gateway:P.
const GatewayKeyspace = "sollol:gateway:"

// DefaultShareInterval is how often a gateway writes its key and reads the others'.
const DefaultShareInterval = 250 * time.Millisecond

// minShareInterval bounds share_state: the simulator, whose time runs a hundred times faster, uses a few ms.
const minShareInterval = time.Millisecond

// shareTTL is the TTL of a gateway's key for an interval: a gateway that dies drops out of the others' picture
// within it.
func shareTTL(interval time.Duration) time.Duration { return max(3*time.Second, 4*interval) }

// fleetState is what the other gateways said of one upstream; it lives in upstreamState.
type fleetState struct {
	// host is Caddy's host for the upstream's dial address: this process's requests in flight there.
	host atomic.Pointer[reverseproxy.Host]
	// others is the requests in flight to the upstream from the other gateways, summed.
	others atomic.Int64
}

// gatewayDoc is the JSON a gateway writes to its key.
type gatewayDoc struct {
	ID string `json:"id"`
	// Process tells apart the processes that share an id, and lets a process skip its own keys.
	Process string `json:"process"`
	// At is when the document was written, in milliseconds since the Unix epoch.
	At int64 `json:"at,omitempty"`
	// Upstreams are the gateway's requests in flight by upstream dial address (only those with any).
	Upstreams map[string]int `json:"upstreams"`
	// Loads are the cold loads the gateway started that the nodes' reports did not show yet.
	Loads []gatewayLoad `json:"loads"`
	// Prompts are the prompts the gateway sent lately (affinity).
	Prompts []gatewayPrompt `json:"prompts,omitempty"`
}

// gatewayLoad is one pending cold load in a gatewayDoc.
type gatewayLoad struct {
	Upstream string `json:"upstream"`
	// Model is the model's key (lbpolicy.ModelKey) in hexadecimal: the herd guard holds keys, not names.
	Model   string  `json:"model_key"`
	MB      float64 `json:"mb"`
	SinceMS int64   `json:"since_ms"`
}

// Bounds of a gatewayDoc, which is untrusted input like a report.
const (
	maxGatewayDoc       = 256 << 10
	maxGatewayUpstreams = 4096
	maxGatewayLoads     = 4096
	maxGatewayInFlight  = 1 << 20
	maxGatewayIDLen     = 128
)

// gatewayIDPattern is what gateway_id accepts.
var gatewayIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:@-]{1,128}$`)

func encodeGateway(d *gatewayDoc) ([]byte, error) { return json.Marshal(d) }

// decodeGateway reads and checks another gateway's document.
func decodeGateway(b []byte) (*gatewayDoc, error) {
	if len(b) > maxGatewayDoc {
		return nil, fmt.Errorf("%d bytes, more than %d", len(b), maxGatewayDoc)
	}
	var d gatewayDoc
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, err
	}
	switch {
	case !gatewayIDPattern.MatchString(d.ID):
		return nil, fmt.Errorf("bad id %q", d.ID)
	case len(d.Upstreams) > maxGatewayUpstreams || len(d.Loads) > maxGatewayLoads:
		return nil, fmt.Errorf("%d upstreams and %d loads, more than %d and %d", len(d.Upstreams), len(d.Loads),
			maxGatewayUpstreams, maxGatewayLoads)
	}
	for up, n := range d.Upstreams {
		if n < 0 || n > maxGatewayInFlight {
			return nil, fmt.Errorf("upstream %q: %d in flight", up, n)
		}
	}
	for _, l := range d.Loads {
		if _, err := strconv.ParseUint(l.Model, 16, 64); err != nil || l.MB <= 0 || l.MB > 1<<32 || l.SinceMS <= 0 {
			return nil, fmt.Errorf("bad load %+v", l)
		}
	}
	if len(d.Prompts) > maxGatewayPrompts {
		return nil, fmt.Errorf("%d prompts, more than %d", len(d.Prompts), maxGatewayPrompts)
	}
	return &d, nil
}

// gatewayKeyspace is where the gateways of the fleet whose reports live under prefix keep their keys.
func gatewayKeyspace(prefix string) string {
	if prefix == "" || prefix == gpustats.DefaultPrefix {
		return GatewayKeyspace
	}
	return GatewayKeyspace + prefix
}

// processID tells this process's gateway keys from those of other processes with the same gateway id.
var processID = func() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}()

// gatewayID is the configured gateway_id, else Caddy's instance id followed by the process id: several Caddy
// processes on one machine share an instance id (it lives in Caddy's data directory).
func (p *VRAMAware) gatewayID() string {
	if p.GatewayID != "" {
		return p.GatewayID
	}
	id, err := caddy.InstanceID()
	if err != nil {
		return fmt.Sprintf("pid-%d-%s", os.Getpid(), processID)
	}
	return fmt.Sprintf("%s-%d", id, os.Getpid())
}

// validateGateways checks gateway_id and share_state.
func (p *VRAMAware) validateGateways() error {
	switch {
	case p.GatewayID != "" && !gatewayIDPattern.MatchString(p.GatewayID):
		return fmt.Errorf("vram_aware: gateway_id %q: want 1 to %d letters, digits and . _ : @ -", p.GatewayID, maxGatewayIDLen)
	case p.ShareStateOff && p.ShareInterval != 0:
		return fmt.Errorf("vram_aware: share_state: give an interval or off, not both")
	case p.ShareInterval < 0 || p.ShareInterval > 0 && time.Duration(p.ShareInterval) < minShareInterval:
		return fmt.Errorf("vram_aware: share_state %s: want an interval of at least %s, or off", time.Duration(p.ShareInterval), minShareInterval)
	case p.ShareInterval > caddy.Duration(time.Minute):
		return fmt.Errorf("vram_aware: share_state %s: want an interval of at most 1m, or off", time.Duration(p.ShareInterval))
	}
	if ks, prefix := gatewayKeyspace(p.Prefix), p.Prefix; prefix != "" && strings.HasPrefix(ks, prefix) {
		return fmt.Errorf("vram_aware: prefix %q: the gateways' keys (%s<id>) would be under it; choose a longer prefix", prefix, ks)
	}
	return nil
}

// provisionGateways joins (or starts) this gateway's exchange with the others through the Redis target. The
// reverse proxy's upstreams are known from the start, so that the others' counts reach its first request.
func (p *VRAMAware) provisionGateways(ctx caddy.Context) error {
	if p.Redis == "" {
		if p.GatewayID != "" || p.ShareInterval != 0 {
			p.log.Warn("vram_aware: gateway_id and share_state share state with other gateways through Redis, and redis is not set: they have no effect")
		}
		return nil
	}
	if p.ShareStateOff {
		return nil
	}
	if dials, ok := staticUpstreams(ctx); ok {
		for _, d := range dials {
			stateFor(d)
		}
	}
	interval := time.Duration(p.ShareInterval)
	if interval == 0 {
		interval = DefaultShareInterval
	}
	var err error
	p.sharer, err = acquireSharer(p.shared, p.gatewayID(), interval, p.log)
	return err
}

// sharers holds one exchange per Redis target and gateway id; like the watchers they outlive config reloads.
var sharers = caddy.NewUsagePool()

type sharerKey struct {
	watcher  watcherKey
	id       string
	interval time.Duration
}

// sharer is one gateway's exchange with the others through one Redis target.
type sharer struct {
	key      sharerKey
	client   redis.UniversalClient
	name     string // this gateway's key
	pattern  string // every gateway's key
	interval time.Duration
	ttl      time.Duration
	shared   *sharedWatcher
	log      *zap.Logger
	nudged   atomic.Bool
	cancel   context.CancelFunc
	done     chan struct{}
	// peers are the other gateways as last read, for the admin API; down says whether the last exchange failed,
	// exchanges and failures count them.
	peers               atomic.Pointer[[]Gateway]
	down                atomic.Bool
	exchanges, failures atomic.Uint64

	// Used by run only.
	last     []byte                     // the last document written, without its time
	lastAt   time.Time                  // when it was written
	imported map[string][]lbpolicy.Load // the others' loads held here, by upstream: not written back as ours
	prompted map[string]int64           // the latest of each process's prompts imported (importPrompts)
	bad      time.Time                  // when a bad document was last logged
}

func acquireSharer(shared *sharedWatcher, id string, interval time.Duration, log *zap.Logger) (*sharer, error) {
	key := sharerKey{watcher: shared.key, id: id, interval: interval}
	v, _, err := sharers.LoadOrNew(key, func() (caddy.Destructor, error) {
		// A client of its own on the same target (Sentinel and Cluster alike), with one connection (per master), so
		// that the exchange never competes with the watcher for its connections.
		client, err := gpustats.NewClientDefaults(shared.key.url, gpustats.ClientDefaults{PoolSize: 1})
		if err != nil {
			return nil, err
		}
		ks := gatewayKeyspace(shared.key.prefix)
		ctx, cancel := context.WithCancel(context.Background())
		s := &sharer{key: key, client: client, name: ks + id, pattern: ks + "*", interval: interval,
			ttl: shareTTL(interval), shared: shared, cancel: cancel, done: make(chan struct{}),
			log: log.With(zap.String("redis", gpustats.Redact(shared.key.url)), zap.String("gateway_id", id))}
		go s.run(ctx)
		return s, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*sharer), nil
}

func releaseSharer(s *sharer) {
	if s != nil {
		sharers.Delete(s.key)
	}
}

// Destruct stops the exchange, removes this gateway's key, and forgets what the others said.
func (s *sharer) Destruct() error {
	s.cancel()
	<-s.done
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	s.client.Del(ctx, s.name)
	eachUpstreamState(func(_ string, u *upstreamState) { u.fleet.others.Store(0) })
	return s.client.Close()
}

// nudge asks for this gateway's key to be written soon: it started a cold load. Safe on Select's path: one
// atomic store.
func (s *sharer) nudge() {
	if s != nil {
		s.nudged.Store(true)
	}
}

// run writes and reads every interval, and writes within a fifth of it after a nudge.
func (s *sharer) run(ctx context.Context) {
	defer close(s.done)
	t := time.NewTicker(max(s.interval/5, minShareInterval))
	defer t.Stop()
	var lastRead time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			full := now.Sub(lastRead) >= s.interval
			if !full && !s.nudged.Load() {
				continue
			}
			s.nudged.Store(false)
			err := s.exchange(ctx, now, full)
			if full {
				lastRead = now
			}
			s.noteError(ctx, err)
		}
	}
}

// exchange writes this gateway's key when it changed (or a third of its TTL passed) and, with read, reads the
// others'.
func (s *sharer) exchange(ctx context.Context, now time.Time, read bool) error {
	ctx, cancel := context.WithTimeout(ctx, max(2*s.interval, time.Second))
	defer cancel()
	if err := s.write(ctx, now); err != nil {
		return fmt.Errorf("writing %s: %w", s.name, err)
	}
	if !read {
		return nil
	}
	docs, err := s.read(ctx)
	if err != nil {
		return fmt.Errorf("reading %s: %w", s.pattern, err)
	}
	s.merge(docs, now)
	return nil
}

// noteError logs once when the exchange fails, and says when it works again. Meanwhile the gateway decides
// alone: what the others said last is forgotten.
func (s *sharer) noteError(ctx context.Context, err error) {
	switch {
	case err == nil:
		s.exchanges.Add(1)
		if s.down.Swap(false) {
			s.log.Info("vram_aware: sharing state with the other gateways again")
		}
	case err != nil:
		s.failures.Add(1)
		if s.down.Load() || ctx.Err() != nil {
			return
		}
		s.down.Store(true)
		s.merge(nil, time.Now())
		// Redis unreachable: the watcher's warning says so already. Redis refusing (an ACL without SET on the
		// gateways' keys) is this exchange's own failure.
		var refused redis.Error
		if errors.As(err, &refused) {
			s.log.Warn("vram_aware: cannot share state with the other gateways; deciding alone", zap.Error(err))
		} else {
			s.log.Info("vram_aware: cannot share state with the other gateways; deciding alone until Redis answers", zap.Error(err))
		}
	}
}

// own is this gateway's document, without its time.
func (s *sharer) own(now time.Time) *gatewayDoc {
	d := &gatewayDoc{ID: s.key.id, Process: processID, Upstreams: map[string]int{}, Loads: []gatewayLoad{}}
	cut := now.Add(-2 * s.shared.staleAfter())
	var loads []lbpolicy.Load
	eachUpstreamState(func(dial string, u *upstreamState) {
		if h := u.fleet.host.Load(); h != nil {
			if n := h.NumRequests(); n > 0 {
				d.Upstreams[dial] = n
			}
		}
		loads = u.policy.Loads(loads[:0], cut)
		for _, l := range loads {
			if !slices.ContainsFunc(s.imported[dial], l.Same) {
				d.Loads = append(d.Loads, gatewayLoad{Upstream: dial, Model: strconv.FormatUint(l.Model, 16), MB: l.MB,
					SinceMS: l.Since.UnixMilli()})
			}
		}
	})
	d.Prompts = sentPrompts.since(d.Prompts, now.Add(-s.ttl).UnixMilli())
	return d
}

func (s *sharer) write(ctx context.Context, now time.Time) error {
	d := s.own(now)
	b, err := encodeGateway(d)
	if err != nil {
		return err
	}
	if bytes.Equal(b, s.last) && now.Sub(s.lastAt) < s.ttl/3 {
		return nil
	}
	d.At = now.UnixMilli()
	full, err := encodeGateway(d)
	if err != nil {
		return err
	}
	if err := s.client.Set(ctx, s.name, full, s.ttl).Err(); err != nil {
		s.last = nil
		return err
	}
	s.last, s.lastAt = b, now
	return nil
}

// read returns the documents of every gateway but those of this process. On a Cluster every master is scanned.
func (s *sharer) read(ctx context.Context) ([]*gatewayDoc, error) {
	var (
		mu   sync.Mutex
		docs []*gatewayDoc
	)
	readOne := func(ctx context.Context, c redis.Cmdable) error {
		var keys []string
		iter := c.Scan(ctx, 0, s.pattern, scanBatchGateways).Iterator()
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil || len(keys) == 0 {
			return err
		}
		// GETs in one pipeline: MGET must not span a Cluster's hash slots.
		cmds, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range keys {
				p.Get(ctx, k)
			}
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		for i, cmd := range cmds {
			b, err := cmd.(*redis.StringCmd).Bytes()
			if err != nil {
				continue // expired since the SCAN
			}
			d, err := decodeGateway(b)
			if err != nil {
				s.logBad(keys[i], err)
				continue
			}
			if d.Process != processID {
				docs = append(docs, d)
			}
		}
		return nil
	}
	var err error
	if cc, ok := s.client.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return readOne(ctx, c) })
	} else {
		err = readOne(ctx, s.client)
	}
	return docs, err
}

const scanBatchGateways = 100

func (s *sharer) logBad(key string, err error) {
	if now := time.Now(); now.Sub(s.bad) > time.Minute {
		s.bad = now
		s.log.Warn("vram_aware: ignoring another gateway's key", zap.String("key", key), zap.Error(err))
	}
}

// merge stores what the other gateways said: their requests in flight summed per upstream, their loads in each
// upstream's herd guard. Upstreams this process does not know are left out, so that others' keys cannot grow
// its memory. docs nil forgets the others.
func (s *sharer) merge(docs []*gatewayDoc, now time.Time) {
	sum := map[string]int64{}
	imported := map[string][]lbpolicy.Load{}
	cut := now.Add(-2 * s.shared.staleAfter())
	peers := make([]Gateway, 0, len(docs))
	for _, d := range docs {
		peers = append(peers, Gateway{ID: d.ID, AgeS: max(0, float64(now.UnixMilli()-d.At)/1e3), InFlight: d.Upstreams,
			Loads: len(d.Loads), Prompts: len(d.Prompts)})
		for up, n := range d.Upstreams {
			sum[up] += int64(n)
		}
		for _, l := range d.Loads {
			v, ok := upstreamStates.Load(l.Upstream)
			if !ok {
				continue
			}
			key, _ := strconv.ParseUint(l.Model, 16, 64)
			load := lbpolicy.Load{Model: key, MB: l.MB, Since: time.UnixMilli(l.SinceMS)}
			v.(*upstreamState).policy.ReserveFrom(load, cut)
			imported[l.Upstream] = append(imported[l.Upstream], load)
		}
	}
	eachUpstreamState(func(dial string, u *upstreamState) { u.fleet.others.Store(sum[dial]) })
	s.imported = imported
	if s.prompted == nil {
		s.prompted = map[string]int64{}
	}
	importPrompts(docs, s.prompted)
	slices.SortFunc(peers, func(a, b Gateway) int { return strings.Compare(a.ID, b.ID) })
	s.peers.Store(&peers)
}

// eachUpstreamState calls f for every upstream the policy knows, by dial address.
func eachUpstreamState(f func(dial string, u *upstreamState)) {
	upstreamStates.Range(func(k, v any) bool {
		if dial := k.(string); dial != "" {
			f(dial, v.(*upstreamState))
		}
		return true
	})
}

// Gateway is another gateway in GET /vram_aware/gateways, as this one last read it.
type Gateway struct {
	ID string `json:"id"`
	// AgeS is how old its latest document was when read.
	AgeS float64 `json:"age_s"`
	// InFlight are its requests in flight by upstream.
	InFlight map[string]int `json:"in_flight"`
	// Loads counts the cold loads it started that the reports do not show yet.
	Loads int `json:"pending_loads"`
	// Prompts counts the prompts it sent lately (affinity).
	Prompts int `json:"prompts"`
}

// GatewayTarget is one Redis target in GET /vram_aware/gateways: this gateway's id there and the others seen.
type GatewayTarget struct {
	Redis     string `json:"redis"`
	ID        string `json:"id"`
	Key       string `json:"key"`
	Interval  string `json:"interval"`
	TTL       string `json:"ttl"`
	Connected bool   `json:"connected"`
	// Exchanges and Failures count the exchanges with Redis that worked and that failed.
	Exchanges uint64    `json:"exchanges"`
	Failures  uint64    `json:"failures"`
	Others    []Gateway `json:"others"`
}

// Gateways returns, for every Redis target the policy shares state through, the other gateways seen.
func Gateways() []GatewayTarget {
	out := []GatewayTarget{}
	sharers.Range(func(_, v any) bool {
		s := v.(*sharer)
		t := GatewayTarget{Redis: gpustats.Redact(s.key.watcher.url), ID: s.key.id, Key: s.name, Interval: s.interval.String(),
			TTL: s.ttl.String(), Connected: !s.down.Load(), Exchanges: s.exchanges.Load(), Failures: s.failures.Load(), Others: []Gateway{}}
		if p := s.peers.Load(); p != nil {
			t.Others = *p
		}
		out = append(out, t)
		return true
	})
	slices.SortFunc(out, func(a, b GatewayTarget) int { return strings.Compare(a.Redis+a.ID, b.Redis+b.ID) })
	return out
}

// gatewayOptions are the settings of sharing state with the other gateways, part of VRAMAware.
type gatewayOptions struct {
	// GatewayID names this gateway among those sharing the Redis target: its key is sollol:gateway:<id>. Default:
	// Caddy's instance id and the process id (several Caddy processes on one machine share an instance id).
	GatewayID string `json:"gateway_id,omitempty"`
	// ShareInterval is how often the gateway writes its requests in flight and pending cold loads to Redis and
	// reads the other gateways': at least 1ms; default 250ms. A cold load is written within a fifth of it.
	ShareInterval caddy.Duration `json:"share_interval,omitempty"`
	// ShareStateOff keeps the gateway to itself: it neither writes nor reads the gateways' keys and decides
	// on its own requests alone.
	ShareStateOff bool `json:"share_state_off,omitempty"`
}

// gatewayArg reads "gateway_id <id>" and "share_state <interval> | off".
func (p *VRAMAware) gatewayArg(d *caddyfile.Dispenser) error {
	if d.Val() == "gateway_id" {
		return stringArg(d, &p.GatewayID, "gateway_id <id>, such as gateway_id gw1")
	}
	a, err := args(d, 1, "share_state <interval> or share_state off")
	if err != nil {
		return err
	}
	if a[0] == "off" {
		p.ShareStateOff = true
		return nil
	}
	dur, err := caddy.ParseDuration(a[0])
	if err != nil {
		return d.Errf("share_state %q: want an interval such as 250ms, or off", a[0])
	}
	p.ShareInterval = caddy.Duration(dur)
	return notZero(d, "share_state", a[0], dur == 0)
}
