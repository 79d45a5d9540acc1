package html

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/rolltest/rolltest/pkg/report"
	"github.com/rolltest/rolltest/pkg/report/internal/reporttest"
)

// The HTML report is proven in a real browser: Debian's chromium, headless,
// with the network off. The tests skip when there is no browser, except in
// CI (CI=true) or when ROLLTEST_BROWSER=1 asks for them: there a missing
// browser is a failure, never a silent skip. With -short (make test-short)
// they always skip: that subset promises no browser.

func browserPath(t *testing.T) string {
	t.Helper()
	// make test-short promises no browser, CI or not.
	if testing.Short() {
		t.Skip("starts a browser; skipped with -short")
	}
	path := os.Getenv("ROLLTEST_CHROMIUM")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	if _, err := os.Stat(path); err != nil {
		msg := fmt.Sprintf("no browser for the HTML report tests: %v (install chromium or set ROLLTEST_CHROMIUM)", err)
		if os.Getenv("CI") == "true" || os.Getenv("ROLLTEST_BROWSER") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return path
}

// browserStart starts a headless browser that reaches no network, with a
// fresh profile, for the duration of the test.
func browserStart(t *testing.T) context.Context {
	t.Helper()
	path := browserPath(t)
	// No deadline on the browser itself: each step has its own
	// (browserStep), so a slow machine only makes the whole run longer.
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("no-pings", true),
		chromedp.Flag("metrics-recording-only", true),
		// Anything that still tries the network meets a dead proxy.
		chromedp.Flag("proxy-server", "http://127.0.0.1:9"),
		chromedp.Flag("proxy-bypass-list", "<-loopback>"),
		chromedp.Flag("dns-prefetch-disable", true),
	)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(cancelBrowser)
	browserAttach(t, bctx, cancelBrowser, "start "+path)
	return bctx
}

// browserStep bounds one step in the browser (start, open, evaluate, wait
// for a condition). It is a hang guard, not a measurement: every step
// waits on a condition and ends as soon as it holds; the guard's expiry
// fails the test naming the step.
const browserStep = 2 * time.Minute

// browserAttach runs the first action on a new chromedp context, which
// starts the browser or opens the tab. That first action binds their
// lifetime to the context it runs on, so it cannot take a step deadline:
// a timer guards it instead, and its expiry cancels ctx and fails.
func browserAttach(t *testing.T, ctx context.Context, cancel context.CancelFunc, what string) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- chromedp.Do(ctx) }()
	guard := time.NewTimer(browserStep)
	defer guard.Stop()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-guard.C:
		cancel()
		t.Fatalf("%s: no answer within the %v step guard", what, browserStep)
	}
}

// browserDo runs actions in the tab as one step with its own deadline.
func browserDo(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, browserStep)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// pageLog is what a tab reported while it showed the page.
type pageLog struct {
	mu       sync.Mutex
	problems []string // console errors, exceptions, error log entries
	requests []string // every URL the tab asked for
	// Navigations requested or committed once the page had loaded.
	navigations []string
	loaded      bool
	marks       map[string]bool // console.debug markers seen
	changed     chan struct{}   // closed and replaced on every event
}

func newPageLog() *pageLog {
	return &pageLog{marks: map[string]bool{}, changed: make(chan struct{})}
}

// browserMarkPrefix starts the console.debug messages browserSettle sends.
const browserMarkPrefix = "rolltest-mark-"

func (l *pageLog) listen(ev any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	defer func() {
		close(l.changed)
		l.changed = make(chan struct{})
	}()
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeDebug && len(ev.Args) == 1 {
			var msg string
			if json.Unmarshal(ev.Args[0].Value, &msg) == nil && strings.HasPrefix(msg, browserMarkPrefix) {
				l.marks[msg] = true
				return
			}
		}
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			var args []string
			for _, a := range ev.Args {
				args = append(args, string(a.Value)+a.Description)
			}
			l.problems = append(l.problems, fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " ")))
		}
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		msg := d.Text
		if d.Exception != nil {
			msg += " " + d.Exception.Description
		}
		l.problems = append(l.problems, "exception: "+msg)
	case *cdplog.EventEntryAdded:
		if e := ev.Entry; e.Level == cdplog.EntryLevelError || e.Level == cdplog.EntryLevelWarning {
			l.problems = append(l.problems, fmt.Sprintf("log %s/%s: %s %s", e.Source, e.Level, e.Text, e.URL))
		}
	case *network.EventRequestWillBeSent:
		l.requests = append(l.requests, ev.Request.URL)
	case *network.EventLoadingFailed:
		l.problems = append(l.problems, fmt.Sprintf("loading failed: %s %s", ev.ErrorText, ev.BlockedReason))
	case *page.EventFrameRequestedNavigation:
		if l.loaded {
			l.navigations = append(l.navigations, fmt.Sprintf("requested (%s): %s", ev.Reason, ev.URL))
		}
	case *page.EventFrameNavigated:
		if l.loaded {
			l.navigations = append(l.navigations, "navigated: "+ev.Frame.URL)
		}
	}
}

// waitMark waits until the console.debug marker has been delivered.
func (l *pageLog) waitMark(ctx context.Context, mark string) error {
	for {
		l.mu.Lock()
		ok, ch := l.marks[mark], l.changed
		l.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (l *pageLog) snapshot() (problems, requests, navigations []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.problems...), append([]string(nil), l.requests...), append([]string(nil), l.navigations...)
}

var browserMarks atomic.Int64

// browserSettle waits until the page has loaded (document.readyState
// complete) and the condition cond holds in the page, then sends a marker
// through the console after everything the page did so far and waits
// until the event stream has delivered it: the tab's events arrive in
// order, so any error, exception, request or navigation the page caused
// before the marker has been seen by then. No sleeping for late events.
func browserSettle(t *testing.T, ctx context.Context, pl *pageLog, cond string) {
	t.Helper()
	if cond == "" {
		cond = "true"
	}
	browserDo(t, ctx, "wait for the page: "+cond,
		chromedp.Poll[chromedp.Void](fmt.Sprintf("document.readyState === 'complete' && (%s)", cond), chromedp.WithPollingTimeout(0)))
	mark := fmt.Sprintf("%s%d", browserMarkPrefix, browserMarks.Add(1))
	browserEval[bool](t, ctx, fmt.Sprintf("console.debug(%q), true", mark))
	sctx, cancel := context.WithTimeout(ctx, browserStep)
	defer cancel()
	if err := pl.waitMark(sctx, mark); err != nil {
		t.Fatalf("the marker %s never came through the event stream: %v", mark, err)
	}
}

// browserOpen opens the file in a new tab of the browser with the network
// emulated offline and every non-file URL blocked, and returns the tab and
// what it logs.
func browserOpen(t *testing.T, bctx context.Context, file string) (context.Context, *pageLog) {
	t.Helper()
	pl := newPageLog()
	ctx, cancel := chromedp.NewContext(bctx, chromedp.WithListener(pl.listen))
	t.Cleanup(cancel)
	browserAttach(t, ctx, cancel, "open a tab")
	call := func(what string, f func(context.Context) error) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, browserStep)
		defer cancel()
		if err := f(sctx); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	call("network.enable", func(ctx context.Context) error {
		_, err := chromedp.Call(ctx, network.Enable, network.EnableParams{})
		return err
	})
	call("log.enable", func(ctx context.Context) error {
		_, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{})
		return err
	})
	call("offline", func(ctx context.Context) error {
		_, err := chromedp.Call(ctx, network.OverrideNetworkState, network.OverrideNetworkStateParams{
			Offline: true, DownloadThroughput: -1, UploadThroughput: -1,
		})
		return err
	})
	var block []*network.BlockPattern
	for _, scheme := range []string{"http", "https", "ws", "wss", "ftp", "data", "blob"} {
		block = append(block, &network.BlockPattern{URLPattern: scheme + "://*", Block: true})
	}
	call("block URLs", func(ctx context.Context) error {
		_, err := chromedp.Call(ctx, network.SetBlockedURLs, network.SetBlockedURLsParams{URLPatterns: block})
		return err
	})
	u := (&url.URL{Scheme: "file", Path: file}).String()
	browserDo(t, ctx, "open "+u, chromedp.Navigate(u))
	// From here on, any navigation is the page's own doing.
	pl.mu.Lock()
	pl.loaded = true
	pl.mu.Unlock()
	return ctx, pl
}

// browserEval evaluates a JavaScript expression in the tab.
func browserEval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, browserStep)
	defer cancel()
	v, err := chromedp.Run(sctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// browserCheckClean asserts that the page logged no error, asked for no
// URL other than its own file and navigated nowhere. It settles the page
// first (see browserSettle), so that nothing the page did before the
// check can arrive after it.
func browserCheckClean(t *testing.T, ctx context.Context, pl *pageLog, file string) {
	t.Helper()
	browserSettle(t, ctx, pl, "")
	problems, requests, navigations := pl.snapshot()
	for _, p := range problems {
		t.Errorf("browser: %s", p)
	}
	for _, n := range navigations {
		t.Errorf("the page navigated: %s", n)
	}
	self := (&url.URL{Scheme: "file", Path: file}).String()
	for _, r := range requests {
		if r != self {
			t.Errorf("the page requested %s", r)
		}
	}
}

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
}

func browserWriteReport(t *testing.T, r *report.Result) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "report.html")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := Write(f, r); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return file
}

// browserRows reads a table's body cells as text.
func browserRows(t *testing.T, ctx context.Context, id string) [][]string {
	t.Helper()
	return browserEval[[][]string](t, ctx, fmt.Sprintf(
		`Array.from(document.querySelectorAll('#%s tbody tr')).map(tr => Array.from(tr.cells).map(td => td.innerText.trim()))`, id))
}

// browserInjected lists the <form>, <meta> and <style> markup in the tab
// that is not the report's own, and any effect of it: the report has no
// form control, five meta elements of which one http-equiv (its CSP), and
// one style element. The CSP allows inline styles, so only escaping keeps
// injected CSS out.
func browserInjected(t *testing.T, ctx context.Context, file string) []string {
	t.Helper()
	var out []string
	if n := browserEval[int](t, ctx, `document.forms.length + document.querySelectorAll('form, input, button, textarea, select, [formaction]').length`); n != 0 {
		out = append(out, fmt.Sprintf("%d form elements", n))
	}
	// No meta refresh can exist, so none can fire later; the page is
	// still the file it opened (and browserCheckClean checks that no
	// navigation was requested).
	metas := browserEval[[]string](t, ctx, `Array.from(document.querySelectorAll('meta')).map(m => m.outerHTML)`)
	httpEquiv := 0
	for _, m := range metas {
		if strings.Contains(strings.ToLower(m), "http-equiv") {
			httpEquiv++
			if !strings.Contains(m, "Content-Security-Policy") {
				out = append(out, "meta element "+m)
			}
		}
	}
	if httpEquiv != 1 || len(metas) != 5 {
		out = append(out, fmt.Sprintf("meta elements %q, want the report's 5 with one http-equiv", metas))
	}
	if href, self := browserEval[string](t, ctx, `location.href`), (&url.URL{Scheme: "file", Path: file}).String(); href != self {
		out = append(out, fmt.Sprintf("the page is at %s, want %s", href, self))
	}
	type styleInfo struct {
		Styles   int    `json:"styles"`
		Rules    string `json:"rules"`
		Pwned    string `json:"pwned"`
		Display  string `json:"display"`
		Inline   int    `json:"inline"`
		BodyBack string `json:"bodyBack"`
	}
	st := browserEval[styleInfo](t, ctx, `({
		styles: document.querySelectorAll('style').length,
		rules: Array.from(document.styleSheets).flatMap(s => Array.from(s.cssRules).map(r => r.cssText)).filter(c => c.includes('pwned') || c.includes('rgb(1, 2, 3)')).join(' | '),
		pwned: getComputedStyle(document.body).getPropertyValue('--pwned'),
		display: getComputedStyle(document.body).display,
		inline: Array.from(document.querySelectorAll('[style]')).filter(e => e.getAttribute('style').includes('pwned')).length,
		bodyBack: getComputedStyle(document.body).backgroundColor,
	})`)
	if st.Styles != 1 || st.Rules != "" || st.Pwned != "" || st.Display == "none" || st.Inline != 0 || st.BodyBack == "rgb(1, 2, 3)" {
		out = append(out, fmt.Sprintf("CSS: %+v", st))
	}
	return out
}

func TestBrowserReport(t *testing.T) {
	bctx := browserStart(t)

	t.Run("failing rollout", func(t *testing.T) {
		r := reporttest.Fixture(t, reporttest.FailingRollout)
		file := browserWriteReport(t, r)
		ctx, pl := browserOpen(t, bctx, file)
		// Loaded, with the four charts in the DOM.
		browserSettle(t, ctx, pl, "document.querySelectorAll('svg.chart').length === 4")

		// The screenshot first, as a reader first sees the page.
		sctx, cancel := context.WithTimeout(ctx, browserStep)
		png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		shot := filepath.Join(repoRoot(t), ".state", "artifacts", "report-screenshot.png")
		if err := os.MkdirAll(filepath.Dir(shot), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(shot, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s (%d bytes)", shot, len(png))

		if n := browserEval[int](t, ctx, `document.querySelectorAll('script').length`); n != 0 {
			t.Errorf("%d <script> elements", n)
		}

		// Every chart has drawn content: a box on the page, and paths.
		browserEval[bool](t, ctx, `document.querySelectorAll('details').forEach(d => d.open = true), true`)
		type chartInfo struct {
			ID     string  `json:"id"`
			W      float64 `json:"w"`
			H      float64 `json:"h"`
			BW     float64 `json:"bw"`
			BH     float64 `json:"bh"`
			Paths  int     `json:"paths"`
			Texts  int     `json:"texts"`
			Legend bool    `json:"legend"`
		}
		charts := browserEval[[]chartInfo](t, ctx, `Array.from(document.querySelectorAll('svg.chart')).map(s => {
			const r = s.getBoundingClientRect(), b = s.getBBox();
			return {id: s.closest('figure').id, w: r.width, h: r.height, bw: b.width, bh: b.height,
				paths: s.querySelectorAll('path, line, polyline').length, texts: s.querySelectorAll('text').length,
				legend: Array.from(s.querySelectorAll('text')).some(t => t.textContent.includes('v2'))};
		})`)
		want := map[string]bool{"chart-throughput": true, "chart-throughput-pods": true, "chart-latency": true, "chart-percentiles": true}
		for _, c := range charts {
			if !want[c.ID] {
				t.Errorf("unexpected chart %q", c.ID)
			}
			delete(want, c.ID)
			if c.W < 300 || c.H < 100 || c.BW <= 0 || c.BH <= 0 || c.Paths < 10 || c.Texts < 5 {
				t.Errorf("chart %s looks empty: %+v", c.ID, c)
			}
		}
		for id := range want {
			t.Errorf("chart %s is missing", id)
		}
		if len(charts) > 0 && !charts[0].Legend {
			t.Error("the throughput chart's legend does not name version v2")
		}

		// The tables hold the JSON's numbers.
		j := jsonFloat
		d := func(n int64) string { return fmt.Sprint(n) }
		checkRow := func(table string, i int, got []string, want ...string) {
			t.Helper()
			for k, w := range want {
				if w == "*" {
					continue
				}
				if k >= len(got) || got[k] != w {
					t.Errorf("%s row %d: cells %q, want %q", table, i, got, want)
					return
				}
			}
		}
		rows := browserRows(t, ctx, "phases")
		if len(rows) != len(r.Phases) {
			t.Fatalf("%d phase rows, want %d", len(rows), len(r.Phases))
		}
		for i, p := range r.Phases {
			checkRow("phases", i, rows[i], p.Name, j(p.StartS), j(p.EndS), d(p.Requests), d(p.OK), d(p.Failed), d(p.Retried), j(p.Latency.P50Ms), j(p.Latency.P99Ms), j(p.Latency.MaxMs))
		}
		rows = browserRows(t, ctx, "versions")
		if len(rows) != len(r.Versions) {
			t.Fatalf("%d version rows, want %d", len(rows), len(r.Versions))
		}
		for i, v := range r.Versions {
			checkRow("versions", i, rows[i], v.Version, d(v.Requests), d(v.OK), d(v.Failed), j(v.FirstS), j(v.LastS))
		}
		rows = browserRows(t, ctx, "pods")
		if len(rows) != len(r.Pods) {
			t.Fatalf("%d pod rows, want %d", len(rows), len(r.Pods))
		}
		for i, p := range r.Pods {
			lc := p.Lifecycle
			if !strings.HasPrefix(rows[i][0], p.Name) || !strings.HasSuffix(rows[i][0], p.IP) {
				t.Errorf("pod cell %q, want %s with %s", rows[i][0], p.Name, p.IP)
			}
			checkRow("pods", i, rows[i], "*", "*", d(p.Requests), d(p.OK), d(p.Failed), d(p.Retried), j(p.FirstS), j(p.LastS),
				secs(lc.CreatedS), secs(lc.ReadyS), secs(lc.TerminatingS), secs(lc.EndpointRemoved), secs(lc.DeletedS))
		}
		rows = browserRows(t, ctx, "windows")
		if len(rows) != len(r.Windows) {
			t.Fatalf("%d window rows, want %d", len(rows), len(r.Windows))
		}
		for i, w := range r.Windows {
			checkRow("windows", i, rows[i], fmt.Sprintf("%d–%d s", w.FromS, w.ToS), w.Pod, w.Version, d(w.Requests))
		}
		rows = browserRows(t, ctx, "failure-records")
		if len(rows) != min(len(r.Failures.Records), maxFailureRows) {
			t.Fatalf("%d failure rows, want %d", len(rows), len(r.Failures.Records))
		}
		for i, f := range r.Failures.Records[:len(rows)] {
			status := ""
			if f.Status != 0 {
				status = fmt.Sprint(f.Status)
			}
			retried := map[bool]string{true: "yes", false: "no"}[f.Retried]
			checkRow("failure-records", i, rows[i], j(f.AtS), fmt.Sprint(f.Seq), fmt.Sprint(f.Attempt), retried, f.Outcome, status, f.Detail,
				j(f.LatencyMs), fmt.Sprint(f.Conn), d(f.ConnRequests), f.Pod, f.Version, f.AttributedBy)
		}
		rows = browserRows(t, ctx, "events")
		if len(rows) != len(r.Rollout.Events) {
			t.Fatalf("%d event rows, want %d", len(rows), len(r.Rollout.Events))
		}
		for i, e := range r.Rollout.Events {
			checkRow("events", i, rows[i], fmt.Sprint(i+1), j(e.AtS), "*", e.Pod, e.Version, string(e.Generation), e.Message)
		}
		rows = browserRows(t, ctx, "gates")
		for i, g := range r.Verdict.Gates {
			res := map[bool]string{true: "PASS", false: "FAIL"}[g.Pass]
			if g.Skipped {
				res = "SKIPPED"
			}
			checkRow("gates", i, rows[i], "*", "*", "*", res, g.Message)
			if !g.Skipped && !strings.HasPrefix(rows[i][2], j(g.Value)) {
				t.Errorf("gate %s value %q, want %s", g.Name, rows[i][2], j(g.Value))
			}
		}
		keys := browserEval[map[string]string](t, ctx, `Object.fromEntries(Array.from(document.querySelectorAll('#key-numbers .key')).map(k => [k.id, k.querySelector('dd').firstChild.textContent.trim()]))`)
		if keys["kn-requests"] != report.FormatCount(r.Totals.Requests) || keys["kn-dropped"] != report.FormatCount(r.Totals.Failed) || keys["kn-retried"] != report.FormatCount(r.Totals.Retried) {
			t.Errorf("key numbers %v, totals %+v", keys, r.Totals)
		}
		if v := browserEval[string](t, ctx, `document.querySelector('#verdict .word').innerText`); v != "FAIL" {
			t.Errorf("verdict %q", v)
		}
		browserCheckClean(t, ctx, pl, file)
	})

	t.Run("xss", func(t *testing.T) {
		r := xssResult(t)
		file := browserWriteReport(t, r)
		ctx, pl := browserOpen(t, bctx, file)
		browserSettle(t, ctx, pl, "")
		// Opening the details would run any onload/ontoggle planted there.
		// Toggle events are dispatched asynchronously, to the handlers
		// planted in the markup before ours: once ours has seen every
		// toggle, any planted one has run.
		browserEval[bool](t, ctx, `window.__toggles = 0, window.__toggling = 0,
			document.querySelectorAll('details').forEach(d => {
				d.addEventListener('toggle', () => window.__toggles++);
				if (!d.open) { window.__toggling++; d.open = true; }
			}), true`)
		browserSettle(t, ctx, pl, "window.__toggles === window.__toggling")
		if pwned := browserEval[string](t, ctx, `typeof window.__pwned`); pwned != "undefined" {
			t.Errorf("window.__pwned is %s: an input ran as script", pwned)
		}
		if n := browserEval[int](t, ctx, `document.querySelectorAll('script, img, iframe, object, embed, a, image, use, base, link').length`); n != 0 {
			t.Errorf("%d elements made from the inputs", n)
		}
		for _, f := range browserInjected(t, ctx, file) {
			t.Errorf("an input took effect: %s", f)
		}
		if n := browserEval[int](t, ctx, `Array.from(document.querySelectorAll('*')).filter(e => Array.from(e.attributes).some(a => a.name.startsWith('on'))).length`); n != 0 {
			t.Errorf("%d elements with event handler attributes", n)
		}
		text := browserEval[string](t, ctx, `document.body.innerText`)
		for i, p := range xssPayloads {
			if i == 5 {
				continue // control characters: not verbatim in innerText
			}
			if !strings.Contains(text, p) {
				t.Errorf("the payload %q does not appear as text", p)
			}
		}
		title := browserEval[string](t, ctx, `document.title`)
		if !strings.Contains(title, "javascript:window.__pwned=1") {
			t.Errorf("title %q", title)
		}
		browserCheckClean(t, ctx, pl, file)
	})

	// The checks above are only worth something if they catch what they
	// look for: a page that logs errors and fetches from the network.
	t.Run("harness catches problems", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "bad.html")
		bad := `<!DOCTYPE html><html><head><link rel="stylesheet" href="https://cdn.example.com/x.css"></head>` +
			`<body><img src="http://example.com/x.png"><script>console.error("boom"); undefinedFunction();</script></body></html>`
		if err := os.WriteFile(file, []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, pl := browserOpen(t, bctx, file)
		// The same settling as browserCheckClean: what it misses here, it
		// would miss there.
		browserSettle(t, ctx, pl, "")
		problems, requests, _ := pl.snapshot()
		var sawConsole, sawException, sawRequest bool
		for _, p := range problems {
			sawConsole = sawConsole || strings.Contains(p, "boom")
			sawException = sawException || strings.Contains(p, "undefinedFunction")
		}
		for _, r := range requests {
			sawRequest = sawRequest || strings.HasPrefix(r, "http")
		}
		if !sawConsole || !sawException || !sawRequest {
			t.Errorf("harness missed: console %v, exception %v, request %v\nproblems %q\nrequests %q", sawConsole, sawException, sawRequest, problems, requests)
		}

		// And markup that would take effect without script: a style, a
		// meta refresh (an hour away, so that the page stays to be
		// inspected; the check is that the element exists at all) and a
		// form.
		file = filepath.Join(t.TempDir(), "bad-markup.html")
		bad = `<!DOCTYPE html><html><head><meta charset="utf-8"><title>x</title>` + xssPayloads[6] +
			strings.Replace(xssPayloads[7], "0;url", "3600;url", 1) + `</head><body>` + xssPayloads[8] + `</body></html>`
		if err := os.WriteFile(file, []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, pl = browserOpen(t, bctx, file)
		browserSettle(t, ctx, pl, "")
		found := strings.Join(browserInjected(t, ctx, file), "\n")
		for _, want := range []string{"form elements", "refresh", "CSS:"} {
			if !strings.Contains(found, want) {
				t.Errorf("harness missed %q; found:\n%s", want, found)
			}
		}
	})
}
