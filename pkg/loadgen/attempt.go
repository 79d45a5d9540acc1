package loadgen

import "time"

// Attempt is one attempt of one request, handed to Config.Attempts the
// moment it ends: a per-attempt log (a JMeter .jtl file, say) is written
// from these, never from the aggregated Stats.
type Attempt struct {
	Seq     uint64 // the request's sequence number
	Attempt int    // 1 for the first send, 2 and up for re-sends (Config.Retries)
	Target  int    // index into Config.Targets; 0 with one target
	// Intended, Start and End are offsets from Stats.Start: when the
	// request was due, when this attempt began (its dial, or its write on a
	// reused connection) and when it ended.
	Intended, Start, End time.Duration
	// Begin is the wall-clock time of Start.
	Begin time.Time
	// Connect is how long this attempt took to open its connection (TCP,
	// and TLS over https); 0 when it reused one.
	Connect time.Duration
	Outcome Outcome
	Status  int    // the HTTP status; 0 without a response
	Detail  string // why the attempt failed; "" when it did not
	// Pod answered, or was last heard from on the attempt's connection; the
	// zero PodIdentity when neither is known yet. A failure the report
	// later attributes (by connection or by the rollout timeline) is
	// handed over before that.
	Pod PodIdentity
	// Retried: this attempt failed and the request was sent again.
	Retried           bool
	BytesIn, BytesOut int64
	// Active is how many workers (each with at most one connection) were
	// running when the attempt ended: the open model's steady pool plus
	// its surge, or the closed model's workers.
	Active int
}

// AttemptSink receives every attempt of a run. Workers call Attempt
// concurrently, on the request path: an implementation must be safe for
// concurrent use, cheap, and must not keep a after it returns.
type AttemptSink interface {
	Attempt(a *Attempt)
}

// emit hands the attempt in s to the run's sink, if any. The pod's
// identity is looked up only when it changes from the worker's last.
func (w *worker) emit(s *sample, end time.Duration, retried bool) {
	sink := w.e.cfg.Attempts
	if sink == nil {
		return
	}
	wa := &w.att
	a := &wa.a
	if s.pod != wa.podIndex {
		wa.podIndex = s.pod
		a.Pod = w.pods.get(s.pod)
	}
	a.Seq, a.Attempt, a.Target = s.seq, s.attempt, int(s.target)
	a.Intended, a.Start, a.End, a.Connect = s.intended, s.start, end, s.connect
	a.Begin = w.e.start.Add(s.start)
	a.Outcome, a.Status, a.Detail, a.Retried = s.outcome, s.status, s.detail, retried
	a.BytesIn, a.BytesOut = s.bytesIn, s.bytesOut
	a.Active = int(w.e.active.Load())
	sink.Attempt(a)
}

// workerAttempt is a worker's reusable Attempt, with the pod index its Pod
// was looked up for.
type workerAttempt struct {
	a        Attempt
	podIndex int32
}
