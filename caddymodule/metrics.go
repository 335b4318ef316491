package caddymodule

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sollol-go/sollol/gpustats"
	"github.com/sollol-go/sollol/lbpolicy"
)

// upstreamStates holds, per upstream dial address and across config reloads, what the policy keeps of the
// upstream: its decisions by reason, counted with atomics so that Select takes no lock (the collector turns them
// into a counter vector when Prometheus scrapes), and what lbpolicy remembers of it.
var upstreamStates sync.Map // upstream dial address → *upstreamState

const reasonSlots = 32

// upstreamState is one upstream's entry in upstreamStates.
type upstreamState struct {
	reasons [reasonSlots]atomic.Uint64
	policy  lbpolicy.State
	fleet   fleetState // what the other gateways said of the upstream (gateways.go)
}

// stateFor returns upstream's state, adding it on first use. The upstream map keeps the states of its upstreams,
// so that Select looks them up only where no map describes the upstreams.
func stateFor(upstream string) *upstreamState {
	v, ok := upstreamStates.Load(upstream)
	if !ok {
		v, _ = upstreamStates.LoadOrStore(upstream, new(upstreamState))
	}
	return v.(*upstreamState)
}

func (u *upstreamState) observe(r lbpolicy.Reason) { u.reasons[int(r)%reasonSlots].Add(1) }

// promptTables holds the affinity tables by their affinity_entries, kept across config reloads as the upstreams'
// states are, so that a reload does not forget which node holds which conversation.
var promptTables sync.Map // entries → *lbpolicy.Prompts

// promptsFor returns the affinity table of entries prompts, making it on first use.
func promptsFor(entries int) *lbpolicy.Prompts {
	v, ok := promptTables.Load(entries)
	if !ok {
		v, _ = promptTables.LoadOrStore(entries, lbpolicy.NewPrompts(entries))
	}
	return v.(*lbpolicy.Prompts)
}

// affinityHits and affinityMisses count the requests whose prompt extends one sent before: sent where a slot
// still held it, or elsewhere (that node's queue cost more than the prefill saved, or the slot was taken since).
var affinityHits, affinityMisses atomic.Uint64

// observeAffinity counts a decision for a request whose prompt is p.
func observeAffinity(p *lbpolicy.Prompt, r lbpolicy.Reason) {
	switch {
	case !p.Known():
	case r == lbpolicy.ReasonCached:
		affinityHits.Add(1)
	default:
		affinityMisses.Add(1)
	}
}

var (
	descSelections = prometheus.NewDesc("caddy_vram_aware_selections_total",
		"Upstreams chosen by the vram_aware policy, by reason (fallback:* means the fallback policy chose).",
		[]string{"upstream", "reason"}, nil)
	descReports = prometheus.NewDesc("caddy_vram_aware_reports_total",
		"GPU reports read from Redis, by result: accepted, or the reason they were rejected.", []string{"redis", "result"}, nil)
	descNodes = prometheus.NewDesc("caddy_vram_aware_nodes",
		"Nodes known from reports, by freshness (stale: older than stale_after).", []string{"redis", "state"}, nil)
	descAge = prometheus.NewDesc("caddy_vram_aware_report_age_seconds",
		"Age of each node's latest report.", []string{"redis", "node"}, nil)
	descFree = prometheus.NewDesc("caddy_vram_aware_free_vram_bytes",
		"Free GPU memory of each node, summed over its GPUs, as last reported.", []string{"redis", "node"}, nil)
	descConnected = prometheus.NewDesc("caddy_vram_aware_redis_connected",
		"1 when the watcher is connected to Redis.", []string{"redis"}, nil)
	descAffinity = prometheus.NewDesc("caddy_vram_aware_affinity_total",
		"Requests whose prompt extends one sent before, by result: hit (sent where a slot still holds it) or miss.",
		[]string{"result"}, nil)
	descPolled = prometheus.NewDesc("caddy_vram_aware_ollama_upstreams",
		"Upstreams whose Ollama API the policy polls, by state (ok, failing, not_ollama, pending, unsupported).",
		[]string{"state"}, nil)
)

// collector exposes the policy's state to Prometheus at scrape time.
type collector struct{}

func (collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSelections, descReports, descNodes, descAge, descFree, descConnected, descPolled, descAffinity} {
		ch <- d
	}
}

func (collector) Collect(ch chan<- prometheus.Metric) {
	upstreamStates.Range(func(k, v any) bool {
		u := v.(*upstreamState)
		for _, r := range lbpolicy.Reasons() {
			if n := u.reasons[int(r)%reasonSlots].Load(); n > 0 {
				ch <- prometheus.MustNewConstMetric(descSelections, prometheus.CounterValue, float64(n), k.(string), r.String())
			}
		}
		return true
	})
	ch <- prometheus.MustNewConstMetric(descAffinity, prometheus.CounterValue, float64(affinityHits.Load()), "hit")
	ch <- prometheus.MustNewConstMetric(descAffinity, prometheus.CounterValue, float64(affinityMisses.Load()), "miss")
	now := time.Now()
	eachWatcher(func(s *sharedWatcher) {
		target := gpustats.Redact(s.key.url)
		st := s.watcher.Stats()
		ch <- prometheus.MustNewConstMetric(descReports, prometheus.CounterValue, float64(st.Accepted), target, "accepted")
		for reason, n := range st.Rejected {
			ch <- prometheus.MustNewConstMetric(descReports, prometheus.CounterValue, float64(n), target, reason)
		}
		connected := 0.0
		if st.Connected {
			connected = 1
		}
		ch <- prometheus.MustNewConstMetric(descConnected, prometheus.GaugeValue, connected, target)
		fresh, stale := 0, 0
		for _, n := range s.watcher.Snapshot().Nodes() {
			age := n.Age(now)
			if age > s.staleAfter() {
				stale++
			} else {
				fresh++
			}
			ch <- prometheus.MustNewConstMetric(descAge, prometheus.GaugeValue, age.Seconds(), target, n.Report.NodeID)
			if n.MemoryKnown {
				ch <- prometheus.MustNewConstMetric(descFree, prometheus.GaugeValue, n.FreeMB*(1<<20), target, n.Report.NodeID)
			}
		}
		ch <- prometheus.MustNewConstMetric(descNodes, prometheus.GaugeValue, float64(fresh), target, "fresh")
		ch <- prometheus.MustNewConstMetric(descNodes, prometheus.GaugeValue, float64(stale), target, "stale")
	})
	collectPolled(ch)
}

// registerMetrics adds the collector to a registry once; Caddy keeps one registry across reloads.
func registerMetrics(reg *prometheus.Registry) error {
	if reg == nil {
		return nil
	}
	err := reg.Register(collector{})
	if are := (prometheus.AlreadyRegisteredError{}); errors.As(err, &are) {
		return nil
	}
	return err
}
