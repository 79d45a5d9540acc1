package report

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
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
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx,
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
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	return bctx
}

// pageLog is what a tab reported while it showed the page.
type pageLog struct {
	mu       sync.Mutex
	problems []string // console errors, exceptions, error log entries
	requests []string // every URL the tab asked for
}

func (l *pageLog) listen(ev any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
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
	}
}

func (l *pageLog) snapshot() (problems, requests []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.problems...), append([]string(nil), l.requests...)
}

// browserOpen opens the file in a new tab of the browser with the network
// emulated offline and every non-file URL blocked, and returns the tab and
// what it logs.
func browserOpen(t *testing.T, bctx context.Context, file string) (context.Context, *pageLog) {
	t.Helper()
	pl := &pageLog{}
	ctx, cancel := chromedp.NewContext(bctx, chromedp.WithListener(pl.listen))
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, network.OverrideNetworkState, network.OverrideNetworkStateParams{
		Offline: true, DownloadThroughput: -1, UploadThroughput: -1,
	}); err != nil {
		t.Fatal(err)
	}
	var block []*network.BlockPattern
	for _, scheme := range []string{"http", "https", "ws", "wss", "ftp", "data", "blob"} {
		block = append(block, &network.BlockPattern{URLPattern: scheme + "://*", Block: true})
	}
	if _, err := chromedp.Call(ctx, network.SetBlockedURLs, network.SetBlockedURLsParams{URLPatterns: block}); err != nil {
		t.Fatal(err)
	}
	u := (&url.URL{Scheme: "file", Path: file}).String()
	if err := chromedp.Do(ctx, chromedp.Navigate(u)); err != nil {
		t.Fatalf("open %s: %v", u, err)
	}
	return ctx, pl
}

// browserEval evaluates a JavaScript expression in the tab.
func browserEval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// browserCheckClean asserts that the page logged no error and asked for no
// URL other than its own file.
func browserCheckClean(t *testing.T, pl *pageLog, file string) {
	t.Helper()
	// Events arrive asynchronously; give late ones a moment.
	time.Sleep(300 * time.Millisecond)
	problems, requests := pl.snapshot()
	for _, p := range problems {
		t.Errorf("browser: %s", p)
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

func browserWriteReport(t *testing.T, r *Result) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "report.html")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteHTML(f, r); err != nil {
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

func TestBrowserReport(t *testing.T) {
	bctx := browserStart(t)

	t.Run("failing rollout", func(t *testing.T) {
		r := reportFixture(t, "failing-rollout.json")
		file := browserWriteReport(t, r)
		ctx, pl := browserOpen(t, bctx, file)

		// The screenshot first, as a reader first sees the page.
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
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
		j := htmlJSONFloat
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
				htmlSecs(lc.CreatedS), htmlSecs(lc.ReadyS), htmlSecs(lc.TerminatingS), htmlSecs(lc.EndpointRemoved), htmlSecs(lc.DeletedS))
		}
		rows = browserRows(t, ctx, "windows")
		if len(rows) != len(r.Windows) {
			t.Fatalf("%d window rows, want %d", len(rows), len(r.Windows))
		}
		for i, w := range r.Windows {
			checkRow("windows", i, rows[i], fmt.Sprintf("%d–%d s", w.FromS, w.ToS), w.Pod, w.Version, d(w.Requests))
		}
		rows = browserRows(t, ctx, "failure-records")
		if len(rows) != min(len(r.Failures.Records), htmlMaxFailureRows) {
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
		if keys["kn-requests"] != group(r.Totals.Requests) || keys["kn-dropped"] != group(r.Totals.Failed) || keys["kn-retried"] != group(r.Totals.Retried) {
			t.Errorf("key numbers %v, totals %+v", keys, r.Totals)
		}
		if v := browserEval[string](t, ctx, `document.querySelector('#verdict .word').innerText`); v != "FAIL" {
			t.Errorf("verdict %q", v)
		}
		browserCheckClean(t, pl, file)
	})

	t.Run("xss", func(t *testing.T) {
		r := xssResult(t)
		file := browserWriteReport(t, r)
		ctx, pl := browserOpen(t, bctx, file)
		// Opening the details would run any onload/ontoggle planted there.
		browserEval[bool](t, ctx, `document.querySelectorAll('details').forEach(d => d.open = true), true`)
		time.Sleep(200 * time.Millisecond)
		if pwned := browserEval[string](t, ctx, `typeof window.__pwned`); pwned != "undefined" {
			t.Errorf("window.__pwned is %s: an input ran as script", pwned)
		}
		if n := browserEval[int](t, ctx, `document.querySelectorAll('script, img, iframe, object, embed, a, image, use, base, link').length`); n != 0 {
			t.Errorf("%d elements made from the inputs", n)
		}
		if n := browserEval[int](t, ctx, `Array.from(document.querySelectorAll('*')).filter(e => Array.from(e.attributes).some(a => a.name.startsWith('on'))).length`); n != 0 {
			t.Errorf("%d elements with event handler attributes", n)
		}
		text := browserEval[string](t, ctx, `document.body.innerText`)
		for _, p := range xssPayloads[:5] {
			if !strings.Contains(text, p) {
				t.Errorf("the payload %q does not appear as text", p)
			}
		}
		title := browserEval[string](t, ctx, `document.title`)
		if !strings.Contains(title, "javascript:window.__pwned=1") {
			t.Errorf("title %q", title)
		}
		browserCheckClean(t, pl, file)
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
		_, pl := browserOpen(t, bctx, file)
		time.Sleep(500 * time.Millisecond)
		problems, requests := pl.snapshot()
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
	})
}
