package main

import (
	"path/filepath"
	"testing"

	"github.com/rolltest/rolltest/internal/groundtruth"
	"github.com/rolltest/rolltest/pkg/report"
)

// TestDemoGroundTruth runs the presets with --ground-truth and holds
// rolltest's document against each simulated pod's own counts (see
// package groundtruth for the identities and their tolerances): a
// rolltest that lost or invented a request, or blamed the wrong pod,
// fails here even when its document agrees with itself.
func TestDemoGroundTruth(t *testing.T) {
	if testing.Short() {
		t.Skip("runs simulated rollouts")
	}
	for _, tc := range []struct {
		name  string
		args  []string
		clean bool // expect no failure at all
	}{
		{"safe", append(fastProbe, "--preset", "safe", "--prestop", "900ms", "--connections", "8"), true},
		// 800 req/s: enough failures (about 200) that dropping every 100th
		// record, the undercount this test exists to catch, drops some.
		{"unsafe", []string{"--preset", "unsafe", "--connections", "8", "--rate", "800"}, false},
		{"one-connection", append(fastProbe, "--preset", "pinning", "--prestop", "900ms", "--rate", "100"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gtPath := filepath.Join(t.TempDir(), "truth.json")
			code, r := runDemo(t, append(append([]string{}, tc.args...), "--ground-truth", gtPath)...)
			gt, err := groundtruth.Read(gtPath)
			if err != nil {
				t.Fatal(err)
			}
			if len(gt.Pods) == 0 {
				t.Fatal("no pod counts")
			}
			if tc.clean && (code != 0 || r.Totals.Failed+r.Totals.Retried != 0) {
				t.Errorf("exit %d, outcomes %v", code, r.Totals.Outcomes)
			}
			if !tc.clean && (code != report.ExitGateFailed || r.Totals.Failed == 0) {
				t.Errorf("exit %d, failed %d: the unsafe preset should drop requests", code, r.Totals.Failed)
			}
			if gt.Service == nil {
				t.Fatal("no Service counts")
			}
			var received int64
			for _, p := range gt.Pods {
				received += p.Traffic.Received
			}
			t.Logf("rolltest: %d attempts, outcomes %v; pods received %d; Service %+v; slack (attempts no one counted) %d",
				r.Totals.Attempts, r.Totals.Outcomes, received, *gt.Service, r.Totals.Attempts-received-gt.Service.Unrouted()-r.Totals.Outcomes["refused"])
			for _, p := range gt.Pods {
				t.Logf("pod %s %s: traffic %+v, conns %+v", p.Pod, p.Version, p.Traffic, p.Connections)
			}
			if ms := groundtruth.CompareService(r, gt.Pods, *gt.Service); len(ms) > 0 {
				t.Errorf("rolltest disagrees with the pods' own counts:\n%s", groundtruth.Format(ms))
			}
		})
	}
}
