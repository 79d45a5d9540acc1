package report_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/rolltest/rolltest/pkg/report"
	"github.com/rolltest/rolltest/pkg/report/internal/reporttest"
)

// TestDownSampledSeries: buckets of merged seconds keep their width in the
// document (width_s, absent for 1 s), and every count is conserved exactly
// through the series, its by_pod and "Who answered when" (the charts' buckets:
// pkg/report/html).
func TestDownSampledSeries(t *testing.T) {
	r := report.Build(report.Input{
		Config: report.Config{Mode: "rate", Rate: 100, Connections: 1, KeepAlive: true, Identity: "line"},
		Stats:  reporttest.DownSampledStats(),
	})
	var sum report.Totals
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
		if p.ID != report.UnknownPod {
			attributed += p.Requests
		}
	}
	if inWindows != attributed || r.Windows[len(r.Windows)-1].ToS != 185 {
		t.Fatalf("windows hold %d of %d attributed requests: %+v", inWindows, attributed, r.Windows)
	}

	// The pinning hint weighs a bucket by the seconds it covers.
	report.Diagnose(r)
	var pin *report.Hint
	for i := range r.Diagnosis {
		if r.Diagnosis[i].Code == report.HintKeepAlivePinning {
			pin = &r.Diagnosis[i]
		}
	}
	if pin == nil || !strings.Contains(pin.Evidence[0], "in 185 of 185 seconds") {
		t.Fatalf("pinning hint: %+v", pin)
	}
}

// TestDownSampledSeriesRenders: a document with buckets reads back with
// their widths and renders to text (to HTML: pkg/report/html).
func TestDownSampledSeriesRenders(t *testing.T) {
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
	if len(back.Series) != len(r.Series) || back.Series[5].WidthS != 55 || back.Series[6].Width() != 60 || back.Series[0].Width() != 1 {
		t.Fatalf("widths did not survive the document: %+v", back.Series[4:8])
	}
	var text bytes.Buffer
	if err := report.WriteText(&text, back, report.TextOptions{}); err != nil {
		t.Fatal(err)
	}
}
