package report

import (
	"bytes"
	"os"
	"path/filepath"
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

func TestHGRMFixture(t *testing.T) {
	r := reportFixture(t, "failing-rollout.json")
	var buf bytes.Buffer
	if err := WriteHGRM(&buf, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "Total count    = ") {
		t.Error("no footer")
	}
}

// goldenCompare compares got with testdata/name, or rewrites the file when
// the tests run with -update.
func goldenCompare(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *updateGolden {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./pkg/report -run Golden -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./pkg/report -run Golden -update rewrites it):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}
