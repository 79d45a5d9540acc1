package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/rolltest/rolltest/pkg/loadgen"
	"github.com/rolltest/rolltest/pkg/metrics"
	"github.com/rolltest/rolltest/pkg/report"
)

// lineWatch is a stderr that tells when a line matching a pattern has
// been written, with the pattern's first group.
type lineWatch struct {
	mu    sync.Mutex
	buf   strings.Builder
	waits []lineWait
}

type lineWait struct {
	re *regexp.Regexp
	ch chan string
}

func (w *lineWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	kept := w.waits[:0]
	for _, wt := range w.waits {
		if m := wt.re.FindStringSubmatch(w.buf.String()); m != nil {
			wt.ch <- m[len(m)-1]
			continue
		}
		kept = append(kept, wt)
	}
	w.waits = kept
	return len(p), nil
}

func (w *lineWatch) await(expr string) <-chan string {
	w.mu.Lock()
	defer w.mu.Unlock()
	ch := make(chan string, 1)
	w.waits = append(w.waits, lineWait{regexp.MustCompile(expr), ch})
	return ch
}

func (w *lineWatch) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// gatedTwoPods is a loopback service of two pods (by connection: odd ones
// reach pod-a, v1, even ones pod-b, v2) that answers in the body line
// `POD >> IP >> VERSION`, 503 to every seventh request id (3, 10, …:
// requests go round the connections in turn, so both pods get some), and holds the
// requests above each gate until the gate opens: the test decides when
// the run may go on, so its scrapes happen during the run whatever the
// machine's speed.
type gatedTwoPods struct {
	url   string
	gates []gate
	seen  atomic.Int64
}

type gate struct {
	above int
	open  chan struct{}
}

func startGatedTwoPods(t *testing.T, ctx context.Context, gates ...int) *gatedTwoPods {
	t.Helper()
	s := &gatedTwoPods{}
	for _, g := range gates {
		s.gates = append(s.gates, gate{above: g, open: make(chan struct{})})
	}
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.seen.Add(1)
		id, _ := strconv.Atoi(r.Header.Get("X-Request-Id"))
		for _, g := range s.gates {
			if id > g.above {
				select {
				case <-g.open:
				case <-ctx.Done():
				case <-r.Context().Done():
				}
			}
		}
		body := "pod-a >> 127.0.0.1 >> v1"
		if r.Context().Value(connNumber{}).(int64)%2 == 0 {
			body = "pod-b >> 127.0.0.2 >> v2"
		}
		if id%7 == 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		fmt.Fprint(w, body)
	}))
	srv.Config.ConnContext = func(c context.Context, _ net.Conn) context.Context {
		return context.WithValue(c, connNumber{}, conns.Add(1))
	}
	srv.Start()
	t.Cleanup(srv.Close)
	s.url = srv.URL + "/"
	return s
}

type connNumber struct{}

func scrape(t *testing.T, ctx context.Context, url string) map[string]*dto.MetricFamily {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/plain")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: HTTP %d", url, res.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatalf("parse the scrape: %v", err)
	}
	return fams
}

// scrapeUntil scrapes until cond holds, every few milliseconds; ctx bounds
// the wait.
func scrapeUntil(t *testing.T, ctx context.Context, url, what string, cond func(map[string]*dto.MetricFamily) bool) map[string]*dto.MetricFamily {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		fams := scrape(t, ctx, url)
		if cond(fams) {
			return fams
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no scrape showed %s", what)
		case <-tick.C:
		}
	}
}

// series keys a family's samples by their labels: counters and gauges by
// value, a histogram by its count and each cumulative bucket.
func series(f *dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	if f == nil {
		return out
	}
	for _, m := range f.Metric {
		var ls []string
		for _, l := range m.Label {
			ls = append(ls, l.GetName()+"="+l.GetValue())
		}
		key := strings.Join(ls, ",")
		switch {
		case m.Counter != nil:
			out[key] = m.Counter.GetValue()
		case m.Gauge != nil:
			out[key] = m.Gauge.GetValue()
		case m.Histogram != nil:
			out[key+",count"] = float64(m.Histogram.GetSampleCount())
			for _, b := range m.Histogram.Bucket {
				out[key+",le="+strconv.FormatFloat(b.GetUpperBound(), 'g', -1, 64)] = float64(b.GetCumulativeCount())
			}
		}
	}
	return out
}

func total(fams map[string]*dto.MetricFamily, name string) float64 {
	var n float64
	for _, v := range series(fams[name]) {
		n += v
	}
	return n
}

// byLabels sums a family's values by the given labels, joined by '/'.
func byLabels(f *dto.MetricFamily, names ...string) map[string]float64 {
	out := map[string]float64{}
	if f == nil {
		return out
	}
	for _, m := range f.Metric {
		var key []string
		for _, n := range names {
			v := ""
			for _, l := range m.Label {
				if l.GetName() == n {
					v = l.GetValue()
				}
			}
			key = append(key, v)
		}
		out[strings.Join(key, "/")] += m.Counter.GetValue()
	}
	return out
}

// monotone fails t when a counter or bucket of before is missing or lower
// in after.
func monotone(t *testing.T, before, after map[string]*dto.MetricFamily, stage string) {
	t.Helper()
	for _, name := range []string{metrics.Requests, metrics.Dropped, metrics.Retried, metrics.Duration, metrics.LateSends, metrics.Connections} {
		b, a := series(before[name]), series(after[name])
		for k, v := range b {
			if got, ok := a[k]; !ok || got < v {
				t.Errorf("%s: %s{%s} went from %v to %v (present: %v)", stage, name, k, v, got, ok)
			}
		}
	}
}

// TestMetricsLiveDuringRun runs rolltest with --metrics-addr on a
// loopback service of two pods, scrapes /metrics twice while the run is
// held in the middle, then once more after the report is written, and
// holds the exporter's families, labels and counts to the result document.
func TestMetricsLiveDuringRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Request ids above 250 wait for the first gate, above 350 for the
	// second: at 100 req/s the run is held in its third second, then its
	// fourth.
	srv := startGatedTwoPods(t, ctx, 250, 350)
	jsonPath := filepath.Join(t.TempDir(), "r.json")
	stderr := &lineWatch{}
	urlCh := stderr.await(`serving metrics on (http://\S+)`)
	overCh := stderr.await(`(run over); serving its final metrics`)

	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	var stdout strings.Builder
	done := make(chan int, 1)
	go func() {
		done <- execute(runCtx, []string{"run", "--target", srv.url, "--rate", "100", "--requests", "400",
			"--connections", "4", "--timeout", "90s", "--request-id-header", "X-Request-Id", "--max-late", "-1",
			"--metrics-addr", "127.0.0.1:0", "--metrics-linger", "2m", "--json", jsonPath, "--no-progress"}, &stdout, stderr)
	}()
	var url string
	select {
	case url = <-urlCh:
	case code := <-done:
		t.Fatalf("exit %d before serving metrics:\n%s", code, stderr)
	case <-ctx.Done():
		t.Fatalf("no metrics URL printed:\n%s", stderr)
	}

	first := scrapeUntil(t, ctx, url, "a request counted", func(f map[string]*dto.MetricFamily) bool {
		return total(f, metrics.Requests) > 0
	})
	for _, name := range metrics.Families() {
		name = strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
		if first[name] == nil {
			t.Errorf("no family %s in the scrape during the run", name)
		}
	}
	if n := total(first, metrics.Requests); n > 250 {
		t.Errorf("%v requests counted while requests above 250 were held", n)
	}
	if v := series(first[metrics.Phase])["phase=load"]; v != 1 {
		t.Errorf("rollout_phase{phase=load} = %v during the run, want 1", v)
	}
	if v := series(first[metrics.RunInfo])["mode=rate,namespace=,target="+srv.url+",workload="]; v != 1 {
		t.Errorf("run_info = %v", series(first[metrics.RunInfo]))
	}
	if len(first[metrics.BuildInfo].GetMetric()) != 1 {
		t.Errorf("build_info = %v", first[metrics.BuildInfo])
	}

	close(srv.gates[0].open)
	second := scrapeUntil(t, ctx, url, "more requests after the first gate opened", func(f map[string]*dto.MetricFamily) bool {
		return total(f, metrics.Requests) > total(first, metrics.Requests)
	})
	monotone(t, first, second, "first to second scrape")
	if n := total(second, metrics.Requests); n > 350 {
		t.Errorf("%v requests counted while requests above 350 were held", n)
	}

	close(srv.gates[1].open)
	select {
	case <-overCh:
	case code := <-done:
		t.Fatalf("exit %d without lingering:\n%s", code, stderr)
	case <-ctx.Done():
		t.Fatalf("the run did not end:\n%s", stderr)
	}
	final := scrape(t, ctx, url)
	monotone(t, second, final, "second to final scrape")
	stopRun() // ends the linger
	if code := <-done; code != report.ExitGateFailed {
		t.Errorf("exit %d, want %d (every seventh request got a 503)\n%s", code, report.ExitGateFailed, stderr)
	}
	if v := series(final[metrics.Phase]); v["phase=done"] != 1 || v["phase=load"] != 0 {
		t.Errorf("rollout_phase after the run = %v", v)
	}

	r := readResult(t, jsonPath)
	if r.Totals.Requests != 400 || r.Totals.Failed != 57 {
		t.Fatalf("result totals %+v", r.Totals)
	}
	byOutcome := byLabels(final[metrics.Requests], "outcome")
	for _, o := range loadgen.Outcomes() {
		if got, want := byOutcome[o.String()], float64(r.Totals.Outcomes[o.String()]); got != want {
			t.Errorf("requests_total{outcome=%s} = %v at the end, the result says %v", o, got, want)
		}
	}
	if got := total(final, metrics.Dropped); got != float64(r.Totals.Failed) {
		t.Errorf("dropped_requests_total = %v, the result says %d", got, r.Totals.Failed)
	}
	byPod := byLabels(final[metrics.Requests], "pod", "version", "outcome")
	if len(r.Pods) != 2 {
		t.Fatalf("result pods %+v, want pod-a and pod-b", r.Pods)
	}
	for _, p := range r.Pods {
		if p.OK == 0 || p.Failed == 0 {
			t.Errorf("pod %s served %d ok and %d failed: the test wants both on each pod", p.ID, p.OK, p.Failed)
		}
		for o, want := range p.Outcomes {
			if got := byPod[p.ID+"/"+p.Version+"/"+o]; got != float64(want) {
				t.Errorf("requests_total{pod=%s,version=%s,outcome=%s} = %v, the result says %d", p.ID, p.Version, o, got, want)
			}
		}
	}
	if wantKeys := map[string]bool{"pod-a/v1": true, "pod-b/v2": true, "/": true}; len(byLabels(final[metrics.Requests], "pod", "version")) != len(wantKeys) {
		t.Errorf("pod/version series %v, want %v", byLabels(final[metrics.Requests], "pod", "version"), wantKeys)
	}
	h := final[metrics.Duration].GetMetric()[0].GetHistogram()
	if int64(h.GetSampleCount()) != r.Latency.Count {
		t.Errorf("duration histogram counts %d, the result's latency %d", h.GetSampleCount(), r.Latency.Count)
	}
	if got, want := h.GetSampleSum()/float64(h.GetSampleCount())*1000, r.Latency.MeanMs; got < want*0.96 || got > want*1.04 {
		t.Errorf("histogram mean %.3f ms, the result's %.3f ms", got, want)
	}
}

// TestMetricsAddrErrors: a port in use or a bad address is one usage line
// naming --metrics-addr, exit 2, before any request reaches the target.
func TestMetricsAddrErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv := startGatedTwoPods(t, ctx)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--metrics-addr", busy.Addr().String()}, "rolltest: --metrics-addr: listen on " + busy.Addr().String()},
		{[]string{"--metrics-addr", "nonsense"}, `rolltest: --metrics-addr: "nonsense" is not HOST:PORT`},
		{[]string{"--metrics-linger", "10s"}, "rolltest: --metrics-linger: needs --metrics-addr"},
		{[]string{"--metrics-addr", "127.0.0.1:0", "--metrics-linger", "-1s"}, "rolltest: --metrics-linger: must be 0 or more"},
	} {
		args := append([]string{"run", "--target", srv.url, "--rate", "10", "--requests", "5", "--no-progress"}, tc.args...)
		code, _, errOut := cli(t, ctx, args...)
		if code != report.ExitUsage || !strings.HasPrefix(errOut, tc.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and one line starting %q", tc.args, code, errOut, tc.want)
		}
	}
	if n := srv.seen.Load(); n != 0 {
		t.Errorf("the target saw %d requests", n)
	}
}
