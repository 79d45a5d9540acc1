package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/rolltest/rolltest/pkg/loadgen"
)

// downSampledStats is a 185-second run whose series holds seconds 0-4 and
// 180-184 at 1 s and buckets of merged seconds between, as the collector
// writes a long run's: [5, 60) (narrower: it begins where the 1 s stretch
// ends), [60, 120), [120, 180). Two pods, one at a time, and unattributed
// failures.
func downSampledStats() *loadgen.Stats {
	start := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	st := &loadgen.Stats{
		Start: start, SendEnd: 184 * time.Second, End: 185 * time.Second,
		Latency: hdrhistogram.New(1, 10_000_000, 3),
		Pods:    make([]loadgen.PodStats, 3),
	}
	st.Pods[1].PodIdentity = loadgen.PodIdentity{Pod: "web-1", Version: "v1"}
	st.Pods[2].PodIdentity = loadgen.PodIdentity{Pod: "web-2", Version: "v2"}
	add := func(startS, width int, pod int, failedUnknown int64) {
		var s loadgen.SecondStats
		s.Start, s.Width = startS, width
		ok := int64(100 * width)
		s.Outcomes[loadgen.OK] = ok
		s.Outcomes[loadgen.HTTP5xx] = failedUnknown
		s.Retried = failedUnknown
		s.RetriedOutcomes[loadgen.Reset] = failedUnknown
		s.ByPod = map[int]int64{pod: ok}
		s.FailedByPod = map[int]int64{}
		if failedUnknown > 0 {
			s.ByPod[0] = failedUnknown
			s.FailedByPod[0] = failedUnknown
		}
		s.P50, s.P99, s.Max = 2*time.Millisecond, 5*time.Millisecond, 9*time.Millisecond
		st.Seconds = append(st.Seconds, s)
		st.Counts.Outcomes[loadgen.OK] += ok
		st.Counts.Outcomes[loadgen.HTTP5xx] += failedUnknown
		st.Counts.Retried += failedUnknown
		st.Counts.RetriedOutcomes[loadgen.Reset] += failedUnknown
		st.Pods[pod].Outcomes[loadgen.OK] += ok
		st.Pods[0].Outcomes[loadgen.HTTP5xx] += failedUnknown
		st.Pods[0].Retried += failedUnknown
		st.Pods[0].RetriedOutcomes[loadgen.Reset] += failedUnknown
	}
	for s := range 5 {
		add(s, 1, 1, 0)
	}
	add(5, 55, 1, 3)
	add(60, 60, 1, 0)
	add(120, 60, 2, 7)
	for s := 180; s < 185; s++ {
		add(s, 1, 2, 0)
	}
	for i := range st.Pods {
		st.Pods[i].FirstOK = -1
	}
	return st
}

// TestDownSampledSeries: buckets of merged seconds keep their width in the
// document (width_s, absent for 1 s), and every count is conserved exactly
// through the series, its by_pod, the seed's table and the charts' buckets,
// whose rates divide by the width they cover.
func TestDownSampledSeries(t *testing.T) {
	r := Build(Input{
		Config: Config{Mode: "rate", Rate: 100, Connections: 1, KeepAlive: true, Identity: "seed"},
		Stats:  downSampledStats(),
	})
	var sum Totals
	byPod := map[string]int64{}
	next := 0
	for _, s := range r.Series {
		if s.T != next {
			t.Fatalf("entry at t=%d, want %d: %+v", s.T, next, r.Series)
		}
		next += s.Width()
		sum.Requests += s.Requests
		sum.OK += s.OK
		sum.Failed += s.Failed
		sum.Retried += s.Retried
		for id, n := range s.ByPod {
			byPod[id] += n
		}
	}
	if next != 185 {
		t.Fatalf("series covers %d s, want 185", next)
	}
	if sum.Requests != r.Totals.Requests || sum.OK != r.Totals.OK || sum.Failed != r.Totals.Failed || sum.Retried != r.Totals.Retried {
		t.Fatalf("series sums %+v, totals %+v", sum, r.Totals)
	}
	for _, p := range r.Pods {
		if byPod[p.ID] != p.Requests {
			t.Fatalf("pod %s: %d requests in the series, %d in the pod table", p.ID, byPod[p.ID], p.Requests)
		}
	}
	widths := []int{}
	for _, s := range r.Series {
		widths = append(widths, s.WidthS)
	}
	if got := r.Series[5]; got.T != 5 || got.WidthS != 55 || r.Series[4].WidthS != 0 || r.Series[8].WidthS != 0 {
		t.Fatalf("widths %v", widths)
	}

	doc, err := json.Marshal(r.Series[4:6])
	if err != nil {
		t.Fatal(err)
	}
	if s := string(doc); strings.Count(s, `"width_s"`) != 1 || !strings.Contains(s, `"t":5,"width_s":55,`) {
		t.Fatalf("width_s in the document: %s", s)
	}

	var inWindows, attributed int64
	for _, w := range r.Windows {
		inWindows += w.Requests
	}
	for _, p := range r.Pods {
		if p.ID != UnknownPod {
			attributed += p.Requests
		}
	}
	if inWindows != attributed || r.Windows[len(r.Windows)-1].ToS != 185 {
		t.Fatalf("windows hold %d of %d attributed requests: %+v", inWindows, attributed, r.Windows)
	}

	b := chartBuckets(r.Series, chartMaxPoints)
	var req, failed int64
	for _, x := range b {
		if x.width() != 60 && x.T1 != 185 {
			t.Fatalf("chart bucket [%v, %v): not a multiple of the widest entry", x.T0, x.T1)
		}
		req += x.Requests
		failed += x.Failed
		if rate := float64(x.Requests-x.Failed) / x.width(); rate != 100 {
			t.Fatalf("chart bucket [%v, %v): %v ok/s, want 100", x.T0, x.T1, rate)
		}
	}
	if req != r.Totals.Requests || failed != r.Totals.Failed {
		t.Fatalf("charts: %d requests %d failed, totals %d %d", req, failed, r.Totals.Requests, r.Totals.Failed)
	}

	// The pinning hint weighs a bucket by the seconds it covers.
	Diagnose(r)
	var pin *Hint
	for i := range r.Diagnosis {
		if r.Diagnosis[i].Code == HintKeepAlivePinning {
			pin = &r.Diagnosis[i]
		}
	}
	if pin == nil || !strings.Contains(pin.Evidence[0], "in 185 of 185 seconds") {
		t.Fatalf("pinning hint: %+v", pin)
	}
}

// TestDownSampledSeriesRenders: a document with buckets reads back with
// their widths and renders to text and HTML, charts included.
func TestDownSampledSeriesRenders(t *testing.T) {
	r := Build(Input{
		Config: Config{Mode: "rate", Rate: 100, Connections: 1, KeepAlive: true, Identity: "seed"},
		Stats:  downSampledStats(),
	})
	Diagnose(r)
	Judge(r)
	var doc bytes.Buffer
	if err := WriteJSON(&doc, r); err != nil {
		t.Fatal(err)
	}
	back, err := ReadResult(&doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Series) != len(r.Series) || back.Series[5].WidthS != 55 || back.Series[6].Width() != 60 || back.Series[0].Width() != 1 {
		t.Fatalf("widths did not survive the document: %+v", back.Series[4:8])
	}
	var text, html bytes.Buffer
	if err := WriteText(&text, back, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := WriteHTML(&html, back); err != nil {
		t.Fatal(err)
	}
	for _, c := range []chartSVG{chartThroughput(back, false), chartThroughput(back, true)} {
		if c.Err != "" {
			t.Fatalf("throughput chart: %s", c.Err)
		}
	}
	if c, _ := chartLatency(back); c.Err != "" {
		t.Fatalf("latency chart: %s", c.Err)
	}
}

// TestTransitionInBucket: a bucket of merged seconds holds a pod
// transition if any of its seconds does.
func TestTransitionInBucket(t *testing.T) {
	tr := map[int]bool{99: true, 100: true, 101: true}
	for _, c := range []struct {
		t, w int
		want bool
	}{{60, 40, true}, {60, 39, false}, {102, 60, false}, {100, 1, true}, {98, 1, false}, {0, chartMaxSeconds, true}} {
		if got := transitionIn(tr, c.t, c.w); got != c.want {
			t.Errorf("[%d, +%d): %v, want %v", c.t, c.w, got, c.want)
		}
	}
}
