package html

import (
	"bytes"
	"fmt"
	"html/template"
	"image/color"
	"math"
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
)

// The charts are drawn by gonum/plot into SVG and inlined in the page, so
// that it needs no script, no network and no image files. This file is
// what every chart shares: its size and colours, the plot style, the
// layout of stacked panels with one legend, and the plotters of its own
// (notes, bars, bands, legend swatches).

const (
	svgWidth      = vg.Length(760)
	plotHeight    = vg.Length(280)
	maxLegendText = 30
)

var (
	ink             = color.NRGBA{0x1f, 0x23, 0x28, 0xff}
	muted           = color.NRGBA{0x59, 0x63, 0x6e, 0xff}
	axisColor       = color.NRGBA{0x8c, 0x95, 0x9f, 0xff}
	gridColor       = color.NRGBA{0xe6, 0xe9, 0xed, 0xff}
	failedColor     = color.NRGBA{0xd1, 0x24, 0x2f, 0xff}
	retriedColor    = color.NRGBA{0xe3, 0x74, 0x00, 0xff}
	phaseFill       = color.NRGBA{0xf2, 0xc1, 0x4e, 0x2c}
	otherPodsColor  = color.NRGBA{0xb4, 0xbc, 0xc5, 0xff}
	labelBackground = color.NRGBA{0xff, 0xff, 0xff, 0xd9}

	// palette is colour-blind friendly (Okabe–Ito and Tableau hues)
	// and leaves red to failures.
	palette = []color.NRGBA{
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

	p50Color = color.NRGBA{0x4e, 0x79, 0xa7, 0xff}
	p99Color = color.NRGBA{0xe3, 0x74, 0x00, 0xff}
	maxColor = color.NRGBA{0x6e, 0x76, 0x81, 0xff}
)

// chart is one rendered chart, or why there is none.
type chart struct {
	SVG template.HTML
	Err string
}

func sansFont(size vg.Length) font.Font {
	return font.Font{Typeface: "Liberation", Variant: "Sans", Size: size}
}

func textStyle(size vg.Length, c color.Color) text.Style {
	return text.Style{Color: c, Font: sansFont(size), Handler: plot.DefaultTextHandler}
}

// newPlot returns a plot in the report's visual style.
func newPlot(xLabel, yLabel string) *plot.Plot {
	p := plot.New()
	p.BackgroundColor = color.White
	for _, ax := range []*plot.Axis{&p.X, &p.Y} {
		ax.Label.TextStyle.Font = sansFont(10)
		ax.Label.TextStyle.Color = muted
		ax.Tick.Label.Font = sansFont(9)
		ax.Tick.Label.Color = muted
		ax.LineStyle.Color = axisColor
		ax.Tick.LineStyle.Color = axisColor
		ax.Tick.Length = 4
		ax.Padding = 0
	}
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	p.X.Tick.Marker = shortTicks{}
	p.Y.Tick.Marker = shortTicks{}
	p.Legend.TextStyle.Font = sansFont(9)
	g := plotter.NewGrid()
	g.Vertical.Width = 0
	g.Horizontal.Color = gridColor
	g.Horizontal.Width = 0.6
	p.Add(g)
	return p
}

// legendEntry is one row of the legend drawn right of a chart.
type legendEntry struct {
	label  string
	thumbs []plot.Thumbnailer
}

// panel is one plot of a chart; a chart's panels are stacked top to
// bottom, share the time axis and are aligned on their data areas.
type panel struct {
	p      *plot.Plot
	height vg.Length
}

// render draws the panels with one legend to the right of the data
// area and returns inline SVG markup. gonum escapes every text it writes
// (html.EscapeString), so the markup is safe to inline.
func render(panels []panel, legend []legendEntry, ariaLabel string) (out chart) {
	defer func() {
		// gonum panics on inputs it cannot draw (a log axis reaching 0, a
		// degenerate range); one bad chart must not cost the whole report.
		if e := recover(); e != nil {
			out = chart{Err: fmt.Sprintf("the chart could not be drawn: %v", e)}
		}
	}()
	var height vg.Length
	for _, pn := range panels {
		height += pn.height
	}
	c := vgsvg.New(svgWidth, height)
	dc := draw.New(c)

	leg := plot.NewLegend()
	leg.TextStyle = textStyle(9, ink)
	leg.ThumbnailWidth = 14
	leg.Padding = 3
	leg.Top = true
	leg.Left = true
	for _, e := range legend {
		leg.Add(clip(e.label, maxLegendText), e.thumbs...)
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
		leg.Draw(draw.Crop(dc, svgWidth-lw+10, 0, 0, -6))
	}

	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return chart{Err: "the chart could not be drawn: " + err.Error()}
	}
	s := buf.String()
	// Drop the XML prolog and comment: inline SVG in HTML starts at <svg>.
	if i := strings.Index(s, "<svg"); i >= 0 {
		s = s[i:]
	}
	s = strings.Replace(s, "<svg ", `<svg class="chart" role="img" aria-label="`+template.HTMLEscapeString(ariaLabel)+`" `, 1)
	return chart{SVG: template.HTML(s)}
}

// shortTicks are gonum's default tick positions with labels as short as
// the value allows ("50", not "50.00").
type shortTicks struct {
	noLabels bool
}

func (t shortTicks) Ticks(lo, hi float64) []plot.Tick {
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

// countStep is the tick step of a count axis up to v: 1, 2 or 5 times
// a power of ten, about half of v.
func countStep(v float64) float64 {
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

// countTop is the top of a count axis that shows v.
func countTop(v float64) float64 {
	v = math.Max(1, math.Ceil(v))
	step := countStep(v)
	return math.Ceil(v/step) * step
}

// countTicks labels a count axis with whole numbers only.
type countTicks struct{}

func (countTicks) Ticks(lo, hi float64) []plot.Tick {
	step := countStep(hi)
	var ticks []plot.Tick
	for v := 0.0; v <= hi*1.0001; v += step {
		ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', -1, 64)})
	}
	return ticks
}

// note writes a line of text in the middle of the data area.
type note struct {
	text string
}

func (n *note) Plot(c draw.Canvas, p *plot.Plot) {
	sty := textStyle(9, muted)
	sty.XAlign = draw.XCenter
	sty.YAlign = draw.YCenter
	c.FillText(sty, c.Center(), n.text)
}

// bars draws a value per bucket as a bar from base to base+value, at
// least minWidth wide so that a single second stays visible in a long run.
type bars struct {
	buckets  []bucket
	base     []float64
	values   []float64
	color    color.Color
	minWidth vg.Length
}

func (b *bars) Plot(c draw.Canvas, p *plot.Plot) {
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

// bands shades spans of the time axis over the full height of the
// data area: the rollout phase, and the seconds with failures. A span is
// drawn at least minWidth wide so that a single failed request in a long
// run still shows.
type bands struct {
	spans    [][2]float64
	color    color.Color
	minWidth vg.Length
}

func (b *bands) Plot(c draw.Canvas, p *plot.Plot) {
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

// swatch is a legend thumbnail: a filled box, a line, a vertical
// line (event marker) or a glyph, or several of them.
type swatch struct {
	fill     color.Color
	line     *draw.LineStyle
	vertical bool
	glyph    *draw.GlyphStyle
}

func (s swatch) Thumbnail(c *draw.Canvas) {
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

// oneLine keeps chart text on one line: gonum's plain text handler
// breaks lines at newlines, and control characters have no glyphs.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}

func clip(s string, n int) string {
	s = oneLine(s)
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
