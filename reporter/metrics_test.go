package reporter

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/redis/go-redis/v9"

	"github.com/sollol-go/sollol/gpustats"
	"github.com/sollol-go/sollol/internal/redistest"
)

// scrape fetches url over HTTP and parses it with Prometheus's own text parser.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing %s: %v", url, err)
	}
	return families
}

// value returns the value of the one metric of family name whose labels include want, and whether it is there.
func value(families map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f, ok := families[name]
	if !ok {
		return 0, false
	}
	for _, m := range f.Metric {
		match := 0
		for _, l := range m.Label {
			if v, ok := want[l.GetName()]; ok && v == l.GetValue() {
				match++
			}
		}
		if match != len(want) {
			continue
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

func TestMetricsScrape(t *testing.T) {
	srv := redistest.Start(t)
	state := filepath.Join(t.TempDir(), "node.json")
	err := WriteSimState(state, SimState{GPUs: []gpustats.GPU{
		{Index: 0, Name: "Sim GPU", UUID: "GPU-0", MemoryTotalMB: 24576, MemoryFreeMB: 20480, MemoryUsedMB: 4096,
			UtilizationPct: 25, TemperatureC: 58, PowerW: 120.5},
		{Index: 1, Name: "Sim GPU", UUID: "GPU-1", MemoryTotalMB: 8192, MemoryFreeMB: 8192, MemoryUsedMB: 0,
			UtilizationPct: u, TemperatureC: u, PowerW: u},
	}})
	if err != nil {
		t.Fatal(err)
	}
	sampler, err := Open(context.Background(), "sim", Options{SimState: state})
	if err != nil {
		t.Fatal(err)
	}
	ollama := newFakeOllama(t, `{"models":[{"name":"llama3.1:8b","size":5452595200,"size_vram":4194304000}]}`,
		`{"models":[{"name":"llama3.1:8b","size":4920000000},{"name":"phi3:mini","size":2200000000}]}`)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr(), DialTimeout: 200 * time.Millisecond, MaxRetries: -1, DialerRetries: 1})
	defer client.Close()
	metrics := NewMetrics()
	web := httptest.NewServer(metrics.Handler())
	defer web.Close()

	// Before the first report: the publication counters, nothing about the node.
	families := scrape(t, web.URL)
	if v, ok := value(families, "sollol_reporter_publish_errors_total", nil); !ok || v != 0 {
		t.Errorf("publish errors before any report: %v %v", v, ok)
	}
	if _, ok := families["sollol_gpu_memory_total_bytes"]; ok {
		t.Error("GPU metrics before any report")
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{NodeID: "10.0.0.5:11434", Hostname: "gpu1", Interval: 50 * time.Millisecond,
			MaxBackoff: 100 * time.Millisecond, Sampler: sampler, Ollama: &OllamaProbe{URL: ollama.srv.URL},
			Publisher: gpustats.NewPublisher(client, gpustats.PublisherOptions{}), Metrics: metrics})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	families = waitScrape(t, web.URL, "first publication", func(f map[string]*dto.MetricFamily) bool {
		v, _ := value(f, "sollol_reporter_publishes_total", nil)
		return v >= 1
	})
	gpu0 := map[string]string{"gpu": "0", "name": "Sim GPU", "uuid": "GPU-0"}
	gpu1 := map[string]string{"gpu": "1", "uuid": "GPU-1"}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"sollol_gpu_memory_total_bytes", gpu0, 24576 << 20},
		{"sollol_gpu_memory_free_bytes", gpu0, 20480 << 20},
		{"sollol_gpu_memory_used_bytes", gpu0, 4096 << 20},
		{"sollol_gpu_utilization_ratio", gpu0, 0.25},
		{"sollol_gpu_temperature_celsius", gpu0, 58},
		{"sollol_gpu_power_watts", gpu0, 120.5},
		{"sollol_gpu_memory_total_bytes", gpu1, 8192 << 20},
		{"sollol_ollama_up", nil, 1},
		{"sollol_ollama_loaded_models", nil, 1},
		{"sollol_ollama_loaded_models_bytes", nil, 5452595200},
		{"sollol_ollama_loaded_models_vram_bytes", nil, 4194304000},
		{"sollol_ollama_installed_models", nil, 2},
		{"sollol_reporter_info", map[string]string{"node_id": "10.0.0.5:11434", "hostname": "gpu1", "vendor": "nvidia"}, 1},
		{"sollol_reporter_draining", nil, 0},
		{"sollol_reporter_publish_errors_total", nil, 0},
	} {
		if got, ok := value(families, c.name, c.labels); !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	// A measure the device does not give is absent, not zero.
	for _, name := range []string{"sollol_gpu_utilization_ratio", "sollol_gpu_temperature_celsius", "sollol_gpu_power_watts"} {
		if v, ok := value(families, name, gpu1); ok {
			t.Errorf("%s of GPU 1 = %v, want absent", name, v)
		}
	}
	last, ok := value(families, "sollol_reporter_last_publish_success_timestamp_seconds", nil)
	if now := float64(time.Now().Unix()); !ok || last < now-10 || last > now+1 {
		t.Errorf("last successful publication at %v (present %v), now is %v", last, ok, now)
	}
	if ts, _ := value(families, "sollol_reporter_report_timestamp_seconds", nil); ts < last-10 {
		t.Errorf("report timestamp %v", ts)
	}

	// Redis goes away: errors count up, the last success stays where it was.
	srv.Stop()
	families = waitScrape(t, web.URL, "publish errors", func(f map[string]*dto.MetricFamily) bool {
		v, _ := value(f, "sollol_reporter_publish_errors_total", nil)
		return v >= 1
	})
	if got, _ := value(families, "sollol_reporter_last_publish_success_timestamp_seconds", nil); got < last {
		t.Errorf("last success went back from %v to %v", last, got)
	}
	if _, ok := families["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}
}

// waitScrape scrapes url until ok accepts the metrics, or fails after 10 s.
func waitScrape(t *testing.T, url, what string, ok func(map[string]*dto.MetricFamily) bool) map[string]*dto.MetricFamily {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		f := scrape(t, url)
		if ok(f) {
			return f
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s in the metrics after 10 s", what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}
