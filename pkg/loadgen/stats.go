package loadgen

import (
	"sort"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Attribution says how a request was attributed to a pod.
type Attribution uint8

// Attributions. Their String values are part of the rolltest/v1 schema.
const (
	AttrNone       Attribution = iota // no pod known
	AttrResponse                      // the response itself carried the identity
	AttrConnection                    // the pod that last answered on the same connection
	numAttributions
)

var attributionNames = [numAttributions]string{"none", "response", "connection"}

func (a Attribution) String() string {
	if a < numAttributions {
		return attributionNames[a]
	}
	return "invalid"
}

// OutcomeCounts counts something per Outcome, indexed by Outcome.
type OutcomeCounts = [numOutcomes]int64

// Counts counts outcomes. Requests are counted by their final outcome;
// Retried counts failed attempts that were followed by another attempt.
type Counts struct {
	Outcomes OutcomeCounts
	Retried  int64
	// RetriedOutcomes counts the retried attempts by their outcome.
	RetriedOutcomes OutcomeCounts
}

// Requests is the number of requests counted.
func (c *Counts) Requests() int64 {
	var n int64
	for _, v := range c.Outcomes {
		n += v
	}
	return n
}

// Failed is the number of requests whose final outcome is a failure.
func (c *Counts) Failed() int64 { return c.Requests() - c.Outcomes[OK] }

func (c *Counts) add(o *Counts) {
	for i := range c.Outcomes {
		c.Outcomes[i] += o.Outcomes[i]
		c.RetriedOutcomes[i] += o.RetriedOutcomes[i]
	}
	c.Retried += o.Retried
}

// Stats is everything a run measured. Every time in it is an offset from
// Start, the run's time base (Config.Start, or when Run began), and every
// pod is an index into Pods. Stats of engines that ran at once merge with
// Merge, which re-keys pods by identity and re-bases offsets onto the
// earlier Start; their series merge second by second when their Starts
// are a whole number of seconds apart (engines that share Config.Start).
type Stats struct {
	Start time.Time
	// SendEnd is when the last request was sent; End when the last response
	// (or failure) was recorded.
	SendEnd, End time.Duration
	Counts
	// Latency holds every request's latency in microseconds, from its
	// intended send time (open model) or its send time (closed model), for
	// requests that got a response or timed out; requests that failed to
	// connect or were reset have no meaningful latency.
	Latency     *hdrhistogram.Histogram
	StatusCodes map[int]int64
	// ServerMaxStreams is the lowest SETTINGS_MAX_CONCURRENT_STREAMS a
	// server announced below Config.Streams: no connection carried more
	// requests at once than that. 0 when none did (or Streams is 1).
	ServerMaxStreams int
	// LateSends counts requests sent more than LateThreshold after they were
	// due; MaxSendDelay is the largest such delay.
	LateSends    int64
	MaxSendDelay time.Duration
	// BehindSends counts requests sent more than ScheduleTolerance after
	// they were due: sends the service did not delay, the generator did.
	BehindSends int64
	// ConnsOpened counts connections opened; PeakConns is the most open at
	// once, MaxConns the bound the open model could grow to.
	ConnsOpened int64
	PeakConns   int
	MaxConns    int
	// PoolWaits counts requests that found every connection busy with the
	// pool at MaxConns and waited for one: the sends the bound delayed.
	PoolWaits int64
	BytesIn   int64
	BytesOut  int64
	// Phases are the run's phases in order, as marked with MarkPhase.
	Phases []PhaseStats
	// Pods are the pods seen; Pods[0] is the unknown pod that failures
	// without attribution are counted against.
	Pods []PodStats
	// Targets are the requests of a run of Config.Targets, in its order;
	// nil in a run of one Config.Target.
	Targets []TargetStats
	// Seconds is the run's series by intended send time: second n holds
	// the requests due in [Start+n s, Start+n+1 s). One entry per second,
	// except in a long run, whose seconds away from its start, its
	// end and its phase marks are merged into buckets of up to a minute
	// (see collector). Entries are contiguous and in time order.
	Seconds []SecondStats
	// Failures lists failed attempts by sequence number and attempt,
	// at most FailureCap of them; FailuresOmitted counts the rest.
	Failures        []FailureRecord
	FailuresOmitted int64
	// FailureCap is the most records Failures may hold
	// (Config.MaxFailureRecords); 0: no cap.
	FailureCap int
	// IdentityRule is the rule that read pods from responses: for auto
	// identity the one it settled on (e.g. "json:hostname"; see
	// autoRules), or for a run too short to settle the one that named
	// most; otherwise the identity itself ("line", "header:X-Pod", ...).
	// "" when nothing was read.
	IdentityRule string
}

// PhaseStats is the part of a run between two MarkPhase calls.
type PhaseStats struct {
	Name       string
	Start, End time.Duration
	Counts
	Latency *hdrhistogram.Histogram
}

// TargetStats is the traffic sent to one of Config.Targets.
type TargetStats struct {
	Name, Method, URL string
	Weight            int
	Counts
	// Latency is as Stats.Latency, of this target's requests, with two
	// significant digits (see newTargetHistogram).
	Latency *hdrhistogram.Histogram
}

// PodStats is the traffic one pod served.
type PodStats struct {
	PodIdentity
	Counts
	// First and Last are the intended times of its first and last
	// requests; meaningless while it has none.
	First, Last time.Duration
	// FirstOK is when the pod first answered with a 2xx (-1: never).
	FirstOK      time.Duration
	AttributedBy [numAttributions]int64
}

// SecondStats is one second of the run, or a bucket of Width seconds.
type SecondStats struct {
	// Start is the entry's first second and Width how many seconds it
	// covers: 1 at full resolution. Width 0 (a literal without them) means
	// the entry's index is its second.
	Start, Width int
	Counts
	LateSends int64
	// ByPod counts requests by pod index into Stats.Pods (all outcomes) and
	// FailedByPod the failed ones among them.
	ByPod       map[int]int64
	FailedByPod map[int]int64
	// The quantiles of a second; of a bucket, P99 and Max are the largest
	// of its seconds' and P50 and P90 their mean weighted by requests.
	P50, P90, P99, Max time.Duration
}

// FailureRecord is one failed attempt.
type FailureRecord struct {
	// Seq numbers requests from 0 in the order they were scheduled; the
	// request id header and the report show Seq+1.
	Seq      uint64
	Attempt  int
	Retried  bool
	Intended time.Duration
	// Start is when this attempt began: when its connection was dialled, or
	// its request written on a reused one. A failure to connect belongs to
	// this moment, not to the span until its timeout.
	Start        time.Duration
	Latency      time.Duration
	Outcome      Outcome
	Status       int
	Detail       string
	Conn         uint64
	ConnRequests int64
	Pod          int // index into Stats.Pods; 0 = unknown
	AttributedBy Attribution
	// Target is the request's index into Stats.Targets; 0 in a run of
	// one target.
	Target int
}

// endPhases ends each phase where the next begins, and the last at End:
// a phase is marked by its start only.
func (s *Stats) endPhases() {
	for i := range s.Phases {
		if i+1 < len(s.Phases) {
			s.Phases[i].End = s.Phases[i+1].Start
		} else {
			s.Phases[i].End = max(s.End, s.Phases[i].Start)
		}
	}
}

// sortFailures orders failed attempts by request, then attempt: the order
// a reader follows, whichever worker or engine recorded them.
func sortFailures(fs []FailureRecord) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := &fs[i], &fs[j]
		switch {
		case a.Seq != b.Seq:
			return a.Seq < b.Seq
		case a.Attempt != b.Attempt:
			return a.Attempt < b.Attempt
		}
		return a.Intended < b.Intended
	})
}
