package metrics

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/rolltest/rolltest/pkg/loadgen"
)

const dashboardPath = "../../dist/grafana/rolltest-dashboard.json"

// served returns every series name the exporter serves, each with its
// label names, from a real gather of a run's registry: what the
// dashboard may use.
func served(t *testing.T) map[string]map[string]bool {
	t.Helper()
	// Never run: New resolves nothing for an IP and sends nothing, and an
	// engine that has not run still serves every family, at zero.
	eng, err := loadgen.New(context.Background(), loadgen.Config{Target: "http://127.0.0.1:1/", Rate: 1, Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	fams, err := NewRegistry(eng, Info{Version: "test"}).Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]bool{}
	for _, f := range fams {
		labels := map[string]bool{}
		for _, m := range f.Metric {
			for _, l := range m.Label {
				labels[l.GetName()] = true
			}
		}
		out[f.GetName()] = labels
		if f.GetType() == dto.MetricType_HISTOGRAM {
			bucket := map[string]bool{"le": true}
			for l := range labels {
				bucket[l] = true
			}
			out[f.GetName()+"_bucket"] = bucket
			out[f.GetName()+"_sum"] = labels
			out[f.GetName()+"_count"] = labels
		}
	}
	return out
}

// dashboardQueries returns every PromQL expression of the dashboard (the
// targets' expr, and the query of a variable inside label_values) and
// every legend, by where they are.
func dashboardQueries(t *testing.T) (exprs, legends map[string]string) {
	t.Helper()
	raw, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr   string `json:"expr"`
				Legend string `json:"legendFormat"`
				RefID  string `json:"refId"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name       string `json:"name"`
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	exprs, legends = map[string]string{}, map[string]string{}
	for _, p := range doc.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			where := fmt.Sprintf("panel %q query %s", p.Title, tg.RefID)
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("%s is empty", where)
			}
			exprs[where] = tg.Expr
			legends[where] = tg.Legend
		}
	}
	labelValues := regexp.MustCompile(`^label_values\((.*),\s*([a-zA-Z_]\w*)\)$`)
	for _, v := range doc.Templating.List {
		if v.Definition == "" {
			continue
		}
		m := labelValues.FindStringSubmatch(v.Definition)
		if m == nil {
			t.Errorf("variable %s: %q is not label_values(SELECTOR, LABEL)", v.Name, v.Definition)
			continue
		}
		exprs["variable "+v.Name] = m[1]
	}
	return exprs, legends
}

// TestDashboardUsesServedNames holds dist/grafana's dashboard to the
// exporter: every metric and label its queries and legends name is one
// the exporter serves, so that renaming a metric without the dashboard
// (or the reverse) fails here rather than in front of a rollout.
func TestDashboardUsesServedNames(t *testing.T) {
	names := served(t)
	for _, want := range Families() {
		if names[want] == nil {
			t.Errorf("Families names %s, which the registry does not serve", want)
		}
	}
	exprs, legends := dashboardQueries(t)
	used := map[string]bool{}
	for where, e := range exprs {
		metrics, problems := checkPromQL(e, names)
		for _, p := range problems {
			t.Errorf("%s: %s\n  %s", where, p, e)
		}
		for _, m := range metrics {
			used[m] = true
		}
	}
	allLabels := map[string]bool{}
	for _, ls := range names {
		for l := range ls {
			allLabels[l] = true
		}
	}
	for where, l := range legends {
		for _, m := range regexp.MustCompile(`\{\{\s*([^}\s]+)\s*\}\}`).FindAllStringSubmatch(l, -1) {
			if !allLabels[m[1]] {
				t.Errorf("%s: legend %q names label %s, which no served metric has", where, l, m[1])
			}
		}
	}
	// The brief of the dashboard: rate by outcome, drops by pod and
	// version, quantiles from the histogram, the phase.
	for _, want := range []string{Requests, Dropped, Duration + "_bucket", Phase} {
		if !used[want] {
			t.Errorf("the dashboard does not use %s", want)
		}
	}
}

// TestCheckPromQLRejects: the checker that guards the dashboard finds a
// misspelt metric, an unknown label in a matcher or a grouping, and
// unbalanced brackets.
func TestCheckPromQLRejects(t *testing.T) {
	names := map[string]map[string]bool{
		Requests:             {"outcome": true, "pod": true, "version": true},
		Duration + "_bucket": {"le": true},
	}
	good := []string{
		`sum by (outcome) (rate(rolltest_requests_total{instance=~"$instance"}[$__rate_interval]))`,
		`histogram_quantile(0.99, sum by (le) (rate(rolltest_request_duration_seconds_bucket[5m])))`,
		`label_replace(sum without (outcome) (rolltest_requests_total{pod!="a b {c}"}), "pod", "x", "pod", "")`,
		`rolltest_requests_total offset 5m > bool 0 and on (pod) rolltest_requests_total`,
	}
	for _, e := range good {
		if _, problems := checkPromQL(e, names); len(problems) > 0 {
			t.Errorf("%s: %v", e, problems)
		}
	}
	for _, e := range []string{
		`rate(rolltest_request_total[1m])`,
		`sum by (podd) (rolltest_requests_total)`,
		`rolltest_requests_total{pood="x"}`,
		`sum(rate(rolltest_requests_total[1m])`,
		`histogram_quantile(0.5, rate(rolltest_request_duration_seconds[1m]))`,
	} {
		if _, problems := checkPromQL(e, names); len(problems) == 0 {
			t.Errorf("%s: no problem found", e)
		}
	}
}

// promqlKeywords are the words of PromQL that are neither metrics nor
// functions: aggregations (written before their grouping, so not always
// followed by a parenthesis), binary and grouping modifiers.
var promqlKeywords = map[string]bool{
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
	"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
	"limitk": true, "limit_ratio": true,
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"bool": true, "and": true, "or": true, "unless": true, "offset": true, "atan2": true,
	"inf": true, "nan": true,
}

// checkPromQL reads a PromQL expression as tokens — strings, numbers and
// durations, Grafana variables, brackets, identifiers — and returns the
// metric names it selects with the problems found: a name the exporter
// does not serve, a label it does not carry (in a matcher, or in a
// grouping: by, without, on, ignoring, group_left, group_right), and
// unbalanced brackets. It is no PromQL parser (the Prometheus module
// would pull in a newer Kubernetes client than rolltest's); it checks the
// names, which is what drifts.
func checkPromQL(expr string, names map[string]map[string]bool) (metrics, problems []string) {
	var (
		stack    []byte
		grouping []string // label lists of by (...) etc., checked at the end
	)
	isIdent := func(c byte, first bool) bool {
		return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || !first && c >= '0' && c <= '9'
	}
	skipSpace := func(i int) int {
		for i < len(expr) && (expr[i] == ' ' || expr[i] == '\t' || expr[i] == '\n') {
			i++
		}
		return i
	}
	// readString returns the index after the string literal that starts
	// at i.
	readString := func(i int) int {
		q := expr[i]
		for i++; i < len(expr); i++ {
			if expr[i] == '\\' && q != '`' {
				i++
			} else if expr[i] == q {
				return i + 1
			}
		}
		problems = append(problems, "unterminated string")
		return len(expr)
	}
	last := "" // the metric just read, whose labels a matcher names
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			i = readString(i)
		case c == '$':
			i++
			if i < len(expr) && expr[i] == '{' {
				for i < len(expr) && expr[i] != '}' {
					i++
				}
				i++
			}
			for i < len(expr) && isIdent(expr[i], false) {
				i++
			}
		case c == '{':
			end := i + 1
			for end < len(expr) && expr[end] != '}' {
				if expr[end] == '"' || expr[end] == '\'' || expr[end] == '`' {
					end = readString(end)
					continue
				}
				end++
			}
			if end >= len(expr) {
				problems = append(problems, "unbalanced {")
				return metrics, problems
			}
			for _, m := range regexp.MustCompile(`([a-zA-Z_]\w*)\s*(=~|!~|!=|=)`).FindAllStringSubmatch(stripStrings(expr[i+1:end]), -1) {
				if m[1] == "__name__" || m[1] == "instance" || m[1] == "job" {
					continue // set by Prometheus, not the exporter
				}
				if last != "" && names[last] != nil && !names[last][m[1]] {
					problems = append(problems, fmt.Sprintf("%s has no label %s", last, m[1]))
				}
			}
			i = end + 1
		case c == '[':
			end := strings.IndexByte(expr[i:], ']')
			if end < 0 {
				problems = append(problems, "unbalanced [")
				return metrics, problems
			}
			i += end + 1
		case c == '(':
			stack = append(stack, c)
			i++
		case c == ')':
			if len(stack) == 0 {
				problems = append(problems, "unbalanced )")
			} else {
				stack = stack[:len(stack)-1]
			}
			i++
		case c >= '0' && c <= '9' || c == '.':
			for i < len(expr) && (isIdent(expr[i], false) || expr[i] == '.') {
				i++ // numbers, 1e3, and durations like 5m in offset
			}
		case isIdent(c, true):
			start := i
			for i < len(expr) && isIdent(expr[i], false) {
				i++
			}
			word := expr[start:i]
			next := skipSpace(i)
			switch {
			case word == "by" || word == "without" || word == "on" || word == "ignoring" || word == "group_left" || word == "group_right":
				if next < len(expr) && expr[next] == '(' {
					end := strings.IndexByte(expr[next:], ')')
					if end < 0 {
						problems = append(problems, "unbalanced (")
						return metrics, problems
					}
					for _, l := range strings.Split(expr[next+1:next+end], ",") {
						if l = strings.TrimSpace(l); l != "" {
							grouping = append(grouping, l)
						}
					}
					i = next + end + 1
				}
			case promqlKeywords[strings.ToLower(word)]:
			case next < len(expr) && expr[next] == '(':
				// a function
			default:
				if names[word] == nil {
					problems = append(problems, fmt.Sprintf("%s is not a metric the exporter serves", word))
				}
				metrics = append(metrics, word)
				last = word
			}
		default:
			i++
		}
	}
	if len(stack) > 0 {
		problems = append(problems, "unbalanced (")
	}
	labels := map[string]bool{"instance": true, "job": true}
	for _, m := range metrics {
		for l := range names[m] {
			labels[l] = true
		}
	}
	for _, l := range grouping {
		if !labels[l] {
			problems = append(problems, fmt.Sprintf("grouping by %s, which none of %v has", l, metrics))
		}
	}
	sort.Strings(metrics)
	return metrics, problems
}

// stripStrings blanks the string literals of a matcher list, so that a
// value like "a=b" is not read as a matcher.
func stripStrings(s string) string {
	return regexp.MustCompile(`"(\\.|[^"\\])*"|'(\\.|[^'\\])*'|`+"`[^`]*`").ReplaceAllString(s, `""`)
}
