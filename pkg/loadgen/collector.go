package loadgen

import (
	"sort"
	"time"
)

// collector merges the seconds that workers finish into the run's
// per-second series. It runs in its own goroutine, off the hot path: each
// worker hands it one slot per second.
//
// A second's latency histogram (2.4 KiB) is needed only while requests due
// in that second can still complete; after the horizon the second is
// reduced to its quantiles and the histogram is reused, so what the series
// costs per second of run is its counts alone.
//
// Those counts are kept compact (secAgg: outcomes other than ok and pods
// as small slices, quantiles as int32) and the series is bounded: see
// seriesHead for which seconds keep 1 s resolution and how the others are
// merged into buckets.
type collector struct {
	in   chan *secSlot
	done chan struct{}
	// old holds the settled part of the series, [0, liveBase), in time
	// order: seconds and buckets of merged seconds, contiguous.
	old []secAgg
	// live holds the recent seconds liveBase, liveBase+1, ... at 1 s.
	live     []secAgg
	liveBase int
	newest   int        // latest second seen
	horizon  int        // seconds after which no request due in a second can still be recorded
	final    int        // seconds below this are finalized
	spare    []*secHist // histograms of finalized seconds, for reuse
	// open is true while old's last entry is a bucket that may still take
	// the next second.
	open bool

	res seriesResolution
	// marks returns the starts of the run's phases after the first (the
	// rollout being triggered, its end); nil: none. Called from the
	// collector's goroutine about once per second of run.
	marks func() []time.Duration
	// totals, when set, takes every slot too: the running totals that
	// Engine.Live reads while the run goes on.
	totals *liveTotals
}

// Series resolution. The report reads seconds around pod events: the
// timeline attribution, the keep-alive pinning hint and the charts of a
// rollout need 1 s resolution there, while a long soak only needs its
// shape. So the series keeps 1 s resolution
//
//   - for the first seriesHead seconds: a rollout normally starts minutes
//     into the run, and a run of up to an hour (plus the tail) is never
//     down-sampled at all;
//   - for the last seriesTail seconds (at least the horizon plus a minute,
//     so that a second is settled only when no request due in it is still
//     in flight);
//   - from seriesPinBefore before to seriesPinAfter after every phase mark
//     after the first (runner: the rollout being triggered, and its end),
//     so that a rollout late in a soak is seen second by second too;
//
// and merges every other second into buckets of seriesCoarse seconds,
// aligned to multiples of seriesCoarse from the run's start (a bucket is
// narrower where a 1 s stretch begins or ends inside it). Counts, per-pod
// counts and late sends of a bucket are the sums of its seconds, exactly;
// its p99 and max are the maximum of its seconds', its p50 and p90 the
// mean of its seconds' p50 and p90 weighted by their requests (an
// approximation: the bucket's true quantile lies between the smallest and
// the largest of its seconds').
//
// A 24-hour run thus keeps about 1 h + 15 min + 23 h/60 s ≈ 5,900 entries
// instead of 86,400, whatever its rate.
const (
	seriesHead      = 3600
	seriesTail      = 900
	seriesCoarse    = 60
	seriesPinBefore = 300
	seriesPinAfter  = 1800
)

type seriesResolution struct {
	head, tail, coarse, pinBefore, pinAfter int
}

var defaultResolution = seriesResolution{seriesHead, seriesTail, seriesCoarse, seriesPinBefore, seriesPinAfter}

// secAgg is one entry of the series: a second, or a bucket of width
// merged seconds from t on.
type secAgg struct {
	t, width int32
	ok       int64 // requests whose final outcome is OK
	retried  int64
	late     int64
	other    []outcomeCount // the other outcomes that occurred, final and retried
	pods     []podCount
	lat      *secHist // nil once finalized
	q        [4]int32 // p50, p90, p99, max in µs, once finalized
	qn       int64    // requests behind q (the weight of p50 and p90 in a bucket)
}

type outcomeCount struct {
	o       Outcome
	retried bool
	n       int64
}

type podCount struct {
	pod              int32
	requests, failed int64
}

func newCollector(workers int, horizon time.Duration) *collector {
	h := int(horizon/time.Second) + 1
	res := defaultResolution
	res.tail = max(res.tail, h+60)
	return &collector{
		in:      make(chan *secSlot, 2*workers+1),
		done:    make(chan struct{}),
		horizon: h,
		res:     res,
	}
}

func (c *collector) run() {
	defer close(c.done)
	for s := range c.in {
		c.merge(s)
		s.owner <- s
	}
	c.finalize(c.liveBase + len(c.live))
}

// at returns the entry that holds second sec, growing the live part as
// needed.
func (c *collector) at(sec int) *secAgg {
	if sec >= c.liveBase {
		for sec-c.liveBase >= len(c.live) {
			c.live = append(c.live, secAgg{t: int32(c.liveBase + len(c.live)), width: 1})
		}
		return &c.live[sec-c.liveBase]
	}
	i := sort.Search(len(c.old), func(i int) bool { return int(c.old[i].t)+int(c.old[i].width) > sec })
	return &c.old[i] // old covers [0, liveBase) without gaps
}

func (c *collector) merge(s *secSlot) {
	if c.totals != nil {
		c.totals.add(s)
	}
	if s.sec < 0 {
		return
	}
	a := c.at(s.sec)
	a.addCounts(&s.counts)
	a.late += s.late
	if s.lat.total > 0 {
		if a.lat == nil && s.sec >= c.final {
			a.lat = c.newHist()
		}
		// A record later than the horizon (a request that outlived every
		// timeout) still counts; only its latency misses the second's
		// quantiles, which were already taken.
		if a.lat != nil {
			a.lat.merge(&s.lat)
		}
	}
	for _, p := range s.pods {
		a.addPod(p.pod, p.requests, p.failed)
	}
	for _, m := range s.moves {
		if m.sec < 0 || m.sec >= c.liveBase+len(c.live) {
			continue
		}
		b := c.at(m.sec)
		if u := b.pod(0); u != nil && u.requests > 0 {
			u.requests--
			u.failed--
			b.addPod(m.pod, 1, 1)
		}
	}
	c.newest = max(c.newest, s.sec)
	c.finalize(s.sec - c.horizon)
	c.settle(c.newest - c.res.tail)
}

func (a *secAgg) addCounts(n *Counts) {
	a.ok += n.Outcomes[OK]
	a.retried += n.Retried
	for o, v := range n.Outcomes {
		if v != 0 && Outcome(o) != OK {
			a.addOutcome(Outcome(o), false, v)
		}
	}
	for o, v := range n.RetriedOutcomes {
		if v != 0 {
			a.addOutcome(Outcome(o), true, v)
		}
	}
}

func (a *secAgg) addOutcome(o Outcome, retried bool, n int64) {
	for i := range a.other {
		if a.other[i].o == o && a.other[i].retried == retried {
			a.other[i].n += n
			return
		}
	}
	a.other = append(a.other, outcomeCount{o, retried, n})
}

func (a *secAgg) pod(pod int32) *podCount {
	for i := range a.pods {
		if a.pods[i].pod == pod {
			return &a.pods[i]
		}
	}
	return nil
}

func (a *secAgg) addPod(pod int32, requests, failed int64) {
	if p := a.pod(pod); p != nil {
		p.requests += requests
		p.failed += failed
		return
	}
	if a.pods == nil {
		a.pods = make([]podCount, 0, 2) // most seconds see one or two pods
	}
	a.pods = append(a.pods, podCount{pod, requests, failed})
}

// add merges b, the seconds right after a's, into a.
func (a *secAgg) add(b *secAgg) {
	a.width += b.width
	a.ok += b.ok
	a.retried += b.retried
	a.late += b.late
	for _, o := range b.other {
		a.addOutcome(o.o, o.retried, o.n)
	}
	for _, p := range b.pods {
		a.addPod(p.pod, p.requests, p.failed)
	}
	if b.qn > 0 {
		w := a.qn + b.qn
		for i := range 2 { // p50, p90: weighted mean
			a.q[i] = int32((int64(a.q[i])*a.qn + int64(b.q[i])*b.qn) / w)
		}
		for i := 2; i < 4; i++ { // p99, max: maximum
			a.q[i] = max(a.q[i], b.q[i])
		}
		a.qn = w
	}
}

func (c *collector) newHist() *secHist {
	if n := len(c.spare); n > 0 {
		h := c.spare[n-1]
		c.spare = c.spare[:n-1]
		h.reset()
		return h
	}
	return new(secHist)
}

// finalize reduces every second below upTo to its quantiles.
func (c *collector) finalize(upTo int) {
	for ; c.final < upTo && c.final < c.liveBase+len(c.live); c.final++ {
		if c.final < c.liveBase {
			continue
		}
		a := &c.live[c.final-c.liveBase]
		if a.lat == nil {
			continue
		}
		us := func(q float64) int32 { return int32(min(a.lat.quantile(q), 1<<31-1)) }
		a.q = [4]int32{us(0.5), us(0.9), us(0.99), us(1)}
		a.qn = int64(a.lat.total)
		c.spare = append(c.spare, a.lat)
		a.lat = nil
	}
}

// settle moves the live seconds below upTo into old, merging those that
// need no 1 s resolution into buckets.
func (c *collector) settle(upTo int) {
	if upTo <= c.liveBase || len(c.live) == 0 {
		return
	}
	var pins []time.Duration
	if c.marks != nil {
		pins = c.marks()
	}
	c.finalize(upTo)
	for c.liveBase < upTo && len(c.live) > 0 {
		a := &c.live[0]
		sec := c.liveBase
		if c.fine(sec, pins) {
			c.old = append(c.old, *a)
			c.open = false
		} else if n := len(c.old); c.open && int(c.old[n-1].t)/c.res.coarse == sec/c.res.coarse {
			c.old[n-1].add(a)
		} else {
			b := *a
			b.other = append([]outcomeCount(nil), a.other...) // the bucket's own, to grow
			b.pods = append([]podCount(nil), a.pods...)
			c.old = append(c.old, b)
			c.open = true
		}
		*a = secAgg{}
		c.live = c.live[1:]
		c.liveBase++
	}
	if len(c.live) == 0 {
		c.live = nil
	}
}

// fine reports whether second sec keeps 1 s resolution (see seriesHead).
func (c *collector) fine(sec int, pins []time.Duration) bool {
	if sec < c.res.head {
		return true
	}
	for _, p := range pins {
		m := int(p / time.Second)
		if sec >= m-c.res.pinBefore && sec < m+c.res.pinAfter {
			return true
		}
	}
	return false
}

// seconds converts the merged series; call it after run has returned.
func (c *collector) seconds() []SecondStats {
	out := make([]SecondStats, 0, len(c.old)+len(c.live))
	for _, part := range [][]secAgg{c.old, c.live} {
		for i := range part {
			out = append(out, part[i].stats())
		}
	}
	return out
}

func (a *secAgg) stats() SecondStats {
	s := SecondStats{Start: int(a.t), Width: int(a.width), LateSends: a.late}
	s.Outcomes[OK] = a.ok
	s.Retried = a.retried
	for _, o := range a.other {
		if o.retried {
			s.RetriedOutcomes[o.o] += o.n
		} else {
			s.Outcomes[o.o] += o.n
		}
	}
	if len(a.pods) > 0 {
		s.ByPod = make(map[int]int64, len(a.pods))
		for _, p := range a.pods {
			if p.requests != 0 { // a move can empty the unknown pod's entry
				s.ByPod[int(p.pod)] = p.requests
			}
			if p.failed != 0 {
				if s.FailedByPod == nil {
					s.FailedByPod = make(map[int]int64, 1)
				}
				s.FailedByPod[int(p.pod)] = p.failed
			}
		}
	}
	us := func(v int32) time.Duration { return time.Duration(v) * time.Microsecond }
	s.P50, s.P90, s.P99, s.Max = us(a.q[0]), us(a.q[1]), us(a.q[2]), us(a.q[3])
	return s
}

// phaseStarts returns when the phases after the first began; the collector
// keeps 1 s resolution around them.
func (e *Engine) phaseStarts() []time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.phases) < 2 {
		return nil
	}
	out := make([]time.Duration, 0, len(e.phases)-1)
	for _, m := range e.phases[1:] {
		out = append(out, m.at)
	}
	return out
}
