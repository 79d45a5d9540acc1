package faultserver

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"sync"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// H2 is an HTTP/2 server with prior knowledge (h2c) on loopback that
// fails chosen streams in chosen ways, many streams of a connection at
// once, and records the fate of every stream it read: the ground truth a
// client's counts are checked against, stream by stream. It is built on
// the Framer, not net/http, so that a fate is exactly what it says.
//
// Every fate is known to the server when it decides it, with one care
// taken: a stream the client sent but the server did not read has no
// record, so the server never closes a connection while such a stream may
// be on its way. GOAWAY is followed by a PING, whose ACK the client sends
// after every stream it opened before it read the GOAWAY (RFC 9113 6.8);
// H2Kill closes only with a whole batch held (see H2Mode).
type H2 struct {
	ln   net.Listener
	plan func(conn int) H2Mode
	opt  H2Options
	wg   sync.WaitGroup

	mu      sync.Mutex
	records []H2Record
	conns   []net.Conn
	mixed   int // streams answered by H2Mixed, on any connection
}

// H2Mode is what the server does on one connection.
type H2Mode int

// Modes.
const (
	// H2Serve answers every stream ok.
	H2Serve H2Mode = iota
	// H2Mixed answers streams in turn, counted over every connection in
	// this mode: refused (RST_STREAM REFUSED_STREAM), reset mid-body
	// (headers and part of the body, then RST_STREAM INTERNAL_ERROR), ok,
	// and for gRPC unavailable (a trailers-only UNAVAILABLE), else ok.
	H2Mixed
	// H2GoAway holds a batch of streams, then sends GOAWAY naming as
	// last the stream below the batch's middle one: the streams up to it
	// are answered ok, the others (all of a batch of one) are
	// unprocessed, as is any later one; after the PING's ACK, the
	// connection is closed.
	H2GoAway
	// H2Kill answers a first batch ok, holds the next, sends the first
	// half of that one headers and part of a body, and closes the
	// connection with a TCP RST under the whole batch. A batch is
	// H2Options.Batch streams open at once: a client whose every request
	// is on this connection and in flight has nothing else on its way.
	H2Kill
)

// H2Options tune the server.
type H2Options struct {
	// Batch is how many open streams H2GoAway and H2Kill wait for.
	Batch int
	// GRPC answers as a gRPC server: a health check reply SERVING and
	// grpc-status 0 in trailers for ok, a trailers-only grpc-status 14
	// for unavailable.
	GRPC bool
	// RequestID is the request header whose value a record keeps, the
	// client's request number.
	RequestID string
}

// Fates of a stream.
const (
	FateOK          = "ok"          // answered whole
	FateRefused     = "refused"     // RST_STREAM(REFUSED_STREAM): not processed
	FateReset       = "reset"       // RST_STREAM(INTERNAL_ERROR) mid-body
	FateGoAway      = "goaway"      // above a GOAWAY's last stream: not processed
	FateKilled      = "killed"      // the connection was closed under it
	FateUnavailable = "unavailable" // gRPC UNAVAILABLE, trailers-only
)

// H2Record is one stream the server read, and its fate.
type H2Record struct {
	Conn   int
	Stream uint32
	// ID is the request id header's value, "" when absent.
	ID   string
	Fate string
}

// StartH2 serves on a loopback port until Close; plan says what to do on
// the n-th connection accepted (from 0).
func StartH2(plan func(conn int) H2Mode, opt H2Options) (*H2, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &H2{ln: ln, plan: plan, opt: opt}
	s.wg.Go(s.accept)
	return s, nil
}

// Addr is the server's host:port.
func (s *H2) Addr() string { return s.ln.Addr().String() }

// Close stops the server and waits for its connections to end.
func (s *H2) Close() {
	_ = s.ln.Close()
	s.mu.Lock()
	for _, c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// Records returns every stream's record, by connection and stream.
func (s *H2) Records() []H2Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := append([]H2Record(nil), s.records...)
	sort.Slice(out, func(i, j int) bool {
		if out[i].Conn != out[j].Conn {
			return out[i].Conn < out[j].Conn
		}
		return out[i].Stream < out[j].Stream
	})
	return out
}

func (s *H2) record(conn int, stream uint32, id, fate string) {
	s.mu.Lock()
	s.records = append(s.records, H2Record{Conn: conn, Stream: stream, ID: id, Fate: fate})
	s.mu.Unlock()
}

func (s *H2) accept() {
	for n := 0; n < 100_000; n++ {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns = append(s.conns, nc)
		s.mu.Unlock()
		c := &h2srv{s: s, nc: nc, n: n, mode: s.plan(n)}
		s.wg.Go(c.serve)
	}
}

// h2srv is one connection.
type h2srv struct {
	s    *H2
	nc   net.Conn
	n    int
	mode H2Mode
	fr   *http2.Framer
	enc  *hpack.Encoder
	buf  bytes.Buffer
	// held are the streams read and not yet answered, in order.
	held    []heldStream
	seen    int // streams read on the connection
	batches int // batches acted on
	// After GOAWAY: the last stream processed, the PING's payload.
	goAway  bool
	last    uint32
	pingFor [8]byte
}

type heldStream struct {
	id  uint32
	rid string
}

var errClosing = errors.New("closing")

func (c *h2srv) serve() {
	defer c.nc.Close()
	preface := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(c.nc, preface); err != nil || string(preface) != http2.ClientPreface {
		return
	}
	c.fr = http2.NewFramer(c.nc, c.nc)
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	c.enc = hpack.NewEncoder(&c.buf)
	if c.fr.WriteSettings() != nil {
		return
	}
	for range 10_000_000 {
		f, err := c.fr.ReadFrame()
		if err != nil {
			c.killHeld() // the client closed: what it left in flight was cut
			return
		}
		if err := c.frame(f); err != nil {
			return
		}
	}
}

func (c *h2srv) frame(f http2.Frame) error {
	switch f := f.(type) {
	case *http2.SettingsFrame:
		if !f.IsAck() {
			return c.fr.WriteSettingsAck()
		}
	case *http2.PingFrame:
		if f.IsAck() && c.goAway && f.Data == c.pingFor {
			return errClosing // every stream the client opened has been read
		}
		if !f.IsAck() {
			return c.fr.WritePing(true, f.Data)
		}
	case *http2.DataFrame:
		// Give the flow-control credit back: request bodies are small.
		if n := f.Length; n > 0 {
			return c.fr.WriteWindowUpdate(0, n)
		}
	case *http2.MetaHeadersFrame:
		return c.stream(f.StreamID, f.PseudoValue("path"), headerValue(f, c.s.opt.RequestID))
	}
	return nil
}

func headerValue(f *http2.MetaHeadersFrame, name string) string {
	for _, h := range f.RegularFields() {
		if name != "" && equalFoldASCII(h.Name, name) {
			return h.Value
		}
	}
	return ""
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// stream handles a new stream.
func (c *h2srv) stream(id uint32, _ string, rid string) error {
	c.seen++
	if c.goAway {
		if id > c.last {
			c.s.record(c.n, id, rid, FateGoAway) // sent before the client read the GOAWAY
			return nil
		}
		return fmt.Errorf("stream %d after GOAWAY with last stream %d", id, c.last)
	}
	switch c.mode {
	case H2Serve:
		return c.answer(id, rid, FateOK)
	case H2Mixed:
		fates := []string{FateRefused, FateReset, FateOK, FateOK}
		if c.s.opt.GRPC {
			fates[3] = FateUnavailable
		}
		c.s.mu.Lock()
		i := c.s.mixed
		c.s.mixed++
		c.s.mu.Unlock()
		return c.answer(id, rid, fates[i%len(fates)])
	}
	c.held = append(c.held, heldStream{id, rid})
	if len(c.held) < max(c.s.opt.Batch, 1) {
		return nil
	}
	batch := c.held
	c.held = nil
	c.batches++
	switch {
	case c.mode == H2GoAway:
		c.last = max(batch[len(batch)/2].id, 2) - 2 // stream ids are odd: 0 below stream 1
		if err := c.fr.WriteGoAway(c.last, http2.ErrCodeNo, nil); err != nil {
			return err
		}
		c.goAway = true
		for _, h := range batch {
			if h.id > c.last {
				c.s.record(c.n, h.id, h.rid, FateGoAway)
			} else if err := c.answer(h.id, h.rid, FateOK); err != nil {
				return err
			}
		}
		c.pingFor = [8]byte{'g', 'o', 'a', 'w', 'a', 'y'}
		return c.fr.WritePing(false, c.pingFor)
	case c.mode == H2Kill && c.batches == 1:
		for _, h := range batch {
			if err := c.answer(h.id, h.rid, FateOK); err != nil {
				return err
			}
		}
		return nil
	case c.mode == H2Kill:
		for _, h := range batch[:len(batch)/2] {
			if err := c.writeHeaders(h.id, false, ":status", "200", "content-type", c.contentType()); err != nil {
				return err
			}
			if err := c.fr.WriteData(h.id, false, c.partial()); err != nil {
				return err
			}
		}
		c.held = batch
		c.killHeld()
		if tc, ok := c.nc.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // close with a TCP RST
		}
		return errClosing
	}
	return c.answer(batch[0].id, batch[0].rid, FateOK)
}

// killHeld records every held stream as cut by the connection's close.
func (c *h2srv) killHeld() {
	for _, h := range c.held {
		c.s.record(c.n, h.id, h.rid, FateKilled)
	}
	c.held = nil
}

// partial is the start of a body that will not end: for gRPC, the start
// of a message.
func (c *h2srv) partial() []byte {
	if c.s.opt.GRPC {
		return []byte{0, 0, 0, 0, 9, 0x08}
	}
	return []byte("partial")
}

func (c *h2srv) contentType() string {
	if c.s.opt.GRPC {
		return "application/grpc"
	}
	return "text/plain"
}

func (c *h2srv) writeHeaders(id uint32, end bool, kv ...string) error {
	c.buf.Reset()
	for i := 0; i+1 < len(kv); i += 2 {
		if err := c.enc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]}); err != nil {
			return err
		}
	}
	return c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.buf.Bytes(), EndHeaders: true, EndStream: end})
}

// answer gives stream id its fate and records it.
func (c *h2srv) answer(id uint32, rid, fate string) error {
	c.s.record(c.n, id, rid, fate)
	pod := "h2-pod-" + strconv.Itoa(c.n)
	switch fate {
	case FateRefused:
		return c.fr.WriteRSTStream(id, http2.ErrCodeRefusedStream)
	case FateReset:
		if err := c.writeHeaders(id, false, ":status", "200", "content-type", c.contentType(), "x-pod", pod); err != nil {
			return err
		}
		if err := c.fr.WriteData(id, false, c.partial()); err != nil {
			return err
		}
		return c.fr.WriteRSTStream(id, http2.ErrCodeInternal)
	case FateUnavailable:
		return c.writeHeaders(id, true, ":status", "200", "content-type", "application/grpc", "grpc-status", "14", "grpc-message", "draining", "x-pod", pod)
	}
	if !c.s.opt.GRPC {
		if err := c.writeHeaders(id, false, ":status", "200", "content-type", "text/plain", "x-pod", pod); err != nil {
			return err
		}
		return c.fr.WriteData(id, true, []byte(pod+" >> 10.0.0.1 >> v1\n"))
	}
	if err := c.writeHeaders(id, false, ":status", "200", "content-type", "application/grpc", "x-pod", pod); err != nil {
		return err
	}
	if err := c.fr.WriteData(id, false, []byte{0, 0, 0, 0, 2, 0x08, 0x01}); err != nil { // SERVING
		return err
	}
	return c.writeHeaders(id, true, "grpc-status", "0")
}
