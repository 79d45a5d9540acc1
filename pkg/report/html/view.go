package html

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rolltest/rolltest/pkg/loadgen"
	"github.com/rolltest/rolltest/pkg/report"
	"github.com/rolltest/rolltest/pkg/rollout"
)

// The view is the document as the template shows it: rows and facts
// already worded, charts already drawn, long tables capped.

// maxTableRows caps the other long tables (windows, events) so that a
// pathological run cannot make the report unreadably large.
const maxTableRows = 2000

// maxFailureRows caps the failure records shown; the JSON has them all.
const maxFailureRows = 500

type kv struct {
	K string
	V string
}

type keyNumber struct {
	ID, Label, Value, Note, Class string
}

type gateRow struct {
	report.Gate
	Label, Limit, Value, Result, Class string
}

type podRow struct {
	report.Pod
	Label, Sub string
	Life       []string
}

type windowRow struct {
	report.Window
	Span  string
	First bool // first row of its window: a rule above it
}

type eventRow struct {
	rollout.Event
	N    int
	Name string
}

type outcomeRow struct {
	Name, Meaning  string
	Final, Retried int64
	Failure        bool
}

type view struct {
	R            *report.Result
	Title        string
	Pass         bool
	Word         string
	ExitMeaning  string
	Started      string
	Keys         []keyNumber
	Gates        []gateRow
	Throughput   chart
	ByPod        chart
	HasByPod     bool
	Latency      chart
	LatencyLog   bool
	Percentiles  chart
	RolloutFacts []kv
	Events       []eventRow
	EventsMore   int
	Pods         []podRow
	LifeCols     []string
	Windows      []windowRow
	WindowsMore  int
	Outcomes     []outcomeRow
	StatusCodes  []kv
	Failures     []report.Failure
	FailuresMore int
	RunFacts     []kv
	ConfigFacts  []kv
	Thresholds   []kv
}

func newView(r *report.Result) *view {
	v := &view{R: r, Pass: r.Verdict.Pass}
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

	v.Keys = keyNumbers(r)
	for _, g := range r.Verdict.Gates {
		v.Gates = append(v.Gates, newGateRow(g))
	}

	v.Throughput = throughputChart(r, false)
	v.HasByPod = seriesHasPods(r)
	if v.HasByPod {
		v.ByPod = throughputChart(r, true)
	}
	v.Latency, v.LatencyLog = latencyChart(r)
	v.Percentiles = percentileChart(r)

	if ro := r.Rollout; ro != nil {
		v.RolloutFacts = rolloutFacts(ro)
		for i, e := range ro.Events {
			if i >= maxTableRows {
				v.EventsMore = len(ro.Events) - i
				break
			}
			v.Events = append(v.Events, eventRow{Event: e, N: i + 1, Name: styleOf(e.Kind).name})
		}
	}

	v.Pods, v.LifeCols = podRows(r)
	prev := [2]int{-1, -1}
	for i, w := range r.Windows {
		if i >= maxTableRows {
			v.WindowsMore = len(r.Windows) - i
			break
		}
		cur := [2]int{w.FromS, w.ToS}
		v.Windows = append(v.Windows, windowRow{Window: w, Span: fmt.Sprintf("%d–%d s", w.FromS, w.ToS), First: cur != prev && i > 0})
		prev = cur
	}

	v.Outcomes = outcomeRows(r.Totals)
	v.StatusCodes = kvs(r.Totals.StatusCodes)
	recs := r.Failures.Records
	if len(recs) > maxFailureRows {
		v.FailuresMore = len(recs) - maxFailureRows
		recs = recs[:maxFailureRows]
	}
	v.Failures = recs

	v.RunFacts, v.ConfigFacts, v.Thresholds = facts(r)
	return v
}

func seriesHasPods(r *report.Result) bool {
	for _, s := range r.Series {
		if len(s.ByPod) > 0 {
			return true
		}
	}
	return false
}

func keyNumbers(r *report.Result) []keyNumber {
	t := r.Totals
	l := r.Latency
	dropped := keyNumber{ID: "dropped", Label: "Dropped", Value: report.FormatCount(t.Failed), Note: "failed requests"}
	if t.Failed > 0 {
		dropped.Class = "bad"
	} else {
		dropped.Class = "good"
	}
	rate := keyNumber{ID: "error-rate", Label: "Error rate", Value: report.FormatPercent(t.Failed, t.Requests)}
	if t.Failed > 0 {
		rate.Class = "bad"
	}
	ks := []keyNumber{
		{ID: "requests", Label: "Requests", Value: report.FormatCount(t.Requests), Note: report.FormatCount(t.OK) + " ok"},
		dropped,
		{ID: "retried", Label: "Retried", Value: report.FormatCount(t.Retried), Note: "hidden by a retry"},
		rate,
		{ID: "rps", Label: "Achieved", Value: strconv.FormatFloat(t.AchievedRPS, 'f', 1, 64), Note: "requests/s"},
	}
	if l.Count > 0 {
		ks = append(ks,
			keyNumber{ID: "p50", Label: "p50", Value: formatMs(l.P50Ms)},
			keyNumber{ID: "p90", Label: "p90", Value: formatMs(l.P90Ms)},
			keyNumber{ID: "p99", Label: "p99", Value: formatMs(l.P99Ms)},
			keyNumber{ID: "p999", Label: "p99.9", Value: formatMs(l.P999Ms)},
			keyNumber{ID: "max", Label: "max", Value: formatMs(l.MaxMs)},
		)
	}
	return ks
}

var gateLabels = map[string]string{
	"dropped_requests":  "Dropped requests",
	"error_rate":        "Error rate",
	"p99":               "p99 latency",
	"p99_ratio":         "p99 during rollout vs. baseline",
	"rollout_completed": "Rollout completed",
}

func newGateRow(g report.Gate) gateRow {
	row := gateRow{Gate: g, Label: gateLabels[g.Name]}
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
	row.Value = jsonFloat(g.Value) + unit
	if g.Limit < 0 {
		row.Limit = "no limit"
	} else {
		row.Limit = jsonFloat(g.Limit) + unit
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

func rolloutFacts(ro *report.Rollout) []kv {
	var f []kv
	add := func(k, v string) {
		if v != "" {
			f = append(f, kv{k, v})
		}
	}
	add("Driver", strings.TrimSpace(ro.Driver+" ("+ro.Kind+")"))
	add("Workload", ro.WorkloadRef())
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
		add("Triggered", "at "+jsonFloat(*ro.TriggeredS)+" s")
	}
	if ro.CompleteS != nil {
		add("Complete (kubectl rollout status)", "at "+jsonFloat(*ro.CompleteS)+" s")
	}
	if ro.OldGoneS != nil {
		add("Last old pod gone", "at "+jsonFloat(*ro.OldGoneS)+" s")
	}
	add("Two versions answered for", jsonFloat(ro.MixedVersionS)+" s")
	if ro.EndpointPropagationMaxMs > 0 {
		add("Endpoint removal after termination", "median "+formatMs(ro.EndpointPropagationMedianMs)+", max "+formatMs(ro.EndpointPropagationMaxMs))
	}
	return f
}

func podRows(r *report.Result) ([]podRow, []string) {
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
	var out []podRow
	for _, p := range r.Pods {
		row := podRow{Pod: p, Label: p.ID}
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
				row.Life = append(row.Life, secs(life[i]))
			}
		}
		out = append(out, row)
	}
	return out, cols
}

func outcomeRows(t report.Totals) []outcomeRow {
	seen := map[string]*outcomeRow{}
	var out []*outcomeRow
	get := func(name string) *outcomeRow {
		if o, ok := seen[name]; ok {
			return o
		}
		oc, _ := loadgen.ParseOutcome(name)
		o := &outcomeRow{Name: name, Meaning: oc.Meaning(), Failure: oc.Failed()}
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
	res := make([]outcomeRow, len(out))
	for i, o := range out {
		res[i] = *o
	}
	return res
}

func facts(r *report.Result) (run, cfg, thr []kv) {
	add := func(dst *[]kv, k, v string) {
		if v != "" {
			*dst = append(*dst, kv{k, v})
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
	add(&run, "Duration", jsonFloat(r.Run.DurationS)+" s")
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
		add(&run, "Late sends", fmt.Sprintf("%d >1 ms, %d >10 ms (max delay %s)", r.Totals.LateSends, r.Totals.BehindSends, formatMs(r.Totals.MaxSendDelayMs)))
	}
	add(&run, "Written by", strings.TrimSpace(r.Tool.Name+" "+r.Tool.Version))

	c := r.Config
	add(&cfg, "Target", c.Target)
	add(&cfg, "Method", c.Method)
	add(&cfg, "Targets file", c.TargetsFile)
	if len(c.Headers) > 0 {
		add(&cfg, "Headers", strings.Join(c.Headers, "\n"))
	}
	if c.BodyBytes > 0 {
		add(&cfg, "Body", fmt.Sprintf("%d bytes", c.BodyBytes))
	}
	switch c.Mode {
	case "rate":
		add(&cfg, "Load", fmt.Sprintf("%s requests/s (open model)", jsonFloat(c.Rate)))
	case "concurrency":
		add(&cfg, "Load", fmt.Sprintf("%d concurrent requests (closed model)", c.Concurrency))
	default:
		add(&cfg, "Load", c.Mode)
	}
	add(&cfg, "Protocol", c.ProtocolText())
	add(&cfg, "Connections", strconv.Itoa(c.Connections))
	if c.MaxConnections > c.Connections {
		add(&cfg, "Max connections", strconv.Itoa(c.MaxConnections))
	}
	add(&cfg, "Keep-alive", map[bool]string{true: "yes", false: "no"}[c.KeepAlive])
	if c.DurationS > 0 {
		add(&cfg, "Duration", jsonFloat(c.DurationS)+" s")
	}
	if c.Requests > 0 {
		add(&cfg, "Requests", strconv.FormatInt(c.Requests, 10))
	}
	add(&cfg, "Timeout", jsonFloat(c.TimeoutMs)+" ms")
	add(&cfg, "Retries", strconv.Itoa(c.Retries))
	add(&cfg, "Pod identity from", c.IdentityText())

	lim := func(v float64, unit string) string {
		if v < 0 {
			return "no limit"
		}
		return jsonFloat(v) + unit
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
