package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// worker sends one request at a time on a connection it owns (see Conn for
// why owning it makes counting exact), attributes each response to a pod,
// and records it. The connection remembers which pod answered on it last,
// so a failure without a body can still be attributed. The wire is the
// Transport's: the worker only schedules, attributes and records.
type worker struct {
	e     *Engine
	pods  *podRegistry
	conns *atomic.Uint64
	rec   *recorder
	recMu *sync.Mutex // held around rec when workers share it (surge workers); nil otherwise
	c     conn
	req   Request
	res   Response
	cache map[string]int32 // identity source bytes → pod index
	key   []byte           // scratch for cache keys
	scan  autoScan         // scratch for auto identity
	// bytes moved by every round trip so far
	bytesIn, bytesOut int64
	att               workerAttempt // for Config.Attempts
}

// conn is the worker's current connection and what the worker knows of
// it; Conn is nil between connections.
type conn struct {
	Conn
	id      uint64
	served  int64
	lastPod int32
	// sh is set when the Conn is a stream slot of a shared connection
	// (HTTP/2 multiplexing): id, served and the pod are then the
	// connection's, whichever slot answered.
	sh *sharedConn
	// idleSince is when (time since the run's start) the connection's
	// last attempt ended: how long it has been idle is Reusable's to know.
	idleSince time.Duration
	// pending are failures answered on this connection before it named its
	// pod, waiting to be attributed when it does.
	pending []pendingFailure
}

// pod is the pod that last answered on the connection: on any of its
// slots, for a shared one.
func (c *conn) pod() int32 {
	if c.sh != nil {
		return c.sh.lastPod.Load()
	}
	return c.lastPod
}

// maxPending bounds the failures a connection holds back for attribution:
// a service that never names its pods must not grow memory.
const maxPending = 1000

const (
	identityCacheEntries = 1024
	identityCacheKeyMax  = 256
)

func newWorker(e *Engine, rec *recorder, pods *podRegistry, conns *atomic.Uint64) *worker {
	return &worker{
		e:     e,
		pods:  pods,
		conns: conns,
		rec:   rec,
		cache: make(map[string]int32),
		// A gRPC body is protobuf: auto identity reads its headers and
		// trailers alone.
		scan: autoScan{headersOnly: e.cfg.Protocol == ProtoGRPC},
	}
}

// runClosed is the closed model: the worker sends its next request as soon
// as the previous one has completed, until the run's limit is reached or ctx
// is done. A request already sent when ctx ends runs to completion (bounded
// by the timeout): stopping must not turn in-flight requests into failures.
func (w *worker) runClosed(ctx context.Context) {
	e := w.e
	defer w.closeConn()
	for ctx.Err() == nil {
		seq := e.shardSeq(e.seq.Add(1) - 1)
		if e.limit > 0 && seq >= e.limit {
			return
		}
		now := e.elapsed()
		if e.cfg.Duration > 0 && now >= e.cfg.Duration {
			return
		}
		// Sent as it is due: the clock read for the due time serves.
		w.doAt(job{seq: seq, due: now, phase: e.phaseAt(now)}, now)
	}
}

func (w *worker) lockRec() {
	if w.recMu != nil {
		w.recMu.Lock()
	}
}

func (w *worker) unlockRec() {
	if w.recMu != nil {
		w.recMu.Unlock()
	}
}

// do sends request j with its retries, and records it. Latency counts from
// the due time: in the open model a request that waited for a connection
// carries the wait.
func (w *worker) do(j job) { w.doAt(j, w.e.elapsed()) }

// doAt is do for a request sent at sent (time since the run's start).
func (w *worker) doAt(j job, sent time.Duration) {
	e := w.e
	w.lockRec()
	w.rec.sent(j.due, sent)
	w.unlockRec()
	s := sample{seq: j.seq, target: int32(e.TargetOf(j.seq)), intended: j.due, phase: j.phase, start: sent}
	for s.attempt = 1; ; s.attempt++ {
		retryable := w.attempt(&s)
		end := e.elapsed()
		w.c.idleSince = end
		s.latency = end - j.due
		if s.outcome.Failed() && retryable && s.attempt <= e.cfg.Retries {
			w.lockRec()
			w.rec.retried(&s)
			w.unlockRec()
			w.emit(&s, end, true)
			w.hold(&s, true)
			s.start = end
			continue
		}
		w.lockRec()
		w.rec.finish(&s, end)
		w.unlockRec()
		w.emit(&s, end, false)
		w.hold(&s, false)
		return
	}
}

// attempt sends the request once and fills in the outcome. It reports
// whether the failure may be retried: the attempt was on a reused
// connection, no byte of a response arrived, and the request is safe to
// replay (net/http's rule).
func (w *worker) attempt(s *sample) (retryable bool) {
	e := w.e
	s.status, s.detail, s.pod, s.attr, s.conn, s.connReqs, s.record = 0, "", 0, AttrNone, 0, 0, -1
	s.connect, s.bytesIn, s.bytesOut = 0, 0, 0
	// From the run's start and the attempt's, which the engine's clock
	// read already: a clock read less on every request.
	w.req = Request{Seq: s.seq, Target: int(s.target), Deadline: e.start.Add(s.start + e.cfg.Timeout)}
	if w.c.Conn != nil && !w.c.Reusable(s.start-w.c.idleSince) {
		w.closeConn()
	}
	reused := w.c.Conn != nil
	var err error
	for tries := 0; ; tries++ {
		if w.c.Conn == nil {
			var ok bool
			if reused, ok = w.dial(s); !ok {
				return false
			}
		}
		s.conn, s.connReqs = w.c.id, w.c.served
		if w.c.sh != nil {
			s.connReqs = w.c.sh.served.Load()
		}
		err = w.c.RoundTrip(context.Background(), &w.req, &w.res)
		if err == nil || tries == 2 || !errors.Is(err, errNotSent) {
			break
		}
		// Nothing was sent: a shared connection stopped taking requests
		// (GOAWAY, a failure) in the instant since Reusable said it
		// did. As when Reusable says so, a new connection carries the
		// request; this is no re-send.
		w.closeConn()
	}
	w.bytesIn += w.res.BytesIn
	w.bytesOut += w.res.BytesOut
	s.bytesIn, s.bytesOut = w.res.BytesIn, w.res.BytesOut
	if err != nil {
		ae := asAttemptError(err, false)
		w.failed(s, ae)
		if pod := w.c.pod(); pod != 0 {
			s.pod, s.attr = pod, AttrConnection
		}
		w.closeConn()
		return s.outcome.Unprocessed() || reused && !ae.Answered && e.replayable[s.target] && (s.outcome == EOF || s.outcome == Reset)
	}
	s.hasLatency = true
	s.status = w.res.Status
	s.outcome = responseOutcome(&w.res)
	if s.outcome != OK {
		s.detail = attemptDetail(&w.res)
	}
	if pod := w.identify(); pod != 0 {
		w.c.lastPod = pod
		if w.c.sh != nil && w.c.sh.lastPod.Load() != pod {
			w.c.sh.lastPod.Store(pod)
		}
		s.pod, s.attr = pod, AttrResponse
		if len(w.c.pending) > 0 {
			w.lockRec()
			w.rec.reattribute(w.c.pending, pod)
			w.unlockRec()
			w.c.pending = w.c.pending[:0]
		}
	} else if pod := w.c.pod(); pod != 0 {
		s.pod, s.attr = pod, AttrConnection
	}
	w.c.served++
	if w.c.sh != nil {
		w.c.sh.served.Add(1)
	}
	if w.res.Close {
		w.closeConn()
	}
	return false
}

// dial opens the worker's connection for the attempt in s, and records a
// failure to. reused says whether the connection is one others have
// carried requests on already (a shared one), for the retry rule.
func (w *worker) dial(s *sample) (reused, ok bool) {
	e := w.e
	c, err := e.transport.Dial(context.Background(), w.req.Deadline)
	s.connect = e.elapsed() - s.start
	if err != nil {
		w.failed(s, asAttemptError(err, true))
		return false, false
	}
	w.c = conn{Conn: c, pending: w.c.pending[:0]}
	sc, shared := c.(sharing)
	if !shared {
		w.c.id = w.conns.Add(1)
		return false, true
	}
	sh := sc.shared()
	sh.once.Do(func() { sh.id = w.conns.Add(1) })
	w.c.sh, w.c.id = sh, sh.id
	return sh.served.Load() > 0, true
}

// failed records why an attempt got no complete response. A timeout has
// a latency (the timeout); a refusal or a reset has none that means
// anything.
func (w *worker) failed(s *sample, ae *AttemptError) {
	s.outcome = ae.Outcome
	s.detail = ae.detail(errDetail(ae.Err))
	s.hasLatency = s.outcome == TimeoutConnect || s.outcome == TimeoutResponse
}

// responseOutcome classifies a complete response: by the protocol's own
// verdict when it has one (gRPC's status), else by its status, and a 2xx
// whose body lacks the expected text as a mismatch.
func responseOutcome(res *Response) Outcome {
	if res.Outcome != OK {
		return res.Outcome
	}
	o := StatusOutcome(res.Status)
	if o == OK && !res.Matched {
		return BodyMismatch
	}
	return o
}

// hold keeps a failure answered on a still-open connection that has not
// named its pod yet, so that it can be attributed when the connection does.
func (w *worker) hold(s *sample, retried bool) {
	if !s.outcome.Failed() || s.attr != AttrNone || w.c.Conn == nil || w.c.id != s.conn || len(w.c.pending) >= maxPending {
		return
	}
	w.c.pending = append(w.c.pending, pendingFailure{record: s.record, outcome: s.outcome, retried: retried, intended: s.intended})
}

func (w *worker) closeConn() {
	if w.c.Conn == nil {
		return
	}
	_ = w.c.Close()
	w.c.Conn = nil
}

// identify returns the index of the pod that sent the current response, or
// 0. Responses from one pod are usually byte-identical, so the raw bytes are
// looked up in a per-worker cache first: the common case parses nothing,
// takes no lock and allocates nothing.
func (w *worker) identify() int32 {
	if a := w.e.auto; a != nil {
		return w.identifyAuto(a)
	}
	id := w.e.identity
	src, ver := identitySource(id, &w.res)
	if len(src) == 0 {
		return 0
	}
	cacheable := len(src)+len(ver) < identityCacheKeyMax
	if cacheable {
		w.key = append(append(append(w.key[:0], src...), 0), ver...)
		if i, ok := w.cache[string(w.key)]; ok {
			return i
		}
	}
	var i int32
	if p, ok := id.Parse(src, ver); ok {
		i = w.pods.intern(p)
	}
	if cacheable && len(w.cache) < identityCacheEntries {
		w.cache[string(w.key)] = i
	}
	return i
}

// identifyAuto is identify for auto identity. Until a rule is settled on,
// every rule reads the response and the first in order that names a pod
// attributes it, so no request is lost to the unknown pod while detecting;
// afterwards the settled rule alone runs. The cache is keyed by the fields
// found, not the raw bytes: JSON and text bodies often carry what changes
// with every response (a time, the client's port), the pod does not.
func (w *worker) identifyAuto(a *autoState) int32 {
	w.scan.reset(&w.res)
	var f podFields
	if r := a.settled(); r >= 0 {
		var ok bool
		if f, ok = w.scan.rule(r); !ok {
			return 0
		}
	} else if r, g := a.detect(&w.scan, w.res.Status, true); r >= 0 {
		f = g
	} else {
		return 0
	}
	cacheable := len(f.pod)+len(f.ip)+len(f.ver)+2 < identityCacheKeyMax
	if cacheable {
		// The fields are printable, so a 0 byte cannot be part of one.
		w.key = append(append(append(append(append(w.key[:0], f.pod...), 0), f.ip...), 0), f.ver...)
		if i, ok := w.cache[string(w.key)]; ok {
			return i
		}
	}
	i := w.pods.intern(f.identity())
	if cacheable && len(w.cache) < identityCacheEntries {
		w.cache[string(w.key)] = i
	}
	return i
}

// captureHeaders names the response headers a transport must hand back
// for id: the pod's and the version's, for header identities, and every
// header an auto rule reads.
func captureHeaders(id *Identity) []string {
	if id.Auto() {
		return autoHeaders
	}
	if !id.FromHeaders() {
		return nil
	}
	if id.versionHeader != "" {
		return []string{id.header, id.versionHeader}
	}
	return []string{id.header}
}

// identitySource returns what id reads a response's pod from (the pod
// header, or the body's first MaxIdentityBytes) and the version header;
// nil when id reads nothing. res.Header is as captureHeaders(id) asked.
func identitySource(id *Identity, res *Response) (src, ver []byte) {
	switch {
	case id.FromHeaders():
		if len(res.Header) > 0 {
			src = res.Header[0]
		}
		if len(res.Header) > 1 {
			ver = res.Header[1]
		}
		return src, ver
	case id.Enabled():
		return res.Body, nil
	}
	return nil, nil
}

func errDetail(err error) string {
	msg := err.Error()
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	return msg
}

// attemptDetail describes a complete response that failed: in the
// protocol's words when it gave some (gRPC's status and message), else by
// its status and body.
func attemptDetail(res *Response) string {
	if res.Outcome != OK && len(res.Detail) > 0 {
		return string(res.Detail)
	}
	return responseDetail(res.Status, res.Body)
}

// responseDetail describes a failed response: its status and the start of
// its body (from the window of its first bytes), which often says why (e.g.
// the seed's shutdown warning).
func responseDetail(status int, body []byte) string {
	body = bytes.TrimSpace(body)
	if len(body) > 80 {
		body = append(body[:80:80], "…"...)
	}
	if len(body) == 0 {
		return fmt.Sprintf("HTTP %d", status)
	}
	return fmt.Sprintf("HTTP %d: %q", status, body)
}
