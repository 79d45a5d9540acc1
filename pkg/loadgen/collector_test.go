package loadgen

import (
	"context"
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
		if c.live[i-c.liveBase].lat != nil {
			t.Fatalf("second %d still holds its histogram", i)
		}
	}
	if len(c.spare) == 0 {
		t.Fatal("no histogram was reused: every second allocated its own")
	}
	send(0, 999_999, 1) // a straggler for a finalized second
	c.finalize(c.liveBase + len(c.live))
	secs := c.seconds()
	if secs[0].Requests() != 6 || secs[0].Max != 100*time.Microsecond {
		t.Fatalf("second 0: %d requests, max %v; want 6 and the max taken at finalization", secs[0].Requests(), secs[0].Max)
	}
	if secs[9].P50 != 1000*time.Microsecond || secs[9].Max != 1000*time.Microsecond {
		t.Fatalf("second 9: p50 %v max %v", secs[9].P50, secs[9].Max)
	}
}

// TestCollectorDownSamples: with a small resolution, seconds past the head,
// outside the tail and away from phase marks are merged into aligned
// buckets; every count is conserved exactly, per pod too, and late slots
// and pod moves reach the bucket that holds their second.
func TestCollectorDownSamples(t *testing.T) {
	c := newCollector(1, 0) // horizon: 1 second
	c.res = seriesResolution{head: 10, tail: 5, coarse: 4, pinBefore: 2, pinAfter: 3}
	c.marks = func() []time.Duration { return []time.Duration{30 * time.Second} } // 1 s for [28, 33)
	owner := make(chan *secSlot, 100)
	var want Counts
	wantPod := map[int]int64{}
	wantFailed := map[int]int64{}
	var wantLate int64
	send := func(sec int, ok, failed int64, pod int32, latUs int64) {
		s := &secSlot{owner: owner}
		s.reset(sec)
		s.counts.Outcomes[OK] = ok
		s.counts.Outcomes[HTTP5xx] = failed
		if failed > 0 {
			s.counts.Retried = 1
			s.counts.RetriedOutcomes[Reset] = 1
		}
		s.late = 1
		for range ok + failed {
			s.lat.record(latUs)
		}
		s.pods = append(s.pods, secPod{pod: pod, requests: ok + failed, failed: failed})
		want.add(&s.counts)
		wantPod[int(pod)] += ok + failed
		wantFailed[int(pod)] += failed
		wantLate++
		c.merge(s)
	}
	const n = 50
	for sec := range n {
		send(sec, int64(10+sec%3), int64(sec%2), int32(1+sec%3), int64(100*(sec+1)))
	}
	// A straggler for a second long since merged into a bucket, failed and
	// unattributed, then moved to pod 2.
	send(13, 0, 1, 0, 5)
	mv := &secSlot{owner: owner, moves: []podMove{{sec: 13, pod: 2}}}
	mv.reset(n - 1)
	mv.moves = []podMove{{sec: 13, pod: 2}}
	c.merge(mv)
	wantPod[0]--
	wantFailed[0]--
	wantPod[2]++
	wantFailed[2]++
	c.finalize(c.liveBase + len(c.live))

	secs := c.seconds()
	var got Counts
	gotPod := map[int]int64{}
	gotFailed := map[int]int64{}
	var gotLate int64
	next := 0
	widths := map[int]int{}
	for _, s := range secs {
		if s.Start != next || s.Width < 1 {
			t.Fatalf("entry at %d width %d: want contiguous entries from %d", s.Start, s.Width, next)
		}
		next += s.Width
		widths[s.Start] = s.Width
		got.add(&s.Counts)
		gotLate += s.LateSends
		for p, v := range s.ByPod {
			gotPod[p] += v
		}
		for p, v := range s.FailedByPod {
			gotFailed[p] += v
		}
	}
	if next != n {
		t.Fatalf("series covers %d seconds, want %d", next, n)
	}
	if got != want || gotLate != wantLate {
		t.Fatalf("counts not conserved:\n got %+v late %d\nwant %+v late %d", got, gotLate, want, wantLate)
	}
	for p := range 4 {
		if gotPod[p] != wantPod[p] || gotFailed[p] != wantFailed[p] {
			t.Fatalf("pod %d: %d requests %d failed, want %d %d", p, gotPod[p], gotFailed[p], wantPod[p], wantFailed[p])
		}
	}
	// Head [0,10) at 1 s; [10,28) in buckets aligned to 4 (10-11, 12-15,
	// ..., 24-27); [28,33) pinned; [33,45) buckets (33-35, 36-39, ...);
	// the tail from 45 on at 1 s.
	wantWidths := map[int]int{10: 2, 12: 4, 16: 4, 20: 4, 24: 4, 33: 3, 36: 4, 40: 4, 44: 1}
	for s := 0; s < n; s++ {
		w, ok := widths[s]
		if want, bucket := wantWidths[s]; bucket {
			if w != want {
				t.Fatalf("entry at %d: width %d, want %d (%v)", s, w, want, widths)
			}
		} else if ok && w != 1 {
			t.Fatalf("entry at %d: width %d, want 1 (%v)", s, w, widths)
		}
	}
	// Bucket 12-15: seconds with latencies 1300..1600 µs, p99 and max the
	// largest, p50 their request-weighted mean.
	for _, s := range secs {
		if s.Start == 12 {
			if s.Max < 1600*time.Microsecond-50*time.Microsecond || s.P99 < s.P50 || s.P50 < 1300*time.Microsecond || s.P50 > 1600*time.Microsecond {
				t.Fatalf("bucket 12: p50 %v p99 %v max %v", s.P50, s.P99, s.Max)
			}
		}
	}
}

// TestPhaseStartsPinTheSeries: the phases marked during the run (the
// rollout, its end) are what the collector keeps at 1 s around; the first
// phase, named before the run, is not.
func TestPhaseStartsPinTheSeries(t *testing.T) {
	e, err := New(context.Background(), Config{Target: "http://127.0.0.1:1/", Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	e.MarkPhase("baseline")
	if got := e.phaseStarts(); got != nil {
		t.Fatalf("before the run: %v", got)
	}
	e.mu.Lock()
	e.begun, e.start = true, time.Now().Add(-2*time.Hour)
	e.mu.Unlock()
	e.MarkPhase("rollout")
	got := e.phaseStarts()
	if len(got) != 1 || got[0] < 2*time.Hour || got[0] > 2*time.Hour+time.Minute {
		t.Fatalf("phase starts %v, want one at about 2h", got)
	}
	c := newCollector(1, time.Second)
	if !c.fine(7200-seriesPinBefore, got) || !c.fine(7200+seriesPinAfter-1, got) || c.fine(7200+seriesPinAfter+1, got) || c.fine(7200-seriesPinBefore-1, got) {
		t.Fatal("the pinned window around the rollout is not [start-5m, start+30m)")
	}
	if !c.fine(seriesHead-1, nil) || c.fine(seriesHead, nil) {
		t.Fatal("the first hour is not kept at 1 s")
	}
}
