package report

import "testing"

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
