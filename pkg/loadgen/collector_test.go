package loadgen

import (
	"testing"
	"time"
)

// TestCollectorFinalizesBehindTheHorizon: seconds older than the horizon
// give their histogram back, their quantiles stay, and counts arriving late
// are still added.
func TestCollectorFinalizesBehindTheHorizon(t *testing.T) {
	c := newCollector(1, 2*time.Second) // horizon: 3 seconds
	owner := make(chan *secSlot, 100)
	send := func(sec int, latUs int64, n int) {
		s := &secSlot{owner: owner}
		s.reset(sec)
		for range n {
			s.counts.Outcomes[OK]++
			s.lat.record(latUs)
		}
		c.merge(s)
	}
	for sec := range 10 {
		send(sec, int64(100*(sec+1)), 5)
	}
	if c.final != 9-3 {
		t.Fatalf("finalized below %d, want 6", c.final)
	}
	for i := 0; i < c.final; i++ {
		if c.secs[i].lat != nil {
			t.Fatalf("second %d still holds its histogram", i)
		}
	}
	if len(c.spare) == 0 {
		t.Fatal("no histogram was reused: every second allocated its own")
	}
	send(0, 999_999, 1) // a straggler for a finalized second
	c.finalize(len(c.secs))
	secs := c.seconds()
	if secs[0].Requests() != 6 || secs[0].Max != 100*time.Microsecond {
		t.Fatalf("second 0: %d requests, max %v; want 6 and the max taken at finalization", secs[0].Requests(), secs[0].Max)
	}
	if secs[9].P50 != 1000*time.Microsecond || secs[9].Max != 1000*time.Microsecond {
		t.Fatalf("second 9: p50 %v max %v", secs[9].P50, secs[9].Max)
	}
}
