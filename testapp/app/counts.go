package app

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"syscall"
)

// CountsLogPrefix starts the line the binary writes to its log on exit:
// the prefix, a space, then the final Counts as one line of JSON.
const CountsLogPrefix = "rolltest-testapp-counts"

// Counts is the server's own account of what it did: ground truth to hold
// a load generator's numbers against. Serve keeps it with atomic counters
// on its listener, its connections and its handler; requests served through
// Handler embedded in another server are not counted.
//
// Requests are split into Traffic and Probes. A probe is a request that
// the kubelet, not a client, sends: /common/healthy with a non-empty
// "checker" header (what the manifests' probes send), /common/preStop, and
// a gRPC Health/Check whose user agent starts with "kube-probe/" (the
// kubelet's gRPC probe, which can send no header of its own choosing).
// Everything else is traffic, 404s and 405s included.
//
// An HTTP/1.1 request is accounted for on its connection, an HTTP/2 stream
// (h2c, gRPC) on its own, when its handler returns: see RequestCounts.
// A gRPC response, whose HTTP status is always 200, is filed under the
// class of the HTTP status google.rpc.Code maps its grpc-status to (OK
// 200, NOT_FOUND 404, UNIMPLEMENTED 501, UNAVAILABLE 503, INTERNAL 500, ...).
//
// Counts read while the server runs are a snapshot of independent
// counters, each exact, not all taken at the same instant. Once Serve has
// returned they are final: Serve waits (bounded) for every connection's
// goroutine to finish before returning.
type Counts struct {
	// Pod, IP and Version are what /common/healthy answers with: POD_ID,
	// POD_IP and APP_VERSION.
	Pod     string `json:"pod"`
	IP      string `json:"ip"`
	Version string `json:"version"`

	Traffic     RequestCounts `json:"traffic"`
	Probes      RequestCounts `json:"probes"`
	Connections ConnCounts    `json:"connections"`
}

// RequestCounts accounts for requests. Every received request ends in
// exactly one of Written, WriteFailed and Unanswered once its connection is
// idle again or closed, so
//
//	Received == Written.Total() + WriteFailed.Total() + Unanswered + InFlight
//
// with InFlight 0 once Serve has returned (unless a handler outlived the
// bounded wait, which testapp's handlers, which never block, do not).
//
// The definitions below are those of HTTP/1.1. net/http's HTTP/2 server
// writes a stream's frames after its handler returns and reports nothing
// per stream, so an HTTP/2 stream's outcome is decided as its handler
// returns: Unanswered if the stream was gone (reset, or its connection
// closed) before the handler wrote any of the body, or the handler wrote
// none; WriteFailed if it went, or a write failed, after the handler began
// writing the body; Written otherwise: the response was queued on a live
// stream. A connection that breaks in the instant between that and its
// frames reaching the socket still counts it Written.
type RequestCounts struct {
	// Received counts requests whose request line and headers net/http
	// read and parsed, i.e. the handler was called. Requests net/http
	// rejects itself (malformed, headers too large) are not counted.
	Received int64 `json:"received"`
	// Written counts responses, by the final status code the handler
	// chose (for gRPC, that of its grpc-status, see Counts), every byte
	// of which the connection accepted: each write of the response to
	// the socket returned no error. The kernel then owns the bytes; it
	// does not prove that the client read them.
	Written StatusCounts `json:"written"`
	// WriteFailed counts responses the server started writing on a
	// connection it still believed open, where a write returned an error
	// (the client reset the connection, or it broke while being written).
	WriteFailed StatusCounts `json:"write_failed"`
	// Unanswered counts requests that were received but whose connection
	// was already gone before the server wrote any of the answer: the
	// server had closed it (shutdown, drain timeout, exit on SIGTERM, the
	// process killed), or a read on it had already returned EOF or a
	// reset (the client left while its request was being handled); the
	// write then failed or never happened. Also a handler that panicked.
	Unanswered int64 `json:"unanswered"`
	// InFlight is Received minus the three outcomes: requests still being
	// handled or written when the counts were read.
	InFlight int64 `json:"in_flight"`
}

// StatusCounts counts responses by status class. Other is 1xx and 3xx
// final codes (testapp sends none).
type StatusCounts struct {
	S2xx  int64 `json:"2xx"`
	S4xx  int64 `json:"4xx"`
	S5xx  int64 `json:"5xx"`
	Other int64 `json:"other"`
}

// Total is the sum of the classes.
func (s StatusCounts) Total() int64 { return s.S2xx + s.S4xx + s.S5xx + s.Other }

// Add adds n to the class of status code.
func (s *StatusCounts) Add(code int, n int64) {
	switch statusClass(code) {
	case class2xx:
		s.S2xx += n
	case class4xx:
		s.S4xx += n
	case class5xx:
		s.S5xx += n
	default:
		s.Other += n
	}
}

// ConnCounts accounts for connections. Accepted == Closed + Open, and
// Closed is the sum of the four ClosedBy counts: each closed connection is
// counted once, by whoever was first seen to end it.
type ConnCounts struct {
	// Accepted counts connections the listener accepted.
	Accepted int64 `json:"accepted"`
	// Open is Accepted minus Closed.
	Open int64 `json:"open"`
	// Closed counts connections net/http has finished with (ConnState
	// Closed; Hijacked, which testapp never does, counts too).
	Closed int64 `json:"closed"`
	// ClosedByServer: the server closed the connection before any sign
	// that the client had: after a Connection: close response, an idle
	// or read timeout, shutdown, or the socket closed under it (a killed
	// process, as the simulator models it). A client that closes as soon
	// as it has read a Connection: close response may be seen first
	// (ClosedByClientEOF): net/http still reads while it writes.
	ClosedByServer int64 `json:"closed_by_server"`
	// ClosedByClientEOF: a read returned EOF (the client's FIN) before
	// the server closed the connection.
	ClosedByClientEOF int64 `json:"closed_by_client_eof"`
	// ClosedByClientReset: a read or write failed with ECONNRESET, EPIPE
	// or ECONNABORTED (the client's RST) before the server closed it.
	ClosedByClientReset int64 `json:"closed_by_client_reset"`
	// ClosedOther: a read or write failed with another error first.
	ClosedOther int64 `json:"closed_other"`
}

// status classes, indexes into the counter arrays.
const (
	class2xx = iota
	class4xx
	class5xx
	classOther
	numClasses
)

func statusClass(code int) int {
	switch {
	case code >= 200 && code < 300:
		return class2xx
	case code >= 400 && code < 500:
		return class4xx
	case code >= 500 && code < 600:
		return class5xx
	}
	return classOther
}

type reqCounters struct {
	received, unanswered atomic.Int64
	written, writeFailed [numClasses]atomic.Int64
}

type counters struct {
	traffic, probes                         reqCounters
	accepted, closed, open                  atomic.Int64
	byServer, byClientEOF, byReset, byOther atomic.Int64
}

func (c *reqCounters) snapshot() RequestCounts {
	load := func(a *[numClasses]atomic.Int64) StatusCounts {
		return StatusCounts{S2xx: a[class2xx].Load(), S4xx: a[class4xx].Load(), S5xx: a[class5xx].Load(), Other: a[classOther].Load()}
	}
	// The outcomes first, Received last: a request is received before it
	// ends, so InFlight is never negative.
	rc := RequestCounts{Written: load(&c.written), WriteFailed: load(&c.writeFailed), Unanswered: c.unanswered.Load()}
	rc.Received = c.received.Load()
	rc.InFlight = rc.Received - rc.Written.Total() - rc.WriteFailed.Total() - rc.Unanswered
	return rc
}

// Counts returns the server's counts now. See Counts for what each means.
func (s *Server) Counts() Counts {
	c := &s.counts
	out := Counts{Pod: s.podID, IP: s.podIP, Version: s.version}
	out.Traffic = c.traffic.snapshot()
	out.Probes = c.probes.snapshot()
	cc := ConnCounts{
		ClosedByServer: c.byServer.Load(), ClosedByClientEOF: c.byClientEOF.Load(),
		ClosedByClientReset: c.byReset.Load(), ClosedOther: c.byOther.Load(),
	}
	cc.Closed = c.closed.Load()
	cc.Accepted = c.accepted.Load()
	cc.Open = cc.Accepted - cc.Closed
	out.Connections = cc
	return out
}

// CountsHandler serves Counts as JSON, for an admin port that load never
// reaches.
func (s *Server) CountsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			methodNotAllowed(w, "GET, HEAD")
			return
		}
		b, err := json.Marshal(s.Counts())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(append(b, '\n'))
	})
}

// AtExit returns c as it stands for a process that exits now without
// draining (os.Exit on SIGTERM): the kernel closes every open connection,
// the server's end. Requests in flight stay InFlight, and are final: the
// exit caught them being handled or written, so each response may have
// reached its client whole, in part or not at all, which the process
// cannot know.
func (c Counts) AtExit() Counts {
	cc := &c.Connections
	cc.ClosedByServer += cc.Open
	cc.Closed += cc.Open
	cc.Open = 0
	return c
}

// WriteCountsLine writes the CountsLogPrefix line with the current counts
// to w.
func (s *Server) WriteCountsLine(w io.Writer) error { return writeCountsLine(w, s.Counts()) }

// WriteExitCountsLine is for a process about to exit without draining: it
// closes the listener and every connection at once, as the exit would a
// moment later, so that no request arrives after the counts are taken, and
// writes the CountsLogPrefix line with the counts AtExit. Requests still
// being handled then stay in flight.
func (s *Server) WriteExitCountsLine(w io.Writer) error {
	s.srv.Close()
	return writeCountsLine(w, s.Counts().AtExit())
}

func writeCountsLine(w io.Writer, c Counts) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	_, err = io.WriteString(w, CountsLogPrefix+" "+string(b)+"\n")
	return err
}

// Who ended a connection first.
const (
	closerNone int32 = iota
	closerServer
	closerClientEOF
	closerClientReset
	closerOther
)

// countingListener counts accepted connections and wraps them.
type countingListener struct {
	net.Listener
	c *counters
}

func (l countingListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.c.accepted.Add(1)
	l.c.open.Add(1)
	return &trackedConn{Conn: nc, c: l.c}, nil
}

// trackedConn follows one connection: who ended it, and the fate of the
// request being served on it. The request fields are only touched by the
// connection's serving goroutine (handler, response writes, ConnState
// Active/Idle/Closed all run there); closer is also set by net/http's
// background read and by Close from other goroutines.
type trackedConn struct {
	net.Conn
	c      *counters
	closer atomic.Int32

	req             *reqCounters // the unsettled request's counters, or nil
	code            int          // its status, once the handler returned
	handlerDone     bool
	wrote           bool // a write of its response was attempted
	werr            bool // a write of its response failed
	deadBeforeWrite bool // the connection was already ended when the first write began
	sw              statusWriter
}

func (t *trackedConn) end(who int32) { t.closer.CompareAndSwap(closerNone, who) }

// noteErr records who ended the connection from a read or write error.
// Timeouts are not an end: net/http sets past deadlines itself to abort
// its background read.
func (t *trackedConn) noteErr(err error) {
	var ne net.Error
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
	case errors.Is(err, io.EOF):
		t.end(closerClientEOF)
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED):
		t.end(closerClientReset)
	case errors.Is(err, net.ErrClosed):
		// Closed on this side without going through Close: the socket
		// was taken away (a killed process, in the simulator).
		t.end(closerServer)
	default:
		t.end(closerOther)
	}
}

func (t *trackedConn) Read(b []byte) (int, error) {
	n, err := t.Conn.Read(b)
	if err != nil {
		t.noteErr(err)
	}
	return n, err
}

func (t *trackedConn) Write(b []byte) (int, error) {
	if t.req != nil && !t.wrote {
		t.wrote = true
		t.deadBeforeWrite = t.closer.Load() != closerNone
	}
	n, err := t.Conn.Write(b)
	if err != nil {
		t.noteErr(err)
		if t.req != nil {
			t.werr = true
		}
	}
	return n, err
}

func (t *trackedConn) Close() error {
	t.end(closerServer)
	return t.Conn.Close()
}

// CloseWrite keeps net/http's half-close (after an unread request body)
// working through the wrapper.
func (t *trackedConn) CloseWrite() error {
	if cw, ok := t.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// begin starts accounting for a request whose handler is about to run.
func (t *trackedConn) begin(rc *reqCounters, w http.ResponseWriter) http.ResponseWriter {
	t.settle() // net/http always goes through Idle first; this is a safety net
	rc.received.Add(1)
	t.req, t.code, t.handlerDone, t.wrote, t.werr, t.deadBeforeWrite = rc, 0, false, false, false, false
	t.sw = statusWriter{ResponseWriter: w}
	return &t.sw
}

// handled records that the handler returned; the response is written
// after this, when net/http flushes it.
func (t *trackedConn) handled() {
	t.code = t.sw.code
	if t.code == 0 {
		t.code = http.StatusOK
	}
	t.sw.ResponseWriter = nil
	t.handlerDone = true
}

// settle decides the outcome of the connection's request, if one is
// pending: its response has been flushed (ConnState Idle) or the
// connection is finished (ConnState Closed).
func (t *trackedConn) settle() {
	rc := t.req
	if rc == nil {
		return
	}
	t.req = nil
	switch {
	case !t.handlerDone, !t.wrote, t.werr && t.deadBeforeWrite:
		rc.unanswered.Add(1)
	case t.werr:
		rc.writeFailed[statusClass(t.code)].Add(1)
	default:
		rc.written[statusClass(t.code)].Add(1)
	}
}

// closed accounts for the end of the connection.
func (t *trackedConn) closed() {
	t.settle()
	c := t.c
	switch t.closer.Load() {
	case closerClientEOF:
		c.byClientEOF.Add(1)
	case closerClientReset:
		c.byReset.Add(1)
	case closerOther:
		c.byOther.Add(1)
	default: // net/http always Closes before ConnState Closed
		c.byServer.Add(1)
	}
	c.closed.Add(1)
	c.open.Add(-1)
}

// statusWriter remembers the final status code the handler chose. One
// lives in each trackedConn and is reused, so wrapping does not allocate.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 && code >= 200 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

type connKey struct{}

func connContext(ctx context.Context, nc net.Conn) context.Context {
	if t, ok := nc.(*trackedConn); ok {
		return context.WithValue(ctx, connKey{}, t)
	}
	return ctx
}

func connState(nc net.Conn, st http.ConnState) {
	t, ok := nc.(*trackedConn)
	if !ok {
		return
	}
	switch st {
	case http.StateIdle:
		t.settle()
	case http.StateClosed, http.StateHijacked:
		t.closed()
	}
}

// isProbe reports whether r is the kubelet's rather than a client's: a
// probe (/common/healthy with a checker header, or a gRPC Health/Check
// whose user agent is the kubelet's) or the preStop hook.
func isProbe(r *http.Request) bool {
	switch r.URL.Path {
	case PathPreStop:
		return true
	case PathHealthy:
		v := r.Header["Checker"]
		return len(v) > 0 && v[0] != ""
	case GRPCHealthCheckPath:
		return isGRPCProbe(r)
	}
	return false
}

// serveCounted is the handler Serve's server runs: serveHTTP, with the
// request accounted for on its connection.
func (s *Server) serveCounted(w http.ResponseWriter, r *http.Request) {
	t, _ := r.Context().Value(connKey{}).(*trackedConn)
	if t == nil {
		s.serveHTTP(w, r)
		return
	}
	rc := &s.counts.traffic
	if isProbe(r) {
		rc = &s.counts.probes
	}
	if r.ProtoMajor == 2 {
		// Streams of one connection run at once: each is accounted for
		// on its own, not on the connection.
		s.serveStream(w, r, rc)
		return
	}
	sw := t.begin(rc, w)
	s.serveHTTP(sw, r)
	t.handled() // not deferred: a handler that panics left its request unanswered
}
