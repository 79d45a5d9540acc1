package report

import (
	"fmt"
	"io"
	"strings"
	"unicode"
)

// MarkdownOptions tune the Markdown summary.
type MarkdownOptions struct {
	// MaxFailures is how many failure records to list; 0 means 10. A CI
	// summary is read at a glance: the JSON and HTML hold them all.
	MaxFailures int
	// MaxPods is how many pods with drops to list; 0 means 20.
	MaxPods int
}

// Caps on one value: a table cell, and a sentence (a summary, a fix). One
// hostile or chatty detail must not push the table off the page, and
// GitHub caps a step summary at 1 MiB.
const (
	mdCellRunes  = 160
	mdProseRunes = 1000
)

// WriteMarkdown writes the run as GitHub-flavoured Markdown for a CI
// summary ($GITHUB_STEP_SUMMARY, a merge request note): the verdict, the
// key numbers, the rollout, the diagnosis and who dropped what. Every value
// that came from outside rolltest (pod names, versions, error details, the
// target) is escaped, so that a response cannot inject markup, links,
// mentions or HTML into the page that shows it.
func WriteMarkdown(w io.Writer, r *Result) error {
	return WriteMarkdownOpts(w, r, MarkdownOptions{})
}

// WriteMarkdownOpts is WriteMarkdown with options.
func WriteMarkdownOpts(w io.Writer, r *Result, opt MarkdownOptions) error {
	if opt.MaxFailures <= 0 {
		opt.MaxFailures = 10
	}
	if opt.MaxPods <= 0 {
		opt.MaxPods = 20
	}
	m := &mdWriter{w: w}
	mark, word := "❌", "FAIL"
	switch {
	case r.Run.Interrupted:
		word = "INTERRUPTED"
	case r.Verdict.Pass:
		mark, word = "✅", "PASS"
	}
	m.line("## %s rolltest: %s", mark, word)
	m.blank()
	m.line("%s", mdProse(r.Verdict.Summary))
	m.blank()
	c := r.Config
	load := fmt.Sprintf("%d workers", c.Concurrency)
	if c.Mode == "rate" {
		load = trimFloat(c.Rate) + " req/s"
	}
	if c.InsecureSkipVerify {
		load += ", **" + mdText(InsecureNote) + "**"
	}
	m.line("%s %s, %s, rolltest %s", mdText(c.Method), mdText(c.Target), load, mdText(r.Tool.Version))
	m.blank()

	t := r.Totals
	l := r.Latency
	m.row("Requests", "Dropped", "Error rate", "p50", "p99", "max", "Achieved rate")
	m.row("---:", "---:", "---:", "---:", "---:", "---:", "---:")
	m.row(FormatCount(t.Requests), FormatCount(t.Failed), percent(share(t.Failed, t.Requests)),
		msText(l.P50Ms), msText(l.P99Ms), msText(l.MaxMs), trimFloat(t.AchievedRPS)+" req/s")
	m.blank()

	if ro := r.Rollout; ro != nil {
		state := "completed"
		switch {
		case ro.Failed:
			state = "**failed**: " + mdProse(ro.Reason)
		case !ro.Done:
			state = "**did not complete**"
		}
		what := ro.WorkloadRef()
		if what == "" {
			what = ro.Driver
		}
		m.line("**Rollout:** %s, %s, %s.", mdText(what), mdText(ro.Kind), state)
		m.blank()
	}

	var failedGates []string
	for _, g := range r.Verdict.Gates {
		if !g.Pass && !g.Skipped {
			failedGates = append(failedGates, "- **"+mdText(g.Name)+"**: "+mdProse(g.Message))
		}
	}
	if len(failedGates) > 0 {
		m.line("**Failed gates**")
		m.blank()
		for _, g := range failedGates {
			m.line("%s", g)
		}
		m.blank()
	}

	if len(r.Diagnosis) > 0 {
		m.line("### Diagnosis")
		m.blank()
		for _, h := range r.Diagnosis {
			m.line("- **%s** (%s)", mdText(h.Title), mdText(h.Severity))
			if h.Fix != "" {
				m.line("  Fix: %s", mdProse(h.Fix))
			}
		}
		m.blank()
	}

	m.targetTable(r)
	m.podTable(r, opt.MaxPods)
	m.failureTable(r, opt.MaxFailures)
	return m.err
}

// targetTable lists a --targets run's requests, where a drop on one
// endpoint alone points at that endpoint rather than at the rollout.
func (m *mdWriter) targetTable(r *Result) {
	if len(r.Targets) < 2 {
		return
	}
	m.line("### Requests by target")
	m.blank()
	m.row("Target", "Method", "Requests", "Dropped", "p50", "p99")
	m.row("---", "---", "---:", "---:", "---:", "---:")
	for _, t := range r.Targets {
		m.row(mdText(t.Name), mdText(t.Method), FormatCount(t.Requests), FormatCount(t.Failed), msText(t.P50Ms), msText(t.P99Ms))
	}
	m.blank()
}

// podTable lists the pods that dropped requests, and the drops no pod was
// found for.
func (m *mdWriter) podTable(r *Result, maxPods int) {
	var pods []Pod
	var attributed int64
	for _, p := range r.Pods {
		if p.Failed > 0 {
			pods = append(pods, p)
			attributed += p.Failed
		}
	}
	unattributed := r.Totals.Failed - attributed
	if len(pods) == 0 && unattributed <= 0 {
		return
	}
	m.line("### Failures by pod")
	m.blank()
	m.row("Pod", "Version", "Requests", "Dropped", "Outcomes")
	m.row("---", "---", "---:", "---:", "---")
	for i, p := range pods {
		if i == maxPods {
			m.row("…", fmt.Sprintf("%d more pods in the JSON", len(pods)-i), "", "", "")
			break
		}
		name := p.ID
		if p.Name != "" {
			name = p.Name
		}
		m.row(mdText(name), mdText(dash(p.Version)), FormatCount(p.Requests), FormatCount(p.Failed), mdText(dash(outcomeSentence(p.Outcomes))))
	}
	if unattributed > 0 {
		m.row("*no pod found*", "-", "-", FormatCount(unattributed), "-")
	}
	m.blank()
}

func (m *mdWriter) failureTable(r *Result, maxFailures int) {
	recs := r.Failures.Records
	if len(recs) == 0 {
		return
	}
	shown := min(len(recs), maxFailures)
	title := fmt.Sprintf("### Failed requests (%s", FormatCount(r.Failures.Total))
	if int64(shown) < r.Failures.Total {
		title += fmt.Sprintf(", first %d shown", shown)
	}
	m.line("%s)", title)
	m.blank()
	m.row("At (s)", "Request", "Outcome", "Pod", "Attributed by", "Detail")
	m.row("---:", "---", "---", "---", "---", "---")
	for _, f := range recs[:shown] {
		req := fmt.Sprintf("#%d", f.Seq)
		if f.Attempt > 1 || f.Retried {
			req += fmt.Sprintf(" try %d", f.Attempt)
		}
		if f.Retried {
			req += " (retried)"
		}
		// "#" starts an issue reference on GitHub: escaped like any text.
		m.row(fmt.Sprintf("%.3f", f.AtS), mdText(req), mdText(f.Outcome), mdText(dash(f.Pod)), mdText(f.AttributedBy), mdText(dash(f.Detail)))
	}
	m.blank()
}

type mdWriter struct {
	w   io.Writer
	err error
}

func (m *mdWriter) line(format string, args ...any) {
	if m.err == nil {
		_, m.err = fmt.Fprintf(m.w, format+"\n", args...)
	}
}

func (m *mdWriter) blank() { m.line("") }

// row writes a table row; its cells are already escaped.
func (m *mdWriter) row(cells ...string) {
	m.line("| %s |", strings.Join(cells, " | "))
}

// mdEscaped are the characters that start Markdown or GitHub markup inside
// a line: emphasis, code, links and images, tables, strikethrough, raw
// HTML, entities, issue references, mentions, math, emoji, and the "." and
// ":" of autolinked URLs and domains. Line-start markup (headings, lists,
// quotes) cannot occur: mdText never lets a value begin a line.
const mdEscaped = "\\`*_[]<>&|~!#@$:."

// mdText makes s safe as text inside a Markdown table cell or line: every
// control or invisible formatting character (newlines, tabs, bidirectional
// overrides) becomes a space, HTML's three significant characters become
// entities, every other markup character is backslash-escaped, and s is
// cut to mdCellRunes.
func mdText(s string) string { return mdEscape(s, mdCellRunes) }

// mdProse is mdText for a sentence, cut to mdProseRunes.
func mdProse(s string) string { return mdEscape(s, mdProseRunes) }

func mdEscape(s string, limit int) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == limit {
			b.WriteString("…")
			break
		}
		n++
		switch {
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029' || r == unicode.ReplacementChar:
			b.WriteByte(' ')
		case r < unicode.MaxASCII && strings.ContainsRune(mdEscaped, r):
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
