package main

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/rolltest/rolltest/pkg/report"
	"github.com/rolltest/rolltest/pkg/sim"
)

// fastDemo shrinks the simulated cluster's timings so that a whole rolling
// update takes a few seconds; the presets' relations (preStop longer than
// endpoint propagation, grace covering preStop plus drain) are kept.
//
// --max-late is 10% rather than the default 1%: under -race, with the other
// packages' tests on the same two cores, the dispatcher's thread is
// sometimes not scheduled for tens of milliseconds. A run beyond 10% fails
// the test, as it should: its counts would no longer be the service's.
var fastDemo = []string{
	"--rollout-after", "1s", "--settle", "1s", "--rate", "300", "--max-late", "10%",
	"--endpoint-delay", "300ms", "--start-delay", "100ms",
	"--app-startup-delay", "300ms", "--grace-period", "5s", "--no-progress", "-q",
}

// fastProbe speeds up the readiness probe of the presets that have one.
var fastProbe = []string{"--readiness-period", "200ms"}

func runDemo(t *testing.T, args ...string) (int, *report.Result) {
	t.Helper()
	jsonPath := filepath.Join(t.TempDir(), "r.json")
	all := append(append([]string{"demo", "--json", jsonPath}, fastDemo...), args...)
	code, out, errOut := cli(t, context.Background(), all...)
	if code == report.ExitUsage {
		t.Fatalf("demo %v: usage error: %s%s", args, out, errOut)
	}
	r := readResult(t, jsonPath)
	checkSums(t, r)
	return code, r
}

// checkSums holds a real run's document to the invariants the schema
// promises: every request counted once, in every breakdown.
func checkSums(t *testing.T, r *report.Result) {
	t.Helper()
	var outcomes, pods, podFailed, series, seriesFailed, phases int64
	for _, n := range r.Totals.Outcomes {
		outcomes += n
	}
	for _, p := range r.Pods {
		pods += p.Requests
		podFailed += p.Failed
	}
	for _, s := range r.Series {
		series += s.Requests
		seriesFailed += s.Failed
	}
	for _, p := range r.Phases {
		phases += p.Requests
	}
	tot := r.Totals
	if outcomes != tot.Requests || pods != tot.Requests || series != tot.Requests || phases != tot.Requests ||
		podFailed != tot.Failed || seriesFailed != tot.Failed || tot.Failed != tot.Requests-tot.OK {
		t.Fatalf("sums disagree: requests %d, outcomes %d, pods %d, series %d, phases %d; failed %d, pods %d, series %d",
			tot.Requests, outcomes, pods, series, phases, tot.Failed, podFailed, seriesFailed)
	}
	var attributed, inWindows int64
	for _, s := range r.Series {
		for pod, n := range s.ByPod {
			if pod != report.UnknownPod {
				attributed += n
			}
		}
	}
	for _, w := range r.Windows {
		inWindows += w.Requests
	}
	if attributed != inWindows {
		t.Fatalf("the Who-answered-when table holds %d requests, the series attributes %d", inWindows, attributed)
	}
	if r.Failures.Omitted == 0 && int64(len(r.Failures.Records)) != tot.Failed+tot.Retried {
		t.Fatalf("%d failure records for %d failed + %d retried", len(r.Failures.Records), tot.Failed, tot.Retried)
	}
}

func TestDemoSafeDropsNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("runs simulated rollouts")
	}
	for i := range 3 {
		code, r := runDemo(t, append(fastProbe, "--preset", "safe", "--prestop", "900ms", "--connections", "8")...)
		if code != 0 || r.Totals.Failed != 0 || r.Totals.Retried != 0 {
			t.Fatalf("run %d: exit %d, failed %d, retried %d, outcomes %v", i, code, r.Totals.Failed, r.Totals.Retried, r.Totals.Outcomes)
		}
		if r.Rollout == nil || !r.Rollout.Done || len(r.Versions) != 2 {
			t.Fatalf("run %d: rollout %+v versions %+v", i, r.Rollout, r.Versions)
		}
		for _, e := range r.Rollout.Events {
			if e.Pod == "" {
				continue
			}
			found := false
			for _, p := range r.Pods {
				found = found || p.Name == e.Pod
			}
			if !found {
				t.Fatalf("run %d: pod %s of the timeline is missing from the pod table", i, e.Pod)
			}
		}
		for _, h := range r.Diagnosis {
			if h.Severity == "error" {
				t.Fatalf("run %d: error hint on a clean run: %+v", i, h)
			}
		}
	}
}

func TestDemoUnsafeIsCaughtAndExplained(t *testing.T) {
	if testing.Short() {
		t.Skip("runs simulated rollouts")
	}
	for i := range 2 {
		code, r := runDemo(t, "--preset", "unsafe", "--connections", "8")
		if code != report.ExitGateFailed || r.Totals.Failed == 0 {
			t.Fatalf("run %d: exit %d, failed %d", i, code, r.Totals.Failed)
		}
		if !r.HasHint(report.HintTrafficBeforeReady, report.HintNoDrain, report.HintPreStopTooShort) {
			t.Fatalf("run %d: no rollout hint explains the drops: %v", i, r.HintCodes())
		}
		// Each failure is either pinned on a pod, or happened while some pod
		// was terminating or not yet serving: never out of the blue. Which
		// pod may be ambiguous (two pods were changing at once); the hints
		// then name the candidates.
		for _, f := range r.Failures.Records {
			if f.AttributedBy != "none" {
				continue
			}
			if !someSuspect(r, f.AtS) {
				t.Fatalf("run %d: failure %+v at a moment when every pod was serving normally", i, f)
			}
		}
		for _, h := range r.Diagnosis {
			if h.Severity == "error" && len(h.Evidence) == 0 {
				t.Fatalf("run %d: hint %s without evidence", i, h.Code)
			}
		}
	}
}

func someSuspect(r *report.Result, at float64) bool {
	for _, p := range r.Pods {
		lc := p.Lifecycle
		if lc == nil {
			continue
		}
		if lc.TerminatingS != nil && at >= *lc.TerminatingS-0.01 {
			return true
		}
		if lc.CreatedS != nil && at >= *lc.CreatedS-0.01 && (p.FirstOKS == nil || at <= *p.FirstOKS+0.01) {
			return true
		}
	}
	return false
}

func TestDemoPinningPinsOnePod(t *testing.T) {
	if testing.Short() {
		t.Skip("runs simulated rollouts")
	}
	code, r := runDemo(t, append(fastProbe, "--preset", "pinning", "--prestop", "900ms", "--rate", "100", "--rollout-after", "3s", "--settle", "3s")...)
	if code != 0 || r.Config.Connections != 1 {
		t.Fatalf("exit %d, connections %d", code, r.Config.Connections)
	}
	if !r.HasHint(report.HintKeepAlivePinning) {
		t.Fatalf("no keep-alive pinning hint: %+v", r.Diagnosis)
	}
	// Who answered when: most windows have exactly one pod.
	single := map[int]int{}
	for _, w := range r.Windows {
		single[w.FromS]++
	}
	ones := 0
	for _, n := range single {
		if n == 1 {
			ones++
		}
	}
	if ones*2 < len(single) {
		t.Fatalf("only %d of %d windows have a single pod: %+v", ones, len(single), r.Windows)
	}
}

// TestDemoProtocols: the demo's pods speak h2c and gRPC too; the safe
// preset drops nothing whatever the protocol, and the unsafe one is
// caught and explained, one stream per connection or ten.
func TestDemoProtocols(t *testing.T) {
	if testing.Short() {
		t.Skip("runs simulated rollouts")
	}
	for _, tc := range []struct {
		name, protocol, preset string
		extra                  []string
		code                   int
		hint                   string
	}{
		{"h2c safe", "h2c", sim.PresetSafe, []string{"--prestop", "900ms", "--connections", "8"}, 0, ""},
		{"grpc safe", "grpc", sim.PresetSafe, []string{"--prestop", "900ms", "--connections", "8"}, 0, ""},
		{"grpc unsafe", "grpc", sim.PresetUnsafe, nil, 1, report.HintPreStopTooShort},
		{"h2c unsafe streams", "h2c", sim.PresetUnsafe, []string{"--streams", "10"}, 1, report.HintPreStopTooShort},
	} {
		var args []string
		if tc.preset == sim.PresetSafe {
			args = append(args, fastProbe...)
		}
		args = append(append(args, "--protocol", tc.protocol, "--preset", tc.preset), tc.extra...)
		code, r := runDemo(t, args...)
		// The demo's --protocol names are the report's for h2c and gRPC.
		if code != tc.code || r.Config.Protocol != tc.protocol {
			t.Errorf("%s: exit %d protocol %s, want %d %s (failed %d, outcomes %v)", tc.name, code, r.Config.Protocol, tc.code, tc.protocol, r.Totals.Failed, r.Totals.Outcomes)
			continue
		}
		if tc.code == 0 && r.Totals.Failed != 0 {
			t.Errorf("%s: %d failed", tc.name, r.Totals.Failed)
		}
		if tc.code == 1 && r.Totals.Failed == 0 {
			t.Errorf("%s: exit 1 with nothing dropped", tc.name)
		}
		if tc.hint != "" && !r.HasHint(tc.hint) {
			t.Errorf("%s: hints %v, want %s", tc.name, r.HintCodes(), tc.hint)
		}
		pods := 0
		for _, p := range r.Pods {
			if p.Requests > 0 && p.ID != report.UnknownPod {
				pods++
			}
		}
		if pods < 2 {
			t.Errorf("%s: %d pods answered, want the old and the new ones", tc.name, pods)
		}
	}
}
