package html

import (
	"bytes"
	"fmt"
	"html/template"
	"image/color"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/rolltest/rolltest/pkg/report"
	"github.com/rolltest/rolltest/pkg/rollout"
)

// The charts are drawn by gonum/plot into SVG and inlined in the HTML, so
// the report needs no script, no network and no image files.

const (
	chartWidth  = vg.Length(760)
	chartHeight = vg.Length(280)
	// chartMaxPoints bounds the points per series so that a long run's
	// report stays small; a 10-minute run is drawn at full resolution.
	chartMaxPoints = 600
	// chartMaxLayers bounds the stacked layers of the by-pod chart; the
	// smallest pods beyond it are summed into one layer.
	chartMaxLayers = 12
	// chartLabelledEvents is the most events labelled with text; with more,
	// only the rollout's milestones are, and the colours (legend) tell the
	// pod events apart.
	chartLabelledEvents = 10
	chartLabelRows      = 4
	chartLabelRowHeight = vg.Length(11)
	chartLegendMaxText  = 30
)

var (
	chartInk       = color.NRGBA{0x1f, 0x23, 0x28, 0xff}
	chartMuted     = color.NRGBA{0x59, 0x63, 0x6e, 0xff}
	chartAxis      = color.NRGBA{0x8c, 0x95, 0x9f, 0xff}
	chartGrid      = color.NRGBA{0xe6, 0xe9, 0xed, 0xff}
	chartFailed    = color.NRGBA{0xd1, 0x24, 0x2f, 0xff}
	chartRetried   = color.NRGBA{0xe3, 0x74, 0x00, 0xff}
	chartPhaseFill = color.NRGBA{0xf2, 0xc1, 0x4e, 0x2c}
	chartOther     = color.NRGBA{0xb4, 0xbc, 0xc5, 0xff}
	chartLabelBG   = color.NRGBA{0xff, 0xff, 0xff, 0xd9}

	// chartPalette is colour-blind friendly (Okabe–Ito and Tableau hues)
	// and leaves red to failures.
	chartPalette = []color.NRGBA{
		{0x4e, 0x79, 0xa7, 0xff}, // blue
		{0x59, 0xa1, 0x4f, 0xff}, // green
		{0x9c, 0x75, 0x5f, 0xff}, // brown
		{0xb0, 0x7a, 0xa1, 0xff}, // purple
		{0x76, 0xb7, 0xb2, 0xff}, // teal
		{0xed, 0xc9, 0x48, 0xff}, // yellow
		{0xff, 0x9d, 0xa7, 0xff}, // pink
		{0x6b, 0x6e, 0xcf, 0xff}, // indigo
		{0xa0, 0xcb, 0xe8, 0xff}, // light blue
		{0x8c, 0xd1, 0x7d, 0xff}, // light green
		{0xd4, 0xa6, 0xc8, 0xff}, // light purple
		{0x86, 0xbc, 0xb6, 0xff}, // light teal
	}

	chartP50Color = color.NRGBA{0x4e, 0x79, 0xa7, 0xff}
	chartP99Color = color.NRGBA{0xe3, 0x74, 0x00, 0xff}
	chartMaxColor = color.NRGBA{0x6e, 0x76, 0x81, 0xff}
)

// chartEventStyle is how one kind of rollout event is drawn and named.
type chartEventStyle struct {
	color     color.NRGBA
	dashed    bool
	short     string // on the marker
	name      string // in the legend
	milestone bool   // labelled even when there are many events
}

var chartEventStyles = map[rollout.EventKind]chartEventStyle{
	rollout.EventTrigger:           {color.NRGBA{0x1f, 0x23, 0x28, 0xff}, false, "trigger", "rollout triggered", true},
	rollout.EventReplicaSetCreated: {color.NRGBA{0x8c, 0x95, 0x9f, 0xff}, true, "new RS", "ReplicaSet created", false},
	rollout.EventReplicaSetScaled:  {color.NRGBA{0x8c, 0x95, 0x9f, 0xff}, true, "RS scaled", "ReplicaSet scaled", false},
	rollout.EventPodCreated:        {color.NRGBA{0x76, 0xb7, 0xb2, 0xff}, true, "created", "pod created", false},
	rollout.EventPodReady:          {color.NRGBA{0x2d, 0x8a, 0x3e, 0xff}, false, "ready", "pod ready", false},
	rollout.EventPodNotReady:       {color.NRGBA{0xc7, 0x5b, 0x00, 0xff}, true, "not ready", "pod not ready", false},
	rollout.EventPodTerminating:    {color.NRGBA{0xc7, 0x5b, 0x00, 0xff}, false, "terminating", "pod terminating", false},
	rollout.EventEndpointNotReady:  {color.NRGBA{0x7a, 0x4e, 0xa8, 0xff}, true, "ep not ready", "endpoint not ready", false},
	rollout.EventEndpointRemoved:   {color.NRGBA{0x7a, 0x4e, 0xa8, 0xff}, false, "ep removed", "endpoint removed", false},
	rollout.EventPodDeleted:        {color.NRGBA{0x6e, 0x50, 0x3c, 0xff}, true, "deleted", "pod deleted", false},
	rollout.EventRolloutComplete:   {color.NRGBA{0x1a, 0x7f, 0x37, 0xff}, false, "complete", "rollout complete", true},
	rollout.EventOldPodsGone:       {color.NRGBA{0x1f, 0x23, 0x28, 0xff}, true, "old pods gone", "old pods gone", true},
	rollout.EventRolloutFailed:     {color.NRGBA{0xd1, 0x24, 0x2f, 0xff}, false, "ROLLOUT FAILED", "rollout failed", true},
}

// chartEventOrder is the legend order of the event kinds.
var chartEventOrder = []rollout.EventKind{
	rollout.EventTrigger, rollout.EventReplicaSetCreated, rollout.EventReplicaSetScaled,
	rollout.EventPodCreated, rollout.EventPodReady, rollout.EventPodNotReady,
	rollout.EventPodTerminating, rollout.EventEndpointNotReady, rollout.EventEndpointRemoved,
	rollout.EventPodDeleted, rollout.EventRolloutComplete, rollout.EventOldPodsGone,
	rollout.EventRolloutFailed,
}

func chartStyleOf(k rollout.EventKind) chartEventStyle {
	if s, ok := chartEventStyles[k]; ok {
		return s
	}
	return chartEventStyle{color: chartAxis, dashed: true, short: chartSafeText(string(k)), name: chartSafeText(string(k))}
}

// chartSVG is one rendered chart, or why there is none.
type chartSVG struct {
	SVG template.HTML
	Err string
}

func chartFont(size vg.Length) font.Font {
	return font.Font{Typeface: "Liberation", Variant: "Sans", Size: size}
}

func chartTextStyle(size vg.Length, c color.Color) text.Style {
	return text.Style{Color: c, Font: chartFont(size), Handler: plot.DefaultTextHandler}
}

// chartNewPlot returns a plot in the report's visual style.
func chartNewPlot(xLabel, yLabel string) *plot.Plot {
	p := plot.New()
	p.BackgroundColor = color.White
	for _, ax := range []*plot.Axis{&p.X, &p.Y} {
		ax.Label.TextStyle.Font = chartFont(10)
		ax.Label.TextStyle.Color = chartMuted
		ax.Tick.Label.Font = chartFont(9)
		ax.Tick.Label.Color = chartMuted
		ax.LineStyle.Color = chartAxis
		ax.Tick.LineStyle.Color = chartAxis
		ax.Tick.Length = 4
		ax.Padding = 0
	}
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	p.X.Tick.Marker = chartTicks{}
	p.Y.Tick.Marker = chartTicks{}
	p.Legend.TextStyle.Font = chartFont(9)
	g := plotter.NewGrid()
	g.Vertical.Width = 0
	g.Horizontal.Color = chartGrid
	g.Horizontal.Width = 0.6
	p.Add(g)
	return p
}

// chartLegendEntry is one row of the legend drawn right of a chart.
type chartLegendEntry struct {
	label  string
	thumbs []plot.Thumbnailer
}

// chartPanel is one plot of a chart; a chart's panels are stacked top to
// bottom, share the time axis and are aligned on their data areas.
type chartPanel struct {
	p      *plot.Plot
	height vg.Length
}

// chartRender draws the panels with one legend to the right of the data
// area and returns inline SVG markup. gonum escapes every text it writes
// (html.EscapeString), so the markup is safe to inline.
func chartRender(panels []chartPanel, legend []chartLegendEntry, ariaLabel string) (out chartSVG) {
	defer func() {
		// gonum panics on inputs it cannot draw (a log axis reaching 0, a
		// degenerate range); one bad chart must not cost the whole report.
		if e := recover(); e != nil {
			out = chartSVG{Err: fmt.Sprintf("the chart could not be drawn: %v", e)}
		}
	}()
	var height vg.Length
	for _, pn := range panels {
		height += pn.height
	}
	c := vgsvg.New(chartWidth, height)
	dc := draw.New(c)

	leg := plot.NewLegend()
	leg.TextStyle = chartTextStyle(9, chartInk)
	leg.ThumbnailWidth = 14
	leg.Padding = 3
	leg.Top = true
	leg.Left = true
	for _, e := range legend {
		leg.Add(chartClip(e.label, chartLegendMaxText), e.thumbs...)
	}
	var lw vg.Length
	if len(legend) > 0 {
		lw = leg.Rectangle(dc).Size().X + 16
	}
	area := draw.Crop(dc, 0, -lw, 0, 0)
	areas := make([]draw.Canvas, len(panels))
	top := area.Max.Y
	for i, pn := range panels {
		areas[i] = area
		areas[i].Max.Y = top
		areas[i].Min.Y = top - pn.height
		top -= pn.height
	}
	// Line the data areas up, so that a second is at the same x in every
	// panel whatever the width of each panel's tick labels.
	if len(panels) > 1 {
		left, right := make([]vg.Length, len(panels)), make([]vg.Length, len(panels))
		maxLeft, minRight := vg.Length(math.Inf(-1)), vg.Length(math.Inf(1))
		for i, pn := range panels {
			d := pn.p.DataCanvas(areas[i])
			left[i], right[i] = d.Min.X, d.Max.X
			maxLeft, minRight = max(maxLeft, d.Min.X), min(minRight, d.Max.X)
		}
		for i := range panels {
			areas[i] = draw.Crop(areas[i], maxLeft-left[i], minRight-right[i], 0, 0)
		}
	}
	for i, pn := range panels {
		pn.p.Draw(areas[i])
	}
	if len(legend) > 0 {
		leg.Draw(draw.Crop(dc, chartWidth-lw+10, 0, 0, -6))
	}

	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return chartSVG{Err: "the chart could not be drawn: " + err.Error()}
	}
	s := buf.String()
	// Drop the XML prolog and comment: inline SVG in HTML starts at <svg>.
	if i := strings.Index(s, "<svg"); i >= 0 {
		s = s[i:]
	}
	s = strings.Replace(s, "<svg ", `<svg class="chart" role="img" aria-label="`+template.HTMLEscapeString(ariaLabel)+`" `, 1)
	return chartSVG{SVG: template.HTML(s)}
}

// chartTicks are gonum's default tick positions with labels as short as
// the value allows ("50", not "50.00").
type chartTicks struct {
	noLabels bool
}

func (t chartTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ticks {
		if ticks[i].Label == "" {
			continue
		}
		if t.noLabels {
			ticks[i].Label = ""
			continue
		}
		ticks[i].Label = strconv.FormatFloat(ticks[i].Value, 'f', -1, 64)
		if v, err := strconv.ParseFloat(strconv.FormatFloat(ticks[i].Value, 'g', 10, 64), 64); err == nil {
			ticks[i].Label = strconv.FormatFloat(v, 'f', -1, 64)
		}
	}
	return ticks
}

// chartIntStep is the tick step of a count axis up to v: 1, 2 or 5 times
// a power of ten, about half of v.
func chartIntStep(v float64) float64 {
	if v <= 2 {
		return 1
	}
	e := math.Pow10(int(math.Floor(math.Log10(v / 2))))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*e >= v/2 {
			return m * e
		}
	}
	return 10 * e
}

// chartIntTop is the top of a count axis that shows v.
func chartIntTop(v float64) float64 {
	v = math.Max(1, math.Ceil(v))
	step := chartIntStep(v)
	return math.Ceil(v/step) * step
}

// chartIntTicks labels a count axis with whole numbers only.
type chartIntTicks struct{}

func (chartIntTicks) Ticks(lo, hi float64) []plot.Tick {
	step := chartIntStep(hi)
	var ticks []plot.Tick
	for v := 0.0; v <= hi*1.0001; v += step {
		ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', -1, 64)})
	}
	return ticks
}

// chartNote writes a line of text in the middle of the data area.
type chartNote struct {
	text string
}

func (n *chartNote) Plot(c draw.Canvas, p *plot.Plot) {
	sty := chartTextStyle(9, chartMuted)
	sty.XAlign = draw.XCenter
	sty.YAlign = draw.YCenter
	c.FillText(sty, c.Center(), n.text)
}

// chartBars draws a value per bucket as a bar from base to base+value, at
// least minWidth wide so that a single second stays visible in a long run.
type chartBars struct {
	buckets  []chartBucket
	base     []float64
	values   []float64
	color    color.Color
	minWidth vg.Length
}

func (b *chartBars) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	for i, bk := range b.buckets {
		if b.values[i] <= 0 {
			continue
		}
		base := 0.0
		if b.base != nil {
			base = b.base[i]
		}
		x0, x1 := trX(bk.T0), trX(bk.T1)
		if x1-x0 < b.minWidth {
			mid := (x0 + x1) / 2
			x0, x1 = mid-b.minWidth/2, mid+b.minWidth/2
		}
		x0, x1 = max(x0, c.Min.X), min(x1, c.Max.X)
		y0, y1 := trY(base), trY(base+b.values[i])
		if x1 <= x0 {
			continue
		}
		c.FillPolygon(b.color, []vg.Point{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}})
	}
}

// chartBucket is a stretch of the series drawn as one point: one second
// unless the run is longer than chartMaxPoints seconds.
type chartBucket struct {
	T0, T1    float64
	Requests  int64
	Failed    int64
	Retried   int64
	ByVersion map[string]int64
	ByPod     map[string]int64
	// The latency fields are the maximum over the bucket's seconds: a
	// spike must survive downsampling.
	P50, P99, Max float64
	HasLatency    bool
}

func (b chartBucket) width() float64 { return b.T1 - b.T0 }

// chartBuckets downsamples the series to at most maxPoints buckets of equal
// width: counts are summed and latencies take the maximum, so that no
// failure and no spike is lost. An entry of the series that covers several
// seconds (width_s) goes whole into the bucket of its first second; the
// bucket width is a multiple of the widest entry's, so that the document's
// buckets (aligned to their width) each fit in one, and the rates (count /
// bucket width) stay true.
func chartBuckets(series []report.Second, maxPoints int) []chartBucket {
	// A second outside [0, report.MaxRunSeconds) cannot come from a run; such a
	// file is damaged, and the chart shows what is plausible.
	series = slices.DeleteFunc(slices.Clone(series), func(s report.Second) bool {
		return s.T < 0 || s.T >= report.MaxRunSeconds || s.Width() > report.MaxRunSeconds-s.T
	})
	if len(series) == 0 {
		return nil
	}
	lo, hi, widest := 0, 0, 1
	for _, s := range series {
		hi = max(hi, s.T+s.Width()-1)
		widest = max(widest, s.Width())
	}
	span := hi - lo + 1
	k := max(1, (span+maxPoints-1)/maxPoints)
	if widest > 1 {
		k = (k + widest - 1) / widest * widest
	}
	n := (span + k - 1) / k
	out := make([]chartBucket, n)
	for i := range out {
		out[i].T0 = float64(lo + i*k)
		out[i].T1 = float64(min(lo+(i+1)*k, hi+1))
	}
	for _, s := range series {
		b := &out[(s.T-lo)/k]
		b.Requests += s.Requests
		b.Failed += s.Failed
		b.Retried += s.Retried
		for v, c := range s.ByVersion {
			if b.ByVersion == nil {
				b.ByVersion = map[string]int64{}
			}
			b.ByVersion[v] += c
		}
		for p, c := range s.ByPod {
			if b.ByPod == nil {
				b.ByPod = map[string]int64{}
			}
			b.ByPod[p] += c
		}
		if s.P50Ms > 0 || s.P99Ms > 0 || s.MaxMs > 0 {
			b.HasLatency = true
			b.P50 = max(b.P50, s.P50Ms)
			b.P99 = max(b.P99, s.P99Ms)
			b.Max = max(b.Max, s.MaxMs)
		}
	}
	return out
}

// chartLayer is one stacked band of the throughput chart.
type chartLayer struct {
	label  string
	color  color.Color
	counts []int64 // per bucket
}

// chartLayers splits each bucket's requests into layers by version or by
// pod. Requests that carry neither (failures no pod answered) make an
// "unattributed" layer so that the stack always adds up to the requests
// sent.
func chartLayers(r *report.Result, buckets []chartBucket, byPod bool) []chartLayer {
	get := func(b chartBucket) map[string]int64 {
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
	if len(keys) > chartMaxLayers {
		byTraffic := slices.Clone(keys)
		sort.SliceStable(byTraffic, func(i, j int) bool { return totals[byTraffic[i]] > totals[byTraffic[j]] })
		for _, k := range byTraffic[chartMaxLayers-1:] {
			grouped[k] = true
		}
		keys = slices.DeleteFunc(keys, func(k string) bool { return grouped[k] })
	}

	layers := make([]chartLayer, 0, len(keys)+2)
	for i, k := range keys {
		l := chartLayer{label: labels[k], color: chartPalette[i%len(chartPalette)], counts: make([]int64, len(buckets))}
		for j, b := range buckets {
			l.counts[j] = get(b)[k]
		}
		layers = append(layers, l)
	}
	if len(grouped) > 0 {
		l := chartLayer{label: fmt.Sprintf("%d other pods", len(grouped)), color: chartOther, counts: make([]int64, len(buckets))}
		for j, b := range buckets {
			for k, c := range get(b) {
				if grouped[k] {
					l.counts[j] += c
				}
			}
		}
		layers = append(layers, l)
	}
	un := chartLayer{label: "unattributed", color: color.NRGBA{0xd0, 0xd5, 0xdb, 0xff}, counts: make([]int64, len(buckets))}
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

// chartStep returns the vertices of a step line through (t0[i]..t1[i], y[i]),
// without the redundant points of flat stretches.
func chartStep(buckets []chartBucket, y []float64) plotter.XYs {
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

// chartEvent is one rollout event placed on the time axis.
type chartEvent struct {
	x     float64
	kind  rollout.EventKind
	label string // empty: a marker without text
}

// chartEvents turns the rollout's events into markers; labelled says
// whether pod events get text (few events) or only colour (many).
func chartEvents(r *report.Result, labelled bool) []chartEvent {
	if r.Rollout == nil {
		return nil
	}
	evs := slices.Clone(r.Rollout.Events)
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].AtS < evs[j].AtS })
	labelAll := labelled && len(evs) <= chartLabelledEvents
	var out []chartEvent
	for _, e := range evs {
		if math.IsNaN(e.AtS) || math.IsInf(e.AtS, 0) {
			continue
		}
		st := chartStyleOf(e.Kind)
		ce := chartEvent{x: e.AtS, kind: e.Kind}
		if labelled && (labelAll || st.milestone) {
			ce.label = st.short
			if e.Pod != "" && !st.milestone {
				ce.label += " " + chartPodSuffix(e.Pod)
			}
		}
		out = append(out, ce)
	}
	return out
}

// chartPodSuffix shortens a pod name to its random suffix, which is what
// tells a Deployment's pods apart ("web-7d9f8b6c5d-x7k2p" → "x7k2p").
func chartPodSuffix(name string) string {
	name = chartSafeText(name)
	if i := strings.LastIndexByte(name, '-'); i >= 0 && i < len(name)-1 {
		name = name[i+1:]
	}
	return chartClip(name, 10)
}

// chartEventMarkers draws rollout events as vertical lines across the data
// area, with their labels staggered in rows at the top so that events close
// in time stay legible.
type chartEventMarkers struct {
	events []chartEvent
	rows   int // label rows reserved at the top
}

func (m *chartEventMarkers) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	sty := chartTextStyle(8, chartInk)
	sty.YAlign = draw.YBottom
	xs := make([]vg.Length, len(m.events))
	for i, e := range m.events {
		xs[i] = trX(e.x)
	}
	rows := chartLayoutLabels(m.events, xs, m.rows)
	for i, e := range m.events {
		x := xs[i]
		if !c.ContainsX(x) {
			continue
		}
		st := chartStyleOf(e.kind)
		ls := draw.LineStyle{Color: st.color, Width: 0.9}
		if st.dashed {
			ls.Dashes = []vg.Length{3, 2}
		}
		top := c.Max.Y
		if row := rows[i]; row >= 0 {
			w := sty.Width(e.label)
			base := c.Max.Y - vg.Length(row+1)*chartLabelRowHeight
			top = base + chartLabelRowHeight - 1
			c.FillPolygon(chartLabelBG, []vg.Point{
				{X: x + 1, Y: base - 1}, {X: x + 3 + w, Y: base - 1},
				{X: x + 3 + w, Y: base + chartLabelRowHeight - 2}, {X: x + 1, Y: base + chartLabelRowHeight - 2},
			})
			lsty := sty
			lsty.Color = st.color
			c.FillText(lsty, vg.Point{X: x + 2, Y: base}, e.label)
		}
		c.StrokeLine2(ls, x, c.Min.Y, x, top)
	}
}

// chartLayoutLabels gives each labelled event a row at the top of the
// chart where its label overlaps no other, or -1 when no row is free. The
// rollout's milestones are placed first, so that they are the labels kept.
func chartLayoutLabels(events []chartEvent, xs []vg.Length, maxRows int) []int {
	sty := chartTextStyle(8, chartInk)
	rows := make([]int, len(events))
	taken := make([][][2]vg.Length, maxRows)
	for i := range rows {
		rows[i] = -1
	}
	for _, milestones := range []bool{true, false} {
		for i, e := range events {
			if e.label == "" || chartStyleOf(e.kind).milestone != milestones {
				continue
			}
			span := [2]vg.Length{xs[i], xs[i] + 4 + sty.Width(e.label) + 4}
			for r := range taken {
				free := true
				for _, t := range taken[r] {
					if span[0] < t[1] && t[0] < span[1] {
						free = false
						break
					}
				}
				if free {
					taken[r] = append(taken[r], span)
					rows[i] = r
					break
				}
			}
		}
	}
	return rows
}

// chartLabelRowsNeeded lays the labels out as Plot will, on the estimated
// data width, to know how much room to keep free above the data.
func chartLabelRowsNeeded(events []chartEvent, x0, x1 float64, width vg.Length) int {
	if x1 <= x0 {
		return 0
	}
	xs := make([]vg.Length, len(events))
	for i, e := range events {
		xs[i] = vg.Length((e.x-x0)/(x1-x0)) * width
	}
	n := 0
	for _, r := range chartLayoutLabels(events, xs, chartLabelRows) {
		n = max(n, r+1)
	}
	return n
}

// chartBands shades spans of the time axis over the full height of the
// data area: the rollout phase, and the seconds with failures. A span is
// drawn at least minWidth wide so that a single failed request in a long
// run still shows.
type chartBands struct {
	spans    [][2]float64
	color    color.Color
	minWidth vg.Length
}

func (b *chartBands) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	for _, s := range b.spans {
		x0, x1 := trX(s[0]), trX(s[1])
		if w := x1 - x0; w < b.minWidth {
			mid := (x0 + x1) / 2
			x0, x1 = mid-b.minWidth/2, mid+b.minWidth/2
		}
		x0 = max(x0, c.Min.X)
		x1 = min(x1, c.Max.X)
		if x1 <= x0 {
			continue
		}
		c.FillPolygon(b.color, []vg.Point{{X: x0, Y: c.Min.Y}, {X: x1, Y: c.Min.Y}, {X: x1, Y: c.Max.Y}, {X: x0, Y: c.Max.Y}})
	}
}

// chartSwatch is a legend thumbnail: a filled box, a line, a vertical
// line (event marker) or a glyph, or several of them.
type chartSwatch struct {
	fill     color.Color
	line     *draw.LineStyle
	vertical bool
	glyph    *draw.GlyphStyle
}

func (s chartSwatch) Thumbnail(c *draw.Canvas) {
	if s.fill != nil {
		inset := vg.Length(1.5)
		c.FillPolygon(s.fill, []vg.Point{
			{X: c.Min.X, Y: c.Min.Y + inset}, {X: c.Max.X, Y: c.Min.Y + inset},
			{X: c.Max.X, Y: c.Max.Y - inset}, {X: c.Min.X, Y: c.Max.Y - inset},
		})
	}
	if s.line != nil {
		if s.vertical {
			x := c.Center().X
			c.StrokeLine2(*s.line, x, c.Min.Y, x, c.Max.Y)
		} else {
			y := c.Center().Y
			c.StrokeLine2(*s.line, c.Min.X, y, c.Max.X, y)
		}
	}
	if s.glyph != nil {
		c.DrawGlyph(*s.glyph, c.Center())
	}
}

// chartPhaseSpans returns the rollout phase's span, to shade it.
func chartPhaseSpans(r *report.Result) [][2]float64 {
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

// chartEventLegend lists the kinds of events drawn, in timeline order.
func chartEventLegend(events []chartEvent) []chartLegendEntry {
	present := map[rollout.EventKind]bool{}
	for _, e := range events {
		present[e.kind] = true
	}
	var out []chartLegendEntry
	add := func(k rollout.EventKind) {
		st := chartStyleOf(k)
		ls := draw.LineStyle{Color: st.color, Width: 1.2}
		if st.dashed {
			ls.Dashes = []vg.Length{3, 2}
		}
		out = append(out, chartLegendEntry{label: st.name, thumbs: []plot.Thumbnailer{chartSwatch{line: &ls, vertical: true}}})
	}
	for _, k := range chartEventOrder {
		if present[k] {
			add(k)
			delete(present, k)
		}
	}
	var rest []string
	for k := range present {
		rest = append(rest, string(k))
	}
	sort.Strings(rest)
	for _, k := range rest {
		add(rollout.EventKind(k))
	}
	return out
}

// chartTimeRange is the x range of the time charts: the whole run.
func chartTimeRange(r *report.Result, buckets []chartBucket) (float64, float64) {
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

// chartThroughput draws requests/s over time, stacked by version or by
// pod, above a lane of failed and retried requests per second on a scale of
// its own (so that a single failure shows however busy the run was), with
// the rollout phase and events across both.
func chartThroughput(r *report.Result, byPod bool) chartSVG {
	buckets := chartBuckets(r.Series, chartMaxPoints)
	if len(buckets) == 0 {
		return chartSVG{Err: "The run recorded no per-second series."}
	}
	k := buckets[0].width()
	unit := "/s"
	if k > 1 {
		unit = fmt.Sprintf("/s (mean of %g s)", k)
	}
	x0, x1 := chartTimeRange(r, buckets)
	p := chartNewPlot("", "requests"+unit)
	p.X.Min, p.X.Max = x0, x1
	p.X.Tick.Marker = chartTicks{noLabels: true}
	lane := chartNewPlot("seconds since start", "failed")
	lane.X.Min, lane.X.Max = x0, x1
	lane.Y.Tick.Marker = chartIntTicks{}
	var legend []chartLegendEntry

	if spans := chartPhaseSpans(r); len(spans) > 0 {
		p.Add(&chartBands{spans: spans, color: chartPhaseFill})
		lane.Add(&chartBands{spans: spans, color: chartPhaseFill})
		legend = append(legend, chartLegendEntry{label: "rollout phase", thumbs: []plot.Thumbnailer{chartSwatch{fill: chartPhaseFill}}})
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
	layers := chartLayers(r, buckets, byPod)
	lower := make([]float64, len(buckets))
	ymax := 0.0
	var layerLegend []chartLegendEntry
	for _, l := range layers {
		upper := make([]float64, len(buckets))
		var total int64
		for i, b := range buckets {
			upper[i] = lower[i] + float64(l.counts[i])/b.width()
			total += l.counts[i]
		}
		if total > 0 {
			top := chartStep(buckets, upper)
			bottom := chartStep(buckets, lower)
			slices.Reverse(bottom)
			poly, err := plotter.NewPolygon(append(top, bottom...))
			if err == nil {
				poly.Color = l.color
				poly.LineStyle = draw.LineStyle{Color: l.color, Width: 0.3}
				p.Add(poly)
			}
			layerLegend = append(layerLegend, chartLegendEntry{label: l.label, thumbs: []plot.Thumbnailer{chartSwatch{fill: l.color}}})
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
		lane.Add(&chartBars{buckets: buckets, values: failed, color: chartFailed, minWidth: 2})
		lane.Add(&chartBars{buckets: buckets, base: failed, values: retried, color: chartRetried, minWidth: 2})
	}
	legend = append(legend, chartLegendEntry{
		label:  fmt.Sprintf("failed (%d)", failedTotal),
		thumbs: []plot.Thumbnailer{chartSwatch{fill: chartFailed}},
	})
	if retriedTotal > 0 {
		legend = append(legend, chartLegendEntry{
			label:  fmt.Sprintf("retried (%d)", retriedTotal),
			thumbs: []plot.Thumbnailer{chartSwatch{fill: chartRetried}},
		})
	}
	lane.Y.Min = 0
	lane.Y.Max = chartIntTop(laneMax)
	if failedTotal == 0 && retriedTotal == 0 {
		lane.Add(&chartNote{text: "no failed requests"})
	}

	events := chartEvents(r, true)
	dataWidth := chartWidth - 190
	rows := chartLabelRowsNeeded(events, x0, x1, dataWidth)
	if ymax <= 0 {
		ymax = 1
	}
	const topHeight, laneHeight = vg.Length(230), vg.Length(100)
	dataHeight := float64(topHeight - 12)
	reserve := float64(vg.Length(rows)*chartLabelRowHeight + 6)
	p.Y.Min = 0
	p.Y.Max = ymax * 1.05 / (1 - reserve/dataHeight)
	if len(events) > 0 {
		p.Add(&chartEventMarkers{events: events, rows: rows})
		lane.Add(&chartEventMarkers{events: chartEvents(r, false)})
	}
	legend = append(legend, chartEventLegend(events)...)

	what := "version"
	if byPod {
		what = "pod"
	}
	return chartRender([]chartPanel{{p, topHeight}, {lane, laneHeight}}, legend,
		"Requests per second over time, stacked by "+what+", with failed requests per second below and the rollout's events")
}

// chartLatency draws p50, p99 and max latency per second, on a log scale
// when the spread is so large that a linear one would flatten p50.
func chartLatency(r *report.Result) (chartSVG, bool) {
	buckets := chartBuckets(r.Series, chartMaxPoints)
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
		return chartSVG{Err: "The run recorded no per-second latencies."}, false
	}
	sort.Float64s(p50s)
	median := p50s[len(p50s)/2]
	logY := peak/median >= 20

	p := chartNewPlot("seconds since start", "latency (ms)")
	x0, x1 := chartTimeRange(r, buckets)
	p.X.Min, p.X.Max = x0, x1
	var legend []chartLegendEntry
	if spans := chartPhaseSpans(r); len(spans) > 0 {
		p.Add(&chartBands{spans: spans, color: chartPhaseFill})
		legend = append(legend, chartLegendEntry{label: "rollout phase", thumbs: []plot.Thumbnailer{chartSwatch{fill: chartPhaseFill}}})
	}
	if events := chartEvents(r, false); len(events) > 0 {
		p.Add(&chartEventMarkers{events: events})
	}

	type series struct {
		name  string
		color color.Color
		width vg.Length
		get   func(chartBucket) float64
	}
	for _, s := range []series{
		{"max", chartMaxColor, 0.8, func(b chartBucket) float64 { return b.Max }},
		{"p99", chartP99Color, 1.4, func(b chartBucket) float64 { return b.P99 }},
		{"p50", chartP50Color, 1.4, func(b chartBucket) float64 { return b.P50 }},
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
		legend = append(legend, chartLegendEntry{label: s.name, thumbs: []plot.Thumbnailer{chartSwatch{line: &ls}}})
	}
	slices.Reverse(legend[len(legend)-3:])

	if lim := r.Config.Thresholds.MaxP99Ms; lim > 0 {
		ls := draw.LineStyle{Color: chartFailed, Width: 0.9, Dashes: []vg.Length{5, 3}}
		if l, err := plotter.NewLine(plotter.XYs{{X: x0, Y: lim}, {X: x1, Y: lim}}); err == nil {
			l.LineStyle = ls
			p.Add(l)
			legend = append(legend, chartLegendEntry{label: "p99 limit " + chartMs(lim), thumbs: []plot.Thumbnailer{chartSwatch{line: &ls}}})
		}
		peak = max(peak, lim)
		minPos = min(minPos, lim)
	}

	if logY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Min = chartLogFloor(minPos * 0.8)
		p.Y.Max = peak * 1.3
		p.Y.Tick.Marker = chartLogTicks{}
		p.Y.Label.Text = "latency (ms, log scale)"
	} else {
		p.Y.Min = 0
		p.Y.Max = peak * 1.08
	}
	return chartRender([]chartPanel{{p, chartHeight}}, legend, "Latency over time: p50, p99 and max per second"), logY
}

// chartLogFloor rounds v down to 1, 2 or 5 times a power of ten, so that
// the lowest tick of a log axis is labelled.
func chartLogFloor(v float64) float64 {
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

// chartLogTicks labels a log axis at 1, 2 and 5 times the powers of ten
// when it spans few decades, and at the powers only when it spans many.
type chartLogTicks struct{}

func (chartLogTicks) Ticks(lo, hi float64) []plot.Tick {
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

// chartPercentileTicks labels the percentile axis the way HdrHistogram's
// plots do: x is 1/(1-q), so each decade is one more nine.
type chartPercentileTicks struct{}

func (chartPercentileTicks) Ticks(lo, hi float64) []plot.Tick {
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

// chartPercentiles draws the latency distribution from the HdrHistogram:
// latency by percentile on the classic 1/(1-q) axis that makes the tail
// readable.
func chartPercentiles(r *report.Result) chartSVG {
	if r.Latency.Histogram == "" {
		return chartSVG{Err: "The result holds no latency histogram."}
	}
	h, err := report.DecodeHistogram(r.Latency.Histogram)
	if err != nil {
		return chartSVG{Err: "The latency histogram could not be read: " + err.Error()}
	}
	if h.TotalCount() == 0 {
		return chartSVG{Err: "No request completed, so there is no latency distribution."}
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

	p := chartNewPlot("percentile", "latency (ms)")
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = chartPercentileTicks{}
	p.X.Min, p.X.Max = 1, xMax
	p.Y.Min = 0
	g := plotter.NewGrid()
	g.Horizontal.Width = 0
	g.Vertical.Color = chartGrid
	g.Vertical.Width = 0.6
	p.Add(g)

	var legend []chartLegendEntry
	ls := draw.LineStyle{Color: chartP50Color, Width: 1.6}
	line, err := plotter.NewLine(pts)
	if err != nil {
		return chartSVG{Err: "The latency distribution could not be drawn: " + err.Error()}
	}
	line.LineStyle = ls
	p.Add(line)
	legend = append(legend, chartLegendEntry{label: fmt.Sprintf("all requests (%d)", h.TotalCount()), thumbs: []plot.Thumbnailer{chartSwatch{line: &ls}}})

	ymax := maxMs
	// The p99 limit is drawn when it is near the curve; far above it, it
	// would flatten the curve into the axis, and the legend says so.
	if lim := r.Config.Thresholds.MaxP99Ms; lim > 0 {
		lls := draw.LineStyle{Color: chartFailed, Width: 0.9, Dashes: []vg.Length{5, 3}}
		label := "p99 limit " + chartMs(lim)
		if lim <= 2*maxMs {
			if l, err := plotter.NewLine(plotter.XYs{{X: 1, Y: lim}, {X: xMax, Y: lim}}); err == nil {
				l.LineStyle = lls
				p.Add(l)
			}
			ymax = max(ymax, lim)
		} else {
			label += " (off scale)"
		}
		legend = append(legend, chartLegendEntry{label: label, thumbs: []plot.Thumbnailer{chartSwatch{line: &lls}}})
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
		names = append(names, q.name+" "+chartMs(v))
	}
	if len(marks) > 0 {
		glyph := draw.GlyphStyle{Color: chartInk, Radius: 2.2, Shape: draw.CircleGlyph{}}
		if s, err := plotter.NewScatter(marks); err == nil {
			s.GlyphStyle = glyph
			p.Add(s)
		}
		if lb, err := plotter.NewLabels(plotter.XYLabels{XYs: marks, Labels: names}); err == nil {
			for i := range lb.TextStyle {
				lb.TextStyle[i] = chartTextStyle(8, chartInk)
				lb.TextStyle[i].XAlign = draw.XRight
			}
			lb.Offset = vg.Point{X: -4, Y: 3}
			p.Add(lb)
		}
	}
	p.Y.Max = ymax * 1.1
	return chartRender([]chartPanel{{p, chartHeight}}, legend, "Latency distribution by percentile")
}

// chartMs formats a latency for a chart label.
func chartMs(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(math.Round(v), 'f', -1, 64) + " ms"
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64) + " ms"
	default:
		return strconv.FormatFloat(v, 'f', 2, 64) + " ms"
	}
}

// chartSafeText keeps chart text on one line: gonum's plain text handler
// breaks lines at newlines, and control characters have no glyphs.
func chartSafeText(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}

func chartClip(s string, n int) string {
	s = chartSafeText(s)
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
