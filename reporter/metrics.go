package reporter

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sollol-go/sollol/gpustats"
)

// Metrics exposes the node to Prometheus, so that gpu-reporter doubles as a node exporter: the GPUs and Ollama as
// of the latest report, and how publishing to Redis goes. Give it to Config.Metrics and serve Handler (gpu-reporter
// does so on --metrics-addr). A scrape reads what the last cycle collected; it never samples the GPUs itself.
//
// Every GPU metric carries the labels gpu (the index), name and uuid (empty when the driver gives none). A value
// the device does not give is left out rather than reported as zero.
//
//	sollol_gpu_memory_total_bytes             GPU memory
//	sollol_gpu_memory_free_bytes              free GPU memory
//	sollol_gpu_memory_used_bytes              used GPU memory
//	sollol_gpu_utilization_ratio              share of time the GPU was busy, 0–1
//	sollol_gpu_temperature_celsius            GPU temperature
//	sollol_gpu_power_watts                    power draw
//	sollol_ollama_up                          1 when Ollama answered the last probe
//	sollol_ollama_loaded_models               models Ollama holds in memory
//	sollol_ollama_loaded_models_bytes         their size
//	sollol_ollama_loaded_models_vram_bytes    the part of it in GPU memory
//	sollol_ollama_installed_models            models on disk (absent when unknown)
//	sollol_reporter_info                      1, labelled node_id, hostname and vendor
//	sollol_reporter_draining                  1 while the node reports itself draining
//	sollol_reporter_report_timestamp_seconds  when the latest report was taken
//	sollol_reporter_publishes_total           reports published to Redis
//	sollol_reporter_publish_errors_total      publications that failed
//	sollol_reporter_last_publish_success_timestamp_seconds  the latest successful publication (absent before one)
//
// The Go runtime and process collectors (go_*, process_*) come with them.
type Metrics struct {
	reg *prometheus.Registry

	mu        sync.Mutex
	report    *gpustats.Report
	published uint64
	failed    uint64
	lastOK    time.Time
}

// NewMetrics returns Metrics with their own registry.
func NewMetrics() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.reg.MustRegister(metricsCollector{m}, collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in the Prometheus text format (or OpenMetrics, when the scraper asks for it).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{EnableOpenMetrics: true})
}

// observe keeps rep as the node's latest state. A nil m does nothing.
func (m *Metrics) observe(rep *gpustats.Report) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.report = rep
	m.mu.Unlock()
}

// publishResult counts one publication. A nil m does nothing.
func (m *Metrics) publishResult(err error, at time.Time) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		m.failed++
		return
	}
	m.published++
	m.lastOK = at
}

var (
	gpuLabels     = []string{"gpu", "name", "uuid"}
	descGPUTotal  = prometheus.NewDesc("sollol_gpu_memory_total_bytes", "GPU memory.", gpuLabels, nil)
	descGPUFree   = prometheus.NewDesc("sollol_gpu_memory_free_bytes", "Free GPU memory.", gpuLabels, nil)
	descGPUUsed   = prometheus.NewDesc("sollol_gpu_memory_used_bytes", "Used GPU memory.", gpuLabels, nil)
	descGPUUtil   = prometheus.NewDesc("sollol_gpu_utilization_ratio", "Share of time the GPU was busy, 0 to 1.", gpuLabels, nil)
	descGPUTemp   = prometheus.NewDesc("sollol_gpu_temperature_celsius", "GPU temperature.", gpuLabels, nil)
	descGPUPower  = prometheus.NewDesc("sollol_gpu_power_watts", "GPU power draw.", gpuLabels, nil)
	descOllamaUp  = prometheus.NewDesc("sollol_ollama_up", "1 when Ollama answered the reporter's last probe.", nil, nil)
	descLoaded    = prometheus.NewDesc("sollol_ollama_loaded_models", "Models Ollama holds in memory.", nil, nil)
	descLoadedB   = prometheus.NewDesc("sollol_ollama_loaded_models_bytes", "Memory footprint of the loaded models.", nil, nil)
	descLoadedV   = prometheus.NewDesc("sollol_ollama_loaded_models_vram_bytes", "Part of the loaded models in GPU memory.", nil, nil)
	descInstalled = prometheus.NewDesc("sollol_ollama_installed_models", "Models Ollama has on disk.", nil, nil)
	descInfo      = prometheus.NewDesc("sollol_reporter_info", "The node this reporter reports, always 1.", []string{"node_id", "hostname", "vendor"}, nil)
	descDraining  = prometheus.NewDesc("sollol_reporter_draining", "1 while the node reports itself draining.", nil, nil)
	descReportTS  = prometheus.NewDesc("sollol_reporter_report_timestamp_seconds", "When the latest report was taken, in seconds since the epoch.", nil, nil)
	descPublished = prometheus.NewDesc("sollol_reporter_publishes_total", "Reports published to Redis.", nil, nil)
	descFailed    = prometheus.NewDesc("sollol_reporter_publish_errors_total", "Publications to Redis that failed.", nil, nil)
	descLastOK    = prometheus.NewDesc("sollol_reporter_last_publish_success_timestamp_seconds", "When a report was last published to Redis, in seconds since the epoch.", nil, nil)
)

// metricsCollector turns the latest report into metrics at scrape time.
type metricsCollector struct{ m *Metrics }

func (metricsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descGPUTotal, descGPUFree, descGPUUsed, descGPUUtil, descGPUTemp, descGPUPower,
		descOllamaUp, descLoaded, descLoadedB, descLoadedV, descInstalled, descInfo, descDraining, descReportTS,
		descPublished, descFailed, descLastOK} {
		ch <- d
	}
}

func (c metricsCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.m
	m.mu.Lock()
	rep, published, failed, lastOK := m.report, m.published, m.failed, m.lastOK
	m.mu.Unlock()

	ch <- prometheus.MustNewConstMetric(descPublished, prometheus.CounterValue, float64(published))
	ch <- prometheus.MustNewConstMetric(descFailed, prometheus.CounterValue, float64(failed))
	if !lastOK.IsZero() {
		ch <- prometheus.MustNewConstMetric(descLastOK, prometheus.GaugeValue, float64(lastOK.UnixNano())/1e9)
	}
	if rep == nil {
		return
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(descInfo, 1, rep.NodeID, rep.Hostname, rep.Vendor)
	gauge(descDraining, boolValue(rep.Draining))
	gauge(descReportTS, rep.Timestamp)
	for _, g := range rep.GPUs {
		labels := []string{strconv.Itoa(g.Index), g.Name, g.UUID}
		for _, v := range []struct {
			d     *prometheus.Desc
			m     gpustats.Measure
			scale float64
		}{
			{descGPUTotal, g.MemoryTotalMB, mib}, {descGPUFree, g.MemoryFreeMB, mib}, {descGPUUsed, g.MemoryUsedMB, mib},
			{descGPUUtil, g.UtilizationPct, 0.01}, {descGPUTemp, g.TemperatureC, 1}, {descGPUPower, g.PowerW, 1},
		} {
			if v.m.Known() {
				gauge(v.d, float64(v.m)*v.scale, labels...)
			}
		}
	}
	if o := rep.Ollama; o != nil {
		gauge(descOllamaUp, boolValue(o.Reachable))
		var size, vram float64
		for _, lm := range o.Loaded {
			size += lm.SizeMB
			vram += lm.SizeVRAMMB
		}
		if o.Reachable {
			gauge(descLoaded, float64(len(o.Loaded)))
			gauge(descLoadedB, size*mib)
			gauge(descLoadedV, vram*mib)
		}
		if o.Installed != nil {
			gauge(descInstalled, float64(len(o.Installed)))
		}
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
