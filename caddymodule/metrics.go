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

// selections counts decisions per upstream and reason with atomics, so that Select takes no lock; the collector
// turns them into a counter vector when Prometheus scrapes.
var selections sync.Map // upstream dial address → *selectionCounts

const reasonSlots = 32

// selectionCounts counts one upstream's decisions by reason.
type selectionCounts [reasonSlots]atomic.Uint64

// countsFor returns upstream's counters, adding them on first use. The upstream map keeps them for its
// upstreams, so that Select looks them up only for upstreams that the fallback policy chose.
func countsFor(upstream string) *selectionCounts {
	v, ok := selections.Load(upstream)
	if !ok {
		v, _ = selections.LoadOrStore(upstream, new(selectionCounts))
	}
	return v.(*selectionCounts)
}

func (c *selectionCounts) observe(r lbpolicy.Reason) { c[int(r)%reasonSlots].Add(1) }

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
	descPolled = prometheus.NewDesc("caddy_vram_aware_ollama_upstreams",
		"Upstreams whose Ollama API the policy polls, by state (ok, failing, not_ollama, pending, unsupported).",
		[]string{"state"}, nil)
)

// collector exposes the policy's state to Prometheus at scrape time.
type collector struct{}

func (collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSelections, descReports, descNodes, descAge, descFree, descConnected, descPolled} {
		ch <- d
	}
}

func (collector) Collect(ch chan<- prometheus.Metric) {
	selections.Range(func(k, v any) bool {
		counts := v.(*selectionCounts)
		for _, r := range lbpolicy.Reasons() {
			if n := counts[int(r)%reasonSlots].Load(); n > 0 {
				ch <- prometheus.MustNewConstMetric(descSelections, prometheus.CounterValue, float64(n), k.(string), r.String())
			}
		}
		return true
	})
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
