package html

import (
	"fmt"
	"image/color"
	"math"
	"slices"
	"sort"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/rolltest/rolltest/pkg/report"
)

// latencyChart draws p50, p99 and max latency per second, on a log scale
// when the spread is so large that a linear one would flatten p50.
func latencyChart(r *report.Result) (chart, bool) {
	buckets := downsample(r.Series, maxPoints)
	var p50s []float64
	peak := 0.0
	minPos := math.Inf(1)
	for _, b := range buckets {
		if !b.HasLatency {
			continue
		}
		if b.P50 > 0 {
			p50s = append(p50s, b.P50)
		}
		peak = max(peak, b.Max, b.P99)
		for _, v := range []float64{b.P50, b.P99, b.Max} {
			if v > 0 {
				minPos = min(minPos, v)
			}
		}
	}
	if len(p50s) == 0 {
		return chart{Err: "The run recorded no per-second latencies."}, false
	}
	sort.Float64s(p50s)
	median := p50s[len(p50s)/2]
	logY := peak/median >= 20

	p := newPlot("seconds since start", "latency (ms)")
	x0, x1 := timeRange(r, buckets)
	p.X.Min, p.X.Max = x0, x1
	var legend []legendEntry
	if spans := rolloutSpans(r); len(spans) > 0 {
		p.Add(&bands{spans: spans, color: phaseFill})
		legend = append(legend, legendEntry{label: "rollout phase", thumbs: []plot.Thumbnailer{swatch{fill: phaseFill}}})
	}
	if events := placeEvents(r, false); len(events) > 0 {
		p.Add(&eventMarkers{events: events})
	}

	type series struct {
		name  string
		color color.Color
		width vg.Length
		get   func(bucket) float64
	}
	for _, s := range []series{
		{"max", maxColor, 0.8, func(b bucket) float64 { return b.Max }},
		{"p99", p99Color, 1.4, func(b bucket) float64 { return b.P99 }},
		{"p50", p50Color, 1.4, func(b bucket) float64 { return b.P50 }},
	} {
		ls := draw.LineStyle{Color: s.color, Width: s.width}
		// A second without completed requests has no latency: the line
		// breaks there instead of dropping to zero.
		var seg plotter.XYs
		flush := func() {
			if len(seg) == 1 {
				seg = append(seg, plotter.XY{X: seg[0].X + 0.01, Y: seg[0].Y})
			}
			if len(seg) > 1 {
				if l, err := plotter.NewLine(seg); err == nil {
					l.LineStyle = ls
					p.Add(l)
				}
			}
			seg = nil
		}
		for _, b := range buckets {
			v := s.get(b)
			if !b.HasLatency || v <= 0 {
				flush()
				continue
			}
			seg = append(seg, plotter.XY{X: (b.T0 + b.T1) / 2, Y: v})
		}
		flush()
		legend = append(legend, legendEntry{label: s.name, thumbs: []plot.Thumbnailer{swatch{line: &ls}}})
	}
	slices.Reverse(legend[len(legend)-3:])

	if lim := r.Config.Thresholds.MaxP99Ms; lim > 0 {
		ls := draw.LineStyle{Color: failedColor, Width: 0.9, Dashes: []vg.Length{5, 3}}
		if l, err := plotter.NewLine(plotter.XYs{{X: x0, Y: lim}, {X: x1, Y: lim}}); err == nil {
			l.LineStyle = ls
			p.Add(l)
			legend = append(legend, legendEntry{label: "p99 limit " + formatMs(lim), thumbs: []plot.Thumbnailer{swatch{line: &ls}}})
		}
		peak = max(peak, lim)
		minPos = min(minPos, lim)
	}

	if logY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Min = logFloor(minPos * 0.8)
		p.Y.Max = peak * 1.3
		p.Y.Tick.Marker = logTicks{}
		p.Y.Label.Text = "latency (ms, log scale)"
	} else {
		p.Y.Min = 0
		p.Y.Max = peak * 1.08
	}
	return render([]panel{{p, plotHeight}}, legend, "Latency over time: p50, p99 and max per second"), logY
}

// logFloor rounds v down to 1, 2 or 5 times a power of ten, so that
// the lowest tick of a log axis is labelled.
func logFloor(v float64) float64 {
	if v <= 0 {
		return 0.001
	}
	e := math.Pow10(int(math.Floor(math.Log10(v))))
	for _, m := range []float64{5, 2, 1} {
		if m*e <= v {
			return m * e
		}
	}
	return e
}

// logTicks labels a log axis at 1, 2 and 5 times the powers of ten
// when it spans few decades, and at the powers only when it spans many.
type logTicks struct{}

func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	if lo <= 0 || hi <= lo {
		return nil
	}
	decades := math.Log10(hi / lo)
	mults := []float64{1, 2, 5}
	if decades > 4 {
		mults = []float64{1}
	}
	var ticks []plot.Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		base := math.Pow10(int(e))
		for m := 1.0; m < 10; m++ {
			v := m * base
			if v < lo*0.999 || v > hi*1.001 {
				continue
			}
			t := plot.Tick{Value: v}
			if slices.Contains(mults, m) {
				t.Label = strconv.FormatFloat(v, 'g', -1, 64)
			}
			ticks = append(ticks, t)
		}
	}
	return ticks
}

// percentileTicks labels the percentile axis the way HdrHistogram's
// plots do: x is 1/(1-q), so each decade is one more nine.
type percentileTicks struct{}

func (percentileTicks) Ticks(lo, hi float64) []plot.Tick {
	labels := []string{"0%", "90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%", "99.99999%"}
	var ticks []plot.Tick
	for i, l := range labels {
		v := math.Pow10(i)
		if v > hi*1.001 {
			break
		}
		ticks = append(ticks, plot.Tick{Value: v, Label: l})
		if i == 0 && 2 <= hi {
			ticks = append(ticks, plot.Tick{Value: 2, Label: "50%"})
		}
	}
	return ticks
}

// percentileChart draws the latency distribution from the HdrHistogram:
// latency by percentile on the classic 1/(1-q) axis that makes the tail
// readable.
func percentileChart(r *report.Result) chart {
	if r.Latency.Histogram == "" {
		return chart{Err: "The result holds no latency histogram."}
	}
	h, err := report.DecodeHistogram(r.Latency.Histogram)
	if err != nil {
		return chart{Err: "The latency histogram could not be read: " + err.Error()}
	}
	if h.TotalCount() == 0 {
		return chart{Err: "No request completed, so there is no latency distribution."}
	}
	var pts plotter.XYs
	for _, b := range h.CumulativeDistributionWithTicks(5) {
		if b.Quantile >= 100 {
			continue
		}
		x := 1 / (1 - b.Quantile/100)
		if math.IsInf(x, 0) || math.IsNaN(x) {
			continue
		}
		pts = append(pts, plotter.XY{X: x, Y: float64(b.ValueAt) / 1000})
	}
	maxMs := float64(h.Max()) / 1000
	if len(pts) == 0 {
		pts = plotter.XYs{{X: 1, Y: maxMs}}
	}
	// The curve ends at the maximum, drawn at the next decade.
	lastX := pts[len(pts)-1].X
	xMax := math.Max(100, math.Pow10(int(math.Ceil(math.Log10(lastX*1.0001)))))
	pts = append(pts, plotter.XY{X: xMax, Y: maxMs})

	p := newPlot("percentile", "latency (ms)")
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = percentileTicks{}
	p.X.Min, p.X.Max = 1, xMax
	p.Y.Min = 0
	g := plotter.NewGrid()
	g.Horizontal.Width = 0
	g.Vertical.Color = gridColor
	g.Vertical.Width = 0.6
	p.Add(g)

	var legend []legendEntry
	ls := draw.LineStyle{Color: p50Color, Width: 1.6}
	line, err := plotter.NewLine(pts)
	if err != nil {
		return chart{Err: "The latency distribution could not be drawn: " + err.Error()}
	}
	line.LineStyle = ls
	p.Add(line)
	legend = append(legend, legendEntry{label: fmt.Sprintf("all requests (%d)", h.TotalCount()), thumbs: []plot.Thumbnailer{swatch{line: &ls}}})

	ymax := maxMs
	// The p99 limit is drawn when it is near the curve; far above it, it
	// would flatten the curve into the axis, and the legend says so.
	if lim := r.Config.Thresholds.MaxP99Ms; lim > 0 {
		lls := draw.LineStyle{Color: failedColor, Width: 0.9, Dashes: []vg.Length{5, 3}}
		label := "p99 limit " + formatMs(lim)
		if lim <= 2*maxMs {
			if l, err := plotter.NewLine(plotter.XYs{{X: 1, Y: lim}, {X: xMax, Y: lim}}); err == nil {
				l.LineStyle = lls
				p.Add(l)
			}
			ymax = max(ymax, lim)
		} else {
			label += " (off scale)"
		}
		legend = append(legend, legendEntry{label: label, thumbs: []plot.Thumbnailer{swatch{line: &lls}}})
	}

	// Mark the headline percentiles with their values.
	var marks plotter.XYs
	var names []string
	for _, q := range []struct {
		q    float64
		name string
	}{{50, "p50"}, {99, "p99"}, {99.9, "p99.9"}} {
		if float64(h.TotalCount())*(1-q.q/100) < 1 {
			continue
		}
		v := float64(h.ValueAtPercentile(q.q)) / 1000
		marks = append(marks, plotter.XY{X: 1 / (1 - q.q/100), Y: v})
		names = append(names, q.name+" "+formatMs(v))
	}
	if len(marks) > 0 {
		glyph := draw.GlyphStyle{Color: ink, Radius: 2.2, Shape: draw.CircleGlyph{}}
		if s, err := plotter.NewScatter(marks); err == nil {
			s.GlyphStyle = glyph
			p.Add(s)
		}
		if lb, err := plotter.NewLabels(plotter.XYLabels{XYs: marks, Labels: names}); err == nil {
			for i := range lb.TextStyle {
				lb.TextStyle[i] = textStyle(8, ink)
				lb.TextStyle[i].XAlign = draw.XRight
			}
			lb.Offset = vg.Point{X: -4, Y: 3}
			p.Add(lb)
		}
	}
	p.Y.Max = ymax * 1.1
	return render([]panel{{p, plotHeight}}, legend, "Latency distribution by percentile")
}
