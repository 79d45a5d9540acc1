package report

import (
	"strings"
	"testing"
)

func ptr(v float64) *float64 { return &v }

func TestScheduleGate(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		mode                 string
		limit                *float64
		behind, waits        int64
		maxDelayMs           float64
		pass, skipped, error bool
		msg                  string
	}{
		{name: "on time", mode: "rate", behind: 0, maxDelayMs: 3, pass: true, msg: "schedule kept: 0%"},
		{name: "at the default limit", mode: "rate", behind: 100, maxDelayMs: 30, pass: true},
		{name: "beyond the default limit", mode: "rate", behind: 101, maxDelayMs: 30, error: true, msg: "schedule not kept: 1.01%"},
		{name: "one send later than its timeout", mode: "rate", behind: 1, maxDelayMs: 1000, error: true},
		{name: "pool bound named", mode: "rate", behind: 500, waits: 480, maxDelayMs: 400, error: true, msg: "480 waited for a connection at --max-connections 64"},
		{name: "looser limit", mode: "rate", limit: ptr(0.10), behind: 900, maxDelayMs: 40, pass: true},
		{name: "zero tolerance", mode: "rate", limit: ptr(0), behind: 1, maxDelayMs: 11, error: true},
		{name: "no limit", mode: "rate", limit: ptr(-1), behind: 9000, maxDelayMs: 4000, pass: true, skipped: true, msg: "no limit set"},
		{name: "closed model", mode: "concurrency", behind: 9000, pass: true, skipped: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &Result{
				Config: Config{Mode: tc.mode, Rate: 1000, TimeoutMs: 1000, MaxConnections: 64, Thresholds: Thresholds{MaxLateShare: tc.limit}},
				Totals: Totals{Requests: 10000, OK: 10000, BehindSends: tc.behind, PoolWaits: tc.waits, MaxSendDelayMs: tc.maxDelayMs, AchievedRPS: 1000},
			}
			g := scheduleGate(r)
			if g.Pass != (tc.pass || tc.skipped) || g.Skipped != tc.skipped || g.Pass == tc.error {
				t.Fatalf("gate %+v", g)
			}
			if !strings.Contains(g.Message, tc.msg) {
				t.Fatalf("message %q lacks %q", g.Message, tc.msg)
			}
			h := generatorHint(r)
			if (h != nil) != tc.error {
				t.Fatalf("hint %+v, want one: %v", h, tc.error)
			}
			if h != nil && h.Severity != "error" {
				t.Fatalf("severity %q", h.Severity)
			}
			if h != nil && tc.waits > 0 && !strings.Contains(h.Fix, "--max-connections") {
				t.Fatalf("fix %q does not name --max-connections", h.Fix)
			}
		})
	}
}

// A run that fell behind fails with exit 1 and says the measurement, not
// the service, is in doubt, even with nothing dropped.
func TestScheduleNotKeptFailsTheRun(t *testing.T) {
	r := &Result{
		Config: Config{Mode: "rate", Rate: 1000, TimeoutMs: 1000, Thresholds: Thresholds{MaxErrorRate: -1, MaxP99Ms: -1, MaxP99Ratio: -1}},
		Totals: Totals{Requests: 10000, OK: 10000, BehindSends: 2000, MaxSendDelayMs: 800, AchievedRPS: 1000},
	}
	Judge(r)
	if r.Verdict.Pass || r.Verdict.ExitCode != ExitGateFailed {
		t.Fatalf("verdict %+v", r.Verdict)
	}
	if !strings.Contains(r.Verdict.Summary, "measurement is in doubt") {
		t.Fatalf("summary %q does not say the measurement is in doubt", r.Verdict.Summary)
	}
}

// A connection attempt belongs to the moment its dial began: a connect
// that started in the baseline and timed out while a pod was terminating
// is not evidence against that pod. A response failure spans its attempt.
func TestFailureSpan(t *testing.T) {
	for _, tc := range []struct {
		f        Failure
		from, to float64
	}{
		{Failure{AtS: 1.26, StartS: 1.26, LatencyMs: 10000, Outcome: "timeout_connect"}, 1.26, 1.26},
		{Failure{AtS: 1.26, StartS: 1.27, LatencyMs: 3, Outcome: "refused"}, 1.27, 1.27},
		{Failure{AtS: 1.26, StartS: 1.26, LatencyMs: 10000, Outcome: "timeout_response"}, 1.26, 11.26},
		{Failure{AtS: 2, StartS: 2.5, LatencyMs: 600, Outcome: "reset"}, 2.5, 2.6}, // a retry began later
		{Failure{AtS: 3, LatencyMs: 100, Outcome: "timeout_connect"}, 3, 3},        // no start_s: an older document
	} {
		from, to := tc.f.span()
		if !near(from, tc.from) || !near(to, tc.to) {
			t.Errorf("%+v: span %v–%v, want %v–%v", tc.f, from, to, tc.from, tc.to)
		}
	}
	pod := Pod{ID: "p", Lifecycle: &Lifecycle{TerminatingS: ptr(10.9)}}
	f := Failure{AtS: 1.26, StartS: 1.26, LatencyMs: 10000, Outcome: "timeout_connect", AttributedBy: "none"}
	r := &Result{Pods: []Pod{pod}, Failures: Failures{Records: []Failure{f}}}
	if n, _, _, _ := inWindows(r, suspectTerminating); n != 0 {
		t.Fatalf("a dial from the baseline was counted against a pod that began terminating at 10.9 s")
	}
	f.StartS, f.AtS = 11, 11
	r.Failures.Records[0] = f
	if n, _, _, _ := inWindows(r, suspectTerminating); n != 1 {
		t.Fatalf("a dial while the pod was terminating was not counted")
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

// TestAmbiguousRefusals: a refusal while one pod terminates and another
// has just become Ready fits both, so each hint counts it and says that it
// fits the other too; a connect timeout in the same window fits only the
// terminating pod (and the timeline pins it there, see
// TestTimelineAttributionByOutcome).
func TestAmbiguousRefusals(t *testing.T) {
	old := Pod{ID: "old", Name: "db-0", Lifecycle: &Lifecycle{Generation: "old", TerminatingS: ptr(6.49), EndpointRemoved: ptr(6.64), DeletedS: ptr(7.49)}}
	starting := Pod{ID: "new", Name: "db-1", Lifecycle: &Lifecycle{Generation: "new", CreatedS: ptr(5.49), ReadyS: ptr(6.47)}, FirstOKS: ptr(7.1)}
	r := &Result{Pods: []Pod{old, starting}, Failures: Failures{Records: []Failure{
		{AtS: 6.5, StartS: 6.5, Outcome: "refused", AttributedBy: "none"},
		{AtS: 6.52, StartS: 6.52, Outcome: "refused", AttributedBy: "none"},
		{AtS: 6.7, StartS: 6.7, LatencyMs: 10000, Outcome: "timeout_connect", AttributedBy: "none"},
	}}}
	for _, tc := range []struct {
		state         string
		n, alsoOther  int
		wantPods      string
		otherEvidence string
	}{
		{suspectTerminating, 3, 2, "db-0", "(2 of them fit a new pod that had not yet served as well"},
		{suspectStarting, 2, 2, "db-1", "(2 of them fit a terminating pod as well"},
	} {
		n, also, _, pods := inWindows(r, tc.state)
		if n != tc.n || also != tc.alsoOther || strings.Join(pods, ",") != tc.wantPods {
			t.Errorf("%s: n=%d alsoOther=%d pods=%v, want %d %d %s", tc.state, n, also, pods, tc.n, tc.alsoOther, tc.wantPods)
		}
	}
	r.Rollout = &Rollout{}
	for _, h := range []*Hint{preStopHint(r), notReadyHint(r)} {
		if h == nil || !strings.Contains(strings.Join(h.Evidence, "\n"), "as well: from outside the cluster they cannot be told apart") {
			t.Errorf("hint %+v does not say its refusals fit the other explanation too", h)
		}
	}
}
