// Package reporttest holds the result documents that the tests of
// pkg/report and of its renderers share: recorded-style fixtures read the
// way the CLI reads a result file, a simulated ten-minute run, and the
// measurements of a long run whose series has merged seconds.
package reporttest

import (
	"bytes"
	"embed"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/rolltest/rolltest/pkg/loadgen"
	"github.com/rolltest/rolltest/pkg/report"
)

// The fixtures in testdata, by file name.
const (
	// FailingRollout is a 60 s run at 50 req/s through a rolling update of
	// two pods from v1 to v2 whose old pods stop serving while still
	// routed to: drops, retries, and every table filled.
	FailingRollout = "failing-rollout.json"
	// PassingNoRollout is a 30 s run at 40 req/s against two pods, no
	// rollout, nothing dropped.
	PassingNoRollout = "passing-norollout.json"
	// MultiTarget is a 40 s run of --targets (three requests weighted
	// 3:1:1) at 50 req/s through the same failing rollout.
	MultiTarget = "multi-target.json"
)

// Fixtures lists every fixture's file name.
func Fixtures() []string { return []string{FailingRollout, PassingNoRollout, MultiTarget} }

//go:embed testdata/*.json
var testdata embed.FS

// Fixture reads a fixture the way the CLI reads a result file, through
// report.ReadResult; each call returns a fresh copy to change at will.
func Fixture(t testing.TB, name string) *report.Result {
	t.Helper()
	b, err := testdata.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	r, err := report.ReadResult(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return r
}

// TenMinutes is a simulated 600 s run: 6 pods in 2 versions, 20 rollout
// events and 1000 failure records, the size a long report must stay small
// with.
func TenMinutes() *report.Result { return simTenMinutes() }

// DownSampledStats is a 185-second run whose series holds seconds 0-4 and
// 180-184 at 1 s and buckets of merged seconds between, as the collector
// writes a long run's: [5, 60) (narrower: it begins where the 1 s stretch
// ends), [60, 120), [120, 180). Two pods, one at a time, and unattributed
// failures.
func DownSampledStats() *loadgen.Stats {
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
