package html

import (
	"fmt"
	"image/color"
	"slices"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/rolltest/rolltest/pkg/report"
)

// maxLayers bounds the stacked layers of the by-pod chart; the smallest
// pods beyond it are summed into one layer.
const maxLayers = 12

// layer is one stacked band of the throughput chart.
type layer struct {
	label  string
	color  color.Color
	counts []int64 // per bucket
}

// stackLayers splits each bucket's requests into layers by version or by
// pod. Requests that carry neither (failures no pod answered) make an
// "unattributed" layer so that the stack always adds up to the requests
// sent.
func stackLayers(r *report.Result, buckets []bucket, byPod bool) []layer {
	get := func(b bucket) map[string]int64 {
		if byPod {
			return b.ByPod
		}
		return b.ByVersion
	}
	totals := map[string]int64{}
	for _, b := range buckets {
		for k, c := range get(b) {
			totals[k] += c
		}
	}
	// Keys in the document's order (versions old to new, pods as listed),
	// then any the lists lack.
	var keys []string
	seen := map[string]bool{}
	labels := map[string]string{}
	add := func(k, label string) {
		if _, ok := totals[k]; ok && !seen[k] {
			seen[k] = true
			keys = append(keys, k)
			labels[k] = label
		}
	}
	if byPod {
		for _, p := range r.Pods {
			label := p.ID
			if p.Name != "" {
				label = p.Name
			}
			add(p.ID, label)
			if p.Name != "" {
				add(p.Name, p.Name)
			}
		}
	} else {
		for _, v := range r.Versions {
			add(v.Version, v.Version)
		}
	}
	var rest []string
	for k := range totals {
		if !seen[k] {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	for _, k := range rest {
		add(k, k)
	}

	// Too many pods to tell apart by colour: keep the busiest, in their
	// order, and sum the others.
	grouped := map[string]bool{}
	if len(keys) > maxLayers {
		byTraffic := slices.Clone(keys)
		sort.SliceStable(byTraffic, func(i, j int) bool { return totals[byTraffic[i]] > totals[byTraffic[j]] })
		for _, k := range byTraffic[maxLayers-1:] {
			grouped[k] = true
		}
		keys = slices.DeleteFunc(keys, func(k string) bool { return grouped[k] })
	}

	layers := make([]layer, 0, len(keys)+2)
	for i, k := range keys {
		l := layer{label: labels[k], color: palette[i%len(palette)], counts: make([]int64, len(buckets))}
		for j, b := range buckets {
			l.counts[j] = get(b)[k]
		}
		layers = append(layers, l)
	}
	if len(grouped) > 0 {
		l := layer{label: fmt.Sprintf("%d other pods", len(grouped)), color: otherPodsColor, counts: make([]int64, len(buckets))}
		for j, b := range buckets {
			for k, c := range get(b) {
				if grouped[k] {
					l.counts[j] += c
				}
			}
		}
		layers = append(layers, l)
	}
	un := layer{label: "unattributed", color: color.NRGBA{0xd0, 0xd5, 0xdb, 0xff}, counts: make([]int64, len(buckets))}
	hasUn := false
	for j, b := range buckets {
		var sum int64
		for _, c := range get(b) {
			sum += c
		}
		if d := b.Requests - sum; d > 0 {
			un.counts[j] = d
			hasUn = true
		}
	}
	if hasUn {
		layers = append(layers, un)
	}
	return layers
}

// stepLine returns the vertices of a step line through (t0[i]..t1[i], y[i]),
// without the redundant points of flat stretches.
func stepLine(buckets []bucket, y []float64) plotter.XYs {
	var pts plotter.XYs
	for i := range y {
		if i == 0 {
			pts = append(pts, plotter.XY{X: buckets[0].T0, Y: y[0]})
			continue
		}
		if y[i] != y[i-1] {
			pts = append(pts, plotter.XY{X: buckets[i].T0, Y: y[i-1]}, plotter.XY{X: buckets[i].T0, Y: y[i]})
		}
	}
	last := len(y) - 1
	return append(pts, plotter.XY{X: buckets[last].T1, Y: y[last]})
}

// rolloutSpans returns the rollout phase's span, to shade it.
func rolloutSpans(r *report.Result) [][2]float64 {
	if r.Rollout == nil {
		return nil
	}
	var out [][2]float64
	for _, ph := range r.Phases {
		if ph.Name == "rollout" && ph.EndS > ph.StartS {
			out = append(out, [2]float64{ph.StartS, ph.EndS})
		}
	}
	return out
}

// timeRange is the x range of the time charts: the whole run.
func timeRange(r *report.Result, buckets []bucket) (float64, float64) {
	x0, x1 := 0.0, 1.0
	if len(buckets) > 0 {
		x0 = min(x0, buckets[0].T0)
		x1 = max(x1, buckets[len(buckets)-1].T1)
	}
	if r.Run.DurationS > x1 && r.Run.DurationS < x1+5 {
		x1 = r.Run.DurationS
	}
	return x0, x1
}

// throughputChart draws requests/s over time, stacked by version or by
// pod, above a lane of failed and retried requests per second on a scale of
// its own (so that a single failure shows however busy the run was), with
// the rollout phase and events across both.
func throughputChart(r *report.Result, byPod bool) chart {
	buckets := downsample(r.Series, maxPoints)
	if len(buckets) == 0 {
		return chart{Err: "The run recorded no per-second series."}
	}
	k := buckets[0].width()
	unit := "/s"
	if k > 1 {
		unit = fmt.Sprintf("/s (mean of %g s)", k)
	}
	x0, x1 := timeRange(r, buckets)
	p := newPlot("", "requests"+unit)
	p.X.Min, p.X.Max = x0, x1
	p.X.Tick.Marker = shortTicks{noLabels: true}
	lane := newPlot("seconds since start", "failed")
	lane.X.Min, lane.X.Max = x0, x1
	lane.Y.Tick.Marker = countTicks{}
	var legend []legendEntry

	if spans := rolloutSpans(r); len(spans) > 0 {
		p.Add(&bands{spans: spans, color: phaseFill})
		lane.Add(&bands{spans: spans, color: phaseFill})
		legend = append(legend, legendEntry{label: "rollout phase", thumbs: []plot.Thumbnailer{swatch{fill: phaseFill}}})
	}

	// Failures: a faint band over the traffic, and bars in the lane.
	failed := make([]float64, len(buckets))
	retried := make([]float64, len(buckets))
	var failSpans [][2]float64
	var failedTotal, retriedTotal int64
	laneMax := 0.0
	for i, b := range buckets {
		failed[i] = float64(b.Failed) / b.width()
		retried[i] = float64(b.Retried) / b.width()
		laneMax = max(laneMax, failed[i]+retried[i])
		failedTotal += b.Failed
		retriedTotal += b.Retried
		if b.Failed > 0 {
			failSpans = append(failSpans, [2]float64{b.T0, b.T1})
		}
	}
	layers := stackLayers(r, buckets, byPod)
	lower := make([]float64, len(buckets))
	ymax := 0.0
	var layerLegend []legendEntry
	for _, l := range layers {
		upper := make([]float64, len(buckets))
		var total int64
		for i, b := range buckets {
			upper[i] = lower[i] + float64(l.counts[i])/b.width()
			total += l.counts[i]
		}
		if total > 0 {
			top := stepLine(buckets, upper)
			bottom := stepLine(buckets, lower)
			slices.Reverse(bottom)
			poly, err := plotter.NewPolygon(append(top, bottom...))
			if err == nil {
				poly.Color = l.color
				poly.LineStyle = draw.LineStyle{Color: l.color, Width: 0.3}
				p.Add(poly)
			}
			layerLegend = append(layerLegend, legendEntry{label: l.label, thumbs: []plot.Thumbnailer{swatch{fill: l.color}}})
		}
		for i := range upper {
			ymax = max(ymax, upper[i])
		}
		lower = upper
	}
	// The legend lists the stack top down, as it is drawn.
	slices.Reverse(layerLegend)
	legend = append(legend, layerLegend...)

	if len(failSpans) > 0 || retriedTotal > 0 {
		lane.Add(&bars{buckets: buckets, values: failed, color: failedColor, minWidth: 2})
		lane.Add(&bars{buckets: buckets, base: failed, values: retried, color: retriedColor, minWidth: 2})
	}
	legend = append(legend, legendEntry{
		label:  fmt.Sprintf("failed (%d)", failedTotal),
		thumbs: []plot.Thumbnailer{swatch{fill: failedColor}},
	})
	if retriedTotal > 0 {
		legend = append(legend, legendEntry{
			label:  fmt.Sprintf("retried (%d)", retriedTotal),
			thumbs: []plot.Thumbnailer{swatch{fill: retriedColor}},
		})
	}
	lane.Y.Min = 0
	lane.Y.Max = countTop(laneMax)
	if failedTotal == 0 && retriedTotal == 0 {
		lane.Add(&note{text: "no failed requests"})
	}

	events := placeEvents(r, true)
	dataWidth := svgWidth - 190
	rows := labelRowsNeeded(events, x0, x1, dataWidth)
	if ymax <= 0 {
		ymax = 1
	}
	const topHeight, laneHeight = vg.Length(230), vg.Length(100)
	dataHeight := float64(topHeight - 12)
	reserve := float64(vg.Length(rows)*labelRowHeight + 6)
	p.Y.Min = 0
	p.Y.Max = ymax * 1.05 / (1 - reserve/dataHeight)
	if len(events) > 0 {
		p.Add(&eventMarkers{events: events, rows: rows})
		lane.Add(&eventMarkers{events: placeEvents(r, false)})
	}
	legend = append(legend, eventLegend(events)...)

	what := "version"
	if byPod {
		what = "pod"
	}
	return render([]panel{{p, topHeight}, {lane, laneHeight}}, legend,
		"Requests per second over time, stacked by "+what+", with failed requests per second below and the rollout's events")
}
