package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// chartFormats are the file extensions writeChart accepts.
var chartFormats = []string{".svg", ".png", ".pdf"}

// writeChart draws the latency distribution of each policy as a cumulative curve: for each latency on the
// (logarithmic) x axis, the share of all requests answered successfully within it. Failed requests never count,
// so a policy's curve ends below 100% by its failure rate. The format follows the file's extension (.svg, .png,
// .pdf).
func writeChart(path string, sc *Scenario, sums []*Summary) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("sollol-demo, scenario %s: %d requests, seed %d", sc.Name, int(sums[0].Requests), sums[0].Seed)
	p.X.Label.Text = "latency, simulated seconds (log scale)"
	p.Y.Label.Text = "share of requests answered OK within"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Y.Min, p.Y.Max = 0, 1
	p.Legend.Left, p.Legend.Top = false, false
	p.Legend.XOffs, p.Legend.YOffs = -vg.Points(8), vg.Points(8)
	p.Add(plotter.NewGrid())
	for i, s := range sums {
		if len(s.Latencies) == 0 {
			continue
		}
		pts := make(plotter.XYs, len(s.Latencies))
		for j, l := range s.Latencies {
			pts[j].X = max(l.Seconds(), 0.01)
			pts[j].Y = float64(j+1) / s.Requests
		}
		line, err := plotter.NewLine(pts)
		if err != nil {
			return err
		}
		line.StepStyle = plotter.PostStep
		line.Color = plotutil.Color(i)
		line.Dashes = plotutil.Dashes(i)
		line.Width = vg.Points(1.5)
		p.Add(line)
		p.Legend.Add(fmt.Sprintf("%s: p50 %s, p95 %s, %s failed", s.Policy, sec(s.P50), sec(s.P95),
			num(s.Requests-s.OK)), line)
	}
	if ext := strings.ToLower(filepath.Ext(path)); !slices.Contains(chartFormats, ext) {
		return fmt.Errorf("--chart %s: want a file ending in %s", path, strings.Join(chartFormats, ", "))
	}
	return p.Save(9*vg.Inch, 5*vg.Inch, path)
}
