package html

import (
	"bytes"
	"testing"

	"github.com/rolltest/rolltest/pkg/report"
	"github.com/rolltest/rolltest/pkg/report/internal/reporttest"
)

// TestChartBucketsKeepFailures: downsampling sums counts and takes the
// maximum latency, so that no failed second and no spike disappears.
func TestChartBucketsKeepFailures(t *testing.T) {
	series := make([]report.Second, 3600)
	var failed int64
	for i := range series {
		series[i] = report.Second{T: i, Requests: 100, P50Ms: 2, P99Ms: 5, MaxMs: 9}
		if i%397 == 0 {
			series[i].Failed = 1
			failed++
		}
	}
	series[1234].MaxMs = 4000
	b := downsample(series, maxPoints)
	if len(b) > maxPoints {
		t.Fatalf("%d buckets", len(b))
	}
	var gotFailed, gotReq int64
	peak := 0.0
	for _, x := range b {
		gotFailed += x.Failed
		gotReq += x.Requests
		peak = max(peak, x.Max)
	}
	if gotFailed != failed || gotReq != 360000 || peak != 4000 {
		t.Errorf("failed %d/%d, requests %d, peak %v", gotFailed, failed, gotReq, peak)
	}
	for i := range series {
		if series[i].Failed > 0 {
			k := int(b[0].width())
			if b[i/k].Failed == 0 {
				t.Errorf("the failure at %d s is lost", i)
			}
		}
	}
	if b := downsample(series[:600], maxPoints); len(b) != 600 || b[0].width() != 1 {
		t.Errorf("a 10-minute run is downsampled: %d buckets", len(b))
	}
}

// TestDownSampledSeriesCharts: a document whose series has buckets of
// merged seconds draws every chart, and the charts' buckets each hold whole
// entries of the series, so that their rates divide by the width they
// cover and every count is kept.
func TestDownSampledSeriesCharts(t *testing.T) {
	r := report.Build(report.Input{
		Config: report.Config{Mode: "rate", Rate: 100, Connections: 1, KeepAlive: true, Identity: "line"},
		Stats:  reporttest.DownSampledStats(),
	})
	report.Diagnose(r)
	report.Judge(r)
	var doc bytes.Buffer
	if err := report.WriteJSON(&doc, r); err != nil {
		t.Fatal(err)
	}
	back, err := report.ReadResult(&doc)
	if err != nil {
		t.Fatal(err)
	}
	renderPage(t, back)
	for _, c := range []chart{throughputChart(back, false), throughputChart(back, true)} {
		if c.Err != "" {
			t.Fatalf("throughput chart: %s", c.Err)
		}
	}
	if c, _ := latencyChart(back); c.Err != "" {
		t.Fatalf("latency chart: %s", c.Err)
	}

	b := downsample(r.Series, maxPoints)
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

}
