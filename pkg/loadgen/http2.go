package loadgen

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Protocols a run speaks (Config.Protocol, config.protocol in a report).
const (
	ProtoHTTP1 = "http/1.1"
	ProtoH2    = "h2"  // HTTP/2 over TLS, negotiated with ALPN
	ProtoH2C   = "h2c" // HTTP/2 over TCP, with prior knowledge
)

// ErrNoHTTP2 is a server that does not speak HTTP/2: over TLS it did not
// select "h2" by ALPN; over TCP it did not answer the connection preface
// with a SETTINGS frame. It is a connect failure counted as other.
var ErrNoHTTP2 = errors.New("the server does not speak HTTP/2")

// Errors of an HTTP/2 exchange that carry the outcome they are counted as
// (h2ErrorOutcome); errors.Is finds them.
var (
	// ErrGoAwayUnprocessed: the server sent GOAWAY with a last stream id
	// below the request's stream: it never processed the request.
	ErrGoAwayUnprocessed = errors.New("GOAWAY: the server will not process this stream")
	// ErrRefusedStream: RST_STREAM(REFUSED_STREAM), the request was not
	// processed.
	ErrRefusedStream = errors.New("RST_STREAM(REFUSED_STREAM)")
	// ErrStreamReset: RST_STREAM with another code.
	ErrStreamReset = errors.New("RST_STREAM")
)

// AfterGoAway is in the detail of a request whose connection ended under
// it after a GOAWAY that promised to process it: the server announced the
// close but did not drain.
const AfterGoAway = "after GOAWAY"

// h2RecvWindow is the flow-control window granted to the server, for the
// connection and for each stream: large, so that a big body streams
// without waiting on our WINDOW_UPDATEs, and topped up once half of it is
// consumed, so that the frames that grant it stay few.
const h2RecvWindow = 4 << 20

// h2MaxFrame is the largest frame we accept: SETTINGS_MAX_FRAME_SIZE's
// default, which we keep.
const h2MaxFrame = 16 << 10

// h2MaxStreamID is the highest stream id a client may use (2^31-1).
const h2MaxStreamID = 1<<31 - 1

// h2MaxFramesPerResponse bounds the frames read for one round trip (and
// one Dial) so that a server sending frames that never end the stream
// (endless PINGs, empty DATA) cannot hold a worker past what the deadline
// would also stop. A 5 MiB body in 16 KiB frames is 320 frames.
const h2MaxFramesPerResponse = 1 << 24

// http2T is the HTTP/2 Transport: one connection per Conn, one stream in
// flight at a time (--streams 1), so the worker model and the accounting
// are those of HTTP/1.1. The connection is owned: golang.org/x/net's
// Framer reads and writes frames and hpack codes headers, but nothing
// here re-sends a request after GOAWAY or REFUSED_STREAM, as
// x/net/http2.Transport does; such a request fails with its own outcome
// and the engine's --retries rule decides.
type http2T struct {
	cfg   TransportConfig
	tls   *tls.Config // offers "h2" alone; nil for h2c
	proto string
	// grpc: every request is a gRPC call (grpc.go); health: the call is
	// the health check, whose reply is read.
	grpc, health bool
	// noH2 says what to do about a server that does not speak HTTP/2.
	noH2 string
	// idName is RequestIDHeader lowercased, as HTTP/2 field names are.
	idName string
	next   atomic.Uint64
	reqs   []h2req
	// streams is how many requests a connection carries at once
	// (TransportConfig.Streams); above 1 connections are shared (h2mux.go).
	streams int
	links   linkSet
}

// h2req is one of the run's requests rendered once: the HPACK block of
// every field but the request id, and the body.
type h2req struct {
	block []byte
	body  []byte
	head  bool
}

// newHTTP2 builds the HTTP/2 transport; proto is ProtoH2 (https only),
// ProtoH2C (http only) or ProtoGRPC (either).
func newHTTP2(cfg TransportConfig, proto string) (*http2T, error) {
	if len(cfg.Requests) == 0 {
		cfg.Requests = []RequestSpec{{URL: cfg.Target, Method: cfg.Method, Headers: cfg.Headers, Body: cfg.Body}}
	}
	t := &http2T{cfg: cfg, proto: proto, idName: strings.ToLower(cfg.RequestIDHeader), noH2: "drop --http2 to use HTTP/1.1", streams: max(cfg.Streams, 1)}
	switch {
	case proto == ProtoGRPC:
		if cfg.GRPCMethod == "" {
			t.cfg.GRPCMethod = DefaultGRPCMethod
		}
		if err := validGRPCMethod(t.cfg.GRPCMethod); err != nil {
			return nil, err
		}
		t.grpc, t.health = true, t.cfg.GRPCMethod == DefaultGRPCMethod
		t.noH2 = "gRPC is HTTP/2: is this the service's gRPC port?"
	case proto == ProtoH2 && cfg.TLS == nil:
		return nil, fmt.Errorf("HTTP/2 over TLS (h2) needs an https target; for http use h2c")
	case proto == ProtoH2C && cfg.TLS != nil:
		return nil, fmt.Errorf("h2c is HTTP/2 without TLS; for an https target use h2")
	case proto != ProtoH2 && proto != ProtoH2C:
		return nil, fmt.Errorf("unknown HTTP/2 protocol %q", proto)
	case proto == ProtoH2C:
		t.noH2 = "drop --h2c to use HTTP/1.1"
	}
	if cfg.TLS != nil {
		t.tls = cfg.TLS.Clone()
		t.tls.NextProtos = []string{"h2"}
	}
	for i := range cfg.Requests {
		r, err := t.render(&cfg.Requests[i])
		if err != nil {
			return nil, err
		}
		t.reqs = append(t.reqs, r)
	}
	return t, nil
}

// render encodes a request's fields once. Every field is a "never
// indexed" literal (or a static-table reference), so the block leaves the
// server's HPACK dynamic table untouched and the same bytes are valid on
// every connection, for every request.
func (t *http2T) render(r *RequestSpec) (h2req, error) {
	u, err := url.Parse(r.URL)
	if err != nil {
		return h2req{}, fmt.Errorf("request URL %q: %w", r.URL, err)
	}
	scheme := "http"
	if t.tls != nil {
		scheme = "https"
	}
	method, path, body := r.Method, u.RequestURI(), r.Body
	if t.grpc {
		method, path, body = "POST", t.cfg.GRPCMethod, grpcFrame(r.Body)
	}
	authority := u.Host
	var rest []hpack.HeaderField
	hasUA := false
	for _, h := range r.Headers {
		name := strings.ToLower(h.Name)
		switch name {
		case "host":
			authority = h.Value // HTTP/2 carries Host as :authority
			continue
		case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
			continue // connection-specific: forbidden in HTTP/2 (RFC 9113 8.2.2)
		case "user-agent":
			hasUA = true
		}
		rest = append(rest, hpack.HeaderField{Name: name, Value: h.Value, Sensitive: true})
	}
	if !hasUA && t.cfg.UserAgent != "" {
		rest = append(rest, hpack.HeaderField{Name: "user-agent", Value: t.cfg.UserAgent, Sensitive: true})
	}
	switch {
	case t.grpc:
		// gRPC's call definition; no content-length, which gRPC does not
		// use (the messages carry their lengths).
		rest = append([]hpack.HeaderField{
			{Name: "content-type", Value: "application/grpc", Sensitive: true},
			{Name: "te", Value: "trailers", Sensitive: true},
		}, rest...)
	case len(body) > 0:
		rest = append(rest, hpack.HeaderField{Name: "content-length", Value: strconv.Itoa(len(body)), Sensitive: true})
	}
	var buf bytesWriter
	enc := hpack.NewEncoder(&buf)
	fields := append([]hpack.HeaderField{
		{Name: ":method", Value: method, Sensitive: true},
		{Name: ":scheme", Value: scheme, Sensitive: true},
		{Name: ":authority", Value: authority, Sensitive: true},
		{Name: ":path", Value: path, Sensitive: true},
	}, rest...)
	for _, f := range fields {
		if err := enc.WriteField(f); err != nil {
			return h2req{}, fmt.Errorf("encode %s: %w", f.Name, err)
		}
	}
	return h2req{block: buf.b, body: body, head: equalFold(method, "HEAD")}, nil
}

// grpcFrame is msg as the one message of a gRPC request: uncompressed,
// with its big-endian length.
func grpcFrame(msg []byte) []byte {
	n := len(msg)
	return append([]byte{0, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}, msg...)
}

// bytesWriter is the io.Writer hpack encodes into.
type bytesWriter struct{ b []byte }

func (w *bytesWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// appendLiteralField appends a "literal without indexing, new name" field
// (RFC 7541 6.2.2), unhuffmaned: the request id header, which changes on
// every request, so it must not enter the server's dynamic table.
func appendLiteralField(b []byte, name string, value []byte) []byte {
	b = append(b, 0x00)
	b = appendHpackInt(b, 7, uint64(len(name)))
	b = append(b, name...)
	b = appendHpackInt(b, 7, uint64(len(value)))
	return append(b, value...)
}

// appendHpackInt appends an HPACK integer with an n-bit prefix (RFC 7541
// 5.1) whose flag bits are zero.
func appendHpackInt(b []byte, n uint, v uint64) []byte {
	limit := uint64(1)<<n - 1
	if v < limit {
		return append(b, byte(v))
	}
	b = append(b, byte(limit))
	v -= limit
	for v >= 128 {
		b = append(b, byte(v&0x7f|0x80))
		v >>= 7
	}
	return append(b, byte(v))
}

// h2conn is one HTTP/2 connection carrying one stream at a time.
type h2conn struct {
	t       *http2T
	nc      net.Conn
	counted countingConn
	br      *bufio.Reader
	bw      *bufio.Writer
	fr      *http2.Framer
	dec     *hpackDecoder
	raw     syscall.RawConn

	nextID     uint32 // the next stream's id
	goAway     bool   // the server is retiring the connection
	lastStream uint32 // GOAWAY's last stream id
	goAwayCode http2.ErrCode
	// Send flow control: the connection's window, the peer's initial
	// stream window and largest frame.
	sendConn     int64
	peerInitial  int64
	peerMaxFrame uint32
	recvUnacked  int64 // DATA bytes consumed since the last connection WINDOW_UPDATE
	// peerMaxStreams is the server's SETTINGS_MAX_CONCURRENT_STREAMS (0:
	// none announced); a multiplexing connection (h2mux) keeps to it.
	peerMaxStreams uint32

	hbuf  []byte // the request's header block
	hpay  []byte // a HEADERS or CONTINUATION frame's payload
	idBuf []byte

	// The stream in flight.
	h2resp
}

// Dial implements Transport: TCP (and TLS with ALPN "h2"), the client
// preface and our SETTINGS, then the server's SETTINGS, which must be the
// first frame it sends: a server that does not speak HTTP/2 fails here,
// clearly, rather than as a run of malformed responses.
func (t *http2T) Dial(ctx context.Context, deadline time.Time) (Conn, error) {
	if t.streams > 1 {
		return t.dialSlot(ctx, deadline)
	}
	c, err := t.connect(ctx, deadline)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// connect opens a connection: TCP, TLS, the handshake.
func (t *http2T) connect(ctx context.Context, deadline time.Time) (*h2conn, error) {
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
	if err := nc.SetDeadline(deadline); err != nil {
		nc.Close()
		return nil, asAttemptError(err, true)
	}
	if t.tls != nil {
		tc := tls.Client(nc, t.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			ae := asAttemptError(err, true)
			if noALPN(err) {
				// Said plainly: the alert alone reads like a TLS fault.
				ae.Err = fmt.Errorf("%w: it offers no \"h2\" by TLS ALPN (%s): %w", ErrNoHTTP2, t.noH2, err)
			}
			return nil, ae
		}
		if p := tc.ConnectionState().NegotiatedProtocol; p != "h2" {
			nc.Close()
			return nil, &AttemptError{Outcome: Other, Op: "connect", Err: fmt.Errorf("%w: TLS ALPN selected %q, not \"h2\" (%s)", ErrNoHTTP2, p, t.noH2)}
		}
		nc = tc
	}
	c := t.newConn(nc, raw)
	if err := c.handshake(); err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// newConn sets up a connection on nc, before the handshake.
func (t *http2T) newConn(nc net.Conn, raw syscall.RawConn) *h2conn {
	c := &h2conn{t: t, nc: nc, raw: raw, nextID: 1, sendConn: 65535, peerInitial: 65535, peerMaxFrame: 16384}
	c.counted = countingConn{Conn: nc}
	c.br = bufio.NewReaderSize(&c.counted, readBufferSize)
	c.bw = bufio.NewWriterSize(&c.counted, 8<<10)
	c.fr = http2.NewFramer(c.bw, c.br)
	c.fr.SetReuseFrames()
	// We announce no SETTINGS_MAX_FRAME_SIZE, so the default of 16 KiB is
	// the peer's limit (RFC 9113 4.2); the Framer's own default is 16 MiB,
	// which a HEADERS frame read into hpay would overrun.
	c.fr.SetMaxReadFrameSize(h2MaxFrame)
	c.dec = newHPACKDecoder(4096, c.field) // the stream in flight's (h2resp)
	c.dec.SetMaxStringLength(readBufferSize)
	c.hpay = make([]byte, h2MaxFrame)
	c.h2resp = newH2Resp(t)
	return c
}

// noALPN reports whether a TLS handshake failed because the server
// shares no application protocol with us: the no_application_protocol
// alert (RFC 7301 3.2), whose type crypto/tls does not export, so it is
// known by its text.
func noALPN(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "remote error" && op.Err != nil && op.Err.Error() == "tls: no application protocol"
}

// handshake writes the preface, SETTINGS and a connection WINDOW_UPDATE,
// and reads the server's SETTINGS.
func (c *h2conn) handshake() error {
	if _, err := c.bw.WriteString(http2.ClientPreface); err != nil {
		return asAttemptError(fmt.Errorf("write preface: %w", err), true)
	}
	err := c.fr.WriteSettings(
		http2.Setting{ID: http2.SettingEnablePush, Val: 0},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: h2RecvWindow},
	)
	if err == nil {
		err = c.fr.WriteWindowUpdate(0, h2RecvWindow-65535)
	}
	if err == nil {
		err = c.bw.Flush()
	}
	if err != nil {
		return asAttemptError(fmt.Errorf("write settings: %w", err), true)
	}
	// Check the first frame's header before the Framer parses it: an
	// HTTP/1.1 server's "HTTP/1.1 400" would otherwise read as a frame of
	// nonsense length.
	hdr, err := c.br.Peek(9)
	if err != nil {
		if len(hdr) > 0 {
			return &AttemptError{Outcome: Other, Op: "connect", Err: fmt.Errorf("%w: it answered the preface with %s (%s)", ErrNoHTTP2, quoteStart(hdr, 60), c.t.noH2)}
		}
		return asAttemptError(fmt.Errorf("read server SETTINGS: %w", err), true)
	}
	if http2.FrameType(hdr[3]) != http2.FrameSettings || hdr[4]&byte(http2.FlagSettingsAck) != 0 || hdr[5]|hdr[6]|hdr[7]|hdr[8] != 0 {
		b, _ := c.br.Peek(min(c.br.Buffered(), 60))
		return &AttemptError{Outcome: Other, Op: "connect", Err: fmt.Errorf("%w: it answered the preface with %s (%s)", ErrNoHTTP2, quoteStart(b, 60), c.t.noH2)}
	}
	f, err := c.fr.ReadFrame()
	if err != nil {
		return asAttemptError(fmt.Errorf("read server SETTINGS: %w", err), true)
	}
	if err := c.connFrame(f); err != nil {
		return asAttemptError(fmt.Errorf("server SETTINGS: %w", err), true)
	}
	if err := c.bw.Flush(); err != nil {
		return asAttemptError(fmt.Errorf("write SETTINGS ACK: %w", err), true)
	}
	return nil
}

// connFrame handles a frame on stream 0 (or one that concerns the
// connection whatever its stream): SETTINGS, PING, WINDOW_UPDATE, GOAWAY.
// Replies are buffered; the caller flushes.
func (c *h2conn) connFrame(f http2.Frame) error {
	switch f := f.(type) {
	case *http2.SettingsFrame:
		if f.IsAck() {
			return nil
		}
		err := f.ForeachSetting(func(s http2.Setting) error {
			switch s.ID {
			case http2.SettingInitialWindowSize:
				// The change applies to the stream in flight too
				// (RFC 9113 6.9.2).
				c.sendStream += int64(s.Val) - c.peerInitial
				c.peerInitial = int64(s.Val)
			case http2.SettingMaxFrameSize:
				c.peerMaxFrame = s.Val
			case http2.SettingMaxConcurrentStreams:
				c.peerMaxStreams = max(s.Val, 1) // 0 would be no stream at all: one at a time
			case http2.SettingHeaderTableSize:
				// Our encoder never indexes, so the size of the
				// server's decoder table does not matter.
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("settings: %w", err)
		}
		return c.fr.WriteSettingsAck()
	case *http2.PingFrame:
		if f.IsAck() {
			return nil
		}
		return c.fr.WritePing(true, f.Data)
	case *http2.WindowUpdateFrame:
		if f.StreamID == 0 {
			c.sendConn += int64(f.Increment)
		} else if f.StreamID == c.id {
			c.sendStream += int64(f.Increment)
		}
		return nil
	case *http2.GoAwayFrame:
		c.goAway, c.lastStream, c.goAwayCode = true, f.LastStreamID, f.ErrCode
		return nil
	}
	return nil // unknown frame types and PRIORITY: ignored, as RFC 9113 4.1 requires
}

// RoundTrip implements Conn.
func (c *h2conn) RoundTrip(ctx context.Context, req *Request, res *Response) error {
	if ctx.Done() == nil {
		return c.roundTrip(req, res)
	}
	return cancellable(ctx, c.nc, func() error { return c.roundTrip(req, res) })
}

func (c *h2conn) roundTrip(req *Request, res *Response) error {
	in0, out0 := c.counted.in, c.counted.out
	err := c.exchange(req, res)
	res.BytesIn, res.BytesOut = c.counted.in-in0, c.counted.out-out0
	if err == nil {
		return nil
	}
	if ae, ok := err.(*AttemptError); ok {
		return ae
	}
	ae := &AttemptError{Outcome: h2ErrorOutcome(err), Answered: c.answered, Err: err}
	if c.gotFinal {
		ae.Status = c.status
	}
	return ae
}

// h2ErrorOutcome classifies an error of an HTTP/2 exchange: the stream's
// own fates first, then what the connection says (ErrorOutcome).
func h2ErrorOutcome(err error) Outcome {
	switch {
	case errors.Is(err, ErrGoAwayUnprocessed):
		return GoAwayUnprocessed
	case errors.Is(err, ErrRefusedStream):
		return RefusedStream
	case errors.Is(err, ErrStreamReset):
		return StreamReset
	}
	return ErrorOutcome(err, false)
}

// exchange sends the request on a new stream and reads its response.
func (c *h2conn) exchange(req *Request, res *Response) error {
	c.answered = false
	if req.Target < 0 || req.Target >= len(c.t.reqs) {
		return &AttemptError{Outcome: Other, Op: "request", Err: errNoSuchTarget}
	}
	if c.nextID > h2MaxStreamID {
		return &AttemptError{Outcome: Other, Op: "request", Err: errors.New("stream ids exhausted")}
	}
	r := &c.t.reqs[req.Target]
	if err := c.nc.SetDeadline(req.Deadline); err != nil {
		return &AttemptError{Outcome: Other, Op: "set deadline", Err: err}
	}
	c.begin(c.nextID, r.head, c.peerInitial)
	c.nextID += 2
	if c.goAway && c.id > c.lastStream {
		// A GOAWAY read before this request (in Reusable's drain) already
		// says the server will not take it; nothing is sent.
		return fmt.Errorf("%w (stream %d, last stream %d, %v)", ErrGoAwayUnprocessed, c.id, c.lastStream, c.goAwayCode)
	}
	c.hbuf = append(c.hbuf[:0], r.block...)
	if name := c.t.idName; name != "" {
		c.idBuf = strconv.AppendUint(c.idBuf[:0], req.Seq+1, 10)
		c.hbuf = appendLiteralField(c.hbuf, name, c.idBuf)
	}
	if err := c.writeHeaders(len(r.body) == 0); err != nil {
		return err
	}
	if err := c.writeBody(r.body); err != nil {
		return err
	}
	if err := c.bw.Flush(); err != nil {
		return fmt.Errorf("write request: %w", err)
	}
	if err := c.readResponse(); err != nil {
		return err
	}
	if err := c.complete(res); err != nil {
		return err
	}
	res.Close = !c.t.cfg.KeepAlive || c.goAway || c.nextID > h2MaxStreamID
	return nil
}

// writeHeaders writes the header block as HEADERS and, when it is larger
// than the peer's frame size, CONTINUATION frames.
func (c *h2conn) writeHeaders(endStream bool) error {
	_, err := writeHeaderBlock(c.fr, c.id, c.hbuf, c.peerMaxFrame, endStream)
	return err
}

// writeHeaderBlock writes block on stream id as HEADERS and as many
// CONTINUATION frames as frames of maxFrame bytes take, and returns the
// bytes written.
func writeHeaderBlock(fr *http2.Framer, id uint32, block []byte, maxFrame uint32, endStream bool) (int64, error) {
	b := block
	max := int(maxFrame)
	first := b[:min(len(b), max)]
	b = b[len(first):]
	n := int64(9 + len(first))
	err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: first, EndStream: endStream, EndHeaders: len(b) == 0})
	for err == nil && len(b) > 0 {
		chunk := b[:min(len(b), max)]
		b = b[len(chunk):]
		n += int64(9 + len(chunk))
		err = fr.WriteContinuation(id, len(b) == 0, chunk)
	}
	if err != nil {
		return n, fmt.Errorf("write HEADERS: %w", err)
	}
	return n, nil
}

// writeBody sends the body as DATA frames within the server's flow-control
// windows, reading frames (WINDOW_UPDATE, and any early response) while
// the windows are shut.
func (c *h2conn) writeBody(body []byte) error {
	for frames := 0; len(body) > 0; frames++ {
		if c.ended {
			return nil // the server answered before taking the whole body
		}
		if frames > h2MaxFramesPerResponse {
			return errors.New("too many frames while sending the body")
		}
		n := min(int64(len(body)), c.sendConn, c.sendStream, int64(c.peerMaxFrame))
		if n <= 0 {
			if err := c.bw.Flush(); err != nil {
				return fmt.Errorf("write body: %w", err)
			}
			if err := c.step(); err != nil {
				return err
			}
			continue
		}
		if err := c.fr.WriteData(c.id, int(n) == len(body), body[:n]); err != nil {
			return fmt.Errorf("write DATA: %w", err)
		}
		body = body[n:]
		c.sendConn -= n
		c.sendStream -= n
	}
	return nil
}

// readResponse reads frames until the stream ends.
func (c *h2conn) readResponse() error {
	for frames := 0; !c.ended; frames++ {
		if frames > h2MaxFramesPerResponse {
			return errors.New("too many frames without the end of the stream")
		}
		if err := c.step(); err != nil {
			return err
		}
	}
	return nil
}

// step reads and handles one frame. HEADERS and CONTINUATION are read
// here rather than by the Framer, which allocates a frame for each: a
// response on a kept-alive connection then costs no allocation.
func (c *h2conn) step() error {
	fh, err := c.fr.ReadFrameHeader()
	if err == nil {
		switch {
		case fh.Type == http2.FrameHeaders || fh.Type == http2.FrameContinuation:
			err = c.headerFrame(fh)
		case fh.Type == http2.FrameWindowUpdate && !c.inHeaders:
			err = c.windowUpdate(fh)
		default:
			var f http2.Frame
			if f, err = c.fr.ReadFrameForHeader(fh); err == nil {
				err = c.frame(f)
			}
		}
	} else if c.goAway && c.id > c.lastStream && !c.answered {
		err = fmt.Errorf("%w (stream %d, last stream %d, %v): %w", ErrGoAwayUnprocessed, c.id, c.lastStream, c.goAwayCode, err)
	} else if c.goAway {
		// The server promised to finish this stream (at or below its
		// last stream id) and closed the connection first: the report
		// tells that apart from a close without GOAWAY.
		err = fmt.Errorf("read frame %s (last stream %d, %v): %w", AfterGoAway, c.lastStream, c.goAwayCode, err)
	} else {
		err = fmt.Errorf("read frame: %w", err)
	}
	if ferr := c.bw.Flush(); err == nil && ferr != nil {
		err = fmt.Errorf("write: %w", ferr)
	}
	return err
}

// windowUpdate reads a WINDOW_UPDATE frame's payload (its header already
// read) and applies it. It is read here rather than by the Framer, which
// allocates a frame for each, and servers send one every few request
// bodies.
func (c *h2conn) windowUpdate(fh http2.FrameHeader) error {
	inc, err := readWindowUpdate(c, fh)
	if err != nil {
		return err
	}
	if fh.StreamID == 0 {
		c.sendConn += int64(inc)
	} else if fh.StreamID == c.id {
		c.sendStream += int64(inc)
	}
	return nil
}

// readWindowUpdate reads a WINDOW_UPDATE frame's increment (its header
// already read) into c's frame buffer.
func readWindowUpdate(c *h2conn, fh http2.FrameHeader) (uint32, error) {
	if fh.Length != 4 {
		return 0, fmt.Errorf("WINDOW_UPDATE of %d bytes, not 4", fh.Length)
	}
	p := c.hpay[:4]
	if _, err := io.ReadFull(c.br, p); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, fmt.Errorf("read WINDOW_UPDATE: %w", err)
	}
	inc := (uint32(p[0])<<24 | uint32(p[1])<<16 | uint32(p[2])<<8 | uint32(p[3])) & 0x7fffffff
	if inc == 0 {
		return 0, errors.New("WINDOW_UPDATE with an increment of 0") // RFC 9113 6.9
	}
	return inc, nil
}

// headerFrame reads a HEADERS or CONTINUATION frame's payload (its header
// already read) and decodes its fragment.
func (c *h2conn) headerFrame(fh http2.FrameHeader) error {
	p := c.hpay[:fh.Length] // the Framer refused frames above h2MaxFrame
	if _, err := io.ReadFull(c.br, p); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("read %v frame: %w", fh.Type, err)
	}
	switch {
	case fh.StreamID != c.id:
		// A header block on another stream would change the HPACK table;
		// only a broken server sends one.
		return fmt.Errorf("%v on stream %d, not ours (%d)", fh.Type, fh.StreamID, c.id)
	case fh.Type == http2.FrameContinuation && !c.inHeaders:
		return errors.New("CONTINUATION without HEADERS")
	case fh.Type == http2.FrameHeaders && c.inHeaders:
		return errors.New("a header block was interrupted by HEADERS")
	case fh.Type == http2.FrameContinuation:
		return c.headerFragment(p, fh.Flags.Has(http2.FlagContinuationEndHeaders), false)
	}
	p, err := headerBlockFragment(fh, p)
	if err != nil {
		return err
	}
	c.answered = true
	return c.headerFragment(p, fh.Flags.Has(http2.FlagHeadersEndHeaders), fh.Flags.Has(http2.FlagHeadersEndStream))
}

// headerBlockFragment is a HEADERS frame's payload without its padding and
// priority fields: the bytes for the HPACK decoder.
func headerBlockFragment(fh http2.FrameHeader, p []byte) ([]byte, error) {
	if fh.Flags.Has(http2.FlagHeadersPadded) {
		if len(p) < 1 || int(p[0]) >= len(p) {
			return nil, errors.New("HEADERS padding longer than the frame")
		}
		p = p[1 : len(p)-int(p[0])]
	}
	if fh.Flags.Has(http2.FlagHeadersPriority) {
		if len(p) < 5 {
			return nil, errors.New("HEADERS priority longer than the frame")
		}
		p = p[5:]
	}
	return p, nil
}

// frame handles one frame, other than HEADERS and CONTINUATION, read
// while a stream is in flight.
func (c *h2conn) frame(f http2.Frame) error {
	sid := f.Header().StreamID
	if c.inHeaders {
		return fmt.Errorf("a header block was interrupted by %v", f.Header().Type)
	}
	if sid == 0 {
		if err := c.connFrame(f); err != nil {
			return err
		}
		if c.goAway && c.id > c.lastStream && !c.answered {
			return fmt.Errorf("%w (stream %d, last stream %d, %v)", ErrGoAwayUnprocessed, c.id, c.lastStream, c.goAwayCode)
		}
		// A GOAWAY that excludes a stream already answered on contradicts
		// itself: the stream is read on, and ends or fails as it will.
		return nil
	}
	if sid != c.id {
		return nil // late frames of an ended stream (WINDOW_UPDATE, RST_STREAM)
	}
	switch f := f.(type) {
	case *http2.DataFrame:
		c.answered = true
		return c.data(f)
	case *http2.RSTStreamFrame:
		c.ended = true
		if f.ErrCode == http2.ErrCodeRefusedStream {
			c.answered = false // refused: the server did not process it
			return fmt.Errorf("%w (stream %d)", ErrRefusedStream, c.id)
		}
		c.answered = true
		return fmt.Errorf("%w(%v) on stream %d", ErrStreamReset, f.ErrCode, c.id)
	case *http2.WindowUpdateFrame:
		return c.connFrame(f)
	case *http2.PushPromiseFrame:
		return errors.New("PUSH_PROMISE although push is disabled")
	}
	return nil
}

// headerFragment decodes part of a header block. The end of the stream
// may come on the HEADERS frame (endStream) and takes effect once the
// block is complete.
func (c *h2conn) headerFragment(p []byte, end, endStream bool) error {
	if !c.inHeaders {
		c.startBlock(endStream)
	}
	if _, err := c.dec.Write(p); err != nil {
		return fmt.Errorf("decode headers: %w", err)
	}
	if !end {
		return nil
	}
	if err := c.dec.Close(); err != nil {
		c.inHeaders = false
		return fmt.Errorf("decode headers: %w", err)
	}
	return c.endBlock()
}

// data takes in a DATA frame of the stream: the body, streamed into the
// sink, and the flow-control credit given back.
func (c *h2conn) data(f *http2.DataFrame) error {
	if err := c.dataPayload(f.Data()); err != nil {
		return err
	}
	// Padding counts against the windows as well (RFC 9113 6.9.1).
	n := int64(f.Length)
	c.recvUnacked += n
	c.streamRecv += n
	if c.recvUnacked >= h2RecvWindow/2 {
		if err := c.fr.WriteWindowUpdate(0, uint32(c.recvUnacked)); err != nil {
			return fmt.Errorf("write WINDOW_UPDATE: %w", err)
		}
		c.recvUnacked = 0
	}
	if f.StreamEnded() {
		c.ended = true
		return nil
	}
	if c.streamRecv >= h2RecvWindow/2 {
		if err := c.fr.WriteWindowUpdate(c.id, uint32(c.streamRecv)); err != nil {
			return fmt.Errorf("write WINDOW_UPDATE: %w", err)
		}
		c.streamRecv = 0
	}
	return nil
}

// Reusable implements Conn: no GOAWAY, stream ids left, and nothing
// waiting on the idle socket. Frames already buffered whole are handled
// first (a GOAWAY among them ends reuse); bytes waiting on the socket
// make the connection not reusable, as for HTTP/1.1: the server may be
// closing it, and only a new connection is sure not to count a drop no
// real client meets.
func (c *h2conn) Reusable(idle time.Duration) bool {
	for range 64 { // bounded: a buffer holds few whole frames
		b, err := c.br.Peek(min(c.br.Buffered(), 9))
		if err != nil || len(b) < 9 {
			break
		}
		length := int(b[0])<<16 | int(b[1])<<8 | int(b[2])
		if c.br.Buffered() < 9+length {
			return false // a frame split over reads: out of step while idle
		}
		if t := http2.FrameType(b[3]); t == http2.FrameHeaders || t == http2.FrameContinuation {
			return false // a header block while idle: out of step
		} else if t == http2.FrameWindowUpdate {
			fh, err := c.fr.ReadFrameHeader()
			if err != nil || c.windowUpdate(fh) != nil {
				return false
			}
			continue
		}
		f, err := c.fr.ReadFrame()
		if err != nil {
			return false
		}
		if f.Header().StreamID == 0 {
			if c.connFrame(f) != nil || c.bw.Flush() != nil {
				return false
			}
		}
	}
	switch {
	case c.goAway || c.nextID > h2MaxStreamID || c.br.Buffered() > 0:
		return false
	case c.raw == nil || idle < staleAfter:
		return true
	}
	return !peerClosed(c.raw)
}

// Close implements Conn.
func (c *h2conn) Close() error {
	err := c.nc.Close()
	c.nc, c.raw = nil, nil
	return err
}

// ensure the compiler checks the interfaces.
var (
	_ Transport = (*http2T)(nil)
	_ Conn      = (*h2conn)(nil)
	_ io.Writer = (*bytesWriter)(nil)
)
