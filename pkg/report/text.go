package report

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// TextOptions tune the text summary.
type TextOptions struct {
	// MaxFailures is how many failure records to list; 0 means 20.
	MaxFailures int
	// MaxWindows is how many rows of "Who answered when" to list; 0 means
	// 40.
	MaxWindows int
}

// WriteText writes the human summary of a run: what was sent, how it
// ended, latency, who answered (per pod, per version, and per time window),
// the rollout, the failures, the diagnosis and the verdict.
func WriteText(w io.Writer, r *Result, opt TextOptions) error {
	if opt.MaxFailures == 0 {
		opt.MaxFailures = 20
	}
	if opt.MaxWindows == 0 {
		opt.MaxWindows = 40
	}
	tw := &textWriter{w: w}
	c := r.Config
	if c.TargetsFile != "" {
		tw.line("rolltest %s — %d targets from %s on %s", r.Tool.Version, len(r.Targets), c.TargetsFile, c.Target)
	} else {
		tw.line("rolltest %s — %s %s", r.Tool.Version, c.Method, c.Target)
	}
	load := ""
	if c.Mode == "rate" {
		load = fmt.Sprintf("open model, %s req/s over %d connections", trimFloat(c.Rate), c.Connections)
		if c.MaxConnections > c.Connections {
			load += fmt.Sprintf(" (up to %d)", c.MaxConnections)
		}
	} else {
		load = fmt.Sprintf("closed model, %d workers", c.Concurrency)
	}
	ka := "keep-alive on"
	if !c.KeepAlive {
		ka = "keep-alive off (a new connection per request)"
	}
	tw.line("load: %s, %s, timeout %s, retries %d, identity %s", load, ka, msText(c.TimeoutMs), c.Retries, c.IdentityText())
	if c.HTTP2() {
		tw.line("protocol: %s", c.ProtocolText())
	}
	if c.InsecureSkipVerify {
		tw.line("TLS: %s", InsecureNote)
	}
	if c.LoadFrom == "in-cluster" {
		// Which path the load took is half of what it measured: pods
		// reach a Service through their own node's proxy, with its own
		// timing when endpoints change.
		tw.line("load from: %s, %d agent pod(s)", c.LoadPlace(), c.Agents)
	}
	if r.Run.Interrupted {
		tw.line("run: INTERRUPTED after %.1fs (%s) — partial results", r.Run.DurationS, r.Run.StopReason)
	}
	tw.blank()

	t := r.Totals
	tw.kv("Requests", "%s in %.1fs, %s req/s achieved", FormatCount(t.Requests), r.Run.DurationS, trimFloat(t.AchievedRPS))
	if c.Mode == "rate" {
		tw.kv("Late sends", "%s >1ms after due, %s >10ms; max delay %s", FormatCount(t.LateSends), FormatCount(t.BehindSends), msText(t.MaxSendDelayMs))
	}
	tw.kv("Outcomes", "%s", outcomeLine(t.Outcomes))
	rate := 0.0
	if t.Requests > 0 {
		rate = float64(t.Failed) / float64(t.Requests)
	}
	tw.kv("Dropped", "%s (%s)", FormatCount(t.Failed), percent(rate))
	retried := FormatCount(t.Retried)
	if t.Retried > 0 {
		retried += " attempts failed and were re-sent: " + outcomeSentence(t.RetriedOutcomes)
	}
	tw.kv("Retried", "%s", retried)
	conns := FormatCount(t.Connections) + " opened"
	if t.ConnectionsPeak > 0 {
		conns += fmt.Sprintf(", at most %s at once", FormatCount(int64(t.ConnectionsPeak)))
	}
	if t.PoolWaits > 0 {
		conns += fmt.Sprintf("; %s requests waited for a free one at --max-connections %d", FormatCount(t.PoolWaits), c.MaxConnections)
	}
	tw.kv("Connections", "%s", conns)
	l := r.Latency
	basis := "from send time"
	if l.Basis == "intended" {
		basis = "from intended send time"
	}
	tw.kv("Latency", "p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (%s)",
		msText(l.P50Ms), msText(l.P90Ms), msText(l.P99Ms), msText(l.P999Ms), msText(l.MaxMs), basis)

	if len(r.Phases) > 1 {
		tw.section("Phases")
		tab := tw.table("PHASE", "FROM", "TO", "REQUESTS", "DROPPED", "RETRIED", "P50", "P90", "P99", "P99.9", "MAX")
		for _, p := range r.Phases {
			tab.row(p.Name, fmt.Sprintf("%.1fs", p.StartS), fmt.Sprintf("%.1fs", p.EndS), FormatCount(p.Requests), FormatCount(p.Failed), FormatCount(p.Retried),
				msText(p.Latency.P50Ms), msText(p.Latency.P90Ms), msText(p.Latency.P99Ms), msText(p.Latency.P999Ms), msText(p.Latency.MaxMs))
		}
		tab.flush()
	}

	if len(r.Agents) > 1 {
		tw.section(fmt.Sprintf("Agents (load sent from %s by %d agents)", c.LoadPlace(), len(r.Agents)))
		tab := tw.table("AGENT", "HOST", "NODE", "REQUESTS", "SHARE", "DROPPED", "LATE SENDS", "MAX DELAY", "")
		for _, a := range r.Agents {
			note := a.Error
			if note == "" && a.Interrupted {
				note = "interrupted"
			}
			tab.row(strconv.Itoa(a.Index), dash(a.Host), dash(a.Node), FormatCount(a.Requests), percent(share(a.Requests, t.Requests)), FormatCount(a.Failed),
				FormatCount(a.LateSends), msText(a.MaxSendDelayMs), note)
		}
		tab.flush()
	}

	if len(r.Targets) > 1 {
		tw.section("Targets")
		tab := tw.table("TARGET", "METHOD", "REQUESTS", "SHARE", "DROPPED", "RETRIED", "P50", "P99", "MAX")
		for _, tg := range r.Targets {
			tab.row(tg.Name, tg.Method, FormatCount(tg.Requests), percent(share(tg.Requests, t.Requests)), FormatCount(tg.Failed), FormatCount(tg.Retried),
				msText(tg.P50Ms), msText(tg.P99Ms), msText(tg.MaxMs))
		}
		tab.flush()
	}

	if len(r.Pods) > 0 {
		tw.section("Pods")
		tab := tw.table("POD", "VERSION", "IP", "REQUESTS", "SHARE", "DROPPED", "RETRIED", "ANSWERED", "LIFECYCLE")
		for _, p := range r.Pods {
			name := p.ID
			if p.Name != "" {
				name = p.Name
			}
			answered := "-"
			if p.Requests > 0 && p.OK > 0 {
				answered = fmt.Sprintf("%.1f–%.1fs", p.FirstS, p.LastS)
			}
			tab.row(name, dash(p.Version), dash(p.IP), FormatCount(p.Requests), percent(share(p.Requests, t.Requests)),
				FormatCount(p.Failed), FormatCount(p.Retried), answered, lifecycleText(p.Lifecycle))
		}
		tab.flush()
	}
	if len(r.Versions) > 1 {
		tw.section("Versions")
		tab := tw.table("VERSION", "REQUESTS", "DROPPED", "ANSWERED")
		for _, v := range r.Versions {
			tab.row(dash(v.Version), FormatCount(v.Requests), FormatCount(v.Failed), fmt.Sprintf("%.1f–%.1fs", v.FirstS, v.LastS))
		}
		tab.flush()
		if r.Rollout != nil {
			tw.line("Both versions answered during %.0f s.", r.Rollout.MixedVersionS)
		}
	}

	if len(r.Windows) > 0 {
		tw.section("Who answered when (time windows × pods)")
		tab := tw.table("TIME (s)", "POD", "VERSION", "REQUESTS")
		for i, win := range r.Windows {
			if i == opt.MaxWindows {
				tab.row("…", fmt.Sprintf("%d more rows in the JSON", len(r.Windows)-i), "", "")
				break
			}
			tab.row(fmt.Sprintf("%d–%d", win.FromS, win.ToS), win.Pod, dash(win.Version), FormatCount(win.Requests))
		}
		tab.flush()
	}

	if ro := r.Rollout; ro != nil {
		tw.section("Rollout")
		state := "completed"
		switch {
		case ro.Failed:
			state = "FAILED: " + ro.Reason
		case !ro.Done:
			state = "did not complete"
		}
		tw.line("%s — %s", ro.Driver, state)
		if ro.EndpointPropagationMaxMs > 0 {
			tw.line("endpoint removal after termination began: median %s, max %s", msText(ro.EndpointPropagationMedianMs), msText(ro.EndpointPropagationMaxMs))
		}
		tab := tw.table("AT (s)", "EVENT", "POD", "DETAIL")
		for _, e := range ro.Events {
			tab.row(fmt.Sprintf("%.2f", e.AtS), string(e.Kind), dash(e.Pod), e.Message)
		}
		tab.flush()
	}

	if len(r.Failures.Records) > 0 {
		shown := min(len(r.Failures.Records), opt.MaxFailures)
		title := fmt.Sprintf("Failures (%d", r.Failures.Total)
		if shown < int(r.Failures.Total) {
			title += fmt.Sprintf(", first %d shown", shown)
		}
		tw.section(title + ")")
		tab := tw.table("AT (s)", "REQUEST", "OUTCOME", "POD", "ATTRIBUTED BY", "CONN", "DETAIL")
		for _, f := range r.Failures.Records[:shown] {
			req := fmt.Sprintf("#%d", f.Seq)
			if f.Attempt > 1 || f.Retried {
				req += fmt.Sprintf(" try %d", f.Attempt)
			}
			if f.Retried {
				req += " (retried)"
			}
			if f.Target != "" && len(r.Targets) > 1 {
				req += " → " + f.Target
			}
			conn := fmt.Sprintf("%d", f.Conn)
			if f.Conn == 0 {
				conn = "-"
			} else if f.ConnRequests > 0 {
				conn += fmt.Sprintf(" after %d", f.ConnRequests)
			} else {
				conn += " new"
			}
			tab.row(fmt.Sprintf("%.3f", f.AtS), req, f.Outcome, dash(f.Pod), f.AttributedBy, conn, f.Detail)
		}
		tab.flush()
		if r.Failures.Omitted > 0 {
			tw.line("%s more failed attempts were counted but not recorded individually.", FormatCount(r.Failures.Omitted))
		}
	}

	if len(r.Diagnosis) > 0 {
		tw.section("Diagnosis")
		for _, h := range r.Diagnosis {
			tw.line("[%s] %s", h.Severity, h.Title)
			tw.wrapped("    ", h.Detail)
			for _, e := range h.Evidence {
				tw.wrapped("    - ", e)
			}
			if h.Fix != "" {
				tw.wrapped("    fix: ", h.Fix)
			}
		}
	}

	tw.blank()
	for _, g := range r.Verdict.Gates {
		mark := "ok  "
		switch {
		case g.Skipped:
			mark = "--  "
		case !g.Pass:
			mark = "FAIL"
		}
		tw.line("%s %-18s %s", mark, g.Name, g.Message)
	}
	tw.line("%s", r.Verdict.Summary)
	return tw.err
}

type textWriter struct {
	w   io.Writer
	err error
}

func (t *textWriter) line(format string, args ...any) {
	if t.err == nil {
		_, t.err = fmt.Fprintf(t.w, format+"\n", args...)
	}
}

func (t *textWriter) blank() { t.line("") }

func (t *textWriter) kv(k, format string, args ...any) {
	t.line("%-12s %s", k, fmt.Sprintf(format, args...))
}

func (t *textWriter) section(title string) {
	t.blank()
	t.line("%s", title)
}

// wrapped writes s after prefix, wrapped at 100 columns with the
// continuation lines indented like the prefix.
func (t *textWriter) wrapped(prefix, s string) {
	indent := strings.Repeat(" ", len([]rune(prefix)))
	line := prefix
	for _, word := range strings.Fields(s) {
		if len([]rune(line))+1+len([]rune(word)) > 100 && strings.TrimSpace(line) != strings.TrimSpace(prefix) {
			t.line("%s", line)
			line = indent
		}
		if line != prefix && line != indent {
			line += " "
		}
		line += word
	}
	t.line("%s", line)
}

type textTable struct {
	t  *textWriter
	tw *tabwriter.Writer
}

func (t *textWriter) table(headers ...string) *textTable {
	tab := &textTable{t: t, tw: tabwriter.NewWriter(t.w, 0, 0, 2, ' ', 0)}
	tab.row(headers...)
	return tab
}

func (tab *textTable) row(cells ...string) {
	if tab.t.err != nil {
		return
	}
	for i, c := range cells {
		// Cells come from outside (pod names, error details): keep one
		// row on one line whatever they contain.
		cells[i] = strings.Map(func(r rune) rune {
			if r == '\t' || r == '\n' || r == '\r' {
				return ' '
			}
			return r
		}, c)
	}
	_, tab.t.err = fmt.Fprintln(tab.tw, "  "+strings.Join(cells, "\t"))
}

func (tab *textTable) flush() {
	if err := tab.tw.Flush(); err != nil && tab.t.err == nil {
		tab.t.err = err
	}
}

func outcomeLine(m map[string]int64) string {
	keys := rankedOutcomes(m, true)
	if len(keys) == 0 {
		return "none"
	}
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + " " + FormatCount(m[k])
	}
	return strings.Join(parts, " · ")
}

func lifecycleText(lc *Lifecycle) string {
	if lc == nil {
		return "-"
	}
	var parts []string
	add := func(name string, v *float64) {
		if v != nil {
			parts = append(parts, fmt.Sprintf("%s %.1f", name, *v))
		}
	}
	if lc.Generation != "" {
		parts = append(parts, lc.Generation)
	}
	add("created", lc.CreatedS)
	add("ready", lc.ReadyS)
	add("terminating", lc.TerminatingS)
	add("unlisted", lc.EndpointRemoved)
	add("deleted", lc.DeletedS)
	return strings.Join(parts, ", ")
}
