package loadgen

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/rolltest/rolltest/internal/ctxtime"
)

// Engine sends the load described by a Config. Create it with New, run it
// once with Run; Progress and MarkPhase may be called concurrently with Run.
type Engine struct {
	cfg       Config
	transport Transport
	identity  *Identity
	auto      *autoState // for auto identity: the run's detection; nil otherwise
	pacer     Pacer
	limit     uint64 // requests of the whole schedule (all shards); 0: none
	planned   uint64 // this shard's share of limit
	// replayable says, by target, whether a request may be re-sent
	// (Config.Retries).
	replayable []bool
	// schedule maps a sequence number to its target (see TargetOf); nil
	// for a run of one target.
	schedule []uint32

	seq     atomic.Uint64
	conns   atomic.Uint64
	active  atomic.Int64 // workers running (see Attempt.Active)
	budget  atomic.Int64
	phase   atomic.Uint64 // packPhase of the current phase
	started atomic.Bool
	start   time.Time
	pods    *podRegistry
	live    []liveCounters
	totals  *liveTotals

	mu     sync.Mutex
	phases []phaseMark
	begun  bool
}

type phaseMark struct {
	name string
	at   time.Duration
}

// New validates cfg and resolves the target's host once: rolltest dials
// the resolved addresses for the whole run, so a run sends no DNS queries
// after it starts and a name that does not resolve fails here, clearly.
func New(ctx context.Context, cfg Config) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := cfg.withDefaults()
	t, _ := c.parseTarget()
	e := &Engine{
		cfg:      c,
		identity: c.Identity,
		pods:     newPodRegistry(),
		totals:   &liveTotals{},
		phases:   []phaseMark{{name: "load"}},
	}
	if c.Identity.Auto() {
		e.auto = &autoState{}
	}
	tc, err := transportConfig(ctx, &c, t)
	if err != nil {
		return nil, err
	}
	for _, r := range tc.Requests {
		e.replayable = append(e.replayable, replayable(r.Method, r.Headers))
	}
	if len(c.Targets) > 1 {
		e.schedule = weightedSchedule(c.targetWeights())
	}
	newTransport := c.NewTransport
	if newTransport == nil {
		newTransport = func(tc TransportConfig) (Transport, error) { return newHTTP1(tc), nil }
		if c.Protocol == ProtoH2 || c.Protocol == ProtoH2C || c.Protocol == ProtoGRPC {
			newTransport = func(tc TransportConfig) (Transport, error) { return newHTTP2(tc, c.Protocol) }
		}
	}
	if e.transport, err = newTransport(tc); err != nil {
		return nil, fmt.Errorf("transport for %s: %w", c.Target, err)
	}
	if err := e.sizePool(fileLimit()); err != nil {
		return nil, err
	}
	if c.Rate > 0 {
		e.pacer = ConstantPacer{Rate: c.Rate}
		if c.Duration > 0 {
			e.limit = e.pacer.Count(c.Duration)
		}
	}
	if c.Requests > 0 && (e.limit == 0 || c.Requests < e.limit) {
		e.limit = c.Requests
	}
	e.planned = shareOf(e.limit, uint64(c.Shard), uint64(c.shards()))
	if c.MaxFailureRecords > 0 {
		e.budget.Store(int64(c.MaxFailureRecords))
	}
	return e, nil
}

// transportConfig resolves the target's host and describes the request
// for the transport.
func transportConfig(ctx context.Context, c *Config, t target) (TransportConfig, error) {
	tc := TransportConfig{
		Target: c.Target, Method: c.Method, Headers: c.Headers, UserAgent: c.UserAgent, Body: c.Body,
		KeepAlive: c.KeepAlive, RequestIDHeader: c.RequestIDHeader, ExpectBody: c.ExpectBody,
		MaxBodyBytes: c.MaxBodyBytes, Capture: captureHeaders(c.Identity), GRPCMethod: c.GRPCMethod, Streams: c.Streams,
	}
	if len(c.Targets) == 0 {
		tc.Requests = []RequestSpec{{URL: c.Target, Method: c.Method, Headers: c.Headers, Body: c.Body}}
	}
	for _, tg := range c.Targets {
		// Bodies are cloned: transports share them between connections
		// for the whole run, whatever the caller does with its slices.
		tc.Requests = append(tc.Requests, RequestSpec{URL: tg.URL, Method: tg.Method, Headers: targetHeaders(tg.Headers, c.Headers), Body: bytes.Clone(tg.Body)})
	}
	first := tc.Requests[0]
	tc.Target, tc.Method, tc.Headers, tc.Body = first.URL, first.Method, first.Headers, first.Body
	host, port, _ := net.SplitHostPort(t.addr)
	if ip := net.ParseIP(host); ip != nil {
		tc.Addrs = []string{t.addr}
	} else {
		ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
		if err != nil {
			return tc, fmt.Errorf("resolve %s: %w", host, err)
		}
		for _, ip := range ips {
			tc.Addrs = append(tc.Addrs, net.JoinHostPort(ip.String(), port))
		}
	}
	if t.https {
		tc.TLS = &tls.Config{
			ServerName:         t.serverName,
			InsecureSkipVerify: c.InsecureSkipVerify, //nolint:gosec // the user asked for it with --insecure
			ClientSessionCache: tls.NewLRUClientSessionCache(0),
		}
	}
	return tc, nil
}

// targetHeaders are a target's own headers followed by the run's common
// ones that the target does not set itself.
func targetHeaders(own, common []Header) []Header {
	out := append([]Header(nil), own...)
	for _, h := range common {
		overridden := false
		for _, o := range own {
			if strings.EqualFold(o.Name, h.Name) {
				overridden = true
				break
			}
		}
		if !overridden {
			out = append(out, h)
		}
	}
	return out
}

// TargetOf is the index in Config.Targets of request seq's target; 0 in a
// run of one target.
func (e *Engine) TargetOf(seq uint64) int {
	if e.schedule == nil {
		return 0
	}
	return int(e.schedule[seq%uint64(len(e.schedule))])
}

// shareOf is how many of the sequence numbers below limit are shard's,
// of shards; 0 when limit is 0 (no limit).
func shareOf(limit, shard, shards uint64) uint64 {
	if limit <= shard {
		return 0
	}
	return (limit - shard + shards - 1) / shards
}

// shardSeq maps this engine's n-th request to its sequence number in the
// whole schedule.
func (e *Engine) shardSeq(n uint64) uint64 {
	return n*uint64(e.cfg.shards()) + uint64(e.cfg.Shard)
}

// sizePool sets the open model's pool bound, by default from the rate and
// timeout, and refuses one the open-file limit cannot hold. The bound
// counts connections; with Streams above 1 each carries that many
// requests, and the default is the connections the requests in flight
// need.
func (e *Engine) sizePool(fdLimit uint64) error {
	c := &e.cfg
	switch {
	case c.Rate == 0:
		c.MaxConnections = c.Connections
	case c.MaxConnections == 0 && c.Streams > 1:
		inFlight := DefaultMaxConnections(c.Rate/float64(c.shards()), c.Timeout, c.Retries, c.Connections*c.Streams, 0)
		n := (inFlight + c.Streams - 1) / c.Streams
		if fdLimit > fdReserve {
			n = min(n, int(min(fdLimit-fdReserve, maxConnectionsCap)))
		}
		c.MaxConnections = max(n, c.Connections)
	case c.MaxConnections == 0:
		// A shard sends its share of the rate.
		c.MaxConnections = DefaultMaxConnections(c.Rate/float64(c.shards()), c.Timeout, c.Retries, c.Connections, fdLimit)
	case fdLimit > fdReserve && uint64(c.MaxConnections) > fdLimit-fdReserve:
		return cfgErr("--max-connections", "%d connections need more open files than the limit of %d allows; lower it or raise the limit (ulimit -n)", c.MaxConnections, fdLimit)
	}
	if fdLimit > fdReserve && uint64(c.Connections) > fdLimit-fdReserve {
		return cfgErr("--connections", "%d connections need more open files than the limit of %d allows; lower it or raise the limit (ulimit -n)", c.Connections, fdLimit)
	}
	return nil
}

// Config returns the configuration in effect, defaults filled in.
func (e *Engine) Config() Config { return e.cfg }

func (e *Engine) elapsed() time.Duration { return time.Since(e.start) }

// MarkPhase starts a new phase of the run now (e.g. "rollout" when the
// rollout is triggered). Called before Run, it names the first phase.
func (e *Engine) MarkPhase(name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.begun {
		e.phases[0].name = name
		return
	}
	at := e.elapsed().Truncate(time.Microsecond) // as packPhase keeps it
	e.phases = append(e.phases, phaseMark{name: name, at: at})
	e.phase.Store(packPhase(int32(len(e.phases)-1), at))
}

// MarkPhaseAt starts phase name at offset at from the run's start: the
// same as MarkPhase called exactly then. Agents sharing one schedule mark
// their phases at the offsets their plan fixes, so that every agent cuts
// its requests where the others do (MarkPhase would cut each where its own
// clock happened to be). Call it after Run began, ahead of at (requests
// due before at still belong to the phase before, as phaseAt reads it),
// but after the previous phase began: a request due between at and a late
// call would be counted in the phase before.
func (e *Engine) MarkPhaseAt(name string, at time.Duration) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.begun {
		return errors.New("loadgen: MarkPhaseAt before Run began")
	}
	at = at.Truncate(time.Microsecond)
	if last := e.phases[len(e.phases)-1].at; at < last {
		return fmt.Errorf("loadgen: phase %q at %v is before the current phase's start %v", name, at, last)
	}
	e.phases = append(e.phases, phaseMark{name: name, at: at})
	e.phase.Store(packPhase(int32(len(e.phases)-1), at))
	return nil
}

// packPhase packs the current phase's index and start (in µs, 48 bits:
// nine years) into one word, so that the dispatcher reads both atomically.
func packPhase(i int32, at time.Duration) uint64 {
	return uint64(i)<<48 | uint64(at/time.Microsecond)&(1<<48-1)
}

// phaseAt is the phase a request due at t belongs to. The dispatcher reads
// it at the due time or just after, when a phase may have begun in between:
// a request belongs to the phase of its due time, not of its hand-over.
func (e *Engine) phaseAt(t time.Duration) int32 {
	v := e.phase.Load()
	i, start := int32(v>>48), time.Duration(v&(1<<48-1))*time.Microsecond
	if i > 0 && t < start {
		i-- // phases are marked one at a time, far apart
	}
	return i
}

// Progress is a live view of a running Engine.
type Progress struct {
	Elapsed  time.Duration
	Requests int64
	Failed   int64
	Retried  int64
	Pods     int
	Planned  uint64
}

// Progress returns the counters so far; safe to call while Run runs.
func (e *Engine) Progress() Progress {
	var p Progress
	e.mu.Lock()
	begun := e.begun
	e.mu.Unlock()
	if !begun {
		return p
	}
	p.Elapsed = e.elapsed()
	for i := range e.live {
		p.Requests += e.live[i].requests.Load()
		p.Failed += e.live[i].failed.Load()
		p.Retried += e.live[i].retried.Load()
	}
	p.Pods = int(e.pods.count.Load())
	p.Planned = e.planned
	return p
}

// PreflightError is why the preflight request got no complete response.
// errors.Is finds the cause in it, e.g. ErrMalformedResponse or
// ErrHeadersTooLarge.
type PreflightError struct {
	Outcome Outcome
	Detail  string
	// Answered: some of a response had arrived (the server is there and
	// talking), as opposed to no connection or no byte back at all.
	Answered bool
	Err      error
}

func (e *PreflightError) Error() string { return e.Detail + " (" + e.Outcome.String() + ")" }

func (e *PreflightError) Unwrap() error { return e.Err }

// Preflight sends one request outside the measured run to check that the
// target answers, so that a wrong URL or a stopped service is reported as
// that, not as a report full of refusals. It uses the transport alone:
// nothing is recorded. It returns the response status and the identity
// found, if any; the error, a *PreflightError unless ctx ended, is set
// only when no complete response arrived.
func (e *Engine) Preflight(ctx context.Context) (status int, id PodIdentity, err error) {
	r, err := e.PreflightCheck(ctx)
	return r.Status, r.Pod, err
}

// PreflightResult is what the preflight request got back.
type PreflightResult struct {
	Status int
	Pod    PodIdentity
	// Outcome is how the run would count the response (a gRPC status
	// other than OK, say, fails with HTTP 200); Detail says why when it is
	// not OK.
	Outcome Outcome
	Detail  string
}

// PreflightCheck is Preflight, and says how the run would count the
// response.
func (e *Engine) PreflightCheck(ctx context.Context) (PreflightResult, error) {
	// Target 0: the first target of many is the one a preflight checks.
	req := Request{Deadline: time.Now().Add(e.cfg.Timeout)}
	c, err := e.transport.Dial(ctx, req.Deadline)
	if err != nil {
		return PreflightResult{}, preflightError(ctx, asAttemptError(err, true))
	}
	defer c.Close()
	var res Response
	if err := c.RoundTrip(ctx, &req, &res); err != nil {
		return PreflightResult{}, preflightError(ctx, asAttemptError(err, false))
	}
	r := PreflightResult{Status: res.Status, Outcome: responseOutcome(&res)}
	if r.Outcome != OK {
		r.Detail = attemptDetail(&res)
	}
	if e.auto != nil {
		// The preflight is not part of the run: it does not count
		// towards settling a rule.
		s := autoScan{headersOnly: e.cfg.Protocol == ProtoGRPC}
		s.reset(&res)
		if rule, f := e.auto.detect(&s, res.Status, false); rule >= 0 {
			r.Pod = f.identity()
		}
	} else if src, ver := identitySource(e.identity, &res); len(src) > 0 {
		r.Pod, _ = e.identity.Parse(src, ver)
	}
	return r, nil
}

func preflightError(ctx context.Context, ae *AttemptError) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return &PreflightError{Outcome: ae.Outcome, Detail: ae.detail(errDetail(ae.Err)), Answered: ae.Answered, Err: ae.Err}
}

// Run sends the load and returns what it measured. It returns when the
// configured duration or request count is reached, or ctx is done; then it
// stops sending, waits for requests in flight (each bounded by the
// timeout), and merges the workers' records.
func (e *Engine) Run(ctx context.Context) (*Stats, error) {
	if !e.started.CompareAndSwap(false, true) {
		return nil, errors.New("loadgen: Engine.Run called twice")
	}
	// One recorder per steady connection, and one shared by every surge
	// worker of the open model. A connection's Streams workers share its
	// recorder (under a lock, as surge workers do): a recorder's
	// histograms are its memory.
	n := e.cfg.Connections
	slots := e.cfg.Streams
	// A request due in some second is recorded at most this much later:
	// every attempt times out, and a retry starts right after a failure.
	horizon := time.Duration(e.cfg.Retries+1)*e.cfg.Timeout + 2*time.Second
	col := newCollector(n+1, horizon)
	col.marks = e.phaseStarts
	col.totals = e.totals
	go col.run()

	histMax := int64(2*e.cfg.Timeout/time.Microsecond) + 1_000_000
	e.live = make([]liveCounters, n+1)
	recs := make([]*recorder, n+1)
	for i := range recs {
		recs[i] = newRecorder(col.in, &e.budget, &e.live[i], histMax)
		recs[i].initTargets(len(e.cfg.Targets))
	}
	// The workers: the closed model's, or the open model's steady pool,
	// Streams per connection.
	workers := make([]*worker, n*slots)
	if e.cfg.Concurrency > 0 {
		workers = workers[:e.cfg.Concurrency]
	}
	var recMus []sync.Mutex
	if slots > 1 {
		recMus = make([]sync.Mutex, n)
	}
	for i := range workers {
		workers[i] = newWorker(e, recs[i/slots], e.pods, &e.conns)
		if recMus != nil {
			workers[i].recMu = &recMus[i/slots]
		}
	}
	start, err := e.awaitStart(ctx)
	if err != nil {
		close(col.in)
		<-col.done
		return nil, err
	}
	e.mu.Lock()
	e.start = start
	e.begun = true
	e.mu.Unlock()

	var conns connStats
	if e.pacer != nil {
		p := newPool(e, recs[n], workers)
		p.startSteady()
		p.dispatch(ctx, &sendClock{start: e.start})
		p.wg.Wait()
		conns = connStats{peak: p.peakConnections(), waits: p.waits, bytesIn: p.bytesIn, bytesOut: p.bytesOut}
	} else {
		var wg sync.WaitGroup
		e.active.Store(int64(len(workers)))
		for _, w := range workers {
			wg.Go(func() { w.runClosed(ctx) })
		}
		wg.Wait()
		conns.peak = n
	}
	// Every worker has ended: each recorder hands over its last second.
	for _, r := range recs {
		r.flush()
	}
	if l, ok := e.transport.(linkCounter); ok && slots > 1 {
		// Workers are stream slots; the connections are the transport's.
		conns.peak = l.peakLinks()
		conns.serverMaxStreams = l.serverMaxStreams()
	}
	for _, w := range workers {
		conns.bytesIn += w.bytesIn
		conns.bytesOut += w.bytesOut
	}
	close(col.in)
	<-col.done
	e.totals.finish()
	return e.merge(recs, conns, col, histMax), nil
}

// awaitStart returns the run's time base: Config.Start, once it has come,
// or now. A Start already past by more than ScheduleTolerance is refused:
// the requests due since would all leave late, in a burst.
func (e *Engine) awaitStart(ctx context.Context) (time.Time, error) {
	start := e.cfg.Start
	if start.IsZero() {
		return time.Now(), nil
	}
	wait := time.Until(start)
	if wait < -ScheduleTolerance {
		return time.Time{}, fmt.Errorf("loadgen: the run's start %s passed %v before Run was called", start.Format(time.RFC3339Nano), -wait.Round(time.Millisecond))
	}
	// Cut short by ctx, the run sends nothing; its Stats still say so.
	ctxtime.Sleep(ctx, wait)
	return start, nil
}

// connStats is what the run's connections did, beyond what recorders hold.
type connStats struct {
	peak              int
	waits             int64
	bytesIn, bytesOut int64
	serverMaxStreams  int
}

// linkCounter is a transport whose connections carry several Conns
// (multiplexing): it counts them itself.
type linkCounter interface {
	peakLinks() int
	serverMaxStreams() int
}

func (e *Engine) merge(recs []*recorder, conns connStats, col *collector, histMax int64) *Stats {
	e.mu.Lock()
	marks := append([]phaseMark(nil), e.phases...)
	e.mu.Unlock()

	st := &Stats{
		Start:            e.start,
		StatusCodes:      map[int]int64{},
		ConnsOpened:      int64(e.conns.Load()),
		PeakConns:        conns.peak,
		MaxConns:         e.cfg.MaxConnections,
		FailureCap:       max(e.cfg.MaxFailureRecords, 0),
		PoolWaits:        conns.waits,
		ServerMaxStreams: conns.serverMaxStreams,
		BytesIn:          conns.bytesIn,
		BytesOut:         conns.bytesOut,
		Seconds:          col.seconds(),
	}
	if e.auto != nil {
		st.IdentityRule = e.auto.ruleName()
	} else {
		st.IdentityRule = e.identity.rule()
	}
	idents := e.pods.snapshot()
	st.Pods = make([]PodStats, len(idents))
	for i, p := range idents {
		st.Pods[i].PodIdentity = p
		st.Pods[i].FirstOK = -1
	}
	podSeen := make([]bool, len(idents))
	st.Phases = make([]PhaseStats, len(marks))
	for i, m := range marks {
		st.Phases[i] = PhaseStats{Name: m.name, Start: m.at, Latency: newHistogram(histMax)}
	}
	st.Latency = newHistogram(histMax)
	for _, r := range recs {
		for i := range r.phases {
			st.Phases[i].add(&r.phases[i].Counts)
			st.Phases[i].Latency.Merge(r.phases[i].hist)
			st.Counts.add(&r.phases[i].Counts)
			st.Latency.Merge(r.phases[i].hist)
		}
		for i := range r.pods {
			src, dst := &r.pods[i], &st.Pods[i]
			if !src.seen && src.Retried == 0 {
				continue
			}
			dst.add(&src.Counts)
			for a, v := range src.attr {
				dst.AttributedBy[a] += v
			}
			if src.seen {
				if !podSeen[i] || src.first < dst.First {
					dst.First = src.first
				}
				podSeen[i] = true
				dst.Last = max(dst.Last, src.last)
			}
			if src.ok && (dst.FirstOK < 0 || src.firstOK < dst.FirstOK) {
				dst.FirstOK = src.firstOK
			}
		}
		for code, v := range r.status {
			if v > 0 {
				st.StatusCodes[code] += v
			}
		}
		st.LateSends += r.late
		st.BehindSends += r.behind
		st.MaxSendDelay = max(st.MaxSendDelay, r.maxDelay)
		st.Failures = append(st.Failures, r.failures...)
		st.FailuresOmitted += r.omitted
		st.SendEnd = max(st.SendEnd, r.lastSent)
		st.End = max(st.End, r.lastEnd)
	}
	st.Targets = e.targetStats(recs, histMax)
	st.endPhases()
	sortFailures(st.Failures)
	return st
}

// targetStats adds up the recorders' per-target records; nil in a run
// without Config.Targets.
func (e *Engine) targetStats(recs []*recorder, histMax int64) []TargetStats {
	if len(e.cfg.Targets) == 0 {
		return nil
	}
	out := make([]TargetStats, len(e.cfg.Targets))
	for i, t := range e.cfg.Targets {
		out[i] = TargetStats{Name: t.Name, Method: t.Method, URL: t.URL, Weight: max(t.Weight, 1), Latency: newTargetHistogram(histMax)}
	}
	for _, r := range recs {
		for i := range r.targets {
			out[i].add(&r.targets[i].Counts)
			out[i].Latency.Merge(r.targets[i].hist)
		}
	}
	return out
}

// newTargetHistogram is the shape of a target's latency histogram: two
// significant digits (values within 1%), as every recorder holds one per
// target and a run may have hundreds of targets.
func newTargetHistogram(maxUs int64) *hdrhistogram.Histogram { return hdrhistogram.New(1, maxUs, 2) }

// newHistogram is the shape of every latency histogram: 1 µs to the given
// maximum in µs, three significant digits.
func newHistogram(maxUs int64) *hdrhistogram.Histogram { return hdrhistogram.New(1, maxUs, 3) }
