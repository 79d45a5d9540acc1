package loadgen

import "time"

// collector merges the seconds that workers finish into the run's
// per-second series. It runs in its own goroutine, off the hot path: each
// worker hands it one slot per second.
//
// A second's latency histogram (2.4 KiB) is needed only while requests due
// in that second can still complete; after the horizon the second is
// reduced to its quantiles and the histogram is reused, so what the series
// costs per second of run is its counts alone.
type collector struct {
	in      chan *secSlot
	done    chan struct{}
	secs    []secAgg
	horizon int        // seconds after which no request due in a second can still be recorded
	final   int        // seconds below this are finalized
	spare   []*secHist // histograms of finalized seconds, for reuse
}

type secAgg struct {
	Counts
	late        int64
	byPod       map[int32]int64
	failedByPod map[int32]int64
	lat         *secHist // nil once finalized
	q           [4]int64 // p50, p90, p99, max in µs, once finalized
}

func newCollector(workers int, horizon time.Duration) *collector {
	return &collector{
		in:      make(chan *secSlot, 2*workers+1),
		done:    make(chan struct{}),
		horizon: int(horizon/time.Second) + 1,
	}
}

func (c *collector) run() {
	defer close(c.done)
	for s := range c.in {
		c.merge(s)
		s.owner <- s
	}
	c.finalize(len(c.secs))
}

func (c *collector) merge(s *secSlot) {
	for s.sec >= len(c.secs) {
		c.secs = append(c.secs, secAgg{})
	}
	a := &c.secs[s.sec]
	a.add(&s.counts)
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
	if len(s.pods) > 0 && a.byPod == nil {
		a.byPod = make(map[int32]int64, len(s.pods))
		a.failedByPod = make(map[int32]int64)
	}
	for _, p := range s.pods {
		a.byPod[p.pod] += p.requests
		if p.failed > 0 {
			a.failedByPod[p.pod] += p.failed
		}
	}
	for _, m := range s.moves {
		if m.sec < len(c.secs) && c.secs[m.sec].byPod[0] > 0 {
			b := &c.secs[m.sec]
			b.byPod[0]--
			b.failedByPod[0]--
			b.byPod[m.pod]++
			b.failedByPod[m.pod]++
		}
	}
	c.finalize(s.sec - c.horizon)
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
	for ; c.final < upTo && c.final < len(c.secs); c.final++ {
		a := &c.secs[c.final]
		if a.lat == nil {
			continue
		}
		a.q = [4]int64{a.lat.quantile(0.5), a.lat.quantile(0.9), a.lat.quantile(0.99), a.lat.quantile(1)}
		c.spare = append(c.spare, a.lat)
		a.lat = nil
	}
}

// seconds converts the merged series; call it after run has returned.
func (c *collector) seconds() []SecondStats {
	out := make([]SecondStats, len(c.secs))
	for i := range c.secs {
		a := &c.secs[i]
		s := SecondStats{Counts: a.Counts, LateSends: a.late}
		if len(a.byPod) > 0 {
			s.ByPod = make(map[int]int64, len(a.byPod))
			for k, v := range a.byPod {
				if v != 0 { // a move can empty the unknown pod's entry
					s.ByPod[int(k)] = v
				}
			}
			s.FailedByPod = make(map[int]int64, len(a.failedByPod))
			for k, v := range a.failedByPod {
				if v != 0 {
					s.FailedByPod[int(k)] = v
				}
			}
		}
		us := func(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
		s.P50, s.P90, s.P99, s.Max = us(a.q[0]), us(a.q[1]), us(a.q[2]), us(a.q[3])
		out[i] = s
	}
	return out
}
