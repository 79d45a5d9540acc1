package loadgen

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

var mergeT0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// hist returns a latency histogram holding vals (µs).
func hist(vals ...int64) *hdrhistogram.Histogram {
	h := newHistogram(10_000_000)
	for _, v := range vals {
		_ = h.RecordValue(v)
	}
	return h
}

// cnt builds Counts: ok requests, 5xx requests, and retried resets.
func cnt(ok, http5xx, retried int64) Counts {
	var c Counts
	c.Outcomes[OK], c.Outcomes[HTTP5xx] = ok, http5xx
	c.Retried, c.RetriedOutcomes[Reset] = retried, retried
	return c
}

func sec(start, width int, c Counts, byPod map[int]int64, failed map[int]int64, p50, p99 time.Duration) SecondStats {
	return SecondStats{Start: start, Width: width, Counts: c, ByPod: byPod, FailedByPod: failed, P50: p50, P90: p50, P99: p99, Max: p99}
}

var (
	podA = PodIdentity{Pod: "web-a", IP: "10.0.0.1", Version: "v1"}
	podB = PodIdentity{Pod: "web-b", IP: "10.0.0.2", Version: "v1"}
	podC = PodIdentity{Pod: "web-c", IP: "10.0.0.3", Version: "v2"}
)

// statsA: 3 s of load on pods A and B, one failure each on B and the
// unknown pod, a rollout phase from 1.5 s.
func statsA() *Stats {
	unknown := PodStats{Counts: cnt(0, 1, 0), First: 2200 * time.Millisecond, Last: 2200 * time.Millisecond, FirstOK: -1}
	unknown.AttributedBy[AttrNone] = 1
	a := PodStats{PodIdentity: podA, Counts: cnt(4, 0, 1), First: 0, Last: 2 * time.Second, FirstOK: 0}
	a.AttributedBy[AttrResponse] = 4
	b := PodStats{PodIdentity: podB, Counts: cnt(1, 1, 0), First: 500 * time.Millisecond, Last: 2500 * time.Millisecond, FirstOK: 2500 * time.Millisecond}
	b.AttributedBy[AttrConnection] = 1
	b.AttributedBy[AttrResponse] = 1
	return &Stats{
		Start: mergeT0, SendEnd: 2500 * time.Millisecond, End: 2600 * time.Millisecond,
		Counts:      cnt(5, 2, 1),
		Latency:     hist(1000, 1000, 1000, 1000, 1000, 2000),
		StatusCodes: map[int]int64{200: 5, 503: 1},
		LateSends:   1, MaxSendDelay: 2 * time.Millisecond, BehindSends: 0,
		ConnsOpened: 3, PeakConns: 2, MaxConns: 10, PoolWaits: 1, BytesIn: 700, BytesOut: 300,
		Phases: []PhaseStats{
			{Name: "baseline", Start: 0, End: 1500 * time.Millisecond, Counts: cnt(3, 1, 1), Latency: hist(1000, 1000, 1000)},
			{Name: "rollout", Start: 1500 * time.Millisecond, End: 2600 * time.Millisecond, Counts: cnt(2, 1, 0), Latency: hist(1000, 1000, 2000)},
		},
		Pods: []PodStats{unknown, a, b},
		Seconds: []SecondStats{
			sec(0, 1, cnt(2, 1, 1), map[int]int64{1: 2, 2: 1}, map[int]int64{2: 1}, time.Millisecond, time.Millisecond),
			sec(1, 1, cnt(1, 0, 0), map[int]int64{1: 1}, nil, time.Millisecond, time.Millisecond),
			sec(2, 1, cnt(2, 1, 0), map[int]int64{0: 1, 1: 1, 2: 1}, map[int]int64{0: 1}, time.Millisecond, 2*time.Millisecond),
		},
		Failures: []FailureRecord{
			{Seq: 0, Attempt: 1, Retried: true, Intended: 0, Outcome: Reset, Pod: 1, AttributedBy: AttrConnection},
			{Seq: 2, Attempt: 1, Intended: 500 * time.Millisecond, Start: 510 * time.Millisecond, Outcome: HTTP5xx, Status: 503, Pod: 2, AttributedBy: AttrConnection},
			{Seq: 8, Attempt: 1, Intended: 2200 * time.Millisecond, Outcome: Reset, Pod: 0},
		},
		FailureCap: 100,
	}
}

// statsB: the other shard over the same seconds, on pods C and B (in
// that order: its indexes differ from statsA's).
func statsB() *Stats {
	c := PodStats{PodIdentity: podC, Counts: cnt(2, 0, 0), First: 250 * time.Millisecond, Last: 1250 * time.Millisecond, FirstOK: 250 * time.Millisecond}
	c.AttributedBy[AttrResponse] = 2
	b := PodStats{PodIdentity: podB, Counts: cnt(2, 1, 0), First: 750 * time.Millisecond, Last: 2750 * time.Millisecond, FirstOK: 750 * time.Millisecond}
	b.AttributedBy[AttrResponse] = 3
	return &Stats{
		Start: mergeT0, SendEnd: 2750 * time.Millisecond, End: 2900 * time.Millisecond,
		Counts:      cnt(4, 1, 0),
		Latency:     hist(3000, 3000, 3000, 3000, 9000),
		StatusCodes: map[int]int64{200: 4, 500: 1},
		LateSends:   2, MaxSendDelay: 5 * time.Millisecond, BehindSends: 1,
		ConnsOpened: 2, PeakConns: 2, MaxConns: 10, PoolWaits: 0, BytesIn: 500, BytesOut: 200,
		Phases: []PhaseStats{
			{Name: "baseline", Start: 0, End: 1400 * time.Millisecond, Counts: cnt(3, 0, 0), Latency: hist(3000, 3000, 3000)},
			{Name: "rollout", Start: 1400 * time.Millisecond, End: 2900 * time.Millisecond, Counts: cnt(1, 1, 0), Latency: hist(3000, 9000)},
		},
		Pods: []PodStats{{FirstOK: -1}, c, b},
		Seconds: []SecondStats{
			sec(0, 1, cnt(2, 0, 0), map[int]int64{1: 1, 2: 1}, nil, 3*time.Millisecond, 3*time.Millisecond),
			sec(1, 1, cnt(1, 0, 0), map[int]int64{1: 1}, nil, 3*time.Millisecond, 3*time.Millisecond),
			sec(2, 1, cnt(1, 1, 0), map[int]int64{2: 2}, map[int]int64{2: 1}, 3*time.Millisecond, 9*time.Millisecond),
		},
		Failures: []FailureRecord{
			{Seq: 9, Attempt: 1, Intended: 2250 * time.Millisecond, Outcome: HTTP5xx, Status: 500, Pod: 2, AttributedBy: AttrResponse},
		},
		FailureCap: 100,
	}
}

// mergedAB is statsA merged with statsB, worked out by hand.
func mergedAB() *Stats {
	want := statsA()
	b := statsB()
	want.SendEnd, want.End = 2750*time.Millisecond, 2900*time.Millisecond
	want.Counts = cnt(9, 3, 1)
	want.StatusCodes = map[int]int64{200: 9, 503: 1, 500: 1}
	want.LateSends, want.MaxSendDelay, want.BehindSends = 3, 5*time.Millisecond, 1
	want.ConnsOpened, want.PeakConns, want.MaxConns, want.PoolWaits, want.BytesIn, want.BytesOut = 5, 4, 20, 1, 1200, 500
	want.Phases[0].End = 1400 * time.Millisecond
	want.Phases[0].Counts = cnt(6, 1, 1)
	want.Phases[1].Start, want.Phases[1].End = 1400*time.Millisecond, 2900*time.Millisecond
	want.Phases[1].Counts = cnt(3, 2, 0)
	pb := &want.Pods[2] // B: A's index 2, B's index 2
	pb.Counts = cnt(3, 2, 0)
	pb.Last, pb.FirstOK = 2750*time.Millisecond, 750*time.Millisecond
	pb.AttributedBy[AttrResponse] = 4
	want.Pods = append(want.Pods, b.Pods[1]) // C: new, index 3
	want.Seconds = []SecondStats{
		// p50 weighted by requests: (3×1 ms + 2×3 ms) / 5
		sec(0, 1, cnt(4, 1, 1), map[int]int64{1: 2, 2: 2, 3: 1}, map[int]int64{2: 1}, 1800*time.Microsecond, 3*time.Millisecond),
		sec(1, 1, cnt(2, 0, 0), map[int]int64{1: 1, 3: 1}, nil, 2*time.Millisecond, 3*time.Millisecond),
		sec(2, 1, cnt(3, 2, 0), map[int]int64{0: 1, 1: 1, 2: 3}, map[int]int64{0: 1, 2: 1}, 1800*time.Microsecond, 9*time.Millisecond),
	}
	want.Failures = append(want.Failures[:2], FailureRecord{Seq: 8, Attempt: 1, Intended: 2200 * time.Millisecond, Outcome: Reset, Pod: 0},
		FailureRecord{Seq: 9, Attempt: 1, Intended: 2250 * time.Millisecond, Outcome: HTTP5xx, Status: 500, Pod: 2, AttributedBy: AttrResponse})
	return want
}

// latencies are a Stats' histogram totals: the run's, then each phase's.
func latencies(st *Stats) []int64 {
	total := func(h *hdrhistogram.Histogram) int64 {
		if h == nil {
			return -1
		}
		return h.TotalCount()
	}
	out := []int64{total(st.Latency)}
	for _, p := range st.Phases {
		out = append(out, total(p.Latency))
	}
	return out
}

// withoutHistograms copies st with its histograms left out, for
// reflect.DeepEqual; latencies compares them.
func withoutHistograms(st *Stats) Stats {
	c := *st
	c.Latency = nil
	c.Phases = append([]PhaseStats(nil), st.Phases...)
	for i := range c.Phases {
		c.Phases[i].Latency = nil
	}
	return c
}

func TestStatsMerge(t *testing.T) {
	for _, tc := range []struct {
		name    string
		a, b    func() *Stats
		want    func() *Stats
		wantLat []int64
		wantErr string
	}{
		{
			name: "same start: pods re-keyed by identity, everything adds up",
			a:    statsA, b: statsB, want: mergedAB,
			wantLat: []int64{11, 6, 5},
		},
		{
			name: "into a zero Stats: a copy",
			a:    func() *Stats { return &Stats{} }, b: statsA, want: statsA,
			wantLat: []int64{6, 3, 3},
		},
		{
			name: "the later run is re-based: 2 s later, 2 seconds later",
			a:    statsA,
			b: func() *Stats {
				b := statsB()
				b.Start = mergeT0.Add(-2 * time.Second) // b first: a moves
				return b
			},
			want: func() *Stats {
				want := mergedAB()
				want.Start = mergeT0.Add(-2 * time.Second)
				a, b := statsA(), statsB()
				want.SendEnd, want.End = a.SendEnd+2*time.Second, a.End+2*time.Second
				want.Phases[0].Start, want.Phases[0].End = 0, b.Phases[1].Start
				want.Phases[1].Start, want.Phases[1].End = b.Phases[1].Start, want.End
				// A's pods move 2 s; B's merge as they are.
				for i, p := range a.Pods {
					q := &want.Pods[i]
					q.First, q.Last, q.FirstOK = p.First+2*time.Second, p.Last+2*time.Second, p.FirstOK
					if p.FirstOK >= 0 {
						q.FirstOK += 2 * time.Second
					}
				}
				want.Pods[2].First, want.Pods[2].FirstOK = b.Pods[2].First, b.Pods[2].FirstOK
				// Seconds 0-2 are B's, 2-4 A's: they overlap in second 2.
				want.Seconds = []SecondStats{
					sec(0, 1, cnt(2, 0, 0), map[int]int64{3: 1, 2: 1}, nil, 3*time.Millisecond, 3*time.Millisecond),
					sec(1, 1, cnt(1, 0, 0), map[int]int64{3: 1}, nil, 3*time.Millisecond, 3*time.Millisecond),
					sec(2, 1, cnt(3, 2, 1), map[int]int64{2: 3, 1: 2}, map[int]int64{2: 2}, 1800*time.Microsecond, 9*time.Millisecond),
					sec(3, 1, cnt(1, 0, 0), map[int]int64{1: 1}, nil, time.Millisecond, time.Millisecond),
					sec(4, 1, cnt(2, 1, 0), map[int]int64{0: 1, 1: 1, 2: 1}, map[int]int64{0: 1}, time.Millisecond, 2*time.Millisecond),
				}
				for i := range want.Failures {
					if f := &want.Failures[i]; f.Seq != 9 {
						f.Intended += 2 * time.Second
						f.Start += 2 * time.Second
					}
				}
				return want
			},
			wantLat: []int64{11, 6, 5},
		},
		{
			name: "buckets are never split: the merged entry spans both",
			a: func() *Stats {
				return &Stats{Start: mergeT0, Seconds: []SecondStats{
					sec(0, 1, cnt(1, 0, 0), nil, nil, 0, 0),
					sec(1, 4, cnt(4, 0, 0), nil, nil, 0, 0), // 1-4
					sec(5, 1, cnt(1, 0, 0), nil, nil, 0, 0),
					sec(6, 1, cnt(1, 0, 0), nil, nil, 0, 0),
				}}
			},
			b: func() *Stats {
				return &Stats{Start: mergeT0, Seconds: []SecondStats{
					sec(0, 3, cnt(30, 0, 0), nil, nil, 0, 0), // 0-2
					sec(3, 3, cnt(30, 0, 0), nil, nil, 0, 0), // 3-5
					sec(6, 1, cnt(10, 0, 0), nil, nil, 0, 0),
				}}
			},
			want: func() *Stats {
				return &Stats{Start: mergeT0, Pods: []PodStats{{FirstOK: -1}}, Seconds: []SecondStats{
					sec(0, 6, cnt(66, 0, 0), nil, nil, 0, 0),
					sec(6, 1, cnt(11, 0, 0), nil, nil, 0, 0),
				}}
			},
		},
		{
			name: "a gap in both series becomes empty seconds; literal entries without Start take their index",
			a: func() *Stats {
				return &Stats{Start: mergeT0, Seconds: []SecondStats{{Counts: cnt(1, 0, 0)}}}
			},
			b: func() *Stats {
				return &Stats{Start: mergeT0.Add(3 * time.Second), Seconds: []SecondStats{{Counts: cnt(2, 0, 0)}, {Counts: cnt(3, 0, 0)}}}
			},
			want: func() *Stats {
				// b's offsets (all 0 here) move 3 s.
				return &Stats{Start: mergeT0, SendEnd: 3 * time.Second, End: 3 * time.Second, Pods: []PodStats{{FirstOK: -1}}, Seconds: []SecondStats{
					{Start: 0, Width: 1, Counts: cnt(1, 0, 0)}, {Start: 1, Width: 1}, {Start: 2, Width: 1},
					{Start: 3, Width: 1, Counts: cnt(2, 0, 0)}, {Start: 4, Width: 1, Counts: cnt(3, 0, 0)},
				}}
			},
		},
		{
			name: "the failure cap holds; what it drops counts as omitted",
			a: func() *Stats {
				a := statsA()
				a.FailureCap, a.FailuresOmitted = 3, 2
				return a
			},
			b: func() *Stats {
				b := statsB()
				b.FailureCap, b.FailuresOmitted = 3, 1
				return b
			},
			want: func() *Stats {
				want := mergedAB()
				want.FailureCap, want.FailuresOmitted = 3, 2+1+1
				want.Failures = want.Failures[:3]
				return want
			},
			wantLat: []int64{11, 6, 5},
		},
		{
			name: "one phase list may be a prefix of the other (an interrupted run)",
			a:    statsA,
			b: func() *Stats {
				b := statsB()
				b.Phases = b.Phases[:1]
				return b
			},
			want: func() *Stats {
				want := mergedAB()
				a := statsA()
				want.Phases[1].Start, want.Phases[1].Counts = a.Phases[1].Start, a.Phases[1].Counts
				want.Phases[0].End = a.Phases[1].Start
				return want
			},
			wantLat: []int64{11, 6, 3},
		},
		{
			name:    "starts half a second apart cannot align their seconds",
			a:       statsA,
			b:       func() *Stats { b := statsB(); b.Start = b.Start.Add(500 * time.Millisecond); return b },
			wantErr: ErrUnaligned.Error(),
		},
		{
			name:    "different phases",
			a:       statsA,
			b:       func() *Stats { b := statsB(); b.Phases[1].Name = "settle"; return b },
			wantErr: `phase 1 is "rollout" in one run and "settle" in the other`,
		},
		{
			name:    "a pod index outside the pods",
			a:       statsA,
			b:       func() *Stats { b := statsB(); b.Seconds[1].ByPod[7] = 1; return b },
			wantErr: "second 1 counts pod 7 of 3",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, b := tc.a(), tc.b()
			err := got.Merge(b)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one saying %q", err, tc.wantErr)
				}
				if !reflect.DeepEqual(withoutHistograms(got), withoutHistograms(tc.a())) || !reflect.DeepEqual(latencies(got), latencies(tc.a())) {
					t.Fatal("a failed merge changed its receiver")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := tc.want(); !reflect.DeepEqual(withoutHistograms(got), withoutHistograms(want)) {
				t.Errorf("merged:\n%s\nwant:\n%s", dump(got), dump(want))
			}
			if tc.wantLat != nil && !reflect.DeepEqual(latencies(got), tc.wantLat) {
				t.Errorf("histogram totals %v, want %v", latencies(got), tc.wantLat)
			}
			if !reflect.DeepEqual(withoutHistograms(b), withoutHistograms(tc.b())) || !reflect.DeepEqual(latencies(b), latencies(tc.b())) {
				t.Error("Merge changed its argument")
			}
		})
	}
}

// dump prints a Stats field by field, for a readable diff.
func dump(st *Stats) string {
	var b strings.Builder
	c := withoutHistograms(st)
	fmt.Fprintf(&b, "start %v send-end %v end %v counts %v\n", c.Start, c.SendEnd, c.End, c.Counts)
	fmt.Fprintf(&b, "status %v late %d delay %v behind %d conns %d peak %d max %d waits %d bytes %d/%d cap %d omitted %d\n",
		c.StatusCodes, c.LateSends, c.MaxSendDelay, c.BehindSends, c.ConnsOpened, c.PeakConns, c.MaxConns, c.PoolWaits, c.BytesIn, c.BytesOut, c.FailureCap, c.FailuresOmitted)
	for _, p := range c.Phases {
		fmt.Fprintf(&b, "phase %+v\n", p)
	}
	for _, p := range c.Pods {
		fmt.Fprintf(&b, "pod %+v\n", p)
	}
	for _, s := range c.Seconds {
		fmt.Fprintf(&b, "second %+v\n", s)
	}
	for _, f := range c.Failures {
		fmt.Fprintf(&b, "failure %+v\n", f)
	}
	return b.String()
}

// TestStatsMergeShares: merged Stats share no memory with their inputs,
// so that changing one (a further merge) leaves the other as it was.
func TestStatsMergeShares(t *testing.T) {
	var total Stats
	a := statsA()
	if err := total.Merge(a); err != nil {
		t.Fatal(err)
	}
	if err := total.Merge(statsB()); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(withoutHistograms(a), withoutHistograms(statsA())) || !reflect.DeepEqual(latencies(a), latencies(statsA())) {
		t.Fatal("merging into the copy changed the original")
	}
	if !reflect.DeepEqual(withoutHistograms(&total), withoutHistograms(mergedAB())) {
		t.Fatalf("zero + A + B:\n%s\nwant A + B:\n%s", dump(&total), dump(mergedAB()))
	}
	if !errors.Is(total.Merge(&Stats{Start: mergeT0.Add(time.Millisecond)}), ErrUnaligned) {
		t.Fatal("a misaligned merge did not say ErrUnaligned")
	}
}
