package loadgen

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// sample is one attempt's result on its way to the recorder.
type sample struct {
	seq        uint64
	target     int32 // index into Config.Targets; 0 with one target
	attempt    int
	intended   time.Duration
	start      time.Duration // when this attempt began: the dial, or the write on a reused connection
	latency    time.Duration
	outcome    Outcome
	status     int
	detail     string
	conn       uint64
	connReqs   int64
	pod        int32
	attr       Attribution
	phase      int32
	hasLatency bool
	record     int // index of its failure record, set by the recorder
	// For Config.Attempts: this attempt's dial time (0 on a reused
	// connection) and bytes.
	connect           time.Duration
	bytesIn, bytesOut int64
}

// recorder is one worker's private record of its requests. Nothing in it is
// shared while the run is going, so recording takes no lock and, once the
// pod and phase tables have grown to size, allocates nothing; the collector
// receives a finished second at a time and everything else is merged after
// the workers stop.
type recorder struct {
	phases   []phaseRec
	pods     []podRec
	targets  []phaseRec // by target, in a run of Config.Targets; nil otherwise
	status   [600]int64
	late     int64
	behind   int64 // sends later than ScheduleTolerance
	maxDelay time.Duration
	failures []FailureRecord
	omitted  int64
	lastEnd  time.Duration

	slot  *secSlot
	spare chan *secSlot
	out   chan<- *secSlot

	histMax  int64
	budget   *atomic.Int64 // failure records left, shared by all workers
	live     *liveCounters
	lastSent time.Duration
}

type phaseRec struct {
	Counts
	hist *hdrhistogram.Histogram
}

type podRec struct {
	Counts
	first, last, firstOK time.Duration
	attr                 [numAttributions]int64
	seen, ok             bool
}

// secSlot collects one worker's requests for one second.
type secSlot struct {
	sec    int
	counts Counts
	late   int64
	pods   []secPod
	lat    secHist
	owner  chan *secSlot
	// moves re-attribute failures of seconds already handed over; the
	// collector applies them to those seconds (rare: see reattribute).
	moves []podMove
	// drops counts the second's failed requests by pod and outcome, which
	// counts and pods hold only apart; written on the failure path alone,
	// so that the live totals (see liveTotals) can say which pod failed how
	// without the success path paying for it.
	drops []secDrop
}

type secDrop struct {
	pod     int32
	outcome Outcome
	n       int64
}

// podMove moves one failed request of second sec from the unknown pod to pod.
type podMove struct {
	sec int
	pod int32
}

type secPod struct {
	pod              int32
	requests, failed int64
}

func (s *secSlot) reset(sec int) {
	s.sec = sec
	s.counts = Counts{}
	s.late = 0
	s.pods = s.pods[:0]
	s.moves = s.moves[:0]
	s.drops = s.drops[:0]
	s.lat.reset()
}

func (s *secSlot) addDrop(pod int32, o Outcome) {
	for i := range s.drops {
		if s.drops[i].pod == pod && s.drops[i].outcome == o {
			s.drops[i].n++
			return
		}
	}
	s.drops = append(s.drops, secDrop{pod: pod, outcome: o, n: 1})
}

func (s *secSlot) addPod(pod int32, failed bool) {
	for i := range s.pods {
		if s.pods[i].pod == pod {
			s.pods[i].requests++
			if failed {
				s.pods[i].failed++
			}
			return
		}
	}
	p := secPod{pod: pod, requests: 1}
	if failed {
		p.failed = 1
	}
	s.pods = append(s.pods, p)
}

// liveCounters are read by the progress display while the worker writes
// them; each worker has its own, padded to a cache line so that workers do
// not contend.
type liveCounters struct {
	requests atomic.Int64
	failed   atomic.Int64
	retried  atomic.Int64
	_        [40]byte
}

func newRecorder(out chan<- *secSlot, budget *atomic.Int64, live *liveCounters, histMax int64) *recorder {
	r := &recorder{
		spare:   make(chan *secSlot, 3),
		out:     out,
		budget:  budget,
		live:    live,
		histMax: histMax,
	}
	for range 2 {
		r.spare <- &secSlot{owner: r.spare, pods: make([]secPod, 0, 8)}
	}
	r.slot = &secSlot{owner: r.spare, pods: make([]secPod, 0, 8)}
	r.slot.reset(0)
	return r
}

// initTargets gives the recorder a record per target of a run of n
// targets (none when n is 0).
func (r *recorder) initTargets(n int) {
	if n == 0 {
		return
	}
	r.targets = make([]phaseRec, n)
	for i := range r.targets {
		r.targets[i].hist = newTargetHistogram(r.histMax)
	}
}

func (r *recorder) phase(i int32) *phaseRec {
	for int(i) >= len(r.phases) {
		r.phases = append(r.phases, phaseRec{hist: newHistogram(r.histMax)})
	}
	return &r.phases[i]
}

func (r *recorder) pod(i int32) *podRec {
	for int(i) >= len(r.pods) {
		r.pods = append(r.pods, podRec{})
	}
	return &r.pods[i]
}

// second returns the slot for the second of t, handing finished seconds to
// the collector. A worker's intended times never go backwards, so only the
// current slot is ever open.
func (r *recorder) second(t time.Duration) *secSlot {
	sec := int(t / time.Second)
	if sec != r.slot.sec {
		r.flush()
		r.slot = <-r.spare
		r.slot.reset(sec)
	}
	return r.slot
}

func (r *recorder) flush() {
	if r.slot.counts.Requests() > 0 || r.slot.counts.Retried > 0 || len(r.slot.moves) > 0 {
		r.out <- r.slot
		return
	}
	r.spare <- r.slot
}

// sent records when a request left, relative to when it was due.
func (r *recorder) sent(intended, at time.Duration) {
	r.lastSent = at
	if delay := at - intended; delay > LateThreshold {
		r.late++
		r.second(intended).late++
		if delay > ScheduleTolerance {
			r.behind++
		}
		if delay > r.maxDelay {
			r.maxDelay = delay
		}
	}
}

// retried records an attempt that failed and was followed by another.
func (r *recorder) retried(s *sample) {
	ph := r.phase(s.phase)
	ph.Retried++
	ph.RetriedOutcomes[s.outcome]++
	if r.targets != nil {
		tr := &r.targets[s.target]
		tr.Retried++
		tr.RetriedOutcomes[s.outcome]++
	}
	p := r.pod(s.pod)
	p.Retried++
	p.RetriedOutcomes[s.outcome]++
	sl := r.second(s.intended)
	sl.counts.Retried++
	sl.counts.RetriedOutcomes[s.outcome]++
	r.live.retried.Add(1)
	s.record = r.failure(s, true)
}

// finish records a request's final outcome.
func (r *recorder) finish(s *sample, end time.Duration) {
	failed := s.outcome.Failed()
	ph := r.phase(s.phase)
	ph.Outcomes[s.outcome]++
	var tr *phaseRec
	if r.targets != nil {
		tr = &r.targets[s.target]
		tr.Outcomes[s.outcome]++
	}
	if s.hasLatency {
		us := int64(s.latency / time.Microsecond)
		if us < 1 {
			us = 1
		}
		if us > r.histMax {
			us = r.histMax
		}
		// RecordValue only fails for values outside the trackable range,
		// which the clamp above rules out.
		_ = ph.hist.RecordValue(us)
		if tr != nil {
			_ = tr.hist.RecordValue(us)
		}
	}
	if s.status > 0 && s.status < len(r.status) {
		r.status[s.status]++
	}
	p := r.pod(s.pod)
	p.Outcomes[s.outcome]++
	p.attr[s.attr]++
	if !p.seen {
		p.seen, p.first = true, s.intended
	}
	p.last = s.intended
	if !failed && !p.ok {
		p.ok, p.firstOK = true, s.intended
	}
	sl := r.second(s.intended)
	sl.counts.Outcomes[s.outcome]++
	sl.addPod(s.pod, failed)
	if s.hasLatency {
		sl.lat.record(int64(s.latency / time.Microsecond))
	}
	if end > r.lastEnd {
		r.lastEnd = end
	}
	r.live.requests.Add(1)
	if failed {
		r.live.failed.Add(1)
		sl.addDrop(s.pod, s.outcome)
		s.record = r.failure(s, false)
	}
}

// failure records a failed attempt and returns its index in r.failures, or
// -1 when the record budget is spent.
func (r *recorder) failure(s *sample, retried bool) int {
	if r.budget.Add(-1) < 0 {
		r.omitted++
		return -1
	}
	r.failures = append(r.failures, FailureRecord{
		Seq: s.seq, Attempt: s.attempt, Retried: retried, Intended: s.intended, Start: s.start, Latency: s.latency,
		Outcome: s.outcome, Status: s.status, Detail: s.detail, Conn: s.conn, ConnRequests: s.connReqs,
		Pod: int(s.pod), AttributedBy: s.attr, Target: int(s.target),
	})
	return len(r.failures) - 1
}

// pendingFailure is a failure on a connection that had not yet said which
// pod it reaches; see worker.identify.
type pendingFailure struct {
	record   int // index in recorder.failures, or -1
	outcome  Outcome
	retried  bool
	intended time.Duration
}

// reattribute moves failures from the unknown pod to pod, by connection: a
// connection behind a Service stays on one pod for its life, so failures
// answered on it before it first named its pod (a 503 "starting" has no
// identity in its body) were that pod's. Per-second pod counts are moved
// in the open second directly, in seconds already handed over through the
// collector.
func (r *recorder) reattribute(list []pendingFailure, pod int32) {
	p := r.pod(pod) // may grow r.pods: take it before the unknown pod's pointer
	unknown := &r.pods[0]
	for _, f := range list {
		if f.record >= 0 {
			r.failures[f.record].Pod = int(pod)
			r.failures[f.record].AttributedBy = AttrConnection
		}
		if f.retried {
			unknown.Retried--
			unknown.RetriedOutcomes[f.outcome]--
			p.Retried++
			p.RetriedOutcomes[f.outcome]++
			continue
		}
		unknown.Outcomes[f.outcome]--
		unknown.attr[AttrNone]--
		p.Outcomes[f.outcome]++
		p.attr[AttrConnection]++
		if !p.seen || f.intended < p.first {
			p.seen, p.first = true, f.intended
		}
		p.last = max(p.last, f.intended)
		sl, sec := r.slot, int(f.intended/time.Second)
		if sl.sec != sec {
			sl.moves = append(sl.moves, podMove{sec: sec, pod: pod})
			continue
		}
		for i := range sl.pods {
			if sl.pods[i].pod == 0 {
				sl.pods[i].requests--
				sl.pods[i].failed--
			}
		}
		sl.addPod(pod, true)
	}
}

// podRegistry gives every pod seen by any worker one index. Workers cache
// the indexes they have seen, so the lock is taken once per pod and worker.
type podRegistry struct {
	mu    sync.Mutex
	index map[PodIdentity]int32
	pods  []PodIdentity
	count atomic.Int32
}

func newPodRegistry() *podRegistry {
	r := &podRegistry{index: make(map[PodIdentity]int32)}
	r.pods = append(r.pods, PodIdentity{}) // index 0: unknown
	return r
}

func (r *podRegistry) intern(p PodIdentity) int32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if i, ok := r.index[p]; ok {
		return i
	}
	i := int32(len(r.pods))
	r.pods = append(r.pods, p)
	r.index[p] = i
	r.count.Store(i)
	return i
}

// get returns pod i's identity; the zero PodIdentity for the unknown pod.
func (r *podRegistry) get(i int32) PodIdentity {
	r.mu.Lock()
	defer r.mu.Unlock()
	if i <= 0 || int(i) >= len(r.pods) {
		return PodIdentity{}
	}
	return r.pods[i]
}

func (r *podRegistry) snapshot() []PodIdentity {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]PodIdentity(nil), r.pods...)
}
