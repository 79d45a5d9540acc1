package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Multiplexing (--streams N > 1): one HTTP/2 connection (h2mux) carries
// up to N requests at once, each on a slot (h2slot). A slot is the Conn a
// worker owns: one request at a time, nothing re-sent behind its back, as
// for every Conn; what the slots of a connection share is the socket, the
// server's settings and its pod (sharedConn). The connection's frames are
// read by one goroutine, which hands each stream's to its slot's h2resp
// and wakes the slot's worker when the stream ends; writers take turns
// under wmu. Every stream ends exactly once, whoever ends it (the read
// loop: a response, RST_STREAM, GOAWAY, the connection failing; the
// worker: its deadline), so every request is counted once.
//
// Locks: wmu (the write side: the socket's writes, send windows, stream
// ids) is taken before mu (streams in flight, the connection's state),
// never the other way round; linkSet.mu is taken alone.

// sharedConn is what the engine keeps of a connection whose Conns are
// slots of it: its number, its pod and its responses, whichever slot
// they came on (worker.go).
type sharedConn struct {
	once    sync.Once
	id      uint64
	lastPod atomic.Int32
	served  atomic.Int64
}

// sharing is a Conn that is a slot of a shared connection.
type sharing interface {
	shared() *sharedConn
}

// linkSet is the transport's multiplexed connections.
type linkSet struct {
	mu    sync.Mutex
	links []*h2mux
	open  int // connections open (handshaken or being dialled)
	peak  int
	// lowest is the lowest SETTINGS_MAX_CONCURRENT_STREAMS a server
	// announced below the streams asked for; 0: none did.
	lowest atomic.Int64
}

// h2mux is one HTTP/2 connection shared by slots.
type h2mux struct {
	t *http2T
	// c is the wire, set up and handshaken as a one-stream connection:
	// its reading side (br, fr's reads, dec, hpay, recvUnacked) is the
	// read loop's, its writing side (bw, fr's writes, send windows,
	// nextID) wmu's.
	c  *h2conn
	sh sharedConn

	ready   chan struct{} // closed when the handshake has ended
	dialErr error         // why it failed; set before ready closes

	attached atomic.Int32 // slots on the connection
	closed   bool         // under t.links.mu: closed, no slot may attach
	limit    atomic.Int32 // streams at once: min(--streams, the server's limit)
	retiring atomic.Bool  // failed, GOAWAY or ids exhausted: no new stream

	wmu   sync.Mutex
	wcond sync.Cond // on wmu: a send window grew, or the connection failed
	wdead bool      // under wmu: the connection failed
	// bodyWaiters counts writers waiting for a send window (writeBody).
	bodyWaiters atomic.Int32

	mu         sync.Mutex
	free       sync.Cond // on mu: a stream ended, the limit changed, or the connection is done
	streams    map[uint32]*h2slot
	active     int    // streams taken (acquire) and not yet ended
	maxOpened  uint32 // the highest stream id sent
	goAway     bool
	lastStream uint32
	goAwayCode http2.ErrCode
	err        error // the connection failed: every stream ends with it

	// The read loop's own.
	inBlock bool
	blockID uint32
	block   *h2slot // the stream whose header block is being decoded; nil: discarded
	resets  []uint32
	updates []uint32 // streams due a WINDOW_UPDATE of their streamRecv
}

// h2slot is a Conn: one request at a time on a shared connection.
type h2slot struct {
	m  *h2mux
	st h2resp
	// done takes one token each time the read loop ends the slot's stream.
	done  chan struct{}
	timer *time.Timer
	wake  *time.Timer // wakes a body's wait for a window at its deadline
	// waking: wake is set for the body being sent.
	waking bool
	hbuf   []byte
	idBuf  []byte
	// Under m.mu while the stream is in flight: whether it is in the
	// table, holds one of the connection's streams, was ended by the read
	// loop (a token is in done), and how.
	inTable, holding, signalled bool
	err                         error
	bytesIn, bytesOut           int64 // frame bytes of the stream
	detached, closed            bool
}

// errNotSent: the connection took no new stream (it failed, or the
// server is retiring it) and nothing of the request was sent. The worker
// then takes another connection, as when Reusable says no: the instant
// between the two is no reason to count a drop no real client meets.
var errNotSent = errors.New("the connection takes no new request")

// errStreamDeadline ends a stream that got no complete response within
// the request's deadline.
var errStreamDeadline = fmt.Errorf("no complete response within the deadline: %w", os.ErrDeadlineExceeded)

// dialSlot returns a slot on a connection with room for one more, dialling
// one when none has: all slots wait for a connection being dialled, and
// fail with its connect error if it fails.
func (t *http2T) dialSlot(ctx context.Context, deadline time.Time) (Conn, error) {
	ls := &t.links
	for range 64 { // a connection that shrinks its limit under us is passed over; bounded
		ls.mu.Lock()
		var m *h2mux
		for _, l := range ls.links {
			if !l.closed && !l.retiring.Load() && int(l.attached.Load()) < int(l.limit.Load()) {
				m = l
				break
			}
		}
		fresh := m == nil
		if fresh {
			m = t.newMux()
			ls.links = append(ls.links, m)
			ls.open++
			ls.peak = max(ls.peak, ls.open)
		}
		m.attached.Add(1)
		ls.mu.Unlock()
		if fresh {
			m.connect(ctx, deadline)
		} else {
			tm := time.NewTimer(time.Until(deadline))
			select {
			case <-m.ready:
			case <-tm.C:
			case <-ctx.Done():
			}
			tm.Stop()
		}
		select {
		case <-m.ready:
		default:
			m.detach()
			if ctx.Err() != nil {
				return nil, asAttemptError(fmt.Errorf("wait for a connection: %w", context.Cause(ctx)), true)
			}
			return nil, asAttemptError(fmt.Errorf("wait for a connection being dialled: %w", os.ErrDeadlineExceeded), true)
		}
		if m.dialErr != nil {
			m.detach()
			return nil, m.dialErr
		}
		if int(m.attached.Load()) > int(m.limit.Load()) {
			m.detach() // the server allows fewer streams than slots: another connection
			continue
		}
		return m.newSlot(), nil
	}
	return nil, &AttemptError{Outcome: Other, Op: "connect", Err: errors.New("no connection with a free stream after 64 tries")}
}

// newMux is a connection not yet dialled. Until its SETTINGS say
// otherwise, it is taken to allow what the lowest so far did.
func (t *http2T) newMux() *h2mux {
	m := &h2mux{t: t, ready: make(chan struct{}), streams: map[uint32]*h2slot{}}
	limit := t.streams
	if low := int(t.links.lowest.Load()); low > 0 {
		limit = min(limit, low)
	}
	m.limit.Store(int32(limit))
	m.wcond.L, m.free.L = &m.wmu, &m.mu
	return m
}

// newSlot is a slot on m.
func (m *h2mux) newSlot() *h2slot {
	s := &h2slot{m: m, st: newH2Resp(m.t), done: make(chan struct{}, 1), timer: time.NewTimer(time.Hour)}
	s.timer.Stop()
	return s
}

// connect dials and handshakes the connection and starts its read loop;
// ready closes either way.
func (m *h2mux) connect(ctx context.Context, deadline time.Time) {
	defer close(m.ready)
	c, err := m.t.connect(ctx, deadline)
	if err != nil {
		m.dialErr = err
		m.retiring.Store(true)
		return
	}
	// Streams have deadlines of their own (the slots' timers); the
	// socket's reads wait for the server however long.
	if err := c.nc.SetReadDeadline(time.Time{}); err != nil {
		_ = c.nc.Close()
		m.dialErr = asAttemptError(err, true)
		m.retiring.Store(true)
		return
	}
	m.start(c)
}

// start runs the connection on c, handshaken.
func (m *h2mux) start(c *h2conn) {
	m.c = c
	c.dec.SetEmitFunc(m.emit)
	if n := c.peerMaxStreams; n > 0 && int(n) < m.t.streams {
		m.limit.Store(int32(n))
		m.t.links.noteLimit(int64(n))
	}
	go m.readLoop()
}

// noteLimit keeps the lowest stream limit a server announced.
func (ls *linkSet) noteLimit(n int64) {
	for {
		cur := ls.lowest.Load()
		if cur != 0 && cur <= n || ls.lowest.CompareAndSwap(cur, n) {
			return
		}
	}
}

// detach takes a slot off the connection; the last one closes it.
func (m *h2mux) detach() {
	if m.attached.Add(-1) > 0 {
		return
	}
	ls := &m.t.links
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if m.attached.Load() > 0 || m.closed {
		return // a slot attached meanwhile
	}
	m.closed = true
	for i, l := range ls.links {
		if l == m {
			ls.links = append(ls.links[:i], ls.links[i+1:]...)
			break
		}
	}
	ls.open--
	if m.c != nil {
		_ = m.c.nc.Close() // the read loop ends on it
	}
}

// peakLinks is the most connections that were open at once.
func (t *http2T) peakLinks() int {
	t.links.mu.Lock()
	defer t.links.mu.Unlock()
	return t.links.peak
}

// serverMaxStreams is the lowest stream limit a server announced below
// the streams asked for; 0 when none did.
func (t *http2T) serverMaxStreams() int { return int(t.links.lowest.Load()) }

func (s *h2slot) shared() *sharedConn { return &s.m.sh }

// Reusable implements Conn: the connection takes new streams, and it has
// no more slots than the server allows streams (a slot over the limit
// leaves, for a connection with room).
func (s *h2slot) Reusable(time.Duration) bool {
	m := s.m
	if m.retiring.Load() {
		return false
	}
	for {
		// The limit is at least 1, so a slot leaving over it is never
		// the last: the connection stays for the others.
		a := m.attached.Load()
		if a <= m.limit.Load() {
			return true
		}
		if m.attached.CompareAndSwap(a, a-1) {
			s.detached = true
			return false
		}
	}
}

// Close implements Conn.
func (s *h2slot) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	s.timer.Stop()
	if s.wake != nil {
		s.wake.Stop()
	}
	if !s.detached {
		s.m.detach()
	}
	return nil
}

// RoundTrip implements Conn.
func (s *h2slot) RoundTrip(ctx context.Context, req *Request, res *Response) error {
	s.bytesIn, s.bytesOut = 0, 0
	err := s.exchange(ctx, req, res)
	res.BytesIn, res.BytesOut = s.bytesIn, s.bytesOut
	if err == nil {
		return nil
	}
	if ae, ok := err.(*AttemptError); ok {
		return ae
	}
	ae := &AttemptError{Outcome: h2ErrorOutcome(err), Answered: s.st.answered, Err: err}
	if s.st.gotFinal {
		ae.Status = s.st.status
	}
	if ctx.Err() != nil {
		ae.Err = context.Cause(ctx)
	}
	return ae
}

// exchange sends the request on a new stream and waits for its end.
func (s *h2slot) exchange(ctx context.Context, req *Request, res *Response) error {
	m := s.m
	t := m.t
	s.st.answered = false
	if req.Target < 0 || req.Target >= len(t.reqs) {
		return &AttemptError{Outcome: Other, Op: "request", Err: errNoSuchTarget}
	}
	r := &t.reqs[req.Target]
	if err := m.acquire(s, req.Deadline); err != nil {
		return err
	}
	sent, err := s.send(r, req)
	if err != nil {
		return s.settle(err, sent)
	}
	s.timer.Reset(time.Until(req.Deadline))
	select {
	case <-s.done:
		s.signalled = false
	case <-s.timer.C:
		err = s.settle(errStreamDeadline, true)
	case <-ctx.Done():
		err = s.settle(context.Cause(ctx), true)
	}
	s.timer.Stop()
	if err == nil {
		err = s.err
	}
	if err != nil {
		return err
	}
	if err := s.st.complete(res); err != nil {
		return err
	}
	res.Close = !t.cfg.KeepAlive || m.retiring.Load()
	return nil
}

// acquire takes one of the connection's streams for s, waiting, within
// the deadline, while the server's limit is reached (it can only be when
// the server lowered it after s attached).
func (m *h2mux) acquire(s *h2slot, deadline time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var wake *time.Timer
	for {
		switch {
		case m.err != nil:
			return fmt.Errorf("%w: %w", errNotSent, m.err)
		case m.goAway:
			return fmt.Errorf("%w: %w (a new stream after GOAWAY, last stream %d, %v)", errNotSent, ErrGoAwayUnprocessed, m.lastStream, m.goAwayCode)
		case m.active < int(m.limit.Load()):
			m.active++
			s.holding = true
			if wake != nil {
				wake.Stop()
			}
			return nil
		case !time.Now().Before(deadline):
			return fmt.Errorf("waiting for a stream the server allows: %w", os.ErrDeadlineExceeded)
		}
		if wake == nil {
			wake = time.AfterFunc(time.Until(deadline), func() {
				m.mu.Lock()
				m.free.Broadcast()
				m.mu.Unlock()
			})
		}
		m.free.Wait()
	}
}

// end ends s's stream (under m.mu): out of the table, its stream given
// back.
func (m *h2mux) end(s *h2slot, err error) {
	if m.block == s {
		m.block = nil // the rest of its header block is discarded
	}
	if s.inTable {
		delete(m.streams, s.st.id)
		s.inTable = false
	}
	if s.holding {
		s.holding = false
		m.active--
		m.free.Signal()
	}
	s.err = err
}

// endStream is the read loop's end of s's stream (under m.mu): it wakes
// s's worker.
func (m *h2mux) endStream(s *h2slot, err error) {
	m.end(s, err)
	s.signalled = true
	s.done <- struct{}{}
}

// settle ends s's stream from the worker's side, with err, unless the
// read loop ended it first: then the read loop's end stands (a response
// that made it in time counts as one). A stream the server knows of
// (sent) is reset, so that it stops working on it.
func (s *h2slot) settle(err error, sent bool) error {
	m := s.m
	m.mu.Lock()
	if s.signalled {
		s.signalled = false
		m.mu.Unlock()
		<-s.done
		return s.err
	}
	m.end(s, err)
	m.mu.Unlock()
	if sent {
		m.wmu.Lock()
		if !m.wdead {
			err := m.controlDeadline()
			if err == nil {
				err = m.c.fr.WriteRSTStream(s.st.id, http2.ErrCodeCancel)
			}
			if err == nil {
				err = m.c.bw.Flush()
			}
			m.writeFailed(err)
		}
		m.wmu.Unlock()
	}
	return err
}

// controlDeadline sets the socket's write deadline for a control frame
// (under wmu): such frames are small, and a server that reads none
// within this long has stopped reading altogether.
func (m *h2mux) controlDeadline() error {
	return m.c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
}

// writeFailed retires the connection after a failed write (under wmu):
// the buffered writer keeps its error, and a frame may be cut, so nothing
// more can be sent on it. Streams already sent are read on.
func (m *h2mux) writeFailed(err error) {
	if err != nil {
		m.wdead = true
		m.retiring.Store(true)
		m.wcond.Broadcast()
	}
}

// send opens the stream and writes the request: HEADERS, and the body
// within the send windows. sent says whether any of it was written.
func (s *h2slot) send(r *h2req, req *Request) (sent bool, err error) {
	m := s.m
	c := m.c
	m.wmu.Lock()
	defer m.wmu.Unlock()
	if c.nextID > h2MaxStreamID {
		m.retiring.Store(true)
		return false, fmt.Errorf("%w: %w (stream ids exhausted)", errNotSent, ErrGoAwayUnprocessed)
	}
	id := c.nextID
	c.nextID += 2
	s.st.begin(id, r.head, c.peerInitial)
	m.mu.Lock()
	switch {
	case m.err != nil:
		err = fmt.Errorf("%w: %w", errNotSent, m.err)
	case m.goAway && id > m.lastStream:
		err = fmt.Errorf("%w: %w (stream %d, last stream %d, %v)", errNotSent, ErrGoAwayUnprocessed, id, m.lastStream, m.goAwayCode)
	default:
		m.streams[id] = s
		s.inTable = true
		m.maxOpened = id
	}
	m.mu.Unlock()
	if err != nil || m.wdead {
		return false, cmpErr(err, fmt.Errorf("%w: a write failed", errNotSent))
	}
	if err := c.nc.SetWriteDeadline(req.Deadline); err != nil {
		return false, fmt.Errorf("set deadline: %w", err)
	}
	s.hbuf = append(s.hbuf[:0], r.block...)
	if name := m.t.idName; name != "" {
		s.idBuf = strconv.AppendUint(s.idBuf[:0], req.Seq+1, 10)
		s.hbuf = appendLiteralField(s.hbuf, name, s.idBuf)
	}
	n, err := writeHeaderBlock(c.fr, id, s.hbuf, c.peerMaxFrame, len(r.body) == 0)
	s.bytesOut += n
	if err != nil {
		m.writeFailed(err)
		return true, err
	}
	if err := s.writeBody(r.body, req.Deadline); err != nil {
		return true, err
	}
	if err := c.bw.Flush(); err != nil {
		m.writeFailed(err)
		return true, fmt.Errorf("write request: %w", err)
	}
	return true, nil
}

func cmpErr(err, fallback error) error {
	if err != nil {
		return err
	}
	return fallback
}

// writeBody sends the body as DATA frames within the send windows (under
// wmu), waiting for the read loop's WINDOW_UPDATEs while they are shut.
// It stops when the stream ends first (an early answer, a reset).
func (s *h2slot) writeBody(body []byte, deadline time.Time) error {
	m := s.m
	c := m.c
	defer s.stopWake()
	for len(body) > 0 {
		if m.wdead {
			return errors.New("the connection failed while sending the body")
		}
		// Counted before the check, so that a read loop ending the
		// stream after it sees a waiter and wakes it (readLoop).
		m.bodyWaiters.Add(1)
		m.mu.Lock()
		ended := !s.inTable
		m.mu.Unlock()
		n := min(int64(len(body)), c.sendConn, s.st.sendStream, int64(c.peerMaxFrame))
		if ended || n <= 0 {
			err := s.awaitWindow(ended, deadline)
			m.bodyWaiters.Add(-1)
			if ended || err != nil {
				return err
			}
			continue
		}
		m.bodyWaiters.Add(-1)
		if err := c.fr.WriteData(s.st.id, int(n) == len(body), body[:n]); err != nil {
			m.writeFailed(err)
			return fmt.Errorf("write DATA: %w", err)
		}
		s.bytesOut += 9 + n
		body = body[n:]
		c.sendConn -= n
		s.st.sendStream -= n
	}
	return nil
}

// awaitWindow waits (under wmu) for a send window to open, the stream to
// end or the deadline; ended: the stream has ended already.
func (s *h2slot) awaitWindow(ended bool, deadline time.Time) error {
	m := s.m
	if ended {
		return nil
	}
	if err := m.c.bw.Flush(); err != nil {
		m.writeFailed(err)
		return fmt.Errorf("write body: %w", err)
	}
	if !time.Now().Before(deadline) {
		return fmt.Errorf("waiting for the server's flow-control window: %w", os.ErrDeadlineExceeded)
	}
	if !s.waking {
		// The slot's one timer, made on its first wait, reset after.
		if s.wake == nil {
			s.wake = time.AfterFunc(time.Hour, func() {
				m.wmu.Lock()
				m.wcond.Broadcast()
				m.wmu.Unlock()
			})
		}
		s.wake.Reset(time.Until(deadline))
		s.waking = true
	}
	m.wcond.Wait()
	return nil
}

// stopWake stops the deadline's wake-up of a body's wait, if one was set.
func (s *h2slot) stopWake() {
	if s.waking {
		s.wake.Stop()
		s.waking = false
	}
}

// readLoop reads the connection's frames until it fails or closes.
func (m *h2mux) readLoop() {
	c := m.c
	for {
		fh, err := c.fr.ReadFrameHeader()
		if err != nil {
			m.fail(fmt.Errorf("read frame: %w", err))
			return
		}
		switch {
		case fh.Type == http2.FrameHeaders || fh.Type == http2.FrameContinuation:
			err = m.headerFrame(fh)
		case fh.Type == http2.FrameWindowUpdate && !m.inBlock:
			err = m.windowUpdate(fh)
		default:
			var f http2.Frame
			if f, err = c.fr.ReadFrameForHeader(fh); err == nil {
				err = m.frame(f)
			} else {
				err = fmt.Errorf("read frame: %w", err)
			}
		}
		if err == nil {
			err = m.flushControl()
		}
		if err != nil {
			m.fail(err)
			return
		}
		if m.bodyWaiters.Load() > 0 {
			// A writer waits for a window: the frame may have ended its
			// stream, which only the read loop knows.
			m.wmu.Lock()
			m.wcond.Broadcast()
			m.wmu.Unlock()
		}
	}
}

// fail ends every stream in flight with err, the connection having
// failed; a stream above a GOAWAY's last stream that got no answer was
// not processed.
func (m *h2mux) fail(err error) {
	m.retiring.Store(true)
	m.mu.Lock()
	if m.err == nil {
		m.err = err
	}
	for id, s := range m.streams {
		e := err
		if m.goAway && id > m.lastStream && !s.st.answered {
			e = fmt.Errorf("%w (stream %d, last stream %d, %v): %w", ErrGoAwayUnprocessed, id, m.lastStream, m.goAwayCode, err)
		} else if m.goAway {
			e = fmt.Errorf("%s (last stream %d, %v): %w", AfterGoAway, m.lastStream, m.goAwayCode, err)
		}
		m.endStream(s, e)
	}
	m.free.Broadcast()
	m.mu.Unlock()
	m.wmu.Lock()
	m.wdead = true
	m.wcond.Broadcast()
	m.wmu.Unlock()
	_ = m.c.nc.Close()
}

// emit is the HPACK decoder's emit function: the stream whose block is
// being decoded takes the field; a stream already ended discards it.
func (m *h2mux) emit(f hpack.HeaderField) {
	if m.block != nil {
		m.block.st.field(f)
	}
}

// headerFrame reads a HEADERS or CONTINUATION frame's payload (its header
// already read) and decodes its fragment for its stream. The block is
// decoded whatever the stream, as the HPACK table must follow the
// server's.
func (m *h2mux) headerFrame(fh http2.FrameHeader) error {
	c := m.c
	p := c.hpay[:fh.Length] // the Framer refused frames above h2MaxFrame
	if _, err := io.ReadFull(c.br, p); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("read %v frame: %w", fh.Type, err)
	}
	endStream := false
	switch {
	case fh.Type == http2.FrameContinuation && !m.inBlock:
		return errors.New("CONTINUATION without HEADERS")
	case fh.Type == http2.FrameHeaders && m.inBlock:
		return errors.New("a header block was interrupted by HEADERS")
	case fh.Type == http2.FrameContinuation && fh.StreamID != m.blockID:
		return fmt.Errorf("CONTINUATION on stream %d inside a block of stream %d", fh.StreamID, m.blockID)
	case fh.Type == http2.FrameHeaders:
		var err error
		if p, err = headerBlockFragment(fh, p); err != nil {
			return err
		}
		endStream = fh.Flags.Has(http2.FlagHeadersEndStream)
	}
	end := fh.Flags.Has(http2.FlagHeadersEndHeaders) // the same bit for CONTINUATION
	m.mu.Lock()
	defer m.mu.Unlock()
	if fh.Type == http2.FrameHeaders {
		if fh.StreamID == 0 || fh.StreamID%2 == 0 || fh.StreamID > m.maxOpened {
			return fmt.Errorf("HEADERS on stream %d, which we never opened", fh.StreamID)
		}
		m.inBlock, m.blockID = true, fh.StreamID
		m.block = m.streams[fh.StreamID]
		if s := m.block; s != nil {
			s.st.answered = true
			s.st.startBlock(endStream)
		}
	}
	if s := m.block; s != nil {
		s.bytesIn += int64(9 + fh.Length)
	}
	if _, err := c.dec.Write(p); err != nil {
		return fmt.Errorf("decode headers: %w", err)
	}
	if !end {
		return nil
	}
	m.inBlock = false
	if err := c.dec.Close(); err != nil {
		return fmt.Errorf("decode headers: %w", err)
	}
	s := m.block
	m.block = nil
	if s == nil {
		return nil
	}
	if err := s.st.endBlock(); err != nil {
		m.endStream(s, err)
		m.resets = append(m.resets, s.st.id)
		return nil
	}
	if s.st.ended {
		m.endStream(s, nil)
	}
	return nil
}

// frame handles a frame other than HEADERS and CONTINUATION.
func (m *h2mux) frame(f http2.Frame) error {
	if m.inBlock {
		return fmt.Errorf("a header block was interrupted by %v", f.Header().Type)
	}
	sid := f.Header().StreamID
	switch f := f.(type) {
	case *http2.SettingsFrame:
		return m.settings(f)
	case *http2.PingFrame:
		if f.IsAck() {
			return nil
		}
		m.wmu.Lock()
		defer m.wmu.Unlock()
		if m.wdead {
			return nil
		}
		err := m.controlDeadline()
		if err == nil {
			err = m.c.fr.WritePing(true, f.Data)
		}
		if err == nil {
			err = m.c.bw.Flush()
		}
		if err != nil {
			return fmt.Errorf("write PING: %w", err)
		}
		return nil
	case *http2.GoAwayFrame:
		m.retiring.Store(true)
		m.mu.Lock()
		defer m.mu.Unlock()
		m.goAway, m.lastStream, m.goAwayCode = true, f.LastStreamID, f.ErrCode
		for id, s := range m.streams {
			// A GOAWAY that excludes a stream already answered on
			// contradicts itself: the stream is read on.
			if id > f.LastStreamID && !s.st.answered {
				m.endStream(s, fmt.Errorf("%w (stream %d, last stream %d, %v)", ErrGoAwayUnprocessed, id, f.LastStreamID, f.ErrCode))
			}
		}
		m.free.Broadcast()
		return nil
	case *http2.DataFrame:
		return m.data(f)
	case *http2.RSTStreamFrame:
		m.mu.Lock()
		defer m.mu.Unlock()
		s := m.streams[sid]
		if s == nil {
			return nil // a stream we ended already
		}
		s.bytesIn += int64(9 + f.Length)
		if f.ErrCode == http2.ErrCodeRefusedStream {
			s.st.answered = false // refused: the server did not process it
			m.endStream(s, fmt.Errorf("%w (stream %d)", ErrRefusedStream, sid))
			return nil
		}
		s.st.answered = true
		m.endStream(s, fmt.Errorf("%w(%v) on stream %d", ErrStreamReset, f.ErrCode, sid))
		return nil
	case *http2.PushPromiseFrame:
		return errors.New("PUSH_PROMISE although push is disabled")
	}
	return nil // unknown frame types and PRIORITY: ignored, as RFC 9113 4.1 requires
}

// windowUpdate reads and applies a WINDOW_UPDATE (its header already
// read), by hand as h2conn does.
func (m *h2mux) windowUpdate(fh http2.FrameHeader) error {
	inc, err := readWindowUpdate(m.c, fh)
	if err != nil {
		return err
	}
	m.wmu.Lock()
	defer m.wmu.Unlock()
	if fh.StreamID == 0 {
		m.c.sendConn += int64(inc)
	} else {
		m.mu.Lock()
		if s := m.streams[fh.StreamID]; s != nil {
			s.st.sendStream += int64(inc)
		}
		m.mu.Unlock()
	}
	m.wcond.Broadcast()
	return nil
}

// settings applies the server's SETTINGS and acknowledges them.
func (m *h2mux) settings(f *http2.SettingsFrame) error {
	if f.IsAck() {
		return nil
	}
	m.wmu.Lock()
	defer m.wmu.Unlock()
	c := m.c
	err := f.ForeachSetting(func(st http2.Setting) error {
		switch st.ID {
		case http2.SettingInitialWindowSize:
			// The change applies to the streams in flight too (RFC 9113
			// 6.9.2).
			delta := int64(st.Val) - c.peerInitial
			c.peerInitial = int64(st.Val)
			m.mu.Lock()
			for _, s := range m.streams {
				s.st.sendStream += delta
			}
			m.mu.Unlock()
		case http2.SettingMaxFrameSize:
			c.peerMaxFrame = st.Val
		case http2.SettingMaxConcurrentStreams:
			n := int32(min(max(st.Val, 1), uint32(m.t.streams)))
			if int(st.Val) < m.t.streams {
				m.t.links.noteLimit(int64(max(st.Val, 1)))
			}
			m.mu.Lock()
			m.limit.Store(n)
			m.free.Broadcast()
			m.mu.Unlock()
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("settings: %w", err)
	}
	m.wcond.Broadcast()
	if m.wdead {
		return nil
	}
	err = m.controlDeadline()
	if err == nil {
		err = c.fr.WriteSettingsAck()
	}
	if err == nil {
		err = c.bw.Flush()
	}
	if err != nil {
		return fmt.Errorf("write SETTINGS ACK: %w", err)
	}
	return nil
}

// data takes in a DATA frame: its stream's body, and the flow-control
// credit given back for it whether or not the stream is still wanted.
func (m *h2mux) data(f *http2.DataFrame) error {
	c := m.c
	n := int64(f.Length)
	c.recvUnacked += n
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.streams[f.StreamID]
	if s == nil {
		return nil
	}
	s.bytesIn += 9 + n
	s.st.answered = true
	if err := s.st.dataPayload(f.Data()); err != nil {
		m.endStream(s, err)
		m.resets = append(m.resets, s.st.id)
		return nil
	}
	if f.StreamEnded() {
		s.st.ended = true
		m.endStream(s, nil)
		return nil
	}
	s.st.streamRecv += n
	if s.st.streamRecv >= h2RecvWindow/2 {
		m.updates = append(m.updates, s.st.id)
	}
	return nil
}

// flushControl writes what the last frame called for: the connection's
// WINDOW_UPDATE, streams' WINDOW_UPDATEs, RST_STREAMs for streams we gave
// up on.
func (m *h2mux) flushControl() error {
	c := m.c
	if c.recvUnacked < h2RecvWindow/2 && len(m.updates) == 0 && len(m.resets) == 0 {
		return nil
	}
	m.wmu.Lock()
	defer m.wmu.Unlock()
	if m.wdead {
		return nil
	}
	if err := m.controlDeadline(); err != nil {
		return err
	}
	if c.recvUnacked >= h2RecvWindow/2 {
		if err := c.fr.WriteWindowUpdate(0, uint32(c.recvUnacked)); err != nil {
			return fmt.Errorf("write WINDOW_UPDATE: %w", err)
		}
		c.recvUnacked = 0
	}
	for _, id := range m.updates {
		m.mu.Lock()
		var inc int64
		if s := m.streams[id]; s != nil {
			inc, s.st.streamRecv = s.st.streamRecv, 0
		}
		m.mu.Unlock()
		if inc > 0 {
			if err := c.fr.WriteWindowUpdate(id, uint32(inc)); err != nil {
				return fmt.Errorf("write WINDOW_UPDATE: %w", err)
			}
		}
	}
	m.updates = m.updates[:0]
	for _, id := range m.resets {
		if err := c.fr.WriteRSTStream(id, http2.ErrCodeCancel); err != nil {
			return fmt.Errorf("write RST_STREAM: %w", err)
		}
	}
	m.resets = m.resets[:0]
	if err := c.bw.Flush(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// ensure the compiler checks the interfaces.
var (
	_ Conn    = (*h2slot)(nil)
	_ sharing = (*h2slot)(nil)
)
