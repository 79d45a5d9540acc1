package app

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2Conn is a raw HTTP/2 client connection, frame by frame, for what
// net/http's client hides: GOAWAY frames, and how a response is framed.
// Only the test goroutine uses it.
type h2Conn struct {
	t    *testing.T
	c    net.Conn
	fr   *http2.Framer
	henc *hpack.Encoder
	hbuf bytes.Buffer

	streams map[uint32]*h2Stream
	goAways []http2.GoAwayFrame
	err     error // the read error that ended the connection, once it has
}

// h2Stream is what the server sent on one stream.
type h2Stream struct {
	headerFrames int                 // HEADERS frames, trailers included
	header       []hpack.HeaderField // the first HEADERS frame's fields
	trailer      []hpack.HeaderField // a second HEADERS frame's fields
	data         []byte
	dataFrames   int
	ended        bool // END_STREAM seen
	reset        bool // RST_STREAM seen
}

func (s *h2Stream) field(name string) (string, bool) {
	for _, fs := range [][]hpack.HeaderField{s.header, s.trailer} {
		for _, f := range fs {
			if f.Name == name {
				return f.Value, true
			}
		}
	}
	return "", false
}

// dialH2 opens an h2c connection with prior knowledge and exchanges
// SETTINGS. Every read and write is bounded by waitBound.
func dialH2(t *testing.T, addr string) *h2Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, waitBound)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(waitBound))
	hc := &h2Conn{t: t, c: c, fr: http2.NewFramer(c, c), streams: map[uint32]*h2Stream{}}
	hc.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	hc.henc = hpack.NewEncoder(&hc.hbuf)
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	if err := hc.fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return hc
}

// send opens stream id with a request; a nil body ends the stream with
// the headers.
func (hc *h2Conn) send(id uint32, method, path string, body []byte, header ...string) {
	hc.t.Helper()
	hc.hbuf.Reset()
	fields := append([]string{":method", method, ":scheme", "http", ":authority", "testapp", ":path", path}, header...)
	for i := 0; i+1 < len(fields); i += 2 {
		hc.henc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	err := hc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: hc.hbuf.Bytes(), EndHeaders: true, EndStream: body == nil})
	if err == nil && body != nil {
		err = hc.fr.WriteData(id, true, body)
	}
	if err != nil {
		hc.t.Fatalf("sending stream %d: %v", id, err)
	}
}

func (hc *h2Conn) stream(id uint32) *h2Stream {
	s := hc.streams[id]
	if s == nil {
		s = &h2Stream{}
		hc.streams[id] = s
	}
	return s
}

// readUntil reads frames, answering SETTINGS and PING, until done reports
// true or the connection ends (hc.err set). It fails the test if the
// connection's deadline passes first.
func (hc *h2Conn) readUntil(done func() bool) {
	hc.t.Helper()
	for hc.err == nil && !done() {
		f, err := hc.fr.ReadFrame()
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				hc.t.Fatalf("nothing more from the server within %v", waitBound)
			}
			hc.err = err
			return
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				hc.fr.WriteSettingsAck()
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				hc.fr.WritePing(true, f.Data)
			}
		case *http2.GoAwayFrame:
			hc.goAways = append(hc.goAways, *f)
		case *http2.MetaHeadersFrame:
			s := hc.stream(f.StreamID)
			if s.headerFrames == 0 {
				s.header = f.Fields
			} else {
				s.trailer = f.Fields
			}
			s.headerFrames++
			s.ended = s.ended || f.StreamEnded()
		case *http2.DataFrame:
			s := hc.stream(f.StreamID)
			s.data = append(s.data, f.Data()...)
			s.dataFrames++
			s.ended = s.ended || f.StreamEnded()
		case *http2.RSTStreamFrame:
			hc.stream(f.StreamID).reset = true
		}
	}
}

func (hc *h2Conn) ended(ids ...uint32) func() bool {
	return func() bool {
		for _, id := range ids {
			if s := hc.streams[id]; s == nil || !s.ended {
				return false
			}
		}
		return true
	}
}

// newH2CClient is a net/http client that speaks only HTTP/2 with prior
// knowledge to http:// URLs.
func newH2CClient(t *testing.T) *http.Client {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &p}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: waitBound}
}
