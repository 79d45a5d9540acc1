package loadgen

import "time"

// collector merges the seconds that workers finish into the run's
// per-second series. It runs in its own goroutine, off the hot path: each
// worker hands it one slot per second.
type collector struct {
	in   chan *secSlot
	done chan struct{}
	secs []secAgg
}

type secAgg struct {
	Counts
	late        int64
	byPod       map[int32]int64
	failedByPod map[int32]int64
	lat         secHist
}

func newCollector(workers int) *collector {
	return &collector{in: make(chan *secSlot, 2*workers+1), done: make(chan struct{})}
}

func (c *collector) run() {
	defer close(c.done)
	for s := range c.in {
		c.merge(s)
		s.owner <- s
	}
}

func (c *collector) merge(s *secSlot) {
	for s.sec >= len(c.secs) {
		c.secs = append(c.secs, secAgg{})
	}
	a := &c.secs[s.sec]
	a.add(&s.counts)
	a.late += s.late
	a.lat.merge(&s.lat)
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
				s.ByPod[int(k)] = v
			}
			s.FailedByPod = make(map[int]int64, len(a.failedByPod))
			for k, v := range a.failedByPod {
				s.FailedByPod[int(k)] = v
			}
		}
		us := func(q float64) time.Duration { return time.Duration(a.lat.quantile(q)) * time.Microsecond }
		s.P50, s.P90, s.P99, s.Max = us(0.5), us(0.9), us(0.99), us(1)
		out[i] = s
	}
	return out
}
