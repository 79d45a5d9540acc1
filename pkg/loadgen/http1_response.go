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

// Errors that say why an HTTP/1.1 response that did arrive could not be
// read. They are counted as the outcome other; errors.Is finds them in a
// PreflightError.
var (
	// ErrMalformedResponse: bytes came back, but not an HTTP/1.1 response.
	ErrMalformedResponse = errors.New("not a valid HTTP/1.1 response")
	// ErrHeadersTooLarge: the response headers do not fit the 16 KiB read
	// buffer.
	ErrHeadersTooLarge = errors.New("response headers larger than 16 KiB")
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
// the headers; the body is read here, a buffer at a time, straight into
// the body sink, so a body of any size costs no more memory than the read
// buffer. Every byte is counted by the connection's countingConn.
// c.gotHeader tells whether a failure happened in the body.
func (c *h1conn) readResponse() error {
	c.gotHeader = false
	c.body.reset(false)
	if err := c.checkHTTP(); err != nil {
		return err
	}
	if err := c.readHeader(); err != nil {
		return err
	}
	for n := 0; ; n++ {
		code := c.resp.StatusCode()
		if code < 100 || code > 199 || code == fasthttp.StatusSwitchingProtocols {
			break
		}
		if n >= maxInterimResponses {
			return c.malformed(fmt.Sprintf("more than %d interim (1xx) responses", maxInterimResponses))
		}
		if err := c.readHeader(); err != nil {
			return err
		}
	}
	c.gotHeader = true
	code := c.resp.StatusCode()
	c.body.reset(code >= 200 && code < 300)
	if c.head || code < 200 || code == fasthttp.StatusNoContent || code == fasthttp.StatusNotModified {
		return nil
	}
	switch cl := c.resp.ContentLength(); {
	case cl >= 0:
		if limit := c.t.cfg.MaxBodyBytes; limit > 0 && cl > limit {
			return fmt.Errorf("%w: Content-Length %d, MaxBodyBytes %d", ErrBodyTooLarge, cl, limit)
		}
		return c.readBody(int64(cl), false)
	case cl == -1:
		return c.readChunked()
	default:
		// Neither length nor chunked: the body ends when the server closes
		// (fasthttp marks the response Connection: close).
		return c.readBody(math.MaxInt64, true)
	}
}

// checkHTTP fails fast, with the bytes that came back, when the reply
// does not even start like an HTTP response.
func (c *h1conn) checkHTTP() error {
	const proto = "HTTP/"
	b, err := c.br.Peek(len(proto))
	if len(b) > 0 && (b[0] == '\r' || b[0] == '\n') {
		return nil // leading blank lines: fasthttp skips them
	}
	if !bytes.HasPrefix([]byte(proto), b) {
		return c.malformed("it does not start with HTTP/")
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
func (c *h1conn) readHeader() error {
	err := c.resp.Read(c.br)
	if err == nil {
		return nil
	}
	var small *fasthttp.ErrSmallBuffer
	if errors.As(err, &small) {
		return ErrHeadersTooLarge
	}
	if http1ErrorOutcome(err) != Other {
		return err // the connection failed: timeout, reset, EOF
	}
	return c.malformed("bad status line or header")
}

// malformed describes a reply that is not HTTP/1.1 by its first bytes.
func (c *h1conn) malformed(why string) error {
	b, _ := c.br.Peek(min(c.br.Buffered(), 60))
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
func (c *h1conn) readBody(n int64, untilEOF bool) error {
	br := c.br
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
		if err := c.body.write(b); err != nil {
			return err
		}
		_, _ = br.Discard(k)
		n -= int64(k)
	}
	return nil
}

// readChunked reads a chunked body and its trailer section.
func (c *h1conn) readChunked() error {
	for {
		line, err := c.line()
		if err != nil {
			return err
		}
		size, ok := parseChunkSize(line)
		if !ok {
			return badChunk("bad chunk size line", line)
		}
		if size == 0 {
			break
		}
		if err := c.readBody(size, false); err != nil {
			return err
		}
		if line, err = c.line(); err != nil {
			return err
		}
		if len(trimEOL(line)) != 0 {
			return badChunk("chunk data longer than its size", line)
		}
	}
	for { // trailer fields, up to the empty line; the deadline bounds them
		line, err := c.line()
		if err != nil {
			return err
		}
		if len(trimEOL(line)) == 0 {
			return nil
		}
	}
}

func badChunk(why string, line []byte) error {
	return &MalformedError{Reason: "chunked body: " + why, Start: quoteStart(trimEOL(line), 60)}
}

// line reads one line of the chunked framing; it is only valid until the
// next read.
func (c *h1conn) line() ([]byte, error) {
	b, err := c.br.ReadSlice('\n')
	switch {
	case err == nil:
		return b, nil
	case errors.Is(err, bufio.ErrBufferFull):
		b, _ := c.br.Peek(60)
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
	for _, ch := range line {
		switch {
		case ch >= '0' && ch <= '9':
			ch -= '0'
		case ch >= 'a' && ch <= 'f':
			ch -= 'a' - 10
		case ch >= 'A' && ch <= 'F':
			ch -= 'A' - 10
		default:
			return 0, false
		}
		n = n<<4 | int64(ch)
	}
	return n, true
}

// http1ErrorOutcome classifies an error of an HTTP/1.1 exchange: fasthttp's
// own error types first, then ErrorOutcome. The connection reads the first
// response byte itself, so most errors arrive unwrapped; these are the ones
// fasthttp still wraps.
func http1ErrorOutcome(err error) Outcome {
	var (
		nothing fasthttp.ErrNothingRead
		broken  fasthttp.ErrBrokenChunk
	)
	if errors.Is(err, fasthttp.ErrConnectionClosed) || errors.As(err, &nothing) || errors.As(err, &broken) {
		return EOF
	}
	return ErrorOutcome(err, false)
}
