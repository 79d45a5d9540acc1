package loadgen

import (
	"errors"
	"fmt"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// ErrUnaligned is why Merge refused two Stats: their time bases are not a
// whole number of seconds apart, so their per-second series cannot be
// added second by second. Engines given the same Config.Start are always
// aligned.
var ErrUnaligned = errors.New("loadgen: the runs' starts are not a whole number of seconds apart")

// Merge adds o, the Stats of another engine, into s, as if one engine had
// measured both: engines that shared a Config.Start and split a schedule
// with Config.Shard merge into exactly the Stats (counts, pods, phases,
// seconds, failures) one engine sending the whole schedule would have
// produced. o is not changed and shares no memory with s afterwards; a
// zero Stats takes o whole, so Stats from any number of engines merge one
// at a time.
//
// How each part merges:
//
//   - Time: every offset (phases, pods' First/Last/FirstOK, failures,
//     seconds, SendEnd, End) is re-based onto the earlier Start. The two
//     Starts must be a whole number of seconds apart (ErrUnaligned), so
//     that second n of one is a second of the other.
//   - Pods are matched by PodIdentity; o's pods new to s are appended, and
//     every pod index in o (seconds' ByPod, failures) is re-keyed. Pods[0],
//     the unknown pod, stays Pods[0].
//   - Counts, status codes, late and behind sends, pool waits, bytes and
//     connections opened add up; MaxSendDelay is the larger. PeakConns and
//     MaxConns add up too: engines that run at once hold their
//     connections at once, so the sum is the bound the union had (and its
//     peak, when the engines' peaks coincided). ServerMaxStreams is the
//     lower of the two that are set.
//   - Histograms (run and phase latency) merge exactly.
//   - Phases are matched by position and must have the same names, one
//     list possibly a prefix of the other (a run interrupted earlier);
//     otherwise Merge returns an error. A phase starts when it started
//     first in either, and ends where the next begins.
//   - Seconds: entries of the same second add up. Where either series is
//     compacted into buckets, the merged entry covers the smallest span
//     that both series' entries tile, so every count stays exact. A merged
//     entry's P99 and Max are the largest of its parts', its P50 and P90
//     their mean weighted by requests (exact when only one part has
//     requests; otherwise an approximation, as for buckets).
//   - Targets (a run of Config.Targets) are matched by position and must
//     be the same list (name, method, URL, weight) in both, or absent
//     from both; otherwise Merge returns an error. Their counts add up
//     and their histograms merge exactly.
//   - Failures are ordered by sequence number, attempt and intended time,
//     and capped at the larger FailureCap (none when either has none);
//     records beyond it count as omitted, as o's omitted ones do.
//   - IdentityRule is s's, or o's when s read none: engines of one run
//     share a target and an identity, and settle alike.
//
// On error s is unchanged.
func (s *Stats) Merge(o *Stats) error {
	if o == nil {
		return nil
	}
	empty := s.Start.IsZero()
	start := s.Start
	if empty {
		start = o.Start
	}
	delta := o.Start.Sub(start)
	if delta%time.Second != 0 {
		return fmt.Errorf("%w: %s and %s", ErrUnaligned, start.Format(time.RFC3339Nano), o.Start.Format(time.RFC3339Nano))
	}
	if err := checkPhases(s.Phases, o.Phases); err != nil {
		return err
	}
	if err := o.checkPodRefs(); err != nil {
		return fmt.Errorf("loadgen: merge: %w", err)
	}
	if err := checkTargets(empty, s.Targets, o.Targets); err != nil {
		return err
	}
	if empty {
		s.Start, s.FailureCap = o.Start, o.FailureCap
	}
	if s.IdentityRule == "" {
		s.IdentityRule = o.IdentityRule
	}
	// The earlier Start is the time base: the later Stats' offsets grow.
	shiftS, shiftO := time.Duration(0), delta
	if delta < 0 {
		shiftS, shiftO = -delta, 0
		s.Start = o.Start
	}
	s.shift(shiftS)

	s.Counts.add(&o.Counts)
	s.Latency = mergeHist(s.Latency, o.Latency)
	if len(o.StatusCodes) > 0 && s.StatusCodes == nil {
		s.StatusCodes = make(map[int]int64, len(o.StatusCodes))
	}
	for code, n := range o.StatusCodes {
		s.StatusCodes[code] += n
	}
	s.LateSends += o.LateSends
	s.BehindSends += o.BehindSends
	s.MaxSendDelay = max(s.MaxSendDelay, o.MaxSendDelay)
	s.ConnsOpened += o.ConnsOpened
	s.PeakConns += o.PeakConns
	s.MaxConns += o.MaxConns
	s.PoolWaits += o.PoolWaits
	if o.ServerMaxStreams > 0 && (s.ServerMaxStreams == 0 || o.ServerMaxStreams < s.ServerMaxStreams) {
		s.ServerMaxStreams = o.ServerMaxStreams
	}
	s.BytesIn += o.BytesIn
	s.BytesOut += o.BytesOut
	s.SendEnd = max(s.SendEnd, o.SendEnd+shiftO)
	s.End = max(s.End, o.End+shiftO)

	podMap := s.mergePods(o.Pods, shiftO)
	s.mergePhases(o.Phases, shiftO)
	s.Seconds = mergeSeconds(s.Seconds, o.Seconds, int(shiftO/time.Second), podMap)
	s.mergeFailures(o, shiftO, podMap)
	s.mergeTargets(o.Targets)
	return nil
}

// checkTargets reports whether two runs' targets can merge: the same list,
// or none in either. A zero Stats (empty) takes any.
func checkTargets(empty bool, a, b []TargetStats) error {
	if empty {
		return nil
	}
	if len(a) != len(b) {
		return fmt.Errorf("loadgen: merge: one run sent %d targets and the other %d", len(a), len(b))
	}
	for i := range a {
		x, y := &a[i], &b[i]
		if x.Name != y.Name || x.Method != y.Method || x.URL != y.URL || x.Weight != y.Weight {
			return fmt.Errorf("loadgen: merge: target %d is %s %s (%q, weight %d) in one run and %s %s (%q, weight %d) in the other",
				i+1, x.Method, x.URL, x.Name, x.Weight, y.Method, y.URL, y.Name, y.Weight)
		}
	}
	return nil
}

// mergeTargets adds o's per-target counts and latencies into s's, position
// by position (checkTargets has matched them).
func (s *Stats) mergeTargets(o []TargetStats) {
	if len(o) > 0 && s.Targets == nil {
		s.Targets = make([]TargetStats, len(o))
		for i := range o {
			s.Targets[i] = TargetStats{Name: o[i].Name, Method: o[i].Method, URL: o[i].URL, Weight: o[i].Weight}
		}
	}
	for i := range o {
		s.Targets[i].add(&o[i].Counts)
		s.Targets[i].Latency = mergeHist(s.Targets[i].Latency, o[i].Latency)
	}
}

// checkPhases reports whether two phase lists can merge: the same names
// by position, one possibly longer.
func checkPhases(a, b []PhaseStats) error {
	for i := range min(len(a), len(b)) {
		if a[i].Name != b[i].Name {
			return fmt.Errorf("loadgen: merge: phase %d is %q in one run and %q in the other", i, a[i].Name, b[i].Name)
		}
	}
	return nil
}

// checkPodRefs reports a pod index that points outside s.Pods (index 0,
// the unknown pod, is always valid).
func (s *Stats) checkPodRefs() error {
	n := max(len(s.Pods), 1)
	for _, sec := range s.Seconds {
		for _, m := range []map[int]int64{sec.ByPod, sec.FailedByPod} {
			for p := range m {
				if p < 0 || p >= n {
					return fmt.Errorf("second %d counts pod %d of %d", sec.Start, p, n)
				}
			}
		}
	}
	for _, f := range s.Failures {
		if f.Pod < 0 || f.Pod >= n {
			return fmt.Errorf("failure of request %d names pod %d of %d", f.Seq, f.Pod, n)
		}
	}
	return nil
}

// shift moves every offset in s d later, for a time base d earlier.
func (s *Stats) shift(d time.Duration) {
	if d == 0 {
		return
	}
	s.SendEnd += d
	s.End += d
	for i := range s.Phases {
		s.Phases[i].Start += d
		s.Phases[i].End += d
	}
	for i := range s.Pods {
		p := &s.Pods[i]
		p.First += d
		p.Last += d
		if p.FirstOK >= 0 {
			p.FirstOK += d
		}
	}
	sec := int(d / time.Second)
	for i := range s.Seconds {
		e := &s.Seconds[i]
		if e.Width == 0 {
			e.Start, e.Width = i, 1
		}
		e.Start += sec
	}
	for i := range s.Failures {
		s.Failures[i].Intended += d
		s.Failures[i].Start += d
	}
}

// mergePods adds o's pods, d later, into s by identity and returns where
// each of o's pod indexes went.
func (s *Stats) mergePods(o []PodStats, d time.Duration) []int {
	if len(s.Pods) == 0 {
		s.Pods = []PodStats{{FirstOK: -1}}
	}
	index := make(map[PodIdentity]int, len(s.Pods))
	for i := 1; i < len(s.Pods); i++ {
		index[s.Pods[i].PodIdentity] = i
	}
	podMap := make([]int, max(len(o), 1))
	for i := range o {
		src := &o[i]
		j, ok := 0, i == 0
		if !ok {
			j, ok = index[src.PodIdentity]
		}
		if !ok {
			j = len(s.Pods)
			s.Pods = append(s.Pods, PodStats{PodIdentity: src.PodIdentity, FirstOK: -1})
			index[src.PodIdentity] = j
		}
		podMap[i] = j
		dst := &s.Pods[j]
		first, last := src.First+d, src.Last+d
		switch {
		case src.Requests() == 0: // no times to take
		case dst.Requests() == 0:
			dst.First, dst.Last = first, last
		default:
			dst.First, dst.Last = min(dst.First, first), max(dst.Last, last)
		}
		if src.FirstOK >= 0 && (dst.FirstOK < 0 || src.FirstOK+d < dst.FirstOK) {
			dst.FirstOK = src.FirstOK + d
		}
		dst.add(&src.Counts)
		for a, n := range src.AttributedBy {
			dst.AttributedBy[a] += n
		}
	}
	return podMap
}

// mergePhases adds o's phases, d later, into s by position.
func (s *Stats) mergePhases(o []PhaseStats, d time.Duration) {
	for i := range o {
		src := &o[i]
		if i == len(s.Phases) {
			s.Phases = append(s.Phases, PhaseStats{Name: src.Name, Start: src.Start + d})
		} else {
			s.Phases[i].Start = min(s.Phases[i].Start, src.Start+d)
		}
		dst := &s.Phases[i]
		dst.add(&src.Counts)
		dst.Latency = mergeHist(dst.Latency, src.Latency)
	}
	s.endPhases()
}

// mergeFailures adds o's failure records, d later and with their pods
// re-keyed, keeps the order and applies the cap.
func (s *Stats) mergeFailures(o *Stats, d time.Duration, podMap []int) {
	var fs []FailureRecord // nil when both have none, as Run leaves it
	fs = append(fs, s.Failures...)
	for _, f := range o.Failures {
		f.Intended += d
		f.Start += d
		f.Pod = podMap[f.Pod]
		fs = append(fs, f)
	}
	sortFailures(fs)
	s.FailuresOmitted += o.FailuresOmitted
	if s.FailureCap == 0 || o.FailureCap == 0 {
		s.FailureCap = 0
	} else {
		s.FailureCap = max(s.FailureCap, o.FailureCap)
	}
	if s.FailureCap > 0 && len(fs) > s.FailureCap {
		s.FailuresOmitted += int64(len(fs) - s.FailureCap)
		fs = fs[:s.FailureCap]
	}
	s.Failures = fs
}

// mergeHist returns dst with src's values added, grown to src's range if
// that is wider; dst may be nil.
func mergeHist(dst, src *hdrhistogram.Histogram) *hdrhistogram.Histogram {
	switch {
	case src == nil:
		return dst
	case dst == nil:
		return src.Clone()
	}
	if src.HighestTrackableValue() > dst.HighestTrackableValue() {
		grown := hdrhistogram.New(dst.LowestTrackableValue(), src.HighestTrackableValue(), int(dst.SignificantFigures()))
		grown.Merge(dst)
		dst = grown
	}
	dst.Merge(src)
	return dst
}

// mergeSeconds merges two series, a and b shifted by db seconds with its
// pod indexes mapped through podMap, into a new one.
// Entries are taken in time order; a merged entry grows until its end is
// an entry boundary in both series, so buckets of either are never split.
// Seconds neither series covers become empty 1 s entries, keeping the
// series contiguous.
func mergeSeconds(a, b []SecondStats, db int, podMap []int) []SecondStats {
	span := func(list []SecondStats, i, shift int) (start, end int) {
		e := &list[i]
		start, w := e.Start, e.Width
		if w == 0 {
			start, w = i, 1
		}
		return start + shift, start + shift + w
	}
	out := make([]SecondStats, 0, max(len(a), len(b)))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		t := int(^uint(0) >> 1)
		if i < len(a) {
			t, _ = span(a, i, 0)
		}
		if j < len(b) {
			bt, _ := span(b, j, db)
			t = min(t, bt)
		}
		if n := len(out); n > 0 {
			last := out[n-1].Start + out[n-1].Width
			for ; last < t; last++ { // a gap in both
				out = append(out, SecondStats{Start: last, Width: 1})
			}
			t = last
		}
		var m secMerge
		m.e = SecondStats{Start: t}
		end := t + 1
		for grew := true; grew; {
			grew = false
			for ; i < len(a); i++ {
				s, e := span(a, i, 0)
				if s >= end {
					break
				}
				m.add(&a[i], nil)
				end, grew = max(end, e), true
			}
			for ; j < len(b); j++ {
				s, e := span(b, j, db)
				if s >= end {
					break
				}
				m.add(&b[j], podMap)
				end, grew = max(end, e), true
			}
		}
		m.e.Width = end - t
		out = append(out, m.finish())
	}
	return out
}

// secMerge accumulates the entries that make up one merged entry.
type secMerge struct {
	e        SecondStats
	parts    int     // entries with requests
	weight   float64 // their requests
	p50, p90 float64 // sums of quantiles × requests
}

func (m *secMerge) add(x *SecondStats, podMap []int) {
	m.e.add(&x.Counts)
	m.e.LateSends += x.LateSends
	m.e.ByPod = addPods(m.e.ByPod, x.ByPod, podMap)
	m.e.FailedByPod = addPods(m.e.FailedByPod, x.FailedByPod, podMap)
	if w := x.Requests(); w > 0 {
		if m.parts == 0 { // exact while it is the only one
			m.e.P50, m.e.P90 = x.P50, x.P90
		}
		m.parts++
		m.weight += float64(w)
		m.p50 += float64(x.P50) * float64(w)
		m.p90 += float64(x.P90) * float64(w)
	}
	m.e.P99 = max(m.e.P99, x.P99)
	m.e.Max = max(m.e.Max, x.Max)
}

func (m *secMerge) finish() SecondStats {
	if m.parts > 1 {
		m.e.P50 = time.Duration(m.p50 / m.weight)
		m.e.P90 = time.Duration(m.p90 / m.weight)
	}
	return m.e
}

// addPods adds src, its keys mapped through podMap (nil: as they are),
// into dst, which it allocates when needed.
func addPods(dst, src map[int]int64, podMap []int) map[int]int64 {
	for p, n := range src {
		if n == 0 {
			continue
		}
		if podMap != nil {
			p = podMap[p]
		}
		if dst == nil {
			dst = make(map[int]int64, len(src))
		}
		dst[p] += n
	}
	return dst
}
