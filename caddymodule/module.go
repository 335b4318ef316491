package caddymodule

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/textproto"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/sollol-go/sollol/gpustats"
	"github.com/sollol-go/sollol/lbpolicy"
)

func init() {
	caddy.RegisterModule(new(VRAMAware))
}

// VRAMAware is a selection policy for Ollama upstreams that knows each node's GPU memory. It reads the reports
// that gpu-reporter (or SOLLOL's reporter) publishes to Redis and sends each request to the upstream that holds
// the requested model in VRAM, or has the room to load it, or is most able to make room. Caddy's health checks,
// in-flight counts and retries stay in charge around it.
//
// Without Redis, or for upstreams whose report is missing or stale, the policy asks each upstream's own Ollama API
// in the background (GET /api/ps every ollama_poll, GET /api/tags every minute): it then knows which models each
// upstream holds in GPU memory and has installed, but not how much GPU memory is free unless a vram line gives the
// upstream's total. Routing follows residency, installed models and in-flight requests (decision reason
// memory-unknown where free memory is unknown). A configuration with no options at all works this way.
//
// When no available upstream has fresh stats from either source the fallback policy decides, so the proxy keeps
// serving when Redis, the reporters or the Ollama APIs are down.
type VRAMAware struct {
	// Redis is the URL of the Redis deployment holding the reports: redis://[user:password@]host:port[/db],
	// rediss:// for TLS, redis-sentinel://…?master_name=NAME or redis-cluster://…. Placeholders such as
	// {env.REDIS_PASSWORD} are replaced when the config loads.
	Redis string `json:"redis,omitempty"`
	// Prefix of the report keys and channel; default "sollol:gpu:".
	Prefix string `json:"prefix,omitempty"`
	// HMACKeys, when set, make the policy accept only reports signed with one of these keys (two during a
	// rotation). Placeholders are replaced.
	HMACKeys []string `json:"hmac_keys,omitempty"`
	// VerifyChannel makes the watcher read a node's key for every report published on the channel and use what
	// the key holds: with per-reporter ACL users, which protect each node's key but not the shared channel, no
	// reporter can then announce reports for another node. One GET per report.
	VerifyChannel bool `json:"verify_channel,omitempty"`
	// HMACKeyFiles are files holding such keys (surrounding whitespace is trimmed).
	HMACKeyFiles []string `json:"hmac_key_files,omitempty"`
	// StaleAfter is the age beyond which a report is not trusted; default 15s.
	StaleAfter caddy.Duration `json:"stale_after,omitempty"`
	// Resync is how often every report is read again from Redis; default 10s.
	Resync caddy.Duration `json:"resync,omitempty"`
	// MinFree and BoostFree are accepted for configurations written for earlier versions and change nothing
	// (a warning says so): free memory counts through the cold loads it spares or costs.
	MinFree   int64 `json:"min_free,omitempty"`
	BoostFree int64 `json:"boost_free,omitempty"`
	// Headroom in bytes is kept free beyond a model's size when deciding whether it fits; default 512 MiB.
	Headroom int64 `json:"headroom,omitempty"`
	// NumParallel is how many requests one loaded model serves at once on a node whose report does not say (the
	// OLLAMA_NUM_PARALLEL of its Ollama; gpu-reporter reports its own): at least 1; default 1, Ollama's default.
	NumParallel int `json:"num_parallel,omitempty"`
	// RequestTime is how long a request is assumed to take on an upstream that has not served enough to learn it,
	// while no other upstream has either; default 10s.
	RequestTime caddy.Duration `json:"request_time,omitempty"`
	// LoadSpeed (bytes per second) and LoadStart give a cold load's time on an upstream that has not loaded a
	// model yet: size ÷ LoadSpeed + LoadStart; defaults 1000 MiB/s and 2s.
	LoadSpeed int64          `json:"load_speed,omitempty"`
	LoadStart caddy.Duration `json:"load_start,omitempty"`
	// LearnWindow is the time constant of the learned request times and load speeds: what a node did that long
	// ago counts a third as much as what it does now; default 2m.
	LearnWindow caddy.Duration `json:"learn_window,omitempty"`
	// ModelFrom says where the requested model is read: "body" (default: the "model" member of a JSON POST to
	// Ollama's or the OpenAI-compatible API), "header" (the header ModelHeader) or "off".
	ModelFrom string `json:"model_from,omitempty"`
	// ModelHeader is the request header naming the model when ModelFrom is "header".
	ModelHeader string `json:"model_header,omitempty"`
	// MaxBody is how many bytes of a request body are read to find the model; default 1 MiB.
	MaxBody int64 `json:"max_body,omitempty"`
	// Nodes maps an upstream dial address to the node id its reports carry, for upstreams that reach a node under
	// another name than the one it reports.
	Nodes map[string]string `json:"nodes,omitempty"`
	// OllamaPoll is how often the policy asks each upstream's Ollama API (GET /api/ps) which models it holds, for
	// upstreams without a fresh report in Redis: all of them when Redis is not configured. At least 100ms and at most
	// half of StaleAfter, so that one missed poll does not make the stats stale; default 5s, or half of StaleAfter
	// where that is shorter. Upstreams are asked
	// over plain HTTP at their dial address; one that answers as another server does (404, not JSON) is asked again
	// only every 10 minutes, and one that does not answer has no stats until it does.
	OllamaPoll caddy.Duration `json:"ollama_poll,omitempty"`
	// OllamaPollOff turns polling off: upstreams without a fresh report in Redis are ranked as having no stats.
	OllamaPollOff bool `json:"ollama_poll_off,omitempty"`
	// VRAM gives the total GPU memory in bytes of polled upstreams, by dial address. With it the policy works out
	// free memory (the total less what the loaded models hold in GPU memory) and ranks such an upstream as it
	// would one with a report; without it the upstream's free memory is unknown. Reports in Redis ignore it.
	VRAM map[string]int64 `json:"vram,omitempty"`
	// Affinity sends a conversation's next turn where a slot's prompt cache still holds the conversation, when
	// the prefill that saves outweighs that node's queue: "on" (the default) or "off". It reads the prompt from
	// the body, as model_from body does.
	Affinity string `json:"affinity,omitempty"`
	// AffinityEntries is how many prompts affinity remembers (24 bytes each, one per conversation in progress),
	// across config reloads; default 16384.
	AffinityEntries int `json:"affinity_entries,omitempty"`
	// PrefillSpeed is how many prompt tokens per second a node reads for a 4 GiB model (in proportion for other
	// sizes): the price of the prefill a cached prompt saves; default 4000.
	PrefillSpeed float64 `json:"prefill_speed,omitempty"`
	// DecisionHeader, when set, names a response header that tells the client which node was chosen, why, and
	// where its stats came from (redis or ollama, when a node was chosen by its stats), such as
	// "node=10.0.0.5:11434; reason=resident; upstream=10.0.0.5:11434; source=redis". Off by default.
	DecisionHeader string `json:"decision_header,omitempty"`
	// FallbackRaw is the policy that decides when no available upstream has a fresh report; default least_conn.
	FallbackRaw json.RawMessage `json:"fallback,omitempty" caddy:"namespace=http.reverse_proxy.selection_policies inline_key=policy"`
	// Gateways: see gateways.go.
	gatewayOptions

	fallback    reverseproxy.Selector
	selector    *lbpolicy.Selector
	shared      *sharedWatcher
	sharer      *sharer
	poller      *poller
	modelFrom   string
	modelHeader string
	prompts     *lbpolicy.Prompts // nil with affinity off
	log         *zap.Logger
	pool        sync.Pool // *[]lbpolicy.Candidate, reused by decide
	upstreams   atomic.Pointer[upstreamMap]
}

// CaddyModule returns the Caddy module information.
func (*VRAMAware) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.reverse_proxy.selection_policies.vram_aware",
		New: func() caddy.Module { return new(VRAMAware) },
	}
}

// Provision fills in defaults, loads the fallback policy, and joins (or starts) the watcher of the Redis target and
// the Ollama poller.
func (p *VRAMAware) Provision(ctx caddy.Context) error {
	p.log = ctx.Logger()
	if err := registerMetrics(ctx.GetMetricsRegistry()); err != nil {
		return fmt.Errorf("vram_aware: registering metrics: %w", err)
	}
	if p.FallbackRaw == nil {
		p.FallbackRaw = caddyconfig.JSONModuleObject(reverseproxy.LeastConnSelection{}, "policy", "least_conn", nil)
	}
	mod, err := ctx.LoadModule(p, "FallbackRaw")
	if err != nil {
		return fmt.Errorf("vram_aware: loading fallback policy: %w", err)
	}
	p.fallback = mod.(reverseproxy.Selector)

	p.modelFrom = p.modelFromOrBody()
	p.modelHeader = textproto.CanonicalMIMEHeaderKey(p.ModelHeader)
	if p.MaxBody == 0 {
		p.MaxBody = 1 << 20
	}
	if err := p.validate(); err != nil {
		return err
	}
	cfg := lbpolicy.Config{StaleAfter: time.Duration(p.StaleAfter), HeadroomMB: mib(p.Headroom), NumParallel: p.NumParallel,
		RequestTime: time.Duration(p.RequestTime), LoadMBps: mib(p.LoadSpeed), LoadBase: time.Duration(p.LoadStart),
		LearnWindow: time.Duration(p.LearnWindow), PrefillSpeed: p.PrefillSpeed}
	if p.MinFree != 0 || p.BoostFree != 0 {
		p.log.Warn("min_free and boost_free no longer change routing: vram_aware sends each request where it is answered soonest, free memory counting through the loads it saves or costs (see README, How routing decides); remove the lines")
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("vram_aware: %w", err)
	}

	p.warnUnknownUpstreams(ctx)

	// The keys are read with or without Redis, so that a missing key file fails alike in both.
	repl := caddy.NewReplacer()
	keys, err := p.hmacKeys(repl)
	if err != nil {
		return err
	}
	if p.Redis == "" && len(keys) > 0 {
		p.log.Warn("vram_aware: hmac_key and hmac_key_file verify reports from Redis, and redis is not set: they have no effect")
	}
	if p.Redis != "" {
		url := repl.ReplaceKnown(p.Redis, "")
		resync := time.Duration(p.Resync)
		if p.shared, err = acquireWatcher(url, p.Prefix, keys, resync, p.VerifyChannel, p.log); err != nil {
			return fmt.Errorf("vram_aware: redis %s: %w", gpustats.Redact(url), err)
		}
		p.shared.stale.Store(int64(cfg.WithDefaults().StaleAfter))
	}
	if err := p.provisionGateways(ctx); err != nil {
		return fmt.Errorf("vram_aware: share_state: %w", err)
	}
	if !p.OllamaPollOff {
		interval, _ := p.pollInterval()
		if p.poller, err = acquirePoller(pollOptions{Interval: interval, VRAM: p.VRAM}, p.log); err != nil {
			return fmt.Errorf("vram_aware: ollama_poll: %w", err)
		}
	}
	p.selector = lbpolicy.NewSelector(cfg, nil)
	if p.Affinity != affinityOff && p.modelFrom == modelFromBody {
		p.prompts = promptsFor(cmp.Or(p.AffinityEntries, lbpolicy.DefaultPromptEntries))
	}
	p.pool.New = func() any { return new([]lbpolicy.Candidate) }
	return nil
}

// hmacKeys gathers the keys from hmac_key and hmac_key_file.
func (p *VRAMAware) hmacKeys(repl *caddy.Replacer) ([][]byte, error) {
	var keys [][]byte
	for _, k := range p.HMACKeys {
		if k = repl.ReplaceKnown(k, ""); k == "" {
			return nil, fmt.Errorf("vram_aware: hmac_key is empty after replacing placeholders")
		}
		keys = append(keys, []byte(k))
	}
	for _, f := range p.HMACKeyFiles {
		b, err := os.ReadFile(repl.ReplaceKnown(f, ""))
		if err != nil {
			return nil, fmt.Errorf("vram_aware: hmac_key_file: %w", err)
		}
		k := strings.TrimSpace(string(b))
		if k == "" {
			return nil, fmt.Errorf("vram_aware: hmac_key_file %s is empty", f)
		}
		keys = append(keys, []byte(k))
	}
	return keys, nil
}

// Validate checks the configuration; every error names the directive at fault.
func (p *VRAMAware) Validate() error { return p.validate() }

func (p *VRAMAware) validate() error {
	switch {
	case p.StaleAfter < 0:
		return fmt.Errorf("vram_aware: stale_after %s must be positive", time.Duration(p.StaleAfter))
	case p.Resync < 0:
		return fmt.Errorf("vram_aware: resync %s must be positive", time.Duration(p.Resync))
	case p.NumParallel < 0 || p.NumParallel > gpustats.MaxNumParallel:
		return fmt.Errorf("vram_aware: num_parallel %d: want 1 to %d", p.NumParallel, gpustats.MaxNumParallel)
	case p.RequestTime < 0:
		return fmt.Errorf("vram_aware: request_time %s must be positive", time.Duration(p.RequestTime))
	case p.LoadStart < 0:
		return fmt.Errorf("vram_aware: load_start %s must be positive", time.Duration(p.LoadStart))
	case p.LearnWindow < 0:
		return fmt.Errorf("vram_aware: learn_window %s must be positive", time.Duration(p.LearnWindow))
	case p.Affinity != "" && p.Affinity != affinityOn && p.Affinity != affinityOff:
		return fmt.Errorf("vram_aware: affinity %q: want on or off", p.Affinity)
	case p.AffinityEntries < 0 || p.AffinityEntries > maxAffinityEntries:
		return fmt.Errorf("vram_aware: affinity_entries %d: want 1 to %d prompts", p.AffinityEntries, maxAffinityEntries)
	case p.PrefillSpeed < 0 || math.IsNaN(p.PrefillSpeed) || math.IsInf(p.PrefillSpeed, 0):
		return fmt.Errorf("vram_aware: prefill_speed %v: want prompt tokens per second, such as prefill_speed 4000", p.PrefillSpeed)
	case p.LoadSpeed < 0 || p.LoadSpeed > maxSize:
		return fmt.Errorf("vram_aware: load_speed %d bytes/s: want a size per second, such as 1000MiB/s", p.LoadSpeed)
	}
	for _, s := range []struct {
		name  string
		bytes int64
	}{{"min_free", p.MinFree}, {"boost_free", p.BoostFree}, {"headroom", p.Headroom}, {"max_body", p.MaxBody}} {
		if s.bytes < 0 || s.bytes > maxSize {
			return fmt.Errorf("vram_aware: %s %d bytes: want a size from 0 to 1PiB", s.name, s.bytes)
		}
	}
	switch p.ModelFrom {
	case "", modelFromBody, modelFromOff:
		if p.ModelHeader != "" {
			return fmt.Errorf("vram_aware: model_from %s takes no header name (%q): only model_from header does", p.modelFromOrBody(), p.ModelHeader)
		}
	case modelFromHeader:
		if p.ModelHeader == "" {
			return fmt.Errorf("vram_aware: model_from header: name the header, such as model_from header X-Model")
		}
	default:
		return fmt.Errorf("vram_aware: model_from %q: want body, header <name> or off", p.ModelFrom)
	}
	if p.Redis != "" && !strings.Contains(p.Redis, "{") {
		if err := gpustats.CheckURL(p.Redis); err != nil {
			return fmt.Errorf("vram_aware: redis: %w", err)
		}
	}
	for up, id := range p.Nodes {
		if up == "" || id == "" {
			return fmt.Errorf("vram_aware: node %q %q: want node <upstream> <node_id>", up, id)
		}
	}
	if err := p.validateGateways(); err != nil {
		return err
	}
	return p.validatePoll()
}

// Values of affinity; maxAffinityEntries bounds affinity_entries (1 GiB of table).
const (
	affinityOn         = "on"
	affinityOff        = "off"
	maxAffinityEntries = 1 << 26
)

// maxSize bounds the sizes of the configuration: 1 PiB, beyond any GPU and any request body.
const maxSize = 1 << 50

func (p *VRAMAware) modelFromOrBody() string {
	if p.ModelFrom == "" {
		return modelFromBody
	}
	return p.ModelFrom
}

// pollInterval is ollama_poll, by default 5s or half of stale_after where that is shorter.
func (p *VRAMAware) pollInterval() (interval, staleAfter time.Duration) {
	staleAfter = time.Duration(p.StaleAfter)
	if staleAfter == 0 {
		staleAfter = lbpolicy.DefaultStaleAfter
	}
	if p.OllamaPoll != 0 {
		return time.Duration(p.OllamaPoll), staleAfter
	}
	return min(DefaultOllamaPoll, staleAfter/2), staleAfter
}

func (p *VRAMAware) validatePoll() error {
	interval, stale := p.pollInterval()
	switch {
	case p.OllamaPollOff && p.OllamaPoll != 0:
		return fmt.Errorf("vram_aware: ollama_poll: give an interval or off, not both")
	case p.OllamaPollOff && len(p.VRAM) > 0:
		return fmt.Errorf("vram_aware: vram: GPU sizes apply to polled upstreams, and ollama_poll is off")
	case p.OllamaPollOff:
		return nil
	case interval < minOllamaPoll:
		return fmt.Errorf("vram_aware: ollama_poll %s: want an interval of at least %s, or off", interval, minOllamaPoll)
	case 2*interval > stale:
		return fmt.Errorf("vram_aware: ollama_poll %s must be at most half of stale_after (%s), so that one missed poll does not make the stats stale",
			interval, stale)
	}
	for up, size := range p.VRAM {
		if up == "" || size <= 0 || size > maxSize {
			return fmt.Errorf("vram_aware: vram %q %d: want vram <upstream> <size>, such as vram 10.0.0.5:11434 24GiB", up, size)
		}
	}
	return nil
}

// Cleanup releases the watcher and the poller; the last configuration using them stops them. The fields stay set:
// requests of the old configuration may still be choosing upstreams while it is cleaned up, and a stopped
// watcher or poller still answers with its last state.
func (p *VRAMAware) Cleanup() error {
	releaseSharer(p.sharer)
	releaseWatcher(p.shared)
	releasePoller(p.poller)
	return nil
}

// Select chooses the upstream for r: the lbpolicy decision over every upstream's latest report (from Redis, else
// from polling), or the fallback policy when no available upstream has fresh stats.
func (p *VRAMAware) Select(pool reverseproxy.UpstreamPool, r *http.Request, w http.ResponseWriter) *reverseproxy.Upstream {
	model, prompt, modelRef := p.requestModel(r)
	now := time.Now()
	tried := triedUpstreams(r)
	if tried.any() {
		p.refuseLastTry(r, tried.last(), model, now)
	}
	cs := p.pool.Get().(*[]lbpolicy.Candidate)
	m := p.candidates(pool, now, tried, cs)
	d := p.selector.Select(*cs, lbpolicy.Request{Model: model, Now: now, Prompt: prompt, Prompts: p.prompts})
	clear(*cs) // keeps no node alive
	*cs = (*cs)[:0]
	p.pool.Put(cs)

	var up *reverseproxy.Upstream
	if d.Index >= 0 {
		up = pool[d.Index]
	} else {
		up = p.fallback.Select(pool, r, w)
	}
	src, nodeRef := sourceNone, (*string)(nil)
	if d.Node != nil {
		src, nodeRef = sourceRedis, &d.Node.Report.NodeID
		if d.Node.Polled {
			src = sourceOllama
		}
	}
	if up != nil {
		rememberTry(r, tried, up)
	}
	observeAffinity(&prompt, d.Reason)
	if p.sharer != nil && up != nil && prompt.Key() != 0 {
		sentPrompts.add(prompt.Key(), lbpolicy.ModelKey(model), &up.Dial, now)
	}
	if d.ReservedMB > 0 {
		p.sharer.nudge() // the other gateways should hear of the load soon
	}
	p.record(up, m.stateOf(d.Index, up), nodeRef, modelRef, r, &d, src, now)
	if p.DecisionHeader != "" && w != nil && up != nil {
		v := "node=" + d.NodeID + "; reason=" + d.Reason.String() + "; upstream=" + up.Dial
		if src != sourceNone {
			v += "; source=" + src.String()
		}
		w.Header().Set(p.DecisionHeader, v)
	}
	return up
}

// candidates fills cs with every upstream of pool as lbpolicy sees it, and returns the upstream map that
// described pool (nil when none did, and a new one is being built).
func (p *VRAMAware) candidates(pool reverseproxy.UpstreamPool, now time.Time, tried tries, cs *[]lbpolicy.Candidate) *upstreamMap {
	snap := p.snapshot()
	m := p.upstreams.Load().describing(snap, pool)
	staleBefore := now.UnixNano() - int64(p.selector.Config().StaleAfter)
	all := true
	for i, u := range pool {
		n, mapped := m.freshNode(i, u, staleBefore)
		if !mapped {
			n, mapped = p.lookUpNode(m, snap, i, u, now, staleBefore)
		}
		all = all && mapped
		st := m.stateOf(i, u)
		*cs = append(*cs, lbpolicy.Candidate{Node: n, State: &st.policy, Available: u.Available(),
			Tried: tried.has(u), InFlight: u.NumRequests(), OthersInFlight: int(st.fleet.others.Load())})
	}
	if !all {
		refreshUpstreamMap(&p.upstreams, pool, snap, p.Nodes, now)
		return nil
	}
	return m
}

// refuseLastTry counts a retried answer against the upstream that gave it: a 500 (Ollama's out-of-memory answer)
// against it for the model, a 503 (its load queue is full) against new loads there. Caddy leaves the status of
// the attempt in {http.reverse_proxy.status_code}; a connection error leaves none, and Caddy's health checks
// judge the upstream.
func (p *VRAMAware) refuseLastTry(r *http.Request, last *reverseproxy.Upstream, model string, now time.Time) {
	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if repl == nil || last == nil {
		return
	}
	code, _ := repl.Get("http.reverse_proxy.status_code")
	st := &stateFor(last.Dial).policy
	switch code {
	case http.StatusInternalServerError:
		p.selector.Refuse(st, model, now)
	case http.StatusServiceUnavailable:
		p.selector.Refuse(st, "", now)
	}
}

// lookUpNode returns upstream i, u, and its node: the Redis snapshot's (through m where m describes the upstream,
// else looked up, and mapped is false), or the poller's where the snapshot has no fresh report for it. Select's
// loops ask m.freshNode first, which answers the common case without a call.
func (p *VRAMAware) lookUpNode(m *upstreamMap, snap *gpustats.Snapshot, i int, u *reverseproxy.Upstream, now time.Time,
	staleBefore int64) (*gpustats.Node, bool) {
	n, mapped := m.node(i, u)
	if !mapped {
		n = resolveUpstream(snap, u.Dial, p.Nodes).Load()
	}
	if (n == nil || n.UpdatedUnixNano() < staleBefore) && p.poller != nil {
		if polled := p.poller.lookup(u.Dial, now); polled != nil {
			n = polled
		}
	}
	return n, mapped
}

func (p *VRAMAware) snapshot() *gpustats.Snapshot {
	if p.shared == nil {
		return nil
	}
	return p.shared.watcher.Snapshot()
}

// record counts the decision and logs it at debug level.
func (p *VRAMAware) record(up *reverseproxy.Upstream, state *upstreamState, node, model *string, r *http.Request, d *lbpolicy.Decision,
	src statsSource, now time.Time) {
	dial, dialRef := "", (*string)(nil)
	if up != nil {
		dial, dialRef = up.Dial, &up.Dial
	}
	state.observe(d.Reason)
	decisions.add(dialRef, node, model, d, src, now)
	if ce := p.log.Check(zapcore.DebugLevel, "vram_aware decision"); ce != nil {
		ce.Write(zap.String("upstream", dial), zap.String("reason", d.Reason.String()),
			zap.String("node", d.NodeID), zap.String("source", src.String()), zap.Float64("seconds", d.Seconds), zap.Float64("wait_s", d.Wait), zap.Float64("load_s", d.Load), zap.Float64("run_s", d.Run), zap.Float64("saved_s", d.Saved), zap.Float64("evict_s", d.Evict), zap.String("defaults", d.Defaults.String()), zap.Float64("free_mb", d.FreeMB),
			zap.Float64("reserved_mb", d.ReservedMB), zap.Int("available", d.Available), zap.Int("fresh", d.Fresh),
			zap.String("model", deref(model)), zap.String("uri", r.RequestURI))
	}
}

// statsSource says where a node's stats came from.
type statsSource uint8

const (
	sourceNone statsSource = iota
	sourceRedis
	sourceOllama
)

func (s statsSource) String() string {
	switch s {
	case sourceRedis:
		return "redis"
	case sourceOllama:
		return "ollama"
	}
	return ""
}

func mib(bytes int64) float64 { return float64(bytes) / (1 << 20) }

// Interface guards
var (
	_ reverseproxy.Selector = (*VRAMAware)(nil)
	_ caddy.Provisioner     = (*VRAMAware)(nil)
	_ caddy.Validator       = (*VRAMAware)(nil)
	_ caddy.CleanerUpper    = (*VRAMAware)(nil)
)
