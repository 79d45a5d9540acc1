// Package loadgen sends HTTP load and records, exactly, how every request
// ended: one outcome per request, every failed attempt kept, latency from
// the intended send time, and the pod that answered.
//
// An Engine runs either model:
//
//   - open (Config.Rate): requests fall due on a fixed schedule whether or
//     not the server keeps up, and latency is measured from the due time;
//   - closed (Config.Concurrency): N workers each send the next request as
//     soon as the previous one completes.
//
// Each worker owns its connection; see worker for why.
package loadgen

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/valyala/fasthttp"
)

// Engine sends the load described by a Config. Create it with New, run it
// once with Run; Progress and MarkPhase may be called concurrently with Run.
type Engine struct {
	cfg        Config
	target     target
	addrs      []string
	tlsConfig  *tls.Config
	identity   *Identity
	pacer      Pacer
	limit      uint64
	replayable bool

	seq     atomic.Uint64
	conns   atomic.Uint64
	budget  atomic.Int64
	phase   atomic.Int32
	started atomic.Bool
	start   time.Time
	pods    *podRegistry
	live    []liveCounters

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
		cfg:        c,
		target:     t,
		identity:   c.Identity,
		pods:       newPodRegistry(),
		phases:     []phaseMark{{name: "load"}},
		replayable: replayable(c.Method, c.Headers),
	}
	host, port, _ := net.SplitHostPort(t.addr)
	if ip := net.ParseIP(host); ip != nil {
		e.addrs = []string{t.addr}
	} else {
		ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
		if err != nil {
			return nil, fmt.Errorf("resolve %s: %w", host, err)
		}
		for _, ip := range ips {
			e.addrs = append(e.addrs, net.JoinHostPort(ip.String(), port))
		}
	}
	if t.https {
		e.tlsConfig = &tls.Config{
			ServerName:         t.serverName,
			InsecureSkipVerify: c.InsecureSkipVerify, //nolint:gosec // the user asked for it with --insecure
			ClientSessionCache: tls.NewLRUClientSessionCache(0),
			NextProtos:         []string{"http/1.1"},
		}
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
	if c.MaxFailureRecords > 0 {
		e.budget.Store(int64(c.MaxFailureRecords))
	}
	return e, nil
}

// Config returns the configuration in effect, defaults filled in.
func (e *Engine) Config() Config { return e.cfg }

func (e *Engine) prepareRequest(req *fasthttp.Request) {
	c := &e.cfg
	req.SetRequestURI(c.Target)
	req.Header.SetMethod(c.Method)
	hasUA := false
	for _, h := range c.Headers {
		switch {
		case equalFold(h.Name, "Host"):
			req.Header.SetHost(h.Value)
			req.UseHostHeader = true
		case equalFold(h.Name, "User-Agent"):
			hasUA = true
			req.Header.Set(h.Name, h.Value)
		default:
			req.Header.Add(h.Name, h.Value)
		}
	}
	if !hasUA {
		req.Header.SetUserAgent(c.UserAgent)
	}
	if !c.KeepAlive {
		req.Header.SetConnectionClose()
	}
	if len(c.Body) > 0 {
		req.SetBody(c.Body)
	}
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i]|0x20, b[i]|0x20
		if x != y {
			return false
		}
	}
	return true
}

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
	e.phases = append(e.phases, phaseMark{name: name, at: e.elapsed()})
	e.phase.Store(int32(len(e.phases) - 1))
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
	p.Planned = e.limit
	return p
}

// Preflight sends one request outside the measured run to check that the
// target answers, so that a wrong URL or a stopped service is reported as
// that, not as a report full of refusals. It returns the response status
// and the identity found, if any; the error is set only when no response
// arrived at all.
func (e *Engine) Preflight(ctx context.Context) (status int, id PodIdentity, err error) {
	var conns atomic.Uint64
	var budget atomic.Int64
	pods := newPodRegistry()
	rec := newRecorder(make(chan *secSlot, 1), &budget, &liveCounters{}, 1<<20)
	w := newWorker(e, rec, pods, &conns)
	defer w.closeConn()
	s := sample{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.attempt(&s)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		w.closeConn()
		<-done
		return 0, PodIdentity{}, ctx.Err()
	}
	if s.status == 0 {
		return 0, PodIdentity{}, fmt.Errorf("%s (%s)", s.detail, s.outcome)
	}
	if s.pod != 0 {
		id = pods.snapshot()[s.pod]
	}
	return s.status, id, nil
}

// Run sends the load and returns what it measured. It returns when the
// configured duration or request count is reached, or ctx is done; then it
// stops sending, waits for requests in flight (each bounded by the
// timeout), and merges the workers' records.
func (e *Engine) Run(ctx context.Context) (*Stats, error) {
	if !e.started.CompareAndSwap(false, true) {
		return nil, errors.New("loadgen: Engine.Run called twice")
	}
	n := e.cfg.Connections
	// A request due in some second is recorded at most this much later:
	// every attempt times out, and a retry starts right after a failure.
	horizon := time.Duration(e.cfg.Retries+1)*e.cfg.Timeout + 2*time.Second
	col := newCollector(n, horizon)
	col.marks = e.phaseStarts
	go col.run()

	histMax := int64(2*e.cfg.Timeout/time.Microsecond) + 1_000_000
	e.live = make([]liveCounters, n)
	workers := make([]*worker, n)
	for i := range workers {
		rec := newRecorder(col.in, &e.budget, &e.live[i], histMax)
		workers[i] = newWorker(e, rec, e.pods, &e.conns)
	}
	e.mu.Lock()
	e.start = time.Now()
	e.begun = true
	e.mu.Unlock()

	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() { w.run(ctx) })
	}
	wg.Wait()
	close(col.in)
	<-col.done
	return e.merge(workers, col, histMax), nil
}

func (e *Engine) merge(workers []*worker, col *collector, histMax int64) *Stats {
	e.mu.Lock()
	marks := append([]phaseMark(nil), e.phases...)
	e.mu.Unlock()

	st := &Stats{
		Start:       e.start,
		StatusCodes: map[int]int64{},
		ConnsOpened: int64(e.conns.Load()),
		Seconds:     col.seconds(),
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
	for _, w := range workers {
		r := w.rec
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
		st.MaxSendDelay = max(st.MaxSendDelay, r.maxDelay)
		st.Failures = append(st.Failures, r.failures...)
		st.FailuresOmitted += r.omitted
		st.SendEnd = max(st.SendEnd, r.lastSent)
		st.End = max(st.End, r.lastEnd)
		st.BytesIn += w.bytesIn
		st.BytesOut += w.bytesOut
	}
	for i := range st.Phases {
		if i+1 < len(st.Phases) {
			st.Phases[i].End = st.Phases[i+1].Start
		} else {
			st.Phases[i].End = max(st.End, st.Phases[i].Start)
		}
	}
	sort.Slice(st.Failures, func(i, j int) bool {
		a, b := &st.Failures[i], &st.Failures[j]
		if a.Seq != b.Seq {
			return a.Seq < b.Seq
		}
		return a.Attempt < b.Attempt
	})
	return st
}

// newHistogram is the shape of every latency histogram: 1 µs to the given
// maximum in µs, three significant digits.
func newHistogram(maxUs int64) *hdrhistogram.Histogram { return hdrhistogram.New(1, maxUs, 3) }
