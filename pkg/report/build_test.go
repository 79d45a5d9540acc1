package report

import (
	"slices"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/rolltest/rolltest/pkg/loadgen"
	"github.com/rolltest/rolltest/pkg/rollout"
)

// TestBuildTimelineAttribution: a failure no response or connection could
// pin lands, by the timeline, on the only pod that could have failed it —
// a Ready pod that had not yet served — and moves with it in the pod table,
// the per-second series and "Who answered when". The pod, which never
// answered, takes its version from its ReplicaSet sibling, not the
// template hash.
func TestBuildTimelineAttribution(t *testing.T) {
	start := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return start.Add(time.Duration(s * float64(time.Second))) }
	var unknown, podA loadgen.PodStats
	unknown.Outcomes[loadgen.HTTP5xx] = 1
	unknown.AttributedBy[loadgen.AttrNone] = 1
	podA.PodIdentity = loadgen.PodIdentity{Pod: "web-abc-1", IP: "10.0.0.1", Version: "v1"}
	podA.Outcomes[loadgen.OK] = 10
	podA.FirstOK = 0
	var sec loadgen.SecondStats
	sec.Outcomes[loadgen.OK], sec.Outcomes[loadgen.HTTP5xx] = 10, 1
	sec.ByPod = map[int]int64{0: 1, 1: 10}
	sec.FailedByPod = map[int]int64{0: 1}
	st := &loadgen.Stats{
		Start: start, SendEnd: 900 * time.Millisecond, End: time.Second,
		Latency: hdrhistogram.New(1, 10_000_000, 3),
		Pods:    []loadgen.PodStats{unknown, podA},
		Seconds: []loadgen.SecondStats{sec},
		Failures: []loadgen.FailureRecord{{
			Seq: 4, Attempt: 1, Intended: 500 * time.Millisecond, Latency: 2 * time.Millisecond,
			Outcome: loadgen.HTTP5xx, Status: 503, Conn: 7, AttributedBy: loadgen.AttrNone,
		}},
	}
	st.Counts.Outcomes[loadgen.OK], st.Counts.Outcomes[loadgen.HTTP5xx] = 10, 1
	ev := func(s float64, kind rollout.EventKind, pod, version string) rollout.Event {
		return rollout.Event{Time: at(s), Kind: kind, Pod: pod, ReplicaSet: "web-abc", Version: version, Generation: rollout.GenerationNew}
	}
	r := Build(Input{
		Config: Config{Mode: "concurrency", Concurrency: 1, KeepAlive: true, Identity: "line"},
		Stats:  st,
		Rollout: &RolloutInput{Driver: "test", Action: rollout.ActionRestart, Status: rollout.Status{Done: true}, Events: []rollout.Event{
			ev(0, rollout.EventPodCreated, "web-abc-1", "abc"),
			ev(0, rollout.EventPodReady, "web-abc-1", "abc"),
			ev(0.1, rollout.EventPodCreated, "web-abc-2", "abc"),
			ev(0.2, rollout.EventPodReady, "web-abc-2", "abc"),
		}},
	})
	f := r.Failures.Records[0]
	if f.Pod != "web-abc-2" || f.AttributedBy != "timeline" {
		t.Fatalf("failure attributed to %q by %s, want web-abc-2 by timeline", f.Pod, f.AttributedBy)
	}
	var b *Pod
	for i := range r.Pods {
		if r.Pods[i].ID == UnknownPod {
			t.Fatalf("the unattributed row remains: %+v", r.Pods[i])
		}
		if r.Pods[i].Name == "web-abc-2" {
			b = &r.Pods[i]
		}
	}
	if b == nil || b.Failed != 1 || b.Version != "v1" {
		t.Fatalf("pod web-abc-2 = %+v, want 1 failed request and version v1 from its sibling", b)
	}
	if got := r.Series[0].ByPod; got[UnknownPod] != 0 || got["web-abc-2"] != 1 || got["web-abc-1"] != 10 {
		t.Fatalf("series by_pod = %v", got)
	}
	var inWindows int64
	for _, w := range r.Windows {
		inWindows += w.Requests
	}
	if inWindows != 11 {
		t.Fatalf("\"Who answered when\" holds %d requests, want all 11: %+v", inWindows, r.Windows)
	}
}

func TestHintCodes(t *testing.T) {
	r := &Result{Diagnosis: []Hint{{Code: HintNoDrain}, {Code: HintKeepAlivePinning}}}
	if got := r.HintCodes(); !slices.Equal(got, []string{HintNoDrain, HintKeepAlivePinning}) {
		t.Errorf("HintCodes = %v", got)
	}
	for _, tc := range []struct {
		codes []string
		want  bool
	}{
		{[]string{HintNoDrain}, true},
		{[]string{HintTrafficBeforeReady, HintKeepAlivePinning}, true},
		{[]string{HintTrafficBeforeReady}, false},
		{nil, false},
	} {
		if got := r.HasHint(tc.codes...); got != tc.want {
			t.Errorf("HasHint(%v) = %v, want %v", tc.codes, got, tc.want)
		}
	}
}

func TestWorkloadRef(t *testing.T) {
	for _, tc := range []struct {
		ro   Rollout
		want string
	}{
		{Rollout{Workload: "statefulset/db", Namespace: "shop", Deployment: ""}, "statefulset/db in shop"},
		{Rollout{Workload: "deployment/web", Deployment: "web"}, "deployment/web"},
		// A document from before Workload existed.
		{Rollout{Namespace: "default", Deployment: "testapp"}, "deployment/testapp in default"},
		{Rollout{Namespace: "default"}, ""},
	} {
		if got := tc.ro.WorkloadRef(); got != tc.want {
			t.Errorf("%+v: WorkloadRef() = %q, want %q", tc.ro, got, tc.want)
		}
	}
}

// TestTimelineAttributionByOutcome: while an old pod terminates and a new
// one is Ready but has not yet served, a connect that timed out or found
// no route can only be the old pod's (a running container's kernel answers
// every SYN), while a refusal fits both and stays unattributed.
func TestTimelineAttributionByOutcome(t *testing.T) {
	for _, tc := range []struct {
		outcome loadgen.Outcome
		status  int
		wantPod string
		wantBy  string
	}{
		{loadgen.TimeoutConnect, 0, "web-old-1", "timeline"},
		{loadgen.Unreachable, 0, "web-old-1", "timeline"},
		{loadgen.Refused, 0, "", "none"},
		{loadgen.HTTP5xx, 503, "", "none"},
	} {
		t.Run(tc.outcome.String(), func(t *testing.T) {
			start := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
			at := func(s float64) time.Time { return start.Add(time.Duration(s * float64(time.Second))) }
			var unknown, old loadgen.PodStats
			unknown.Outcomes[tc.outcome] = 1
			unknown.AttributedBy[loadgen.AttrNone] = 1
			old.PodIdentity = loadgen.PodIdentity{Pod: "web-old-1", IP: "10.0.0.1", Version: "v1"}
			old.Outcomes[loadgen.OK] = 10
			var sec loadgen.SecondStats
			sec.Outcomes[loadgen.OK], sec.Outcomes[tc.outcome] = 10, 1
			sec.ByPod = map[int]int64{0: 1, 1: 10}
			sec.FailedByPod = map[int]int64{0: 1}
			st := &loadgen.Stats{
				Start: start, SendEnd: 900 * time.Millisecond, End: time.Second,
				Latency: hdrhistogram.New(1, 10_000_000, 3),
				Pods:    []loadgen.PodStats{unknown, old},
				Seconds: []loadgen.SecondStats{sec},
				Failures: []loadgen.FailureRecord{{
					Seq: 4, Attempt: 1, Intended: 500 * time.Millisecond, Latency: 2 * time.Millisecond,
					Outcome: tc.outcome, Status: tc.status, Conn: 7, AttributedBy: loadgen.AttrNone,
				}},
			}
			st.Counts.Outcomes[loadgen.OK], st.Counts.Outcomes[tc.outcome] = 10, 1
			ev := func(s float64, kind rollout.EventKind, pod, rs string, g rollout.Generation) rollout.Event {
				return rollout.Event{Time: at(s), Kind: kind, Pod: pod, ReplicaSet: rs, Generation: g}
			}
			r := Build(Input{
				Config: Config{Mode: "concurrency", Concurrency: 1, KeepAlive: true, Identity: "line"},
				Stats:  st,
				Rollout: &RolloutInput{Driver: "test", Action: rollout.ActionRestart, Status: rollout.Status{Done: true}, Events: []rollout.Event{
					ev(0.1, rollout.EventPodCreated, "web-new-1", "web-new", rollout.GenerationNew),
					ev(0.2, rollout.EventPodReady, "web-new-1", "web-new", rollout.GenerationNew),
					ev(0.4, rollout.EventPodTerminating, "web-old-1", "web-old", rollout.GenerationOld),
				}},
			})
			f := r.Failures.Records[0]
			if f.Pod != tc.wantPod || f.AttributedBy != tc.wantBy {
				t.Fatalf("%s attributed to %q by %s, want %q by %s", tc.outcome, f.Pod, f.AttributedBy, tc.wantPod, tc.wantBy)
			}
		})
	}
}
