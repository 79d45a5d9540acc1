package loadgen

import (
	"sync"
	"time"
)

// liveTotals are the run's running totals for exporters that read them
// while the run goes on (Engine.Live). The collector adds each second a
// worker hands over, so they cost one lock per worker and second, never
// anything per request; a reader takes the same lock and copies, so what
// it sees is consistent: every count of the same handed-over seconds.
//
// They lag the requests by the seconds workers still hold open (a worker
// hands a second over when it records its first request of a later one:
// about a second at any rate above one request per connection and second)
// and are complete once Run has returned.
type liveTotals struct {
	mu     sync.Mutex
	counts Counts
	// pods counts final outcomes by pod index. A failure is counted
	// against the pod known when it was recorded: a later re-attribution
	// by connection (reattribute) is left out, as a counter that went down
	// would read as a reset to whoever scrapes it.
	pods []OutcomeCounts
	late int64
	lat  secHist
	done bool
}

func (t *liveTotals) add(s *secSlot) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.counts.add(&s.counts)
	t.late += s.late
	t.lat.merge(&s.lat)
	for _, p := range s.pods {
		// A pod's successes are its requests less its failures, which
		// drops holds by outcome; a move within the open second shifts a
		// request and its failure together, leaving this difference alone.
		t.pod(p.pod)[OK] += p.requests - p.failed
	}
	for _, d := range s.drops {
		t.pod(d.pod)[d.outcome] += d.n
	}
}

func (t *liveTotals) pod(i int32) *OutcomeCounts {
	for int(i) >= len(t.pods) {
		t.pods = append(t.pods, OutcomeCounts{})
	}
	return &t.pods[i]
}

func (t *liveTotals) finish() {
	t.mu.Lock()
	t.done = true
	t.mu.Unlock()
}

// Live is what a running Engine has measured so far; see Engine.Live.
type Live struct {
	// Started is set once Run has begun sending, Done once it has
	// returned: from then on the counts equal the Stats that Run returned,
	// by outcome.
	Started, Done bool
	// Phase is the current phase; Phases every phase so far, in order.
	Phase  string
	Phases []string
	// Counts are the requests handed over so far by final outcome, and
	// the retried attempts by theirs.
	Counts
	// Pods holds the same requests by pod; Pods[0] is the unknown pod,
	// the failures that no pod was known for when they were counted.
	Pods []LivePod
	// LateSends counts requests sent more than LateThreshold after they
	// were due.
	LateSends int64
	// ConnsOpened counts the connections opened so far.
	ConnsOpened uint64

	lat secHist
}

// LivePod is one pod's requests by final outcome.
type LivePod struct {
	PodIdentity
	Outcomes OutcomeCounts
}

// Live returns the totals so far; safe to call at any time, before, during
// and after Run. It reads what the collector has merged (see liveTotals),
// so it adds nothing to the requests' path.
func (e *Engine) Live() Live {
	var l Live
	e.mu.Lock()
	l.Started = e.begun
	for _, m := range e.phases {
		l.Phases = append(l.Phases, m.name)
	}
	e.mu.Unlock()
	l.Phase = l.Phases[len(l.Phases)-1]

	t := e.totals
	t.mu.Lock()
	l.Done = t.done
	l.Counts = t.counts
	l.LateSends = t.late
	l.lat = t.lat
	counts := append([]OutcomeCounts(nil), t.pods...)
	t.mu.Unlock()
	l.ConnsOpened = e.conns.Load()

	// Taken after the counts: every pod they name is registered by then.
	idents := e.pods.snapshot()
	l.Pods = make([]LivePod, len(idents))
	for i, id := range idents {
		l.Pods[i].PodIdentity = id
		if i < len(counts) {
			l.Pods[i].Outcomes = counts[i]
		}
	}
	return l
}

// Latency returns the latencies so far as cumulative counts at each bound
// (ascending), with their count and sum, from the same per-second
// histograms as the report's series: within ±3.2% of the true value, so a
// latency near a bound may be counted on either side of it, and the sum
// adds each latency's bucket midpoint. Latency counts from the intended
// send time (open model) and covers requests that got a response or timed
// out, as Stats.Latency does.
func (l *Live) Latency(bounds []time.Duration) (cumulative []uint64, count uint64, sum time.Duration) {
	cumulative = make([]uint64, len(bounds))
	var sumUs int64
	for i, c := range l.lat.counts {
		if c == 0 {
			continue
		}
		v := secHistValue(i)
		if i == secHistBuckets-1 || v > l.lat.max {
			v = l.lat.max // the top bucket is open-ended; no value exceeds the max
		}
		sumUs += int64(c) * v
		for j, b := range bounds {
			if time.Duration(v)*time.Microsecond <= b {
				cumulative[j] += uint64(c)
			}
		}
	}
	return cumulative, l.lat.total, time.Duration(sumUs) * time.Microsecond
}
