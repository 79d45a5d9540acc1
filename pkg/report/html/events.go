package html

import (
	"image/color"
	"math"
	"slices"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/rolltest/rolltest/pkg/report"
	"github.com/rolltest/rolltest/pkg/rollout"
)

// The rollout's events, drawn across the time charts as vertical lines
// with staggered labels, and listed in their legends.

const (
	// maxLabelledEvents is the most events labelled with text; with more,
	// only the rollout's milestones are, and the colours (legend) tell the
	// pod events apart.
	maxLabelledEvents = 10
	maxLabelRows      = 4
	labelRowHeight    = vg.Length(11)
)

// eventStyle is how one kind of rollout event is drawn and named.
type eventStyle struct {
	color     color.NRGBA
	dashed    bool
	short     string // on the marker
	name      string // in the legend
	milestone bool   // labelled even when there are many events
}

var eventStyles = map[rollout.EventKind]eventStyle{
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
	// A milestone: the reader must see that the timeline has a hole here.
	rollout.EventAPIUnreachable: {color.NRGBA{0xd1, 0x24, 0x2f, 0xff}, true, "API unreachable", "API server unreachable (events may be missing)", true},
}

// eventOrder is the legend order of the event kinds.
var eventOrder = []rollout.EventKind{
	rollout.EventTrigger, rollout.EventReplicaSetCreated, rollout.EventReplicaSetScaled,
	rollout.EventPodCreated, rollout.EventPodReady, rollout.EventPodNotReady,
	rollout.EventPodTerminating, rollout.EventEndpointNotReady, rollout.EventEndpointRemoved,
	rollout.EventPodDeleted, rollout.EventRolloutComplete, rollout.EventOldPodsGone,
	rollout.EventRolloutFailed, rollout.EventAPIUnreachable,
}

func styleOf(k rollout.EventKind) eventStyle {
	if s, ok := eventStyles[k]; ok {
		return s
	}
	return eventStyle{color: axisColor, dashed: true, short: oneLine(string(k)), name: oneLine(string(k))}
}

// event is one rollout event placed on the time axis.
type event struct {
	x     float64
	kind  rollout.EventKind
	label string // empty: a marker without text
}

// placeEvents turns the rollout's events into markers; labelled says
// whether pod events get text (few events) or only colour (many).
func placeEvents(r *report.Result, labelled bool) []event {
	if r.Rollout == nil {
		return nil
	}
	evs := slices.Clone(r.Rollout.Events)
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].AtS < evs[j].AtS })
	labelAll := labelled && len(evs) <= maxLabelledEvents
	var out []event
	for _, e := range evs {
		if math.IsNaN(e.AtS) || math.IsInf(e.AtS, 0) {
			continue
		}
		st := styleOf(e.Kind)
		ce := event{x: e.AtS, kind: e.Kind}
		if labelled && (labelAll || st.milestone) {
			ce.label = st.short
			if e.Pod != "" && !st.milestone {
				ce.label += " " + podSuffix(e.Pod)
			}
		}
		out = append(out, ce)
	}
	return out
}

// podSuffix shortens a pod name to its random suffix, which is what
// tells a Deployment's pods apart ("web-7d9f8b6c5d-x7k2p" → "x7k2p").
func podSuffix(name string) string {
	name = oneLine(name)
	if i := strings.LastIndexByte(name, '-'); i >= 0 && i < len(name)-1 {
		name = name[i+1:]
	}
	return clip(name, 10)
}

// eventMarkers draws rollout events as vertical lines across the data
// area, with their labels staggered in rows at the top so that events close
// in time stay legible.
type eventMarkers struct {
	events []event
	rows   int // label rows reserved at the top
}

func (m *eventMarkers) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	sty := textStyle(8, ink)
	sty.YAlign = draw.YBottom
	xs := make([]vg.Length, len(m.events))
	for i, e := range m.events {
		xs[i] = trX(e.x)
	}
	rows := layoutLabels(m.events, xs, m.rows)
	for i, e := range m.events {
		x := xs[i]
		if !c.ContainsX(x) {
			continue
		}
		st := styleOf(e.kind)
		ls := draw.LineStyle{Color: st.color, Width: 0.9}
		if st.dashed {
			ls.Dashes = []vg.Length{3, 2}
		}
		top := c.Max.Y
		if row := rows[i]; row >= 0 {
			w := sty.Width(e.label)
			base := c.Max.Y - vg.Length(row+1)*labelRowHeight
			top = base + labelRowHeight - 1
			c.FillPolygon(labelBackground, []vg.Point{
				{X: x + 1, Y: base - 1}, {X: x + 3 + w, Y: base - 1},
				{X: x + 3 + w, Y: base + labelRowHeight - 2}, {X: x + 1, Y: base + labelRowHeight - 2},
			})
			lsty := sty
			lsty.Color = st.color
			c.FillText(lsty, vg.Point{X: x + 2, Y: base}, e.label)
		}
		c.StrokeLine2(ls, x, c.Min.Y, x, top)
	}
}

// layoutLabels gives each labelled event a row at the top of the
// chart where its label overlaps no other, or -1 when no row is free. The
// rollout's milestones are placed first, so that they are the labels kept.
func layoutLabels(events []event, xs []vg.Length, maxRows int) []int {
	sty := textStyle(8, ink)
	rows := make([]int, len(events))
	taken := make([][][2]vg.Length, maxRows)
	for i := range rows {
		rows[i] = -1
	}
	for _, milestones := range []bool{true, false} {
		for i, e := range events {
			if e.label == "" || styleOf(e.kind).milestone != milestones {
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

// labelRowsNeeded lays the labels out as Plot will, on the estimated
// data width, to know how much room to keep free above the data.
func labelRowsNeeded(events []event, x0, x1 float64, width vg.Length) int {
	if x1 <= x0 {
		return 0
	}
	xs := make([]vg.Length, len(events))
	for i, e := range events {
		xs[i] = vg.Length((e.x-x0)/(x1-x0)) * width
	}
	n := 0
	for _, r := range layoutLabels(events, xs, maxLabelRows) {
		n = max(n, r+1)
	}
	return n
}

// eventLegend lists the kinds of events drawn, in timeline order.
func eventLegend(events []event) []legendEntry {
	present := map[rollout.EventKind]bool{}
	for _, e := range events {
		present[e.kind] = true
	}
	var out []legendEntry
	add := func(k rollout.EventKind) {
		st := styleOf(k)
		ls := draw.LineStyle{Color: st.color, Width: 1.2}
		if st.dashed {
			ls.Dashes = []vg.Length{3, 2}
		}
		out = append(out, legendEntry{label: st.name, thumbs: []plot.Thumbnailer{swatch{line: &ls, vertical: true}}})
	}
	for _, k := range eventOrder {
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
