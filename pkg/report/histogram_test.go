package report

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// histTestHistogram is deterministic: the same counts on every run, so that
// golden files built from it are stable.
func histTestHistogram() *hdrhistogram.Histogram {
	h := hdrhistogram.New(1, 60_000_000, 3)
	for i := int64(1); i <= 10000; i++ {
		// A body around 2–5 ms and a tail to ~1.2 s, in microseconds.
		v := 2000 + (i*7919)%3000
		if i%100 == 0 {
			v = 20000 + i*11
		}
		if i%1000 == 0 {
			v = 1_200_000 - i
		}
		if err := h.RecordValue(v); err != nil {
			panic(err)
		}
	}
	return h
}

func TestHistogramRoundTrip(t *testing.T) {
	for _, h := range []*hdrhistogram.Histogram{
		histTestHistogram(),
		hdrhistogram.New(1, 60_000_000, 3), // empty
		hdrhistogram.New(1, 3_600_000_000, 2),
	} {
		s, err := EncodeHistogram(h)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeHistogram(s)
		if err != nil {
			t.Fatal(err)
		}
		if got.TotalCount() != h.TotalCount() || got.Max() != h.Max() || got.Min() != h.Min() {
			t.Errorf("round trip: count %d→%d max %d→%d min %d→%d", h.TotalCount(), got.TotalCount(), h.Max(), got.Max(), h.Min(), got.Min())
		}
		for _, q := range []float64{50, 90, 99, 99.9, 100} {
			if a, b := h.ValueAtQuantile(q), got.ValueAtQuantile(q); a != b {
				t.Errorf("p%v: %d → %d", q, a, b)
			}
		}
		if got.SignificantFigures() != h.SignificantFigures() || got.HighestTrackableValue() != h.HighestTrackableValue() {
			t.Errorf("geometry changed: %d/%d → %d/%d", h.SignificantFigures(), h.HighestTrackableValue(), got.SignificantFigures(), got.HighestTrackableValue())
		}
	}
}

func TestDecodeHistogramErrors(t *testing.T) {
	good, err := EncodeHistogram(histTestHistogram())
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(good)
	for name, in := range map[string]string{
		"empty":      "",
		"not base64": "%%%",
		"short":      base64.StdEncoding.EncodeToString([]byte{1, 2, 3}),
		"truncated":  base64.StdEncoding.EncodeToString(raw[:len(raw)/2]),
		"json":       `{"a":1}`,
		"huge":       strings.Repeat("A", maxHistogramText+4),
	} {
		if _, err := DecodeHistogram(in); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
	if _, err := EncodeHistogram(nil); err == nil {
		t.Error("EncodeHistogram(nil) succeeded")
	}
}

// TestHistogramGeometry checks histogramGeometry against the counts the
// library prints itself.
func TestHistogramGeometry(t *testing.T) {
	for _, h := range []*hdrhistogram.Histogram{
		histTestHistogram(),
		hdrhistogram.New(1, 3_600_000_000, 2),
		hdrhistogram.New(1000, 10_000_000_000, 5),
		hdrhistogram.New(1, 2, 1),
	} {
		var buf bytes.Buffer
		if _, err := h.PercentilesPrint(&buf, 1, 1); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		var wb, ws int64
		if _, err := fmt.Sscanf(lines[len(lines)-1], "#[Buckets = %d, SubBuckets     = %d]", &wb, &ws); err != nil {
			t.Fatalf("%q: %v", lines[len(lines)-1], err)
		}
		b, s := histogramGeometry(h)
		if b != wb || s != ws {
			t.Errorf("geometry(%d..%d, %d digits) = %d/%d, library says %d/%d",
				h.LowestTrackableValue(), h.HighestTrackableValue(), h.SignificantFigures(), b, s, wb, ws)
		}
	}
}

func FuzzDecodeHistogram(f *testing.F) {
	good, err := EncodeHistogram(histTestHistogram())
	if err != nil {
		f.Fatal(err)
	}
	empty, _ := EncodeHistogram(hdrhistogram.New(1, 1000, 1))
	f.Add(good)
	f.Add(empty)
	f.Add("")
	f.Add("HISTFAAAACR4nJNpmSzMwMDAwQABzFCaEUzOmNZg/wEiMFEAAJLUBd0=")
	raw, _ := base64.StdEncoding.DecodeString(good)
	f.Add(base64.StdEncoding.EncodeToString(raw[:20]))
	f.Fuzz(func(t *testing.T, s string) {
		h, err := DecodeHistogram(s)
		if err != nil {
			if h != nil {
				t.Fatal("histogram and error")
			}
			return
		}
		// Whatever decodes must also render without panicking (as a
		// chart: FuzzWrite in pkg/report/html).
		r := &Result{Schema: Schema, Latency: Latency{Histogram: s}}
		var buf bytes.Buffer
		_ = WriteHGRM(&buf, r)
	})
}
