package loadgen

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/valyala/fasthttp"
)

// readBufferSize is the size of each connection's read buffer. Response
// headers must fit in it; bodies stream through it.
const readBufferSize = 16 << 10

// maxInterimResponses bounds the 1xx responses skipped before the final
// one, as fasthttp's Response.Read does.
const maxInterimResponses = 100

// Errors that say why a response that did arrive could not be read. They
// are counted as the outcome other; errors.Is finds them in a
// PreflightError.
var (
	// ErrMalformedResponse: bytes came back, but not an HTTP/1.1 response.
	ErrMalformedResponse = errors.New("not a valid HTTP/1.1 response")
	// ErrHeadersTooLarge: the response headers do not fit the 16 KiB read
	// buffer.
	ErrHeadersTooLarge = errors.New("response headers larger than 16 KiB")
	// ErrBodyTooLarge: the body is longer than Config.MaxBodyBytes.
	ErrBodyTooLarge = errors.New("response body larger than the maximum")
)

// MalformedError is a reply that is not HTTP/1.1. errors.Is finds
// ErrMalformedResponse in it.
type MalformedError struct {
	Reason string // what is wrong, e.g. "it does not start with HTTP/"
	Start  string // the first bytes of the offending part, quoted, at most 60 characters
}

func (e *MalformedError) Error() string {
	return ErrMalformedResponse.Error() + " (" + e.Reason + "); the server sent " + e.Start
}

func (e *MalformedError) Unwrap() error { return ErrMalformedResponse }

// readResponse reads one response from the connection. fasthttp parses
// the headers; the body is read here, a buffer at a time, so that a body of
// any size costs no more memory than the read buffer: its first
// MaxIdentityBytes are kept in w.win (identity and failure details), the
// expected text is looked for as it streams past, and the rest is
// discarded. Every byte is counted by the connection's countingConn.
// w.gotHeader tells whether a failure happened in the body.
func (w *worker) readResponse() error {
	w.gotHeader = false
	w.win = w.win[:0]
	w.bodyN = 0
	if err := w.checkHTTP(); err != nil {
		return err
	}
	if err := w.readHeader(); err != nil {
		return err
	}
	for n := 0; ; n++ {
		code := w.resp.Header.StatusCode()
		if code < 100 || code > 199 || code == fasthttp.StatusSwitchingProtocols {
			break
		}
		if n >= maxInterimResponses {
			return w.malformed(fmt.Sprintf("more than %d interim (1xx) responses", maxInterimResponses))
		}
		if err := w.readHeader(); err != nil {
			return err
		}
	}
	w.gotHeader = true
	code := w.resp.Header.StatusCode()
	w.match.reset(code >= 200 && code < 300)
	if w.e.headRequest || code < 200 || code == fasthttp.StatusNoContent || code == fasthttp.StatusNotModified {
		return nil
	}
	switch cl := w.resp.Header.ContentLength(); {
	case cl >= 0:
		if limit := w.e.cfg.MaxBodyBytes; limit > 0 && cl > limit {
			return fmt.Errorf("%w: Content-Length %d, MaxBodyBytes %d", ErrBodyTooLarge, cl, limit)
		}
		return w.readBody(int64(cl), false)
	case cl == -1:
		return w.readChunked()
	default:
		// Neither length nor chunked: the body ends when the server closes
		// (fasthttp marks the response Connection: close).
		return w.readBody(math.MaxInt64, true)
	}
}

// checkHTTP fails fast, with the bytes that came back, when the reply
// does not even start like an HTTP response.
func (w *worker) checkHTTP() error {
	const proto = "HTTP/"
	b, err := w.c.br.Peek(len(proto))
	if len(b) > 0 && (b[0] == '\r' || b[0] == '\n') {
		return nil // leading blank lines: fasthttp skips them
	}
	if !bytes.HasPrefix([]byte(proto), b) {
		return w.malformed("it does not start with HTTP/")
	}
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	return nil
}

// readHeader reads one response header block and turns fasthttp's errors
// into ones that say what happened.
func (w *worker) readHeader() error {
	err := w.resp.Header.Read(w.c.br)
	if err == nil {
		return nil
	}
	var small *fasthttp.ErrSmallBuffer
	if errors.As(err, &small) {
		return ErrHeadersTooLarge
	}
	if ErrorOutcome(err, false) != Other {
		return err // the connection failed: timeout, reset, EOF
	}
	return w.malformed("bad status line or header")
}

// malformed describes a reply that is not HTTP/1.1 by its first bytes.
func (w *worker) malformed(why string) error {
	b, _ := w.c.br.Peek(min(w.c.br.Buffered(), 60))
	return &MalformedError{Reason: why, Start: quoteStart(b, 60)}
}

// quoteStart quotes b as a Go string of at most limit characters, ending
// in … when b had to be shortened.
func quoteStart(b []byte, limit int) string {
	for n := len(b); n > 0; n-- {
		q := strconv.Quote(string(b[:n]))
		if n == len(b) && len(q) <= limit {
			return q
		}
		if len(q) < limit {
			return q + "…"
		}
	}
	return `""`
}

// readBody reads n body bytes (or, with untilEOF, up to the end of the
// stream) straight out of the read buffer.
func (w *worker) readBody(n int64, untilEOF bool) error {
	br := w.c.br
	for n > 0 {
		if br.Buffered() == 0 {
			if _, err := br.Peek(1); err != nil {
				switch {
				case err == io.EOF && untilEOF:
					return nil
				case err == io.EOF:
					return io.ErrUnexpectedEOF
				}
				return err
			}
		}
		k := br.Buffered()
		if int64(k) > n {
			k = int(n)
		}
		b, _ := br.Peek(k)
		if err := w.bodyBytes(b); err != nil {
			return err
		}
		_, _ = br.Discard(k)
		n -= int64(k)
	}
	return nil
}

// bodyBytes takes in the next piece of the body.
func (w *worker) bodyBytes(b []byte) error {
	w.bodyN += int64(len(b))
	if limit := w.e.cfg.MaxBodyBytes; limit > 0 && w.bodyN > int64(limit) {
		return fmt.Errorf("%w: more than MaxBodyBytes %d", ErrBodyTooLarge, limit)
	}
	if room := MaxIdentityBytes - len(w.win); room > 0 {
		w.win = append(w.win, b[:min(room, len(b))]...)
	}
	w.match.write(b)
	return nil
}

// readChunked reads a chunked body and its trailer section.
func (w *worker) readChunked() error {
	for {
		line, err := w.line()
		if err != nil {
			return err
		}
		size, ok := parseChunkSize(line)
		if !ok {
			return w.badChunk("bad chunk size line", line)
		}
		if size == 0 {
			break
		}
		if err := w.readBody(size, false); err != nil {
			return err
		}
		if line, err = w.line(); err != nil {
			return err
		}
		if len(trimEOL(line)) != 0 {
			return w.badChunk("chunk data longer than its size", line)
		}
	}
	for { // trailer fields, up to the empty line; the deadline bounds them
		line, err := w.line()
		if err != nil {
			return err
		}
		if len(trimEOL(line)) == 0 {
			return nil
		}
	}
}

func (w *worker) badChunk(why string, line []byte) error {
	return &MalformedError{Reason: "chunked body: " + why, Start: quoteStart(trimEOL(line), 60)}
}

// line reads one line of the chunked framing; it is only valid until the
// next read.
func (w *worker) line() ([]byte, error) {
	b, err := w.c.br.ReadSlice('\n')
	switch {
	case err == nil:
		return b, nil
	case errors.Is(err, bufio.ErrBufferFull):
		b, _ := w.c.br.Peek(60)
		return nil, &MalformedError{Reason: "chunked body: a line longer than 16 KiB", Start: quoteStart(b, 60)}
	case err == io.EOF:
		return nil, io.ErrUnexpectedEOF
	}
	return nil, err
}

func trimEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

// parseChunkSize reads a chunk-size line: hex digits, optional chunk
// extensions after ';'.
func parseChunkSize(line []byte) (int64, bool) {
	line = trimEOL(line)
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	line = bytes.TrimRight(line, " \t")
	if len(line) == 0 || len(line) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range line {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		n = n<<4 | int64(c)
	}
	return n, true
}

// streamMatcher finds a pattern in a stream that arrives in pieces,
// including a match split across pieces: it keeps the last len(pattern)-1
// bytes seen. It allocates only when created.
type streamMatcher struct {
	pat    []byte
	tail   []byte // the last len(pat)-1 bytes seen, or fewer at the start
	joint  []byte // scratch: tail + the start of the next piece
	active bool
	found  bool
}

func newStreamMatcher(pat []byte) streamMatcher {
	k := max(len(pat)-1, 0)
	return streamMatcher{pat: pat, tail: make([]byte, 0, k), joint: make([]byte, 0, 2*k)}
}

// reset starts a new stream; an inactive matcher looks at nothing.
func (m *streamMatcher) reset(active bool) {
	m.tail = m.tail[:0]
	m.found = len(m.pat) == 0
	m.active = active && !m.found
}

func (m *streamMatcher) write(b []byte) {
	if !m.active || m.found || len(b) == 0 {
		return
	}
	k := len(m.pat) - 1
	if len(m.tail) > 0 {
		m.joint = append(append(m.joint[:0], m.tail...), b[:min(k, len(b))]...)
		if bytes.Contains(m.joint, m.pat) {
			m.found = true
			return
		}
	}
	if bytes.Contains(b, m.pat) {
		m.found = true
		return
	}
	if k == 0 {
		return
	}
	if len(b) >= k {
		m.tail = append(m.tail[:0], b[len(b)-k:]...)
		return
	}
	if drop := len(m.tail) + len(b) - k; drop > 0 {
		m.tail = m.tail[:copy(m.tail, m.tail[drop:])]
	}
	m.tail = append(m.tail, b...)
}
