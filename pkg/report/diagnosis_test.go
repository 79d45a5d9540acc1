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
