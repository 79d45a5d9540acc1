package loadgen

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// http1 is the built-in Transport: HTTP/1.1 over TCP or TLS, one request
// at a time per connection, no pipelining. fasthttp only formats the
// request and parses response headers; the connection, its deadlines and
// the body are handled here, so that every error keeps its cause (reset,
// EOF or timeout) and nothing is retried behind the caller.
type http1 struct {
	cfg TransportConfig
	tls *tls.Config // cfg.TLS offering http/1.1 alone; nil for http
	// head says, by target, that the request is a HEAD: its responses
	// have no body, whatever their headers say.
	head []bool
	next atomic.Uint64
	// free holds closed connections with their buffers (32 KiB each) and
	// formatted request, so that a run without keep-alive does not
	// allocate them for every request.
	free sync.Pool
}

// errNoSuchTarget is a Request.Target outside TransportConfig.Requests: a
// bug in the caller, reported as an attempt that failed rather than a
// panic in the middle of a run.
var errNoSuchTarget = errors.New("no request of that index")

// staleAfter is how long a connection must have been idle before it is
// checked for a close by the server. A busy connection is never checked, so
// the fast path pays nothing.
const staleAfter = time.Millisecond

func newHTTP1(cfg TransportConfig) *http1 {
	if len(cfg.Requests) == 0 {
		cfg.Requests = []RequestSpec{{URL: cfg.Target, Method: cfg.Method, Headers: cfg.Headers, Body: cfg.Body}}
	}
	t := &http1{cfg: cfg}
	for _, r := range cfg.Requests {
		t.head = append(t.head, equalFold(r.Method, "HEAD"))
	}
	if cfg.TLS != nil {
		t.tls = cfg.TLS.Clone()
		t.tls.NextProtos = []string{"http/1.1"}
	}
	return t
}

// h1conn is one HTTP/1.1 connection.
type h1conn struct {
	t       *http1
	nc      net.Conn // nil once closed
	counted countingConn
	br      *bufio.Reader
	bw      *bufio.Writer
	raw     syscall.RawConn // the TCP socket under any TLS, for the stale check
	// reqs are the run's requests formatted, by target; head is the one
	// being answered's.
	reqs  []fasthttp.Request
	head  bool
	resp  fasthttp.ResponseHeader
	idBuf []byte // scratch for the request id header
	body  bodySink
	// gotHeader: the final header block of the response being read had
	// arrived, so a failure is the body's.
	gotHeader bool
}

// countingConn counts bytes so that a round trip can tell whether any part
// of a response arrived before a failure, which decides whether a retry
// would be safe.
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

// Dial implements Transport. Dials rotate over the resolved addresses.
func (t *http1) Dial(ctx context.Context, deadline time.Time) (Conn, error) {
	addr := t.cfg.Addrs[(t.next.Add(1)-1)%uint64(len(t.cfg.Addrs))]
	d := net.Dialer{Deadline: deadline}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, asAttemptError(err, true)
	}
	var raw syscall.RawConn
	if tc, ok := nc.(*net.TCPConn); ok {
		raw, _ = tc.SyscallConn()
	}
	if t.tls != nil {
		tc := tls.Client(nc, t.tls)
		if err := tc.SetDeadline(deadline); err != nil {
			nc.Close()
			return nil, asAttemptError(err, true)
		}
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, asAttemptError(err, true)
		}
		nc = tc
	}
	c := t.conn()
	c.nc, c.raw = nc, raw
	c.counted = countingConn{Conn: nc}
	c.br.Reset(&c.counted)
	c.bw.Reset(&c.counted)
	return c, nil
}

// conn returns a closed connection to reuse, or a new one.
func (t *http1) conn() *h1conn {
	if c, ok := t.free.Get().(*h1conn); ok {
		return c
	}
	c := &h1conn{t: t, body: newBodySink(t.cfg.ExpectBody, t.cfg.MaxBodyBytes)}
	c.br = bufio.NewReaderSize(&c.counted, readBufferSize)
	c.bw = bufio.NewWriterSize(&c.counted, 8<<10)
	c.reqs = make([]fasthttp.Request, len(t.cfg.Requests))
	for i := range c.reqs {
		t.prepare(&c.reqs[i], &t.cfg.Requests[i])
	}
	return c
}

// prepare formats a request every connection sends; only the request id
// header changes from one request to the next. The body is not copied:
// every connection shares the one in the TransportConfig.
func (t *http1) prepare(req *fasthttp.Request, r *RequestSpec) {
	c := &t.cfg
	req.SetRequestURI(r.URL)
	req.Header.SetMethod(r.Method)
	hasUA := false
	for _, h := range r.Headers {
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
	if len(r.Body) > 0 {
		req.SetBodyRaw(r.Body)
	}
}

// RoundTrip implements Conn.
func (c *h1conn) RoundTrip(ctx context.Context, req *Request, res *Response) error {
	if ctx.Done() == nil {
		return c.roundTrip(req, res)
	}
	return cancellable(ctx, c.nc, func() error { return c.roundTrip(req, res) })
}

func (c *h1conn) roundTrip(req *Request, res *Response) error {
	in0, out0 := c.counted.in, c.counted.out
	err := c.exchange(req, res)
	res.BytesIn, res.BytesOut = c.counted.in-in0, c.counted.out-out0
	if err == nil {
		return nil
	}
	if ae, ok := err.(*AttemptError); ok {
		return ae
	}
	ae := &AttemptError{Outcome: http1ErrorOutcome(err), Answered: res.BytesIn > 0, Err: err}
	if c.gotHeader {
		ae.Status = c.resp.StatusCode()
	}
	return ae
}

// exchange writes the request and reads its response into res.
func (c *h1conn) exchange(req *Request, res *Response) error {
	c.gotHeader = false
	if req.Target < 0 || req.Target >= len(c.reqs) {
		return &AttemptError{Outcome: Other, Op: "request", Err: errNoSuchTarget}
	}
	r := &c.reqs[req.Target]
	c.head = c.t.head[req.Target]
	if err := c.nc.SetDeadline(req.Deadline); err != nil {
		return &AttemptError{Outcome: Other, Op: "set deadline", Err: err}
	}
	if name := c.t.cfg.RequestIDHeader; name != "" {
		c.idBuf = strconv.AppendUint(c.idBuf[:0], req.Seq+1, 10)
		r.Header.SetBytesV(name, c.idBuf)
	}
	err := r.Write(c.bw)
	if err == nil {
		err = c.bw.Flush()
	}
	if err == nil {
		// Wait for the first byte here rather than inside fasthttp, which
		// wraps that error in a type that hides the cause (reset, EOF or
		// timeout).
		_, err = c.br.Peek(1)
	}
	if err == nil {
		err = c.readResponse()
	}
	if err != nil {
		return err
	}
	res.Status = c.resp.StatusCode()
	res.Header = res.Header[:0]
	for _, name := range c.t.cfg.Capture {
		res.Header = append(res.Header, c.resp.Peek(name))
	}
	res.Body, res.BodyLen, res.Matched = c.body.win, c.body.n, c.body.match.found
	res.Close = !c.t.cfg.KeepAlive || c.resp.ConnectionClose() || res.Status == fasthttp.StatusSwitchingProtocols
	return nil
}

// Reusable implements Conn: the server has not closed the idle connection
// (its FIN or a stray byte is not waiting to be read). Only the race of a
// close crossing a request on the wire, which real clients meet too,
// remains.
func (c *h1conn) Reusable(idle time.Duration) bool {
	switch {
	case c.br.Buffered() > 0:
		return false // bytes nobody asked for: the stream is out of step
	case c.raw == nil || idle < staleAfter:
		return true
	}
	return !peerClosed(c.raw)
}

// Close implements Conn, and recycles the connection's memory.
func (c *h1conn) Close() error {
	err := c.nc.Close()
	c.nc, c.raw = nil, nil
	c.counted = countingConn{}
	c.t.free.Put(c)
	return err
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
