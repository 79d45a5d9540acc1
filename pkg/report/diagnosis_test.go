package report

import (
	"strings"
	"testing"

	"github.com/rolltest/rolltest/pkg/rollout"
)

// TestTransitionInBucket: a bucket of merged seconds holds a pod
// transition if any of its seconds does.
func TestTransitionInBucket(t *testing.T) {
	tr := map[int]bool{99: true, 100: true, 101: true}
	for _, c := range []struct {
		t, w int
		want bool
	}{{60, 40, true}, {60, 39, false}, {102, 60, false}, {100, 1, true}, {98, 1, false}, {0, MaxRunSeconds, true}} {
		if got := transitionIn(tr, c.t, c.w); got != c.want {
			t.Errorf("[%d, +%d): %v, want %v", c.t, c.w, got, c.want)
		}
	}
}

// TestRolloutFailedNamesStuckPods: a failed rollout's hint says, per new
// pod that never became Ready, what the driver last saw of it.
func TestRolloutFailedNamesStuckPods(t *testing.T) {
	r := &Result{Rollout: &Rollout{Failed: true, Reason: `deployment "web" exceeded its progress deadline`, Events: []rollout.Event{
		{Kind: rollout.EventRolloutFailed, Message: `deployment "web" exceeded its progress deadline`},
		{Kind: rollout.EventPodStuck, Pod: "web-new-c", Message: "container app waiting: ErrImageNeverPull"},
	}}}
	h := rolloutFailedHint(r)
	if h == nil || len(h.Evidence) != 1 || h.Evidence[0] != "new pod web-new-c, not Ready: container app waiting: ErrImageNeverPull" || !strings.Contains(h.Fix, "kubectl describe pod") {
		t.Fatalf("hint %+v", h)
	}
	r.Rollout.Events = r.Rollout.Events[:1]
	if h := rolloutFailedHint(r); h == nil || len(h.Evidence) != 0 || !strings.Contains(h.Fix, "rollout status") {
		t.Fatalf("hint without stuck pods %+v", h)
	}
}

// TestHTTP2CloseHints: on HTTP/2, requests lost with a terminating pod's
// connection are explained by how the connection ended: without GOAWAY,
// or after a GOAWAY that promised to finish them. HTTP/1.1 keeps its own
// hint.
func TestHTTP2CloseHints(t *testing.T) {
	term := 10.0
	run := func(protocol string, details ...string) []string {
		r := &Result{Config: Config{Protocol: protocol}, Pods: []Pod{{ID: "web-a", Name: "web-a", Lifecycle: &Lifecycle{TerminatingS: &term}}}}
		for i, d := range details {
			r.Failures.Records = append(r.Failures.Records, Failure{AtS: 11 + float64(i), Outcome: "reset", Detail: d, Pod: "web-a", ConnRequests: 5})
		}
		Diagnose(r)
		var codes []string
		for _, h := range r.Diagnosis {
			codes = append(codes, h.Code) // failures_by_pod too: the close hints explain these failures
		}
		return codes
	}
	for _, tc := range []struct {
		name     string
		protocol string
		details  []string
		want     string
	}{
		{"h2c closed", "h2c", []string{"read frame: connection reset by peer"}, HintHTTP2CloseWithoutGoAway},
		{"grpc after goaway", "grpc", []string{"read frame after GOAWAY (last stream 9, NO_ERROR): EOF"}, HintHTTP2GoAwayWithoutDrain},
		{"both", "h2", []string{"read frame: EOF", "read frame after GOAWAY (last stream 9, NO_ERROR): EOF"}, HintHTTP2CloseWithoutGoAway + "," + HintHTTP2GoAwayWithoutDrain},
		{"http/1.1", "http/1.1", []string{"read: connection reset by peer"}, HintNoDrain},
	} {
		if got := strings.Join(run(tc.protocol, tc.details...), ","); got != tc.want {
			t.Errorf("%s: hints %s, want %s", tc.name, got, tc.want)
		}
	}
}

// TestMultiplexPinningHint: a pinned run with many streams per connection
// is explained by multiplexing, not keep-alive.
func TestMultiplexPinningHint(t *testing.T) {
	r := &Result{Config: Config{Protocol: "grpc", Streams: 10, Connections: 2, KeepAlive: true}, Totals: Totals{Requests: 1000},
		Pods: []Pod{{ID: "a", OK: 500}, {ID: "b", OK: 500}}}
	for s := range 10 {
		pod := "a"
		if s >= 5 {
			pod = "b"
		}
		r.Series = append(r.Series, Second{T: s, Requests: 100, ByPod: map[string]int64{pod: 100}})
	}
	h := pinningHint(r)
	if h == nil || h.Code != HintHTTP2MultiplexPinning || !strings.Contains(h.Detail, "--streams 10") {
		t.Fatalf("hint %+v, want %s", h, HintHTTP2MultiplexPinning)
	}
	r.Config.Streams, r.Config.Protocol = 1, "http/1.1"
	if h := pinningHint(r); h == nil || h.Code != HintKeepAlivePinning {
		t.Fatalf("hint %+v, want %s", h, HintKeepAlivePinning)
	}
}
