// Package html renders a rolltest result as one self-contained HTML page:
// the template, the tables' view of the document, and the SVG charts drawn
// with gonum/plot. It is the only package that imports gonum, so that the
// document and the plain renderers in package report stay free of it.
package html

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rolltest/rolltest/pkg/loadgen"
	"github.com/rolltest/rolltest/pkg/report"
	"github.com/rolltest/rolltest/pkg/rollout"
)

//go:embed html.tmpl
var htmlTemplateText string

// htmlMaxFailureRows caps the failure records shown; the JSON has them all.
const htmlMaxFailureRows = 500

// htmlMaxRows caps the other long tables (windows, events) so that a
// pathological run cannot make the report unreadably large.
const htmlMaxRows = 2000

var htmlTemplate = sync.OnceValues(func() (*template.Template, error) {
	return template.New("report").Funcs(template.FuncMap{
		"jf":  htmlJSONFloat,
		"kvs": htmlKVs,
	}).Parse(htmlTemplateText)
})

// WriteHTML renders the result as one self-contained HTML page: inline CSS
// and inline SVG charts, no script, no external resource, so that it opens
// the same from a CI artifact store, an e-mail or a disk without network.
// Everything taken from the result is escaped by html/template.
func Write(w io.Writer, r *report.Result) error {
	if r == nil {
		return fmt.Errorf("write html: no result")
	}
	t, err := htmlTemplate()
	if err != nil {
		return fmt.Errorf("write html: template: %w", err)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, htmlBuildView(r)); err != nil {
		return fmt.Errorf("write html: %w", err)
	}
	_, err = w.Write(buf.Bytes())
	return err
}

type htmlKV struct {
	K string
	V string
}

type htmlKeyNumber struct {
	ID, Label, Value, Note, Class string
}

type htmlGate struct {
	report.Gate
	Label, Limit, Value, Result, Class string
}

type htmlPod struct {
	report.Pod
	Label, Sub string
	Life       []string
}

type htmlWindow struct {
	report.Window
	Span  string
	First bool // first row of its window: a rule above it
}

type htmlEvent struct {
	rollout.Event
	N    int
	Name string
}

type htmlOutcome struct {
	Name, Meaning  string
	Final, Retried int64
	Failure        bool
}

type htmlView struct {
	R            *report.Result
	Title        string
	Pass         bool
	Word         string
	ExitMeaning  string
	Started      string
	Keys         []htmlKeyNumber
	Gates        []htmlGate
	Throughput   chartSVG
	ByPod        chartSVG
	HasByPod     bool
	Latency      chartSVG
	LatencyLog   bool
	Percentiles  chartSVG
	RolloutFacts []htmlKV
	Events       []htmlEvent
	EventsMore   int
	Pods         []htmlPod
	LifeCols     []string
	Windows      []htmlWindow
	WindowsMore  int
	Outcomes     []htmlOutcome
	StatusCodes  []htmlKV
	Failures     []report.Failure
	FailuresMore int
	RunFacts     []htmlKV
	ConfigFacts  []htmlKV
	Thresholds   []htmlKV
}

func htmlBuildView(r *report.Result) *htmlView {
	v := &htmlView{R: r, Pass: r.Verdict.Pass}
	if v.Pass {
		v.Word = "PASS"
	} else {
		v.Word = "FAIL"
	}
	switch r.Verdict.ExitCode {
	case 0:
		v.ExitMeaning = "every gate passed"
	case 1:
		v.ExitMeaning = "a gate failed"
	case 2:
		v.ExitMeaning = "usage error"
	case 3:
		v.ExitMeaning = "the rollout failed"
	case 130:
		v.ExitMeaning = "the run was interrupted"
	}
	v.Title = "rolltest " + v.Word
	if r.Config.Target != "" {
		v.Title += " · " + r.Config.Target
	}
	if !r.Run.StartedAt.IsZero() {
		v.Started = r.Run.StartedAt.UTC().Format("2006-01-02 15:04:05 MST")
	}

	v.Keys = htmlKeyNumbers(r)
	for _, g := range r.Verdict.Gates {
		v.Gates = append(v.Gates, htmlGateRow(g))
	}

	v.Throughput = chartThroughput(r, false)
	v.HasByPod = htmlSeriesHasPods(r)
	if v.HasByPod {
		v.ByPod = chartThroughput(r, true)
	}
	v.Latency, v.LatencyLog = chartLatency(r)
	v.Percentiles = chartPercentiles(r)

	if ro := r.Rollout; ro != nil {
		v.RolloutFacts = htmlRolloutFacts(ro)
		for i, e := range ro.Events {
			if i >= htmlMaxRows {
				v.EventsMore = len(ro.Events) - i
				break
			}
			v.Events = append(v.Events, htmlEvent{Event: e, N: i + 1, Name: chartStyleOf(e.Kind).name})
		}
	}

	v.Pods, v.LifeCols = htmlPods(r)
	prev := [2]int{-1, -1}
	for i, w := range r.Windows {
		if i >= htmlMaxRows {
			v.WindowsMore = len(r.Windows) - i
			break
		}
		cur := [2]int{w.FromS, w.ToS}
		v.Windows = append(v.Windows, htmlWindow{Window: w, Span: fmt.Sprintf("%d–%d s", w.FromS, w.ToS), First: cur != prev && i > 0})
		prev = cur
	}

	v.Outcomes = htmlOutcomes(r.Totals)
	v.StatusCodes = htmlKVs(r.Totals.StatusCodes)
	recs := r.Failures.Records
	if len(recs) > htmlMaxFailureRows {
		v.FailuresMore = len(recs) - htmlMaxFailureRows
		recs = recs[:htmlMaxFailureRows]
	}
	v.Failures = recs

	v.RunFacts, v.ConfigFacts, v.Thresholds = htmlFacts(r)
	return v
}

func htmlSeriesHasPods(r *report.Result) bool {
	for _, s := range r.Series {
		if len(s.ByPod) > 0 {
			return true
		}
	}
	return false
}

func htmlKeyNumbers(r *report.Result) []htmlKeyNumber {
	t := r.Totals
	l := r.Latency
	dropped := htmlKeyNumber{ID: "dropped", Label: "Dropped", Value: report.FormatCount(t.Failed), Note: "failed requests"}
	if t.Failed > 0 {
		dropped.Class = "bad"
	} else {
		dropped.Class = "good"
	}
	rate := htmlKeyNumber{ID: "error-rate", Label: "Error rate", Value: htmlPercent(t.Failed, t.Requests)}
	if t.Failed > 0 {
		rate.Class = "bad"
	}
	ks := []htmlKeyNumber{
		{ID: "requests", Label: "Requests", Value: report.FormatCount(t.Requests), Note: report.FormatCount(t.OK) + " ok"},
		dropped,
		{ID: "retried", Label: "Retried", Value: report.FormatCount(t.Retried), Note: "hidden by a retry"},
		rate,
		{ID: "rps", Label: "Achieved", Value: strconv.FormatFloat(t.AchievedRPS, 'f', 1, 64), Note: "requests/s"},
	}
	if l.Count > 0 {
		ks = append(ks,
			htmlKeyNumber{ID: "p50", Label: "p50", Value: chartMs(l.P50Ms)},
			htmlKeyNumber{ID: "p90", Label: "p90", Value: chartMs(l.P90Ms)},
			htmlKeyNumber{ID: "p99", Label: "p99", Value: chartMs(l.P99Ms)},
			htmlKeyNumber{ID: "p999", Label: "p99.9", Value: chartMs(l.P999Ms)},
			htmlKeyNumber{ID: "max", Label: "max", Value: chartMs(l.MaxMs)},
		)
	}
	return ks
}

var htmlGateLabels = map[string]string{
	"dropped_requests":  "Dropped requests",
	"error_rate":        "Error rate",
	"p99":               "p99 latency",
	"p99_ratio":         "p99 during rollout vs. baseline",
	"rollout_completed": "Rollout completed",
}

func htmlGateRow(g report.Gate) htmlGate {
	row := htmlGate{Gate: g, Label: htmlGateLabels[g.Name]}
	if row.Label == "" {
		row.Label = g.Name
	}
	unit := ""
	switch g.Name {
	case "p99":
		unit = " ms"
	case "p99_ratio":
		unit = "×"
	}
	row.Value = htmlJSONFloat(g.Value) + unit
	if g.Limit < 0 {
		row.Limit = "no limit"
	} else {
		row.Limit = htmlJSONFloat(g.Limit) + unit
	}
	switch {
	case g.Skipped:
		row.Result, row.Class = "skipped", "skip"
		row.Value = "–"
	case g.Pass:
		row.Result, row.Class = "pass", "pass"
	default:
		row.Result, row.Class = "fail", "fail"
	}
	return row
}

func htmlRolloutFacts(ro *report.Rollout) []htmlKV {
	var f []htmlKV
	add := func(k, v string) {
		if v != "" {
			f = append(f, htmlKV{k, v})
		}
	}
	add("Driver", strings.TrimSpace(ro.Driver+" ("+ro.Kind+")"))
	wl := ro.Deployment
	if ro.Namespace != "" {
		wl = ro.Namespace + "/" + wl
	}
	add("Deployment", wl)
	add("Service", ro.Service)
	switch {
	case ro.Failed:
		add("Outcome", "failed: "+ro.Reason)
	case ro.Done:
		add("Outcome", "completed, every old pod gone")
	default:
		add("Outcome", "not finished when the run ended")
	}
	if ro.TriggeredS != nil {
		add("Triggered", "at "+htmlJSONFloat(*ro.TriggeredS)+" s")
	}
	if ro.CompleteS != nil {
		add("Complete (kubectl rollout status)", "at "+htmlJSONFloat(*ro.CompleteS)+" s")
	}
	if ro.OldGoneS != nil {
		add("Last old pod gone", "at "+htmlJSONFloat(*ro.OldGoneS)+" s")
	}
	add("Two versions answered for", htmlJSONFloat(ro.MixedVersionS)+" s")
	if ro.EndpointPropagationMaxMs > 0 {
		add("Endpoint removal after termination", "median "+chartMs(ro.EndpointPropagationMedianMs)+", max "+chartMs(ro.EndpointPropagationMaxMs))
	}
	return f
}

func htmlPods(r *report.Result) ([]htmlPod, []string) {
	var has [6]bool
	get := func(l *report.Lifecycle) [6]*float64 {
		return [6]*float64{l.CreatedS, l.ReadyS, l.NotReadyS, l.TerminatingS, l.EndpointRemoved, l.DeletedS}
	}
	names := [6]string{"created", "ready", "not ready", "terminating", "endpoint removed", "deleted"}
	anyLife := false
	for _, p := range r.Pods {
		if p.Lifecycle == nil {
			continue
		}
		anyLife = true
		for i, t := range get(p.Lifecycle) {
			if t != nil {
				has[i] = true
			}
		}
	}
	// The usual milestones always get a column once there is a timeline,
	// so that an empty cell reads as "did not happen during the run".
	has[0], has[1], has[3], has[4], has[5] = anyLife, anyLife, anyLife, anyLife, anyLife
	var cols []string
	for i, h := range has {
		if h {
			cols = append(cols, names[i])
		}
	}
	var out []htmlPod
	for _, p := range r.Pods {
		row := htmlPod{Pod: p, Label: p.ID}
		if p.Name != "" {
			row.Label = p.Name
			if p.ID != p.Name {
				row.Sub = p.ID
			}
		}
		var life [6]*float64
		if p.Lifecycle != nil {
			life = get(p.Lifecycle)
		}
		for i, h := range has {
			if h {
				row.Life = append(row.Life, htmlSecs(life[i]))
			}
		}
		out = append(out, row)
	}
	return out, cols
}

func htmlOutcomes(t report.Totals) []htmlOutcome {
	seen := map[string]*htmlOutcome{}
	var out []*htmlOutcome
	get := func(name string) *htmlOutcome {
		if o, ok := seen[name]; ok {
			return o
		}
		oc, _ := loadgen.ParseOutcome(name)
		o := &htmlOutcome{Name: name, Meaning: oc.Meaning(), Failure: oc.Failed()}
		seen[name] = o
		out = append(out, o)
		return o
	}
	for k, c := range t.Outcomes {
		get(k).Final = c
	}
	for k, c := range t.RetriedOutcomes {
		get(k).Retried = c
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Failure != b.Failure {
			return !a.Failure
		}
		if a.Final+a.Retried != b.Final+b.Retried {
			return a.Final+a.Retried > b.Final+b.Retried
		}
		return a.Name < b.Name
	})
	res := make([]htmlOutcome, len(out))
	for i, o := range out {
		res[i] = *o
	}
	return res
}

func htmlFacts(r *report.Result) (run, cfg, thr []htmlKV) {
	add := func(dst *[]htmlKV, k, v string) {
		if v != "" {
			*dst = append(*dst, htmlKV{k, v})
		}
	}
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05.000 MST")
	}
	add(&run, "Started", ts(r.Run.StartedAt))
	add(&run, "Ended", ts(r.Run.EndedAt))
	add(&run, "Duration", htmlJSONFloat(r.Run.DurationS)+" s")
	add(&run, "Stopped because", r.Run.StopReason)
	if r.Run.Interrupted {
		add(&run, "Interrupted", "yes")
	}
	add(&run, "Latency measured from", map[string]string{
		"intended": "the intended send time (open model: includes queueing)",
		"sent":     "the actual send time (closed model)",
	}[r.Latency.Basis])
	add(&run, "Attempts", strconv.FormatInt(r.Totals.Attempts, 10))
	add(&run, "Connections opened", strconv.FormatInt(r.Totals.Connections, 10))
	if r.Totals.ConnectionsPeak > 0 {
		add(&run, "Connections at once (most)", strconv.Itoa(r.Totals.ConnectionsPeak))
	}
	if r.Totals.PoolWaits > 0 {
		add(&run, "Requests that waited for a connection", strconv.FormatInt(r.Totals.PoolWaits, 10))
	}
	if r.Totals.LateSends > 0 {
		add(&run, "Late sends", fmt.Sprintf("%d >1 ms, %d >10 ms (max delay %s)", r.Totals.LateSends, r.Totals.BehindSends, chartMs(r.Totals.MaxSendDelayMs)))
	}
	add(&run, "Written by", strings.TrimSpace(r.Tool.Name+" "+r.Tool.Version))

	c := r.Config
	add(&cfg, "Target", c.Target)
	add(&cfg, "Method", c.Method)
	if len(c.Headers) > 0 {
		add(&cfg, "Headers", strings.Join(c.Headers, "\n"))
	}
	if c.BodyBytes > 0 {
		add(&cfg, "Body", fmt.Sprintf("%d bytes", c.BodyBytes))
	}
	switch c.Mode {
	case "rate":
		add(&cfg, "Load", fmt.Sprintf("%s requests/s (open model)", htmlJSONFloat(c.Rate)))
	case "concurrency":
		add(&cfg, "Load", fmt.Sprintf("%d concurrent requests (closed model)", c.Concurrency))
	default:
		add(&cfg, "Load", c.Mode)
	}
	add(&cfg, "Connections", strconv.Itoa(c.Connections))
	if c.MaxConnections > c.Connections {
		add(&cfg, "Max connections", strconv.Itoa(c.MaxConnections))
	}
	add(&cfg, "Keep-alive", map[bool]string{true: "yes", false: "no"}[c.KeepAlive])
	if c.DurationS > 0 {
		add(&cfg, "Duration", htmlJSONFloat(c.DurationS)+" s")
	}
	if c.Requests > 0 {
		add(&cfg, "Requests", strconv.FormatInt(c.Requests, 10))
	}
	add(&cfg, "Timeout", htmlJSONFloat(c.TimeoutMs)+" ms")
	add(&cfg, "Retries", strconv.Itoa(c.Retries))
	add(&cfg, "Pod identity from", c.Identity)

	lim := func(v float64, unit string) string {
		if v < 0 {
			return "no limit"
		}
		return htmlJSONFloat(v) + unit
	}
	th := c.Thresholds
	add(&thr, "Max dropped requests", func() string {
		if th.MaxErrors < 0 {
			return "no limit"
		}
		return strconv.FormatInt(th.MaxErrors, 10)
	}())
	add(&thr, "Max error rate", lim(th.MaxErrorRate, ""))
	add(&thr, "Max p99", lim(th.MaxP99Ms, " ms"))
	add(&thr, "Max p99 ratio (rollout / baseline)", lim(th.MaxP99Ratio, "×"))
	return run, cfg, thr
}

// htmlJSONFloat prints a number exactly as encoding/json wrote it into the
// result, so that a reader can match the report with the JSON.
func htmlJSONFloat(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "–"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "–"
	}
	return string(b)
}

func htmlSecs(p *float64) string {
	if p == nil {
		return ""
	}
	return htmlJSONFloat(*p)
}

// htmlPercent is part/whole as a percentage with three significant digits,
// so that one failure in a million still shows as non-zero.
func htmlPercent(part, whole int64) string {
	if whole <= 0 {
		return "–"
	}
	if part == 0 {
		return "0 %"
	}
	p := 100 * float64(part) / float64(whole)
	decimals := max(0, 2-int(math.Floor(math.Log10(p))))
	s := strconv.FormatFloat(p, 'f', decimals, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s + " %"
}

func htmlKVs(m map[string]int64) []htmlKV {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	out := make([]htmlKV, len(keys))
	for i, k := range keys {
		out[i] = htmlKV{k, strconv.FormatInt(m[k], 10)}
	}
	return out
}
