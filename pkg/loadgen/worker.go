package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// worker sends one request at a time on a connection it owns. Owning the
// connection (rather than borrowing one from a pool) is what makes counting
// exact: nothing behind the worker's back re-sends a request, every attempt
// is the worker's to record, and the connection remembers which pod
// answered on it last, so a failure without a body can still be attributed.
// net/http's Transport and fasthttp's HostClient both silently retry
// idempotent requests whose pooled connection failed; they are not used for
// that reason. fasthttp only formats requests and parses responses here.
type worker struct {
	e      *Engine
	pods   *podRegistry
	conns  *atomic.Uint64
	rec    *recorder
	recMu  *sync.Mutex // held around rec when workers share it (surge workers); nil otherwise
	req    fasthttp.Request
	resp   fasthttp.Response
	c      conn
	cache  map[string]int32 // identity source bytes → pod index
	key    []byte           // scratch for cache keys
	idBuf  []byte           // scratch for the request id header
	nextIP int
	// the response being read: the first MaxIdentityBytes of its body,
	// the body bytes read so far, the search for Config.ExpectBody, and
	// whether its final header block had arrived
	win       []byte
	bodyN     int64
	match     streamMatcher
	gotHeader bool
	// why the last attempt failed, and whether any of a response had
	// arrived; read by Preflight
	failErr  error
	answered bool
	// bytes moved on connections already closed
	bytesIn, bytesOut int64
}

// conn is the worker's current connection; nc is nil between connections.
type conn struct {
	nc      net.Conn
	counted countingConn
	br      *bufio.Reader
	bw      *bufio.Writer
	id      uint64
	served  int64
	lastPod int32
	idleAt  time.Time       // when the last response ended
	raw     syscall.RawConn // the TCP socket under any TLS, for stale checks
	// pending are failures answered on this connection before it named its
	// pod, waiting to be attributed when it does.
	pending []pendingFailure
}

// maxPending bounds the failures a connection holds back for attribution:
// a service that never names its pods must not grow memory.
const maxPending = 1000

// staleAfter is how long a connection must have been idle before it is
// checked for a close by the server. A busy connection is never checked, so
// the fast path pays nothing.
const staleAfter = time.Millisecond

// countingConn counts bytes so that the worker can tell whether any part of
// a response arrived before a failure, which decides whether a retry would
// be safe.
type countingConn struct {
	net.Conn
	in, out int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.in += int64(n)
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.out += int64(n)
	return n, err
}

const (
	identityCacheEntries = 1024
	identityCacheKeyMax  = 256
)

func newWorker(e *Engine, rec *recorder, pods *podRegistry, conns *atomic.Uint64) *worker {
	w := &worker{
		e:     e,
		pods:  pods,
		conns: conns,
		rec:   rec,
		cache: make(map[string]int32),
		match: newStreamMatcher(e.cfg.ExpectBody),
	}
	w.c.br = bufio.NewReaderSize(&w.c.counted, readBufferSize)
	w.c.bw = bufio.NewWriterSize(&w.c.counted, 8<<10)
	e.prepareRequest(&w.req)
	return w
}

// runClosed is the closed model: the worker sends its next request as soon
// as the previous one has completed, until the run's limit is reached or ctx
// is done. A request already sent when ctx ends runs to completion (bounded
// by the timeout): stopping must not turn in-flight requests into failures.
func (w *worker) runClosed(ctx context.Context) {
	e := w.e
	defer w.closeConn()
	defer w.rec.flush()
	for ctx.Err() == nil {
		seq := e.seq.Add(1) - 1
		if e.limit > 0 && seq >= e.limit {
			return
		}
		now := e.elapsed()
		if e.cfg.Duration > 0 && now >= e.cfg.Duration {
			return
		}
		w.do(job{seq: seq, due: now, phase: e.phaseAt(now)})
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
func (w *worker) do(j job) {
	e := w.e
	sent := e.elapsed()
	w.lockRec()
	w.rec.sent(j.due, sent)
	w.unlockRec()
	s := sample{seq: j.seq, intended: j.due, phase: j.phase, start: sent}
	for s.attempt = 1; ; s.attempt++ {
		retryable := w.attempt(&s)
		end := e.elapsed()
		s.latency = end - j.due
		if s.outcome.Failed() && retryable && s.attempt <= e.cfg.Retries {
			w.lockRec()
			w.rec.retried(&s)
			w.unlockRec()
			w.hold(&s, true)
			s.start = end
			continue
		}
		w.lockRec()
		w.rec.finish(&s, end)
		w.unlockRec()
		w.hold(&s, false)
		return
	}
}

// attempt sends the request once and fills in the outcome. It reports
// whether the failure may be retried: the attempt was on a reused
// connection, no byte of a response arrived, and the request is safe to
// replay.
func (w *worker) attempt(s *sample) (retryable bool) {
	e := w.e
	s.status, s.detail, s.pod, s.attr, s.conn, s.connReqs, s.record = 0, "", 0, AttrNone, 0, 0, -1
	w.failErr, w.answered, w.gotHeader = nil, false, false
	deadline := time.Now().Add(e.cfg.Timeout)
	if w.c.nc != nil && w.stale() {
		w.closeConn()
	}
	reused := w.c.nc != nil
	if !reused {
		if err := w.dial(deadline); err != nil {
			w.failErr = err
			s.outcome = ErrorOutcome(err, true)
			s.detail = "connect: " + errDetail(err)
			s.hasLatency = s.outcome == TimeoutConnect
			return false
		}
	}
	s.conn, s.connReqs = w.c.id, w.c.served
	if err := w.c.nc.SetDeadline(deadline); err != nil {
		w.closeConn()
		s.outcome, s.detail = Other, "set deadline: "+err.Error()
		return false
	}
	if e.cfg.RequestIDHeader != "" {
		w.idBuf = strconv.AppendUint(w.idBuf[:0], s.seq+1, 10)
		w.req.Header.SetBytesV(e.cfg.RequestIDHeader, w.idBuf)
	}
	in0 := w.c.counted.in
	err := w.req.Write(w.c.bw)
	if err == nil {
		err = w.c.bw.Flush()
	}
	if err == nil {
		// Wait for the first byte here rather than inside fasthttp, which
		// wraps that error in a type that hides the cause (reset, EOF or
		// timeout).
		_, err = w.c.br.Peek(1)
	}
	if err == nil {
		err = w.readResponse()
	}
	if err != nil {
		gotBytes := w.c.counted.in > in0
		w.failErr, w.answered = err, gotBytes
		s.outcome = ErrorOutcome(err, false)
		s.detail = errDetail(err)
		if w.gotHeader {
			s.detail = fmt.Sprintf("HTTP %d, body: %s", w.resp.Header.StatusCode(), s.detail)
		}
		s.hasLatency = s.outcome == TimeoutResponse
		if w.c.lastPod != 0 {
			s.pod, s.attr = w.c.lastPod, AttrConnection
		}
		w.closeConn()
		return reused && !gotBytes && e.replayable && (s.outcome == EOF || s.outcome == Reset)
	}
	s.hasLatency = true
	s.status = w.resp.StatusCode()
	s.outcome = StatusOutcome(s.status)
	if s.outcome == OK && !w.match.found {
		s.outcome = BodyMismatch
	}
	if s.outcome != OK {
		s.detail = responseDetail(s.status, w.win)
	}
	if pod := w.identify(); pod != 0 {
		w.c.lastPod = pod
		s.pod, s.attr = pod, AttrResponse
		if len(w.c.pending) > 0 {
			w.lockRec()
			w.rec.reattribute(w.c.pending, pod)
			w.unlockRec()
			w.c.pending = w.c.pending[:0]
		}
	} else if w.c.lastPod != 0 {
		s.pod, s.attr = w.c.lastPod, AttrConnection
	}
	w.c.served++
	if !e.cfg.KeepAlive || w.resp.ConnectionClose() || s.status == fasthttp.StatusSwitchingProtocols {
		w.closeConn()
	} else {
		w.c.idleAt = time.Now()
	}
	return false
}

// stale reports whether the server has closed the idle connection (its FIN
// or a stray byte is waiting to be read). Clients that pool connections —
// Go's net/http with its background read, JMeter's stale check, browsers —
// notice this before they reuse a connection, so sending on it anyway would
// count drops that no real client meets. Nothing was sent, so nothing is
// recorded; only the race of a close crossing a request on the wire, which
// real clients meet too, remains.
func (w *worker) stale() bool {
	switch {
	case w.c.br.Buffered() > 0:
		return true // bytes nobody asked for: the stream is out of step
	case w.c.raw == nil || time.Since(w.c.idleAt) < staleAfter:
		return false
	}
	return peerClosed(w.c.raw)
}

// hold keeps a failure answered on a still-open connection that has not
// named its pod yet, so that it can be attributed when the connection does.
func (w *worker) hold(s *sample, retried bool) {
	if !s.outcome.Failed() || s.attr != AttrNone || w.c.nc == nil || w.c.id != s.conn || len(w.c.pending) >= maxPending {
		return
	}
	w.c.pending = append(w.c.pending, pendingFailure{record: s.record, outcome: s.outcome, retried: retried, intended: s.intended})
}

func (w *worker) dial(deadline time.Time) error {
	e := w.e
	addr := e.addrs[w.nextIP%len(e.addrs)]
	w.nextIP++
	d := net.Dialer{Deadline: deadline}
	// Not the run's context: a connection being set up for a request that
	// is already under way finishes (or times out) like the request does.
	nc, err := d.DialContext(context.Background(), "tcp", addr)
	if err != nil {
		return err
	}
	w.c.raw = nil
	if tc, ok := nc.(*net.TCPConn); ok {
		w.c.raw, _ = tc.SyscallConn()
	}
	if e.tlsConfig != nil {
		tc := tls.Client(nc, e.tlsConfig)
		if err := tc.SetDeadline(deadline); err != nil {
			nc.Close()
			return err
		}
		if err := tc.Handshake(); err != nil {
			nc.Close()
			return err
		}
		nc = tc
	}
	w.c.nc = nc
	w.c.counted = countingConn{Conn: nc}
	w.c.br.Reset(&w.c.counted)
	w.c.bw.Reset(&w.c.counted)
	w.c.id = w.conns.Add(1)
	w.c.served = 0
	w.c.lastPod = 0
	w.c.pending = w.c.pending[:0]
	return nil
}

func (w *worker) closeConn() {
	if w.c.nc == nil {
		return
	}
	w.c.nc.Close()
	w.c.nc = nil
	w.bytesIn += w.c.counted.in
	w.bytesOut += w.c.counted.out
	w.c.counted = countingConn{}
}

// identify returns the index of the pod that sent the current response, or
// 0. Responses from one pod are usually byte-identical, so the raw bytes are
// looked up in a per-worker cache first: the common case parses nothing,
// takes no lock and allocates nothing.
func (w *worker) identify() int32 {
	id := w.e.identity
	var src, ver []byte
	switch {
	case id.FromHeaders():
		src = w.resp.Header.Peek(id.header)
		if id.versionHeader != "" {
			ver = w.resp.Header.Peek(id.versionHeader)
		}
	case id.Enabled():
		src = w.win // the body's first MaxIdentityBytes
	default:
		return 0
	}
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

func errDetail(err error) string {
	msg := err.Error()
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	return msg
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
