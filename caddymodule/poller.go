package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/sollol-go/sollol/gpustats"
	"github.com/sollol-go/sollol/ollamaapi"
)

// Defaults of the Ollama poller.
const (
	DefaultOllamaPoll = 5 * time.Second
	// minOllamaPoll protects the upstreams from a typo such as 5ms.
	minOllamaPoll = 100 * time.Millisecond
	// pollTimeout bounds each request; shorter for short intervals (half the interval).
	pollTimeout = 2 * time.Second
	// pollTagsEvery is how often the installed models are asked again: they change only on pull or delete.
	pollTagsEvery = time.Minute
	// pollNotOllamaRetry is how long an upstream that answered as something other than Ollama is left alone.
	pollNotOllamaRetry = 10 * time.Minute
	// pollForget drops an upstream that no request has considered for this long (a dynamic upstream that is gone).
	// It is long so that a quiet gateway still knows its upstreams when the next request comes.
	pollForget = time.Hour
	// pollConcurrency bounds the requests in flight at once, however many upstreams there are.
	pollConcurrency = 8
	// pollSightings is how many newly seen upstreams may wait for the poller; Select drops more (and retries).
	pollSightings = 64
)

// noteOllamaPoll is the note of a report built by polling an upstream's Ollama API.
const noteOllamaPoll = "polled from Ollama's API by vram_aware"

// pollers holds one poller per distinct polling configuration. Like watchers it outlives config reloads, so that a
// reload does not forget what the upstreams hold; the last configuration to stop using a poller stops it.
var pollers = caddy.NewUsagePool()

// pollOptions configure a poller; the zero value of each field takes its default.
type pollOptions struct {
	Interval, Timeout, TagsEvery, NotOllamaRetry, Forget time.Duration
	Concurrency                                          int
	// VRAM is the total GPU memory of an upstream in bytes, by dial address.
	VRAM map[string]int64
	// HTTP sends the requests; nil means a client of the poller's own.
	HTTP *http.Client
	// Clock tells the time of every decision the poller takes (when to poll, when to forget, how old the installed
	// models are); nil means the real clock. Tests step a clock of their own.
	Clock gpustats.Clock
}

func (o pollOptions) withDefaults() pollOptions {
	if o.Interval <= 0 {
		o.Interval = DefaultOllamaPoll
	}
	if o.Timeout <= 0 {
		o.Timeout = min(pollTimeout, o.Interval/2)
	}
	if o.TagsEvery <= 0 {
		o.TagsEvery = pollTagsEvery
	}
	if o.NotOllamaRetry <= 0 {
		o.NotOllamaRetry = pollNotOllamaRetry
	}
	if o.Forget <= 0 {
		o.Forget = pollForget
	}
	if o.Concurrency <= 0 {
		o.Concurrency = pollConcurrency
	}
	if o.Clock == nil {
		o.Clock = gpustats.RealClock{}
	}
	return o
}

// pollerKey identifies a polling configuration: everything that changes what a poller asks or builds.
type pollerKey struct {
	interval time.Duration
	vram     string
}

func newPollerKey(interval time.Duration, vram map[string]int64) pollerKey {
	dials := make([]string, 0, len(vram))
	for d := range vram {
		dials = append(dials, d)
	}
	sort.Strings(dials)
	var b strings.Builder
	for _, d := range dials {
		fmt.Fprintf(&b, "%d:%s=%d;", len(d), d, vram[d])
	}
	return pollerKey{interval: interval, vram: b.String()}
}

// poller asks the Ollama API of every upstream that Select sees without a fresh report, in the background, and
// keeps the answers where Select reads them without locks: an immutable index of targets, swapped as a whole when
// a target comes or goes, and an atomic node pointer per target, swapped on every answer.
type poller struct {
	key       pollerKey
	opts      pollOptions
	log       *zap.Logger
	index     atomic.Pointer[pollIndex]
	sightings chan string
	cancel    context.CancelFunc
	done      chan struct{}
	transport *http.Transport
	client    *http.Client
}

// pollIndex maps a dial address to its target. It is never changed once published; only the poller's loop
// replaces it.
type pollIndex struct {
	targets map[string]*pollTarget
}

// Target states, for the admin API.
const (
	pollPending     = "pending"
	pollOK          = "ok"
	pollFailing     = "failing"
	pollNotOllama   = "not_ollama"
	pollUnsupported = "unsupported"
)

// pollTarget is one upstream. node and seen are shared with Select; the rest belongs to the one goroutine polling
// the target at a time (busy), and status is a copy for readers.
type pollTarget struct {
	dial string
	node atomic.Pointer[gpustats.Node]
	// seen is when a request last considered this upstream without a fresh report, in Unix nanoseconds.
	seen atomic.Int64
	busy atomic.Bool
	// retryAt, in Unix nanoseconds, holds off polling (an upstream that is not Ollama).
	retryAt atomic.Int64
	status  atomic.Pointer[pollStatus]

	api       ollamaapi.Client
	vramBytes int64
	installed []gpustats.InstalledModel
	tagsAt    time.Time
}

// pollStatus is a target's state after its latest poll.
type pollStatus struct {
	state    string
	at       time.Time
	err      string
	failures int
}

func acquirePoller(opts pollOptions, log *zap.Logger) (*poller, error) {
	opts = opts.withDefaults()
	key := newPollerKey(opts.Interval, opts.VRAM)
	v, _, err := pollers.LoadOrNew(key, func() (caddy.Destructor, error) {
		p := newPoller(key, opts, log)
		p.start()
		return p, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*poller), nil
}

func releasePoller(p *poller) {
	if p != nil {
		pollers.Delete(p.key)
	}
}

func newPoller(key pollerKey, opts pollOptions, log *zap.Logger) *poller {
	opts = opts.withDefaults()
	p := &poller{key: key, opts: opts, log: log.Named("ollama_poll"),
		sightings: make(chan string, pollSightings), done: make(chan struct{}), client: opts.HTTP}
	if p.client == nil {
		p.transport = ollamaapi.NewTransport()
		p.transport.MaxIdleConnsPerHost = 1
		p.transport.IdleConnTimeout = 2*opts.Interval + time.Second
		p.client = &http.Client{Transport: p.transport}
	}
	p.index.Store(&pollIndex{targets: map[string]*pollTarget{}})
	return p
}

func (p *poller) start() {
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go p.run(ctx)
}

// Destruct stops the poller and waits for its requests to end.
func (p *poller) Destruct() error {
	p.cancel()
	<-p.done
	if p.transport != nil {
		p.transport.CloseIdleConnections()
	}
	return nil
}

// lookup returns the node polled for dial, nil when there is none (yet). It takes no locks and allocates nothing:
// an upstream seen for the first time is handed to the poller through a channel, without waiting.
func (p *poller) lookup(dial string, now time.Time) *gpustats.Node {
	t := p.index.Load().targets[dial]
	if t == nil {
		select {
		case p.sightings <- dial:
		default:
		}
		return nil
	}
	// One store a second is enough to tell a live upstream from a gone one, and spares the cache line.
	if ns := now.UnixNano(); ns-t.seen.Load() > int64(time.Second) {
		t.seen.Store(ns)
	}
	return t.node.Load()
}

// run is the poller's loop: a round at every tick of the clock, and a poll of every upstream as soon as it is first
// seen. A round starts its polls before it asks for the next tick, so that whoever sees the loop waiting on the
// clock knows the round's polls are under way.
func (p *poller) run(ctx context.Context) {
	defer close(p.done)
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, p.opts.Concurrency)
	clock := p.opts.Clock
	next := clock.After(p.jitter())
	for {
		select {
		case <-ctx.Done():
			return
		case dial := <-p.sightings:
			if p.add(dial, clock.Now()) {
				p.pollDue(ctx, &wg, sem)
			}
		case <-next:
			p.forget(clock.Now())
			p.pollDue(ctx, &wg, sem)
			next = clock.After(p.jitter())
		}
	}
}

// jitter returns the time to the next round: the interval less up to a fifth, at random, so that gateways that
// started together do not poll together, and a target's report is never older than the interval.
func (p *poller) jitter() time.Duration {
	return p.opts.Interval - time.Duration(rand.Int64N(int64(p.opts.Interval)/5+1))
}

// add makes dial a target, and reports whether the index changed.
func (p *poller) add(dial string, now time.Time) bool {
	old := p.index.Load()
	if old.targets[dial] != nil {
		return false
	}
	t := &pollTarget{dial: dial, vramBytes: p.opts.VRAM[dial]}
	t.seen.Store(now.UnixNano())
	if base, ok := pollURL(dial); ok {
		t.api = ollamaapi.Client{URL: base, Timeout: p.opts.Timeout, HTTP: p.client}
		t.status.Store(&pollStatus{state: pollPending})
	} else {
		t.retryAt.Store(1<<63 - 1)
		t.status.Store(&pollStatus{state: pollUnsupported, at: now, err: "not a host:port address"})
	}
	next := &pollIndex{targets: make(map[string]*pollTarget, len(old.targets)+1)}
	for d, o := range old.targets {
		next.targets[d] = o
	}
	next.targets[dial] = t
	p.index.Store(next)
	return true
}

// forget drops the targets no request has considered for Forget.
func (p *poller) forget(now time.Time) {
	old := p.index.Load()
	cut := now.Add(-p.opts.Forget).UnixNano()
	var drop []string
	for d, t := range old.targets {
		if t.seen.Load() < cut {
			drop = append(drop, d)
		}
	}
	if len(drop) == 0 {
		return
	}
	next := &pollIndex{targets: make(map[string]*pollTarget, len(old.targets))}
	for d, t := range old.targets {
		next.targets[d] = t
	}
	for _, d := range drop {
		delete(next.targets, d)
	}
	p.index.Store(next)
	p.log.Debug("no longer polling upstreams that no request considered", zap.Strings("upstreams", drop),
		zap.Duration("for", p.opts.Forget))
}

// pollDue starts a poll of every target that is due and not being polled; at most Concurrency run at once.
func (p *poller) pollDue(ctx context.Context, wg *sync.WaitGroup, sem chan struct{}) {
	now := p.opts.Clock.Now().UnixNano()
	for _, t := range p.index.Load().targets {
		if t.retryAt.Load() > now || !t.busy.CompareAndSwap(false, true) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer t.busy.Store(false)
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			p.poll(ctx, t)
		}()
	}
}

// poll asks one target's Ollama and publishes the node, or removes it when Ollama does not answer.
func (p *poller) poll(ctx context.Context, t *pollTarget) {
	loaded, err := t.api.PS(ctx)
	now := p.opts.Clock.Now()
	if ctx.Err() != nil {
		return // stopping: the answer, if any, is not needed
	}
	prev := t.status.Load()
	if err != nil {
		t.node.Store(nil)
		t.installed, t.tagsAt = nil, time.Time{}
		st := &pollStatus{state: pollFailing, at: now, err: err.Error(), failures: prev.failures + 1}
		if errors.Is(err, ollamaapi.ErrNotOllama) {
			st.state = pollNotOllama
			t.retryAt.Store(now.Add(p.opts.NotOllamaRetry).UnixNano())
		}
		t.status.Store(st)
		if prev.state != st.state {
			p.log.Info("upstream's Ollama API does not answer: ranked without stats", zap.String("upstream", t.dial),
				zap.String("state", st.state), zap.Error(err))
		}
		return
	}
	if now.Sub(t.tagsAt) >= p.opts.TagsEvery {
		installed, err := t.api.Tags(ctx)
		switch {
		case err == nil:
			t.installed, t.tagsAt = installed, now
		case errors.Is(err, ollamaapi.ErrNotOllama):
			// Installed models stay unknown; asking every interval would not change that.
			t.installed, t.tagsAt = nil, now
		}
	}
	t.node.Store(polledNode(t.dial, loaded, t.installed, t.vramBytes, now, t.node.Load()))
	t.status.Store(&pollStatus{state: pollOK, at: now})
	if prev.state != pollOK && prev.state != pollPending {
		p.log.Info("upstream's Ollama API answers again", zap.String("upstream", t.dial))
	}
}

// polledNode builds the node Select ranks from what an upstream's Ollama said. GPU memory is unknown (one GPU of
// unknown size, so that lbpolicy ranks by residency, installed models and in-flight requests: memory-unknown),
// unless vramBytes gives the total: then free is the total less what the loaded models hold in GPU memory.
func polledNode(dial string, loaded []gpustats.LoadedModel, installed []gpustats.InstalledModel, vramBytes int64, now time.Time, prev *gpustats.Node) *gpustats.Node {
	g := gpustats.GPU{MemoryTotalMB: gpustats.Unknown, MemoryFreeMB: gpustats.Unknown, MemoryUsedMB: gpustats.Unknown,
		UtilizationPct: gpustats.Unknown, TemperatureC: gpustats.Unknown, PowerW: gpustats.Unknown}
	if vramBytes > 0 {
		total := ollamaapi.ToMiB(float64(vramBytes))
		used := 0.0
		for _, m := range loaded {
			used += m.SizeVRAMMB
		}
		used = min(used, total)
		g.MemoryTotalMB, g.MemoryUsedMB, g.MemoryFreeMB = gpustats.Measure(total), gpustats.Measure(used), gpustats.Measure(total-used)
	}
	r := &gpustats.Report{Vendor: gpustats.VendorUnknown, NodeID: dial, Timestamp: gpustats.Timestamp(now),
		GPUs: []gpustats.GPU{g}, Note: noteOllamaPoll,
		Ollama: &gpustats.Ollama{Reachable: true, Loaded: loaded, Installed: installed}}
	n := gpustats.NewNode(r, prev)
	n.Polled = true
	return n
}

// pollURL is the base URL of the Ollama API behind a dial address, when the address is one the poller can reach
// (TCP host:port, without placeholders).
func pollURL(dial string) (string, bool) {
	if strings.ContainsAny(dial, "{}/") {
		return "", false
	}
	host, port, err := net.SplitHostPort(dial)
	if err != nil || host == "" || port == "" || strings.Trim(port, "0123456789") != "" {
		return "", false
	}
	return "http://" + net.JoinHostPort(host, port), true
}

// collectPolled counts the polled upstreams by state for Prometheus.
func collectPolled(ch chan<- prometheus.Metric) {
	counts := map[string]int{pollPending: 0, pollOK: 0, pollFailing: 0, pollNotOllama: 0, pollUnsupported: 0}
	for _, u := range PolledUpstreams() {
		counts[u.State]++
	}
	for state, n := range counts {
		ch <- prometheus.MustNewConstMetric(descPolled, prometheus.GaugeValue, float64(n), state)
	}
}

// PolledUpstream is one upstream in GET /vram_aware/ollama.
type PolledUpstream struct {
	Upstream string `json:"upstream"`
	// State is pending (not asked yet), ok, failing (no answer, or an error), not_ollama (answered as another
	// server does: asked again only every 10 minutes) or unsupported (not a host:port address: never asked).
	State     string    `json:"state"`
	LastPoll  time.Time `json:"last_poll,omitzero"`
	LastError string    `json:"last_error,omitempty"`
	// Failures counts the polls in a row that did not succeed.
	Failures int `json:"failures,omitempty"`
	// Interval is the poller's interval.
	Interval string `json:"interval"`
	// Report is what the policy ranks the upstream by: nil unless State is ok.
	Report *gpustats.Report `json:"report,omitempty"`
}

// PolledUpstreams returns the state of every upstream that a vram_aware policy polls, for the admin API and the
// status page.
func PolledUpstreams() []PolledUpstream {
	out := []PolledUpstream{}
	pollers.Range(func(_, v any) bool {
		p := v.(*poller)
		for _, t := range p.index.Load().targets {
			st := t.status.Load()
			u := PolledUpstream{Upstream: t.dial, State: st.state, LastPoll: st.at, LastError: st.err, Failures: st.failures,
				Interval: p.opts.Interval.String()}
			if n := t.node.Load(); n != nil {
				u.Report = n.Report
			}
			out = append(out, u)
		}
		return true
	})
	sort.Slice(out, func(i, j int) bool {
		if out[i].Upstream != out[j].Upstream {
			return out[i].Upstream < out[j].Upstream
		}
		return out[i].Interval < out[j].Interval
	})
	return out
}
