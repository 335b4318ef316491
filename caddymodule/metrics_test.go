package caddymodule_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sollol-go/sollol/caddymodule"
	"github.com/sollol-go/sollol/gpustats"
	"github.com/sollol-go/sollol/internal/redistest"
)

// TestSelectionsCounted: every decision counts once, in caddy_vram_aware_selections_total of the registry the
// policy was provisioned with, for its upstream and reason, whether the policy chose by the stats or the fallback
// policy chose.
func TestSelectionsCounted(t *testing.T) {
	rds := redistest.Start(t)
	resident, other, unreported := "10.250.0.1:11434", "10.250.0.2:11434", "10.250.0.3:11434"
	pub := gpustats.NewPublisher(rds.Client(), gpustats.PublisherOptions{})
	for _, r := range []*gpustats.Report{nodeReport(resident, 12000, "llama3:latest"), nodeReport(other, 12000)} {
		if err := pub.Publish(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	// Polling is off: these upstreams are not on this machine.
	p := &caddymodule.VRAMAware{Redis: rds.URL(), ModelFrom: "header", ModelHeader: "X-Model", OllamaPollOff: true,
		DecisionHeader: "X-Decision"}
	if err := p.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Cleanup() })
	reg := ctx.GetMetricsRegistry()

	ups := upstreams(resident, other)
	r := httptest.NewRequest(http.MethodPost, "/api/chat", strings.NewReader(`{}`))
	r.Header.Set("X-Model", "llama3:latest")
	// Until the watcher has the reports, the fallback policy chooses.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		w := httptest.NewRecorder()
		if up := p.Select(ups, r, w); up != nil && strings.Contains(w.Header().Get("X-Decision"), "reason=resident") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the policy never chose the node holding the model")
		}
	}
	lone := upstreams(unreported)
	before := scrapeSelections(t, reg)
	for range 10 {
		p.Select(ups, r, nil)
	}
	for range 3 {
		if up := p.Select(lone, r, nil); up == nil || up.Dial != unreported {
			t.Fatalf("fallback chose %v", up)
		}
	}
	after := scrapeSelections(t, reg)
	for key, want := range map[[2]string]float64{{resident, "resident"}: 10, {unreported, "fallback:no-fresh-stats"}: 3} {
		if got := after[key] - before[key]; got != want {
			t.Errorf("%v counted %v times, want %v", key, got, want)
		}
	}
}

// scrapeSelections gathers reg and returns caddy_vram_aware_selections_total by upstream and reason.
func scrapeSelections(t *testing.T, reg *prometheus.Registry) map[[2]string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[[2]string]float64{}
	for _, f := range families {
		if f.GetName() != "caddy_vram_aware_selections_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			var key [2]string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "upstream":
					key[0] = l.GetValue()
				case "reason":
					key[1] = l.GetValue()
				}
			}
			out[key] = m.GetCounter().GetValue()
		}
	}
	return out
}
