package groundtruth

import (
	"path/filepath"
	"reflect"
	"sort"
	"testing"

	"github.com/rolltest/rolltest/pkg/report"
	"github.com/rolltest/rolltest/testapp/app"
)

func f64(v float64) *float64 { return &v }

// agreeing is a rollout of one old pod (a) to one new pod (b) in which
// rolltest's document and the pods' counts agree: 100 attempts, 90 ok (50
// from a, 40 from b), 5 503s from b while it started, 3 resets the proxy
// answered itself, 2 resets of requests a received but never answered.
func agreeing() (*report.Result, []app.Counts) {
	r := &report.Result{
		Totals: report.Totals{
			Requests: 100, OK: 90, Failed: 10, Attempts: 100,
			Outcomes: map[string]int64{"ok": 90, "http_5xx": 5, "reset": 5},
		},
		Phases: []report.Phase{{Name: "baseline", Requests: 40, OK: 40}, {Name: "rollout", Requests: 40}, {Name: "settle", Requests: 20, OK: 20}},
		Pods: []report.Pod{
			{ID: "a", Name: "a", Requests: 52, OK: 50, Failed: 2, FirstOKS: f64(0),
				Lifecycle: &report.Lifecycle{Generation: "old", TerminatingS: f64(5)}},
			{ID: "b", Name: "b", Requests: 45, OK: 40, Failed: 5, FirstOKS: f64(4),
				Lifecycle: &report.Lifecycle{Generation: "new", CreatedS: f64(2), ReadyS: f64(3)}},
			{ID: report.UnknownPod, Requests: 3, Failed: 3},
		},
		Failures: report.Failures{Total: 10, Records: []report.Failure{
			{AtS: 3.5, StartS: 3.5, Outcome: "http_5xx", Status: 503, Pod: "b", AttributedBy: "connection"},
			{AtS: 5.1, StartS: 5.1, LatencyMs: 1, Outcome: "reset", Pod: "a", AttributedBy: "timeline"},
		}},
		Rollout: &report.Rollout{Done: true},
	}
	pods := []app.Counts{
		{Pod: "a", Version: "v1", Traffic: app.RequestCounts{Received: 52, Written: app.StatusCounts{S2xx: 50}, Unanswered: 2}},
		{Pod: "b", Version: "v2", Traffic: app.RequestCounts{Received: 45, Written: app.StatusCounts{S2xx: 40, S5xx: 5}}},
	}
	return r, pods
}

func TestCompare(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(r *report.Result, pods []app.Counts)
		want   []string // checks that must fail, sorted
	}{
		{"agreeing", func(*report.Result, []app.Counts) {}, nil},
		{"rolltest lost an ok", func(r *report.Result, _ []app.Counts) {
			r.Pods[0].OK--
			r.Totals.Outcomes["ok"]--
			r.Totals.Attempts--
		}, []string{"pod_ok", "responses"}},
		{"a lost ok within a response timeout", func(r *report.Result, pods []app.Counts) {
			r.Pods[0].OK--
			r.Totals.Outcomes["ok"]--
			r.Totals.Outcomes["timeout_response"]++
			r.Failures.Records = append(r.Failures.Records, report.Failure{AtS: 1, StartS: 1, LatencyMs: 2000, Outcome: "timeout_response", Pod: "a", AttributedBy: "connection"})
		}, []string{"steady_pod_failed"}}, // pod a was steady then: the timeout is still a drop on a steady pod
		{"rolltest invented an ok", func(r *report.Result, _ []app.Counts) {
			r.Pods[1].OK++
			r.Totals.Outcomes["ok"]++
			r.Totals.Attempts++
		}, []string{"pod_ok", "responses"}},
		{"ok blamed on the wrong pod", func(r *report.Result, _ []app.Counts) {
			r.Pods[0].OK--
			r.Pods[1].OK++
		}, []string{"pod_ok", "pod_ok"}},
		{"rolltest lost a 503", func(r *report.Result, _ []app.Counts) {
			r.Totals.Outcomes["http_5xx"]--
			r.Totals.Attempts--
		}, []string{"responses"}},
		// The limit of the inequality: resets the proxy answered itself
		// reached no pod, so losing up to that many is not seen...
		{"rolltest lost resets no pod saw", func(r *report.Result, _ []app.Counts) {
			r.Totals.Outcomes["reset"] -= 3
			r.Totals.Attempts -= 3
		}, nil},
		// ...one more is.
		{"rolltest lost a reset a pod saw", func(r *report.Result, _ []app.Counts) {
			r.Totals.Outcomes["reset"] -= 4
			r.Totals.Attempts -= 4
		}, []string{"attempts", "attempts"}},
		{"a pod received more than rolltest sent", func(_ *report.Result, pods []app.Counts) {
			pods[0].Traffic.Received += 4
			pods[0].Traffic.Unanswered += 4
		}, []string{"attempts", "attempts"}},
		{"pod unknown to the app", func(r *report.Result, _ []app.Counts) {
			r.Pods = append(r.Pods, report.Pod{ID: "c", Requests: 1, OK: 1})
		}, []string{"unknown_pod"}},
		{"counts not final", func(_ *report.Result, pods []app.Counts) {
			pods[1].Connections.Open = 1
			pods[1].Connections.Accepted++
		}, []string{"final"}},
		{"a response caught by the exit may have been delivered", func(r *report.Result, pods []app.Counts) {
			// The pod exited while writing one 2xx that rolltest received.
			pods[1].Traffic.Written.S2xx--
			pods[1].Traffic.InFlight++
		}, nil},
		{"rolltest counted an ok no pod wrote", func(r *report.Result, pods []app.Counts) {
			pods[1].Traffic.Written.S2xx--
			pods[1].Traffic.Unanswered++
		}, []string{"pod_ok", "responses"}},
		{"new generation silent", func(r *report.Result, _ []app.Counts) {
			r.Pods[1].Lifecycle.Generation = "old"
		}, []string{"new_generation"}},
		{"no settle", func(r *report.Result, _ []app.Counts) {
			r.Phases = r.Phases[:2]
		}, []string{"settle"}},
		{"failure on a steady pod", func(r *report.Result, _ []app.Counts) {
			r.Failures.Records[1].AtS, r.Failures.Records[1].StartS = 4.5, 4.5
		}, []string{"steady_pod_failed"}},
		{"failure just before terminating is within the slack", func(r *report.Result, _ []app.Counts) {
			r.Failures.Records[1].AtS, r.Failures.Records[1].StartS = 4.96, 4.96
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, pods := agreeing()
			tc.change(r, pods)
			ms := Compare(r, pods)
			var got []string
			for _, m := range ms {
				got = append(got, m.Check)
			}
			sort.Strings(got)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("checks failed %v, want %v:\n%s", got, tc.want, Format(ms))
			}
		})
	}
}

func TestSinceAndFile(t *testing.T) {
	before := []app.Counts{{Pod: "a", Traffic: app.RequestCounts{Received: 1, Written: app.StatusCounts{S2xx: 1}},
		Connections: app.ConnCounts{Accepted: 1, Closed: 1, ClosedByClientEOF: 1}}}
	after := []app.Counts{
		{Pod: "a", Traffic: app.RequestCounts{Received: 11, Written: app.StatusCounts{S2xx: 10}, Unanswered: 1},
			Probes:      app.RequestCounts{Received: 3, Written: app.StatusCounts{S2xx: 3}},
			Connections: app.ConnCounts{Accepted: 3, Closed: 3, ClosedByClientEOF: 2, ClosedByServer: 1}},
		{Pod: "b", Traffic: app.RequestCounts{Received: 2, Written: app.StatusCounts{S5xx: 2}}},
	}
	got := Since(before, after)
	want := []app.Counts{
		{Pod: "a", Traffic: app.RequestCounts{Received: 10, Written: app.StatusCounts{S2xx: 9}, Unanswered: 1},
			Probes:      app.RequestCounts{Received: 3, Written: app.StatusCounts{S2xx: 3}},
			Connections: app.ConnCounts{Accepted: 2, Closed: 2, ClosedByClientEOF: 1, ClosedByServer: 1}},
		after[1],
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Since\n got %+v\nwant %+v", got, want)
	}

	path := filepath.Join(t.TempDir(), "gt.json")
	if err := Write(path, File{Source: "sim", BeforeLoad: before, Pods: got}); err != nil {
		t.Fatal(err)
	}
	f, err := Read(path)
	if err != nil || f.Schema != Schema || !reflect.DeepEqual(f.Pods, want) || !reflect.DeepEqual(f.BeforeLoad, before) {
		t.Errorf("read back %+v, %v", f, err)
	}
}

func TestCompareService(t *testing.T) {
	r, pods := agreeing() // 3 resets reached no pod
	if ms := CompareService(r, pods, Service{Accepted: 10, DialFailed: 2, AfterPodClosed: 1}); len(ms) != 0 {
		t.Errorf("agreeing: %s", Format(ms))
	}
	// The resets Compare alone cannot miss are seen with the Service's count.
	r.Totals.Outcomes["reset"]--
	r.Totals.Attempts--
	if ms := Compare(r, pods); len(ms) != 0 {
		t.Errorf("without the Service: %s", Format(ms))
	}
	ms := CompareService(r, pods, Service{Accepted: 10, DialFailed: 2, AfterPodClosed: 1})
	if len(ms) != 1 || ms[0].Check != "unrouted" {
		t.Errorf("with the Service: %s", Format(ms))
	}
}

func TestWithoutPreflight(t *testing.T) {
	pods := []app.Counts{
		{Pod: "a", Traffic: app.RequestCounts{Received: 5, Written: app.StatusCounts{S2xx: 4, S5xx: 1}}},
		{Pod: "b", Traffic: app.RequestCounts{Received: 3, Written: app.StatusCounts{S2xx: 3}}},
	}
	for _, tc := range []struct {
		name     string
		pre      *report.Preflight
		ok       bool
		received int64
		written  app.StatusCounts
	}{
		{"none", nil, true, 5, app.StatusCounts{S2xx: 4, S5xx: 1}},
		{"a 200 on a", &report.Preflight{Status: 200, Pod: "a"}, true, 4, app.StatusCounts{S2xx: 3, S5xx: 1}},
		{"a 503 on a", &report.Preflight{Status: 503, Pod: "a"}, true, 4, app.StatusCounts{S2xx: 4}},
		{"a pod not counted", &report.Preflight{Status: 200, Pod: "c"}, false, 5, app.StatusCounts{S2xx: 4, S5xx: 1}},
	} {
		r := &report.Result{Run: report.Run{Preflight: tc.pre}}
		got, ok := WithoutPreflight(r, pods)
		if ok != tc.ok || got[0].Traffic.Received != tc.received || got[0].Traffic.Written != tc.written || got[1] != pods[1] {
			t.Errorf("%s: ok %v, pod a %+v, pod b %+v", tc.name, ok, got[0].Traffic, got[1].Traffic)
		}
	}
	if pods[0].Traffic.Received != 5 {
		t.Fatal("WithoutPreflight changed its input")
	}
}
