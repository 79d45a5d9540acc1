package html

import (
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/rolltest/rolltest/pkg/loadgen"
	"github.com/rolltest/rolltest/pkg/report"
	"github.com/rolltest/rolltest/pkg/report/internal/reporttest"
	"github.com/rolltest/rolltest/pkg/rollout"
)

func renderPage(t testing.TB, r *report.Result) string {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, r); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// TestHTMLTenMinuteSize: a long run's report must stay small enough to
// attach, mail and open quickly.
func TestHTMLTenMinuteSize(t *testing.T) {
	r := reporttest.TenMinutes()
	if len(r.Series) != 600 || len(r.Pods) != 6 || len(r.Versions) != 2 || len(r.Rollout.Events) != 20 || len(r.Failures.Records) != 1000 {
		t.Fatalf("synthetic run: %d s, %d pods, %d versions, %d events, %d failure records",
			len(r.Series), len(r.Pods), len(r.Versions), len(r.Rollout.Events), len(r.Failures.Records))
	}
	out := renderPage(t, r)
	t.Logf("10-minute run: %d bytes of HTML", len(out))
	if len(out) >= 2<<20 {
		t.Errorf("HTML is %d bytes, want < 2 MiB", len(out))
	}
	if !strings.Contains(out, "Showing the first 500 of 1000 failed attempts; 500 more in the JSON.") {
		t.Error("no note on the capped failure table")
	}
	if got := strings.Count(out, `<svg class="chart"`); got != 4 {
		t.Errorf("%d charts, want 4", got)
	}
}

// TestHTMLSelfContained: nothing in the page may be fetched.
func TestHTMLSelfContained(t *testing.T) {
	for _, name := range reporttest.Fixtures() {
		out := renderPage(t, reporttest.Fixture(t, name))
		for _, re := range []string{`(?i)<script`, `(?i)<link\b`, `(?i)\b(src|href|srcset|action|poster|data)\s*=`, `(?i)url\s*\(`, `(?i)@import`, `(?i)<(img|iframe|object|embed|image|use)\b`} {
			if m := regexp.MustCompile(re).FindString(out); m != "" {
				t.Errorf("%s: found %q", name, m)
			}
		}
		if !strings.Contains(out, "default-src 'none'") {
			t.Errorf("%s: no content security policy", name)
		}
	}
}

func TestHTMLFailingRollout(t *testing.T) {
	r := reporttest.Fixture(t, reporttest.FailingRollout)
	out := renderPage(t, r)
	for _, want := range []string{
		`<div class="word">FAIL</div>`, `id="rollout-h"`, `id="events"`, `id="chart-throughput-pods"`,
		`data-gate="dropped_requests"`, "exit code 1: a gate failed", "rollout triggered", "rollout phase",
		escapeText(r.Verdict.Summary), escapeText(r.Diagnosis[0].Title), "What to change:",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q", want)
		}
	}
}

func TestHTMLNoRollout(t *testing.T) {
	r := reporttest.Fixture(t, reporttest.PassingNoRollout)
	if r.Rollout != nil || len(r.Phases) != 1 || r.Phases[0].Name != "load" {
		t.Fatalf("fixture is not a run without rollout")
	}
	out := renderPage(t, r)
	if !strings.Contains(out, `<div class="word">PASS</div>`) {
		t.Error("no PASS banner")
	}
	for _, absent := range []string{`id="rollout-h"`, `id="events"`, "rollout phase", "rollout triggered", "Lifecycle (s since start)", "pod ready"} {
		if strings.Contains(out, absent) {
			t.Errorf("a run without rollout shows %q", absent)
		}
	}
	if !strings.Contains(out, "<td>load</td>") {
		t.Error("the load phase is missing")
	}
}

// TestHTMLProtocol: the header names the protocol of an HTTP/2 run, and
// says nothing of it for HTTP/1.1, the default.
func TestHTMLProtocol(t *testing.T) {
	r := reporttest.Fixture(t, reporttest.PassingNoRollout)
	if out := renderPage(t, r); strings.Contains(out, `id="protocol"`) {
		t.Error("an HTTP/1.1 run names its protocol in the header")
	}
	r.Config.Protocol, r.Config.Streams = loadgen.ProtoH2C, 10
	if out := renderPage(t, r); !strings.Contains(out, `<span id="protocol">HTTP/2 without TLS (h2c), 10 streams per connection</span>`) {
		t.Error("an h2c run does not name its protocol in the header")
	}
}

// TestHTMLEscapesInputs is the pure-Go half of the XSS test (the browser
// half is in browser_test.go): no payload may become markup.
func TestHTMLEscapesInputs(t *testing.T) {
	out := renderPage(t, xssResult(t))
	styles, httpEquiv := 0, 0
	for _, tag := range startTags(out) {
		switch tag.name {
		case "script", "img", "iframe", "object", "embed", "image", "use", "a", "link", "base", "form", "meta-refresh",
			"input", "button", "textarea", "select":
			t.Errorf("element <%s> in the output", tag.name)
		case "style":
			styles++
		case "meta":
			if slices.Contains(tag.attrs, "http-equiv") {
				httpEquiv++
			}
		}
		for _, a := range tag.attrs {
			if strings.HasPrefix(a, "on") || a == "src" || a == "href" || a == "xlink:href" || a == "srcdoc" || a == "formaction" {
				t.Errorf("attribute %s on <%s> in the output", a, tag.name)
			}
		}
	}
	// The template's own: one <style>, one http-equiv (its CSP).
	if styles != 1 || httpEquiv != 1 {
		t.Errorf("%d <style> and %d <meta http-equiv> elements, want the template's 1 and 1", styles, httpEquiv)
	}
	// And that one is the strict policy, before anything from the result:
	// a CSP in a meta element governs only what follows it.
	csp := `<meta http-equiv="Content-Security-Policy" content="` + strictCSP + `">`
	if i, j := strings.Index(out, csp), strings.Index(out, "pwned"); i < 0 || j < i {
		t.Errorf("the CSP %q is not in the page before the first payload (at %d, payload at %d)", csp, i, j)
	}
	if !strings.Contains(out, `<span id="insecure" class="warn">`+report.InsecureNote+`</span>`) {
		t.Error("the header does not say that TLS verification was off")
	}
	if n := strings.Count(out, "<svg"); n != 4 {
		t.Errorf("%d <svg> elements, want the 4 charts", n)
	}
	if !strings.Contains(out, "&lt;script&gt;window.__pwned=1&lt;/script&gt;") {
		t.Error("the script payload does not appear escaped")
	}
	if strings.Contains(strings.ToLower(out), "<script") {
		t.Error("a <script in the output")
	}
	if !strings.Contains(out, `<tr><td class="mono nw">&lt;script&gt;window.__pwned=1&lt;/script&gt;</td>`) {
		t.Error("the targets table does not show the hostile target name, escaped")
	}
}

type startTag struct {
	name  string
	attrs []string
}

var (
	testTagRE  = regexp.MustCompile(`<([a-zA-Z][a-zA-Z0-9:-]*)((?:\s+[^\s=>/]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>]+))?)*)\s*/?>`)
	testAttrRE = regexp.MustCompile(`\s+([^\s=>/]+)(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>]+))?`)
)

// startTags lists the start tags of a document and their attribute
// names: enough to see whether any input turned into markup.
func startTags(doc string) []startTag {
	var out []startTag
	for _, m := range testTagRE.FindAllStringSubmatch(doc, -1) {
		tag := startTag{name: strings.ToLower(m[1])}
		for _, a := range testAttrRE.FindAllStringSubmatch(m[2], -1) {
			tag.attrs = append(tag.attrs, strings.ToLower(a[1]))
		}
		out = append(out, tag)
	}
	return out
}

// strictCSP is the report's policy: no script, no fetch, no form, no
// base; inline styles and data: images only.
const strictCSP = `default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'`

// xssPayloads are the strings planted in every text field of a Result.
var xssPayloads = []string{
	`<script>window.__pwned=1</script>`,
	`"><img src=x onerror="window.__pwned=1">`,
	`javascript:window.__pwned=1`,
	`'><svg onload=window.__pwned=1>`,
	`</style></title></textarea><script>window.__pwned=1</script>`,
	"]]><!-- {{.}} \x00\u2028\n<iframe src=javascript:window.__pwned=1>",
	`</title></textarea><style>:root{--pwned:1}body{display:none!important;background:rgb(1,2,3)!important}</style>`,
	`<meta http-equiv="refresh" content="0;url=about:blank#pwned"><meta http-equiv="Set-Cookie" content="pwned=1">`,
	`<form id="pwned" action="about:blank#pwned"><input name="pwned" value="1"><button formaction="about:blank#pwned">go</button></form>`,
}

// xssResult is the failing fixture with the payloads in every string that
// comes from outside: the cluster (pod names, versions, event messages),
// the target (failure details, status), the user (URL, headers) and the
// diagnosis.
func xssResult(t testing.TB) *report.Result {
	r := reporttest.Fixture(t, reporttest.FailingRollout)
	p := func(i int) string { return xssPayloads[i%len(xssPayloads)] }
	rename := map[string]string{}
	for i := range r.Pods {
		old := r.Pods[i].ID
		n := p(i) + "-pod" + string(rune('a'+i))
		rename[old] = n
		r.Pods[i].ID, r.Pods[i].Name, r.Pods[i].IP = n, n, p(i+1)
		r.Pods[i].Version = p(i + 2)
		r.Pods[i].AttributedBy = map[string]int64{p(i + 3): 1}
		if lc := r.Pods[i].Lifecycle; lc != nil {
			lc.Generation, lc.ReplicaSet = p(i+4), p(i+5)
		}
	}
	rv := map[string]string{}
	for i := range r.Versions {
		rv[r.Versions[i].Version] = p(i+2) + "-v" + string(rune('1'+i))
		r.Versions[i].Version = rv[r.Versions[i].Version]
	}
	for i := range r.Series {
		s := &r.Series[i]
		bp, bv := map[string]int64{}, map[string]int64{}
		for k, c := range s.ByPod {
			bp[rename[k]] = c
		}
		for k, c := range s.ByVersion {
			bv[rv[k]] = c
		}
		s.ByPod, s.ByVersion, s.Phase = bp, bv, p(i)
	}
	for i := range r.Windows {
		r.Windows[i].Pod, r.Windows[i].Version = rename[r.Windows[i].Pod], rv[r.Windows[i].Version]
	}
	for i := range r.Failures.Records {
		f := &r.Failures.Records[i]
		f.Detail, f.Pod, f.Version, f.AttributedBy, f.Outcome = p(i), rename[f.Pod], p(i+1), p(i+2), p(i+3)
		f.Target = p(i + 4)
	}
	// A targets file is outside input too: names, methods and URLs.
	r.Config.TargetsFile = p(5)
	for i := range 3 {
		r.Targets = append(r.Targets, report.Target{Name: p(i), Method: p(i + 1), URL: p(i + 2), Weight: 1})
	}
	for i := range r.Rollout.Events {
		e := &r.Rollout.Events[i]
		e.Message, e.Pod, e.Version, e.ReplicaSet = p(i), p(i+1), p(i+2), p(i+3)
		e.Generation = rollout.Generation(p(i + 4))
		if i%3 == 0 {
			e.Kind = rollout.EventKind(p(i))
		}
	}
	r.Rollout.Reason, r.Rollout.Namespace, r.Rollout.Deployment, r.Rollout.Service, r.Rollout.Kind, r.Rollout.Driver = p(0), p(1), p(2), p(3), p(4), p(5)
	r.Rollout.Failed = true
	r.Config.Target = "javascript:window.__pwned=1//" + p(0)
	r.Config.Method = p(1)
	r.Config.Headers = []string{"X-Evil: " + p(0), p(1)}
	// identity auto shows its rule in the header and the config list;
	// the rule is read from responses (a header name, a JSON field).
	r.Config.Identity, r.Config.IdentityRule, r.Config.Mode = "auto", p(2), p(3)
	r.Config.InsecureSkipVerify = true
	r.Config.Headers = append(r.Config.Headers, "Authorization: "+p(3), p(4)+": "+p(5))
	r.Run.Preflight = &report.Preflight{Status: 200, Pod: p(6), Version: p(7)}
	r.Tool.Name, r.Tool.Version = p(4), p(5)
	r.Run.StopReason = p(0)
	r.Latency.Basis = p(1)
	r.Totals.Outcomes[p(0)] = 1
	r.Totals.StatusCodes[p(1)] = 1
	r.Totals.RetriedOutcomes = map[string]int64{p(2): 3}
	for i := range r.Phases {
		r.Phases[i].Name = p(i)
		r.Phases[i].Outcomes = map[string]int64{p(i + 1): 2}
	}
	r.Diagnosis = append(r.Diagnosis, report.Hint{Code: p(0), Severity: p(1), Title: p(2), Detail: p(3), Evidence: []string{p(4), p(5)}, Fix: p(0)})
	for i := range r.Diagnosis {
		r.Diagnosis[i].Detail += " " + p(i)
	}
	r.Verdict.Summary = p(0)
	for i := range r.Verdict.Gates {
		r.Verdict.Gates[i].Message = p(i)
	}
	r.Verdict.Gates = append(r.Verdict.Gates, report.Gate{Name: p(2), Message: p(3)})
	// Agents' hosts, nodes and errors come from pods and their logs.
	r.Config.Agents, r.Config.LoadFrom = 3, p(6)
	for i := range 3 {
		r.Agents = append(r.Agents, report.Agent{Index: i, Host: p(i), Node: p(i + 1), Error: p(i + 2), Requests: 10})
	}
	return r
}

// TestHTMLOddResults: a result that is empty, damaged or extreme renders
// without error.
func TestHTMLOddResults(t *testing.T) {
	zero := 0.0
	cases := map[string]*report.Result{
		"empty":     {},
		"no series": {Schema: report.Schema, Rollout: &report.Rollout{Events: []rollout.Event{{Kind: rollout.EventTrigger, AtS: 1}}}},
		"nan": {Schema: report.Schema, Latency: report.Latency{LatencySummary: report.LatencySummary{Count: 1, P50Ms: math.NaN()}},
			Series:  []report.Second{{T: 0, Requests: 1, P50Ms: math.NaN(), MaxMs: math.Inf(1)}},
			Rollout: &report.Rollout{TriggeredS: &zero, Events: []rollout.Event{{Kind: "x", AtS: math.NaN()}}}},
		"wild t": {Series: []report.Second{{T: -5, Requests: 3}, {T: math.MaxInt, Requests: 1}, {T: 3, Requests: 2, Failed: 2, MaxMs: 1}}},
		"wild width": {Config: report.Config{KeepAlive: true}, Totals: report.Totals{Requests: 500},
			Pods: []report.Pod{{ID: "a", OK: 1}, {ID: "b", OK: 1}},
			Series: []report.Second{{T: 0, WidthS: -3, Requests: 9, ByPod: map[string]int64{"a": 9}}, {T: 5, WidthS: math.MaxInt, Requests: 9},
				{T: 7, WidthS: 120, Requests: 600, ByPod: map[string]int64{"b": 600}}, {T: 9, WidthS: report.MaxRunSeconds, Requests: 1}}},
		"zeros": {Series: []report.Second{{T: 0}, {T: 1}}, Pods: []report.Pod{{ID: "a", Lifecycle: &report.Lifecycle{}}}},
		"one":   {Series: []report.Second{{T: 0, Requests: 1, OK: 1, P50Ms: 1, P99Ms: 1, MaxMs: 1, ByVersion: map[string]int64{"v": 1}}}},
		"many pods": func() *report.Result {
			r := &report.Result{Series: make([]report.Second, 50)}
			for i := range r.Series {
				r.Series[i] = report.Second{T: i, Requests: 40, ByPod: map[string]int64{}}
				for j := 0; j < 40; j++ {
					r.Series[i].ByPod[string(rune('A'+j))] = 1
				}
			}
			return r
		}(),
		"bad histogram": {Latency: report.Latency{Histogram: "bm90IGEgaGlzdG9ncmFt"}},
	}
	for name, r := range cases {
		t.Run(name, func(t *testing.T) {
			// Through JSON where possible, as the CLI reads results.
			if b, err := json.Marshal(r); err == nil {
				var rr report.Result
				if json.Unmarshal(b, &rr) == nil {
					renderPage(t, &rr)
				}
			}
			renderPage(t, r)
			report.Diagnose(r)
		})
	}
	if err := Write(&bytes.Buffer{}, nil); err == nil {
		t.Error("nil result accepted")
	}
}

func escapeText(s string) string {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;")
	return r.Replace(s)
}

// updateGolden rewrites the golden files in testdata instead of comparing:
// go test ./pkg/report/html -run Golden -update
var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestHTMLGolden pins the whole page of each fixture, charts included, so
// that a change to the page shows in review as a diff of the golden file.
func TestHTMLGolden(t *testing.T) {
	for _, name := range reporttest.Fixtures() {
		t.Run(name, func(t *testing.T) {
			got := renderPage(t, reporttest.Fixture(t, name))
			path := filepath.Join("testdata", "html-"+strings.TrimSuffix(name, ".json")+".html.golden")
			if *updateGolden {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got == string(want) {
				return
			}
			// The page is 100 kB: name the first line that differs.
			g, w := strings.Split(got, "\n"), strings.Split(string(want), "\n")
			for i := range min(len(g), len(w)) {
				if g[i] != w[i] {
					t.Fatalf("%s differs at line %d (run with -update if intended):\n got %.300q\nwant %.300q", path, i+1, g[i], w[i])
				}
			}
			t.Fatalf("%s differs: %d lines, want %d (run with -update if intended)", path, len(g), len(w))
		})
	}
}

// FuzzWrite: a document that reads must also render, whatever it holds.
func FuzzWrite(f *testing.F) {
	f.Add(`{"schema":"rolltest/v1"}`)
	f.Add(`{"schema":"rolltest/v1","rollout":{"events":[{"kind":"trigger","at_s":1}]},"series":[{"t":0,"requests":1}]}`)
	f.Add(`{"schema":"rolltest/v1","latency":{"histogram":"HISTFAAAACR4nJNpmSzMwMDAwQABzFCaEUzOmNZg/wEiMFEAAJLUBd0="}}`)
	f.Add(`{"schema":"rolltest/v1","series":[{"t":0,"width_s":60,"requests":9,"by_pod":{"a":9}}],"pods":[{"id":"a","ok":1}]}`)
	f.Fuzz(func(t *testing.T, in string) {
		r, err := report.ReadResult(strings.NewReader(in))
		if err != nil {
			return
		}
		var sb strings.Builder
		if err := Write(&sb, r); err != nil {
			t.Fatalf("Write: %v", err)
		}
	})
}

// TestOutcomeMeanings: the outcomes table explains each outcome in the
// words of loadgen's outcome table, marks the dropped ones, and explains
// no name it does not know (a newer document's).
func TestOutcomeMeanings(t *testing.T) {
	totals := report.Totals{Outcomes: map[string]int64{"http_other": 1}}
	for _, o := range loadgen.Outcomes() {
		totals.Outcomes[o.String()] = 1
	}
	rows := outcomeRows(totals)
	if len(rows) != len(loadgen.Outcomes())+1 {
		t.Fatalf("%d rows, want one per outcome and one for http_other: %+v", len(rows), rows)
	}
	for _, row := range rows {
		o, known := loadgen.ParseOutcome(row.Name)
		if row.Meaning != o.Meaning() || row.Failure != o.Failed() || (known && row.Meaning == "") {
			t.Errorf("%s: meaning %q, failure %v; the outcome table says %q, %v", row.Name, row.Meaning, row.Failure, o.Meaning(), o.Failed())
		}
	}
	if rows[0].Name != loadgen.OK.String() {
		t.Errorf("first row %s, want ok", rows[0].Name)
	}
}

// TestHTMLAgents: a run from agents in the cluster says so in the header
// and has a row per agent with its pod and node.
func TestHTMLAgents(t *testing.T) {
	r := reporttest.Fixture(t, reporttest.FailingRollout)
	r.Config.Agents, r.Config.LoadFrom = 2, "in-cluster"
	r.Agents = []report.Agent{
		{Index: 0, Host: "rolltest-agents-x-0", Node: "node-a", Requests: 600, Failed: 3, LateSends: 7, MaxSendDelayMs: 2.5},
		{Index: 1, Host: "rolltest-agents-x-1", Node: "node-b", Interrupted: true, Error: "no final record"},
	}
	out := renderPage(t, r)
	for _, want := range []string{
		`<span id="load-from">load from inside the cluster, 2 agents</span>`,
		`<table id="agents" class="full">`,
		`<td class="mono nw">rolltest-agents-x-0</td><td class="mono nw">node-a</td><td class="n">600</td><td class="n bad">3</td><td class="n">7</td><td class="n">2.5</td>`,
		`<td class="wrap">no final record</td>`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	r.Agents, r.Config.Agents, r.Config.LoadFrom = nil, 1, "local"
	if out := renderPage(t, r); strings.Contains(out, `id="agents"`) || strings.Contains(out, `id="load-from"`) {
		t.Error("a local run has an agents table or a load-from note")
	}
}
