package report

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

func TestHGRMGolden(t *testing.T) {
	enc, err := EncodeHistogram(histTestHistogram())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteHGRM(&buf, &Result{Schema: Schema, Latency: Latency{Histogram: enc}}); err != nil {
		t.Fatal(err)
	}
	goldenCompare(t, "latency.hgrm.golden", buf.Bytes())

	// The layout the plotters parse: the Java header, rows of four
	// columns, the last row (100%) of three, and the footer.
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if lines[0] != "       Value     Percentile TotalCount 1/(1-Percentile)" || lines[1] != "" {
		t.Errorf("header: %q %q", lines[0], lines[1])
	}
	n := len(lines)
	if !strings.HasPrefix(lines[n-3], "#[Mean    = ") || !strings.HasPrefix(lines[n-2], "#[Max     = ") || !strings.HasPrefix(lines[n-1], "#[Buckets = ") {
		t.Errorf("footer: %q", lines[n-3:])
	}
	if f := strings.Fields(lines[n-4]); len(f) != 3 || f[1] != "1.000000000000" || f[2] != "10000" {
		t.Errorf("last row %q", lines[n-4])
	}
	if f := strings.Fields(lines[2]); len(f) != 4 || f[1] != "0.000000000000" || f[3] != "1.00" {
		t.Errorf("first row %q", lines[2])
	}
}

func TestHGRMEmptyAndErrors(t *testing.T) {
	enc, _ := EncodeHistogram(hdrhistogram.New(1, 60_000_000, 3))
	var buf bytes.Buffer
	if err := WriteHGRM(&buf, &Result{Latency: Latency{Histogram: enc}}); err != nil {
		t.Fatal(err)
	}
	want := "       Value     Percentile TotalCount 1/(1-Percentile)\n\n" +
		"#[Mean    =        0.000, StdDeviation   =        0.000]\n" +
		"#[Max     =        0.000, Total count    =            0]\n" +
		"#[Buckets =           16, SubBuckets     =         2048]\n"
	if buf.String() != want {
		t.Errorf("empty histogram:\n%s\nwant\n%s", buf.String(), want)
	}
	for _, r := range []*Result{nil, {}, {Latency: Latency{Histogram: "garbage"}}} {
		if err := WriteHGRM(&buf, r); err == nil {
			t.Errorf("WriteHGRM(%v) succeeded", r)
		}
	}
}

// hgrmRow is one percentile row of a .hgrm file.
type hgrmRow struct {
	value, q, inv string
	count         int64
}

// hgrmParse splits a .hgrm file (or the library's PercentilesPrint output)
// into its percentile rows and footer lines.
func hgrmParse(t *testing.T, text string) (rows []hgrmRow, footer []string) {
	t.Helper()
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 0 || f[0] == "Value":
		case strings.HasPrefix(f[0], "#"):
			footer = append(footer, line)
		case len(f) == 3 || len(f) == 4:
			n, err := strconv.ParseInt(f[2], 10, 64)
			if err != nil {
				t.Fatalf("row %q: %v", line, err)
			}
			r := hgrmRow{value: f[0], q: f[1], count: n}
			if len(f) == 4 {
				r.inv = f[3]
			}
			rows = append(rows, r)
		default:
			t.Fatalf("unexpected line %q", line)
		}
	}
	return rows, footer
}

// TestHGRMGoldenMatchesLibrary checks the golden file's percentile rows,
// not only its footer, against hdrhistogram-go itself, for the histogram
// the golden file is made from (before any encoding round trip): its
// PercentilesPrint rows (same rows, values, counts and inverse
// percentiles at its coarser precision), its ValueAtQuantile for each
// row's count, the count of recorded values at or below each row's value
// from its Distribution, and the tick sequence of HdrHistogram's
// percentile iterator.
func TestHGRMGoldenMatchesLibrary(t *testing.T) {
	golden, err := os.ReadFile(filepath.Join("testdata", "latency.hgrm.golden"))
	if err != nil {
		t.Fatal(err)
	}
	rows, footer := hgrmParse(t, string(golden))
	h := histTestHistogram()
	total := h.TotalCount()

	var lib bytes.Buffer
	if _, err := h.PercentilesPrint(&lib, hgrmTicksPerHalfDistance, hgrmUnitScale); err != nil {
		t.Fatal(err)
	}
	libRows, libFooter := hgrmParse(t, lib.String())
	if len(rows) != len(libRows) || len(rows) < 20 {
		t.Fatalf("%d rows in the golden file, %d from the library", len(rows), len(libRows))
	}
	num := func(s string) float64 {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		return v
	}
	bars := h.Distribution()
	for i, r := range rows {
		l := libRows[i]
		last := i == len(rows)-1
		if r.value != l.value || r.count != l.count || math.Abs(num(r.q)-num(l.q)) > 5e-7 {
			t.Errorf("row %d: golden %+v, library %+v", i, r, l)
		}
		switch {
		case last && (r.inv != "" || num(r.q) != 1 || r.count != total):
			t.Errorf("last row %+v: want 100%% of %d and no inverse", r, total)
		case !last && r.inv != l.inv:
			t.Errorf("row %d: 1/(1-Percentile) %s, library %s", i, r.inv, l.inv)
		}

		// The value is the library's value at the quantile of the row's
		// count: the first value at which the row's percentile is reached.
		v := h.ValueAtQuantile(100 * float64(r.count) / float64(total))
		if want := strconv.FormatFloat(float64(v)/hgrmUnitScale, 'f', 3, 64); r.value != want {
			t.Errorf("row %d %+v: ValueAtQuantile gives %s", i, r, want)
		}
		// The count is that of the recorded values at or below the value,
		// and it reaches the row's percentile, which the previous value
		// bucket did not.
		var atOrBelow, below int64
		for _, b := range bars {
			if b.From <= v {
				atOrBelow += b.Count
			}
			if b.To < v {
				below += b.Count
			}
		}
		need := num(r.q) * float64(total)
		if atOrBelow != r.count || float64(atOrBelow) < need-1e-6 || float64(below) >= need-1e-6 && need > 0 {
			t.Errorf("row %d %+v: %d values at or below %d µs, %d below its bucket, percentile needs %.3f", i, r, atOrBelow, v, below, need)
		}
		// HdrHistogram's percentile ticks: 5 per half distance to 100%,
		// so the step halves each time the remaining distance does.
		if i > 0 && !last {
			prev := num(rows[i-1].q)
			ticks := float64(hgrmTicksPerHalfDistance) * math.Pow(2, math.Floor(math.Log2(1/(1-prev)))+1)
			if step := num(r.q) - prev; math.Abs(step-1/ticks) > 1e-9 {
				t.Errorf("row %d: percentile step %.12f after %.12f, want %.12f", i, step, prev, 1/ticks)
			}
		}
	}
	// The footer, as the library prints it.
	if strings.Join(footer, "\n") != strings.Join(libFooter, "\n") {
		t.Errorf("footer:\n%s\nlibrary:\n%s", strings.Join(footer, "\n"), strings.Join(libFooter, "\n"))
	}
}
