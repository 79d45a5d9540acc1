package loadgen

import (
	"bytes"
	"errors"
	"fmt"
)

// ErrBodyTooLarge: the body is longer than Config.MaxBodyBytes. It is
// counted as the outcome other; errors.Is finds it in a PreflightError.
var ErrBodyTooLarge = errors.New("response body larger than the maximum")

// bodySink takes in a response body as it streams past, a piece at a time,
// whatever the protocol's framing: it keeps the first MaxIdentityBytes
// (identity and failure details), counts the bytes against the cap, and
// looks for the expected text. It holds nothing else, so a body of any
// size costs no memory, and once created it allocates nothing.
type bodySink struct {
	win   []byte
	n     int64
	limit int64 // 0: no cap
	match streamMatcher
}

func newBodySink(expect []byte, limit int) bodySink {
	return bodySink{win: make([]byte, 0, MaxIdentityBytes), limit: int64(limit), match: newStreamMatcher(expect)}
}

// reset starts a new body; the expected text is looked for only when
// match is set (2xx responses).
func (b *bodySink) reset(match bool) {
	b.win = b.win[:0]
	b.n = 0
	b.match.reset(match)
}

// write takes in the next piece of the body.
func (b *bodySink) write(p []byte) error {
	b.n += int64(len(p))
	if b.limit > 0 && b.n > b.limit {
		return fmt.Errorf("%w: more than MaxBodyBytes %d", ErrBodyTooLarge, b.limit)
	}
	if room := MaxIdentityBytes - len(b.win); room > 0 {
		b.win = append(b.win, p[:min(room, len(p))]...)
	}
	b.match.write(p)
	return nil
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
