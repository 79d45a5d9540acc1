package loadgen

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/rolltest/rolltest/internal/nettest"
)

// h2cServer serves h on loopback with HTTP/2 prior knowledge only (Go's
// server, UnencryptedHTTP2 alone): an HTTP/1.1 request would fail.
func h2cServer(t testing.TB, h http.Handler) string { return nettest.ServeH2C(t, h) }

// podHandler answers as one of two pods, alternating by request, naming
// the pod in X-Pod and in a seed line body, and counts the requests it
// served over HTTP/2 and over anything else.
type podHandler struct{ h2, other atomic.Int64 }

func (p *podHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := p.h2.Add(1)
	if r.ProtoMajor != 2 {
		p.other.Add(1)
	}
	pod := "web-a"
	if n%2 == 0 {
		pod = "web-b"
	}
	w.Header().Set("X-Pod", pod)
	_, _ = io.WriteString(w, pod+" >> 10.0.0.1 >> v1\n")
}

func runH2(t *testing.T, cfg Config) *Stats {
	t.Helper()
	e, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	st, err := e.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// podNames lists the pods a run attributed requests to, by name.
func podNames(st *Stats) map[string]int64 {
	out := map[string]int64{}
	for _, p := range st.Pods[1:] {
		out[p.Pod] = p.Counts.Requests()
	}
	return out
}

// TestHTTP2AgainstGoServer: h2c and h2 over TLS against Go's server count
// every request exactly (the server saw as many, all HTTP/2) and read the
// pod from a header and from the body.
func TestHTTP2AgainstGoServer(t *testing.T) {
	for _, proto := range []string{ProtoH2C, ProtoH2} {
		for _, identity := range []string{"header:X-Pod", "line"} {
			t.Run(proto+" "+identity, func(t *testing.T) {
				var h podHandler
				var url string
				insecure := false
				if proto == ProtoH2C {
					url = h2cServer(t, &h)
				} else {
					ts := httptest.NewUnstartedServer(&h)
					ts.EnableHTTP2 = true
					ts.StartTLS()
					t.Cleanup(ts.Close)
					url, insecure = ts.URL, true
				}
				id, err := ParseIdentity(identity)
				if err != nil {
					t.Fatal(err)
				}
				st := runH2(t, Config{Target: url + "/x?y=1", Concurrency: 4, Requests: 200, KeepAlive: true,
					Protocol: proto, Identity: id, InsecureSkipVerify: insecure, RequestIDHeader: "X-Request-Id"})
				if st.Outcomes[OK] != 200 || st.Requests() != 200 {
					t.Fatalf("outcomes %v, want 200 ok", st.Outcomes)
				}
				if h.h2.Load() != 200 || h.other.Load() != 0 {
					t.Fatalf("server saw %d requests, %d not HTTP/2", h.h2.Load(), h.other.Load())
				}
				pods := podNames(st)
				if pods["web-a"]+pods["web-b"] != 200 || pods["web-a"] == 0 || pods["web-b"] == 0 {
					t.Fatalf("pods %v", pods)
				}
				if st.ConnsOpened > 4 {
					t.Errorf("%d connections for 4 workers with keep-alive", st.ConnsOpened)
				}
			})
		}
	}
}

// dialH2 builds the engine's transport for cfg and dials it.
func dialH2(t testing.TB, cfg Config) (*Engine, Conn) {
	t.Helper()
	e, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.transport.Dial(context.Background(), time.Now().Add(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return e, c
}

// TestHTTP2BigBodies: a 5 MiB response streams through flow control
// (far past the 64 KiB default window), counted whole and kept only up to
// MaxIdentityBytes; a 1 MiB request body is sent within the server's
// windows and arrives whole.
func TestHTTP2BigBodies(t *testing.T) {
	const size = 5 << 20
	big := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	url := h2cServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Got", strconv.FormatInt(n, 10))
		if err != nil {
			w.WriteHeader(500)
			return
		}
		if r.Method == "GET" {
			_, _ = w.Write(big)
		}
	}))
	body := bytes.Repeat([]byte("b"), 1<<20)
	_, c := dialH2(t, Config{Concurrency: 1, KeepAlive: true, Protocol: ProtoH2C,
		Targets:  []Target{{URL: url + "/big", Method: "GET"}, {URL: url + "/up", Method: "POST", Body: body}},
		Identity: mustIdentity(t, "header:X-Got")})
	var res Response
	for i := range 3 { // on one connection: the windows are given back
		if err := c.RoundTrip(context.Background(), &Request{Seq: uint64(i), Deadline: time.Now().Add(10 * time.Second)}, &res); err != nil {
			t.Fatal(err)
		}
		if res.Status != 200 || res.BodyLen != size || len(res.Body) != MaxIdentityBytes || res.BytesIn < size {
			t.Fatalf("status %d, body %d (kept %d), %d bytes in", res.Status, res.BodyLen, len(res.Body), res.BytesIn)
		}
	}
	if err := c.RoundTrip(context.Background(), &Request{Target: 1, Deadline: time.Now().Add(10 * time.Second)}, &res); err != nil {
		t.Fatal(err)
	}
	if res.Status != 200 || string(res.Header[0]) != "1048576" || res.BytesOut < 1<<20 {
		t.Fatalf("upload: status %d, server got %q, %d bytes out", res.Status, res.Header[0], res.BytesOut)
	}
}

func mustIdentity(t testing.TB, spec string) *Identity {
	t.Helper()
	id, err := ParseIdentity(spec)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestHTTP2NotSpoken: a server that does not speak HTTP/2 fails at
// connect with ErrNoHTTP2, over TLS (no h2 by ALPN) and over TCP (an
// HTTP/1.1 server answering the preface).
func TestHTTP2NotSpoken(t *testing.T) {
	h1 := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	tlsSrv := httptest.NewUnstartedServer(h1)           // EnableHTTP2 unset: http/1.1 alone
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is the point
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	plain := httptest.NewServer(h1)
	defer plain.Close()
	for _, tc := range []struct {
		name, url, proto string
	}{
		{"h2 on an HTTP/1.1 TLS server", tlsSrv.URL, ProtoH2},
		{"h2c on an HTTP/1.1 server", plain.URL, ProtoH2C},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := New(context.Background(), Config{Target: tc.url, Concurrency: 1, Protocol: tc.proto, InsecureSkipVerify: true})
			if err != nil {
				t.Fatal(err)
			}
			_, err = e.transport.Dial(context.Background(), time.Now().Add(5*time.Second))
			var ae *AttemptError
			if !errors.Is(err, ErrNoHTTP2) || !errors.As(err, &ae) || ae.Op != "connect" {
				t.Fatalf("Dial: %v, want a connect error wrapping ErrNoHTTP2", err)
			}
			t.Log(err)
		})
	}
}

// TestHTTP2ProtocolNeedsScheme: h2 is for https, h2c for http.
func TestHTTP2ProtocolNeedsScheme(t *testing.T) {
	for _, tc := range []struct{ url, proto string }{{"http://127.0.0.1:1/", ProtoH2}, {"https://127.0.0.1:1/", ProtoH2C}} {
		if _, err := New(context.Background(), Config{Target: tc.url, Concurrency: 1, Protocol: tc.proto}); err == nil {
			t.Errorf("%s on %s: no error", tc.proto, tc.url)
		}
	}
}

// h2Action is what the misbehaving server does with a request: conn is
// the connection's number (from 0), stream the request's stream id.
type h2Action func(fr *http2.Framer, nc net.Conn, conn int, stream uint32) error

// misbehavingH2 is a hand-written h2c server built on the Framer: it
// answers each request as act says. Every loop is bounded.
func misbehavingH2(t *testing.T, act h2Action) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for conn := 0; conn < 1000; conn++ {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go serveMisbehaving(nc, conn, act)
		}
	}()
	return "http://" + ln.Addr().String()
}

func serveMisbehaving(nc net.Conn, conn int, act h2Action) {
	defer nc.Close()
	preface := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(nc, preface); err != nil || string(preface) != http2.ClientPreface {
		return
	}
	fr := http2.NewFramer(nc, nc)
	if fr.WriteSettings() != nil {
		return
	}
	for range 10000 {
		f, err := fr.ReadFrame()
		if err != nil {
			return
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() && fr.WriteSettingsAck() != nil {
				return
			}
		case *http2.HeadersFrame:
			if act(fr, nc, conn, f.StreamID) != nil {
				return
			}
		}
	}
}

// writeResponse writes a response's HEADERS (:status, X-Pod) and body;
// end says whether the body ends the stream.
func writeResponse(fr *http2.Framer, stream uint32, status int, body string, end bool) error {
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	_ = enc.WriteField(hpack.HeaderField{Name: ":status", Value: strconv.Itoa(status)})
	_ = enc.WriteField(hpack.HeaderField{Name: "x-pod", Value: "web-a"})
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: stream, BlockFragment: buf.Bytes(), EndHeaders: true}); err != nil {
		return err
	}
	return fr.WriteData(stream, end, []byte(body))
}

// TestHTTP2StreamFates: GOAWAY, REFUSED_STREAM, other RST_STREAM codes and
// a connection cut mid-stream, each counted as its outcome; the two the
// server did not process are re-sent under --retries and counted as
// retried.
func TestHTTP2StreamFates(t *testing.T) {
	ok := func(fr *http2.Framer, _ net.Conn, _ int, s uint32) error {
		return writeResponse(fr, s, 200, "web-a >> 10.0.0.1 >> v1\n", true)
	}
	// firstConn misbehaves on the first connection only, so that a retry
	// on a new connection succeeds.
	firstConn := func(bad h2Action) h2Action {
		return func(fr *http2.Framer, nc net.Conn, conn int, s uint32) error {
			if conn == 0 {
				return bad(fr, nc, conn, s)
			}
			return ok(fr, nc, conn, s)
		}
	}
	goAway := func(fr *http2.Framer, _ net.Conn, _ int, s uint32) error {
		if err := fr.WriteGoAway(s-1, http2.ErrCodeNo, nil); err != nil { // below ours: 0 for stream 1
			return err
		}
		return errors.New("closing after GOAWAY")
	}
	refused := func(fr *http2.Framer, _ net.Conn, _ int, s uint32) error {
		return fr.WriteRSTStream(s, http2.ErrCodeRefusedStream)
	}
	internal := func(fr *http2.Framer, _ net.Conn, _ int, s uint32) error {
		if err := writeResponse(fr, s, 200, "web-a >> partial", false); err != nil {
			return err
		}
		return fr.WriteRSTStream(s, http2.ErrCodeInternal)
	}
	cut := func(fr *http2.Framer, _ net.Conn, _ int, s uint32) error {
		if err := writeResponse(fr, s, 200, "web-a >> partial", false); err != nil {
			return err
		}
		return errors.New("cut") // serveMisbehaving closes the connection
	}
	cutRST := func(fr *http2.Framer, nc net.Conn, _ int, s uint32) error {
		if err := writeResponse(fr, s, 200, "web-a >> partial", false); err != nil {
			return err
		}
		_ = nc.(*net.TCPConn).SetLinger(0) // close with a TCP RST
		return errors.New("cut with RST")
	}
	noErrMid := func(fr *http2.Framer, _ net.Conn, _ int, s uint32) error {
		if err := writeResponse(fr, s, 200, "web-a >> partial", false); err != nil {
			return err
		}
		return fr.WriteRSTStream(s, http2.ErrCodeNo) // before END_STREAM: the body is cut short
	}
	// framed sends the response the long way: a padded HEADERS with
	// priority and the block split over CONTINUATION, a PING before it, a 100
	// Continue first, the body in two DATA frames, trailers ending the
	// stream.
	framed := func(fr *http2.Framer, _ net.Conn, _ int, s uint32) error {
		var buf bytes.Buffer
		enc := hpack.NewEncoder(&buf)
		_ = enc.WriteField(hpack.HeaderField{Name: ":status", Value: "100"})
		if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: s, BlockFragment: bytes.Clone(buf.Bytes()), EndHeaders: true}); err != nil {
			return err
		}
		buf.Reset()
		_ = enc.WriteField(hpack.HeaderField{Name: ":status", Value: "200"})
		_ = enc.WriteField(hpack.HeaderField{Name: "x-pod", Value: "web-a"})
		block := buf.Bytes()
		err := fr.WritePing(false, [8]byte{1})
		if err == nil {
			err = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: s, BlockFragment: block[:2], PadLength: 3,
				Priority: http2.PriorityParam{Weight: 7}})
		}
		if err == nil {
			err = fr.WriteContinuation(s, true, block[2:])
		}
		if err == nil {
			err = fr.WriteData(s, false, []byte("web-a >> 10.0.0.1"))
		}
		if err == nil {
			err = fr.WriteData(s, false, []byte(" >> v1\n"))
		}
		if err != nil {
			return err
		}
		buf.Reset()
		_ = enc.WriteField(hpack.HeaderField{Name: "grpc-status", Value: "0"})
		return fr.WriteHeaders(http2.HeadersFrameParam{StreamID: s, BlockFragment: buf.Bytes(), EndHeaders: true, EndStream: true})
	}
	for _, tc := range []struct {
		name    string
		act     h2Action
		retries int
		want    Outcome // the request's final outcome
		retried Outcome // the retried attempt's outcome, OK for none
	}{
		{"goaway", goAway, 0, GoAwayUnprocessed, OK},
		{"goaway retried", firstConn(goAway), 1, OK, GoAwayUnprocessed},
		{"refused", refused, 0, RefusedStream, OK},
		{"refused retried", firstConn(refused), 1, OK, RefusedStream},
		{"internal error", internal, 0, StreamReset, OK},
		{"internal error not retried", firstConn(internal), 1, StreamReset, OK},
		{"cut", cut, 0, EOF, OK},
		{"cut with RST", cutRST, 0, Reset, OK},
		{"no error mid-response", noErrMid, 0, StreamReset, OK},
		{"ok", ok, 1, OK, OK},
		{"headers the long way", framed, 0, OK, OK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := misbehavingH2(t, tc.act)
			st := runH2(t, Config{Target: url + "/", Concurrency: 1, Requests: 1, KeepAlive: true, Protocol: ProtoH2C, Retries: tc.retries, Timeout: 10 * time.Second})
			for _, f := range st.Failures {
				t.Logf("failure: %v %s", f.Outcome, f.Detail)
			}
			if st.Requests() != 1 || st.Outcomes[tc.want] != 1 {
				t.Fatalf("outcomes %v, want one %v", st.Outcomes, tc.want)
			}
			wantRetried := int64(0)
			if tc.retried != OK {
				wantRetried = 1
			}
			if st.Retried != wantRetried || (wantRetried == 1 && st.RetriedOutcomes[tc.retried] != 1) {
				t.Fatalf("retried %d %v, want %d %v", st.Retried, st.RetriedOutcomes, wantRetried, tc.retried)
			}
			if tc.want == OK && podNames(st)["web-a"] != 1 {
				t.Fatalf("pods %v, want the request from web-a", podNames(st))
			}
		})
	}
}

// TestHTTP2GoAwayBetweenRequests: a GOAWAY that arrives while the
// connection is idle makes it not Reusable, so the next request opens a
// new connection instead of counting a drop.
func TestHTTP2GoAwayBetweenRequests(t *testing.T) {
	sent := make(chan struct{})
	url := misbehavingH2(t, func(fr *http2.Framer, _ net.Conn, conn int, s uint32) error {
		if err := writeResponse(fr, s, 200, "web-a >> 10.0.0.1 >> v1\n", true); err != nil {
			return err
		}
		if conn == 0 {
			err := fr.WriteGoAway(s, http2.ErrCodeNo, nil)
			close(sent)
			return err
		}
		return nil
	})
	_, c := dialH2(t, Config{Target: url + "/", Concurrency: 1, KeepAlive: true, Protocol: ProtoH2C})
	var res Response
	if err := c.RoundTrip(context.Background(), &Request{Deadline: time.Now().Add(10 * time.Second)}, &res); err != nil {
		t.Fatal(err)
	}
	<-sent
	// The GOAWAY is on its way or read already; either it ends the round
	// trip's reuse now (buffered, or the socket is readable), or the next
	// request on this connection fails as goaway_unprocessed: never as a
	// silent success on a retiring connection.
	if c.Reusable(staleAfter) {
		err := c.RoundTrip(context.Background(), &Request{Seq: 1, Deadline: time.Now().Add(10 * time.Second)}, &res)
		if got := asAttemptError(err, false); err == nil || got.Outcome != GoAwayUnprocessed && got.Outcome != EOF {
			t.Fatalf("after GOAWAY: %v", err)
		}
	}
}

// scriptConn is a net.Conn whose peer's bytes are a script: reads return
// it, then EOF; writes go nowhere.
type scriptConn struct {
	net.Conn // nil: any other method panics, none is called
	r        *bytes.Reader
}

func (c *scriptConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c *scriptConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *scriptConn) Close() error                     { return nil }
func (c *scriptConn) SetDeadline(time.Time) error      { return nil }
func (c *scriptConn) SetReadDeadline(time.Time) error  { return nil }
func (c *scriptConn) SetWriteDeadline(time.Time) error { return nil }
func (c *scriptConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *scriptConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }

// h2Script renders frames as a server would send them after its
// SETTINGS, for the fuzzer's seeds.
func h2Script(write func(fr *http2.Framer, enc *hpack.Encoder, buf *bytes.Buffer)) []byte {
	var out, buf bytes.Buffer
	fr := http2.NewFramer(&out, nil)
	write(fr, hpack.NewEncoder(&buf), &buf)
	return out.Bytes()
}

func block(enc *hpack.Encoder, buf *bytes.Buffer, kv ...string) []byte {
	buf.Reset()
	for i := 0; i+1 < len(kv); i += 2 {
		_ = enc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
	}
	return bytes.Clone(buf.Bytes())
}

// FuzzHTTP2Response: whatever frames a server sends in answer to a
// request (h2c, or a gRPC call), reading them ends (in a response or an
// error, never a panic or a hang) and a response the round trip accepts
// is a consistent one.
func FuzzHTTP2Response(f *testing.F) {
	ok := h2Script(func(fr *http2.Framer, enc *hpack.Encoder, buf *bytes.Buffer) {
		_ = fr.WriteSettingsAck()
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block(enc, buf, ":status", "200", "x-pod", "web-a"), EndHeaders: true})
		_ = fr.WriteData(1, false, grpcFrame(healthServingReply))
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block(enc, buf, "grpc-status", "0", "x-pod", "web-b"), EndHeaders: true, EndStream: true})
	})
	split := h2Script(func(fr *http2.Framer, enc *hpack.Encoder, buf *bytes.Buffer) {
		_ = fr.WritePing(false, [8]byte{1})
		b := block(enc, buf, ":status", "100")
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: b, EndHeaders: true})
		b = block(enc, buf, ":status", "503", "x-pod", "web-a", "grpc-status", "14")
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: b[:2], PadLength: 2, Priority: http2.PriorityParam{Weight: 1}})
		_ = fr.WriteContinuation(1, true, b[2:])
		_ = fr.WriteWindowUpdate(0, 100)
		_ = fr.WriteData(1, true, []byte("down"))
	})
	fates := h2Script(func(fr *http2.Framer, enc *hpack.Encoder, buf *bytes.Buffer) {
		_ = fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1}, http2.Setting{ID: http2.SettingMaxFrameSize, Val: 1 << 14})
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block(enc, buf, ":status", "200", "grpc-status", "14"), EndHeaders: true, EndStream: true})
		_ = fr.WriteGoAway(1, http2.ErrCodeNo, nil)
		_ = fr.WriteRSTStream(1, http2.ErrCodeRefusedStream)
	})
	for _, s := range [][]byte{ok, split, fates, nil} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, script []byte, grpc bool) {
		cfg := TransportConfig{Target: "http://127.0.0.1:1/", Method: "POST", Body: []byte("body"), KeepAlive: true,
			Capture: []string{"X-Pod"}, MaxBodyBytes: 1 << 16, ExpectBody: []byte("web")}
		proto := ProtoH2C
		if grpc {
			cfg.Target, proto = "grpc://127.0.0.1:1", ProtoGRPC
		}
		_, c := scriptedConn(t, cfg, proto, script)
		if c == nil {
			return
		}
		var res Response
		err := c.RoundTrip(context.Background(), &Request{Deadline: time.Now().Add(time.Minute)}, &res)
		_ = c.Reusable(staleAfter)
		checkFuzzedResponse(t, &res, err, grpc)
	})
}

// scriptedConn is a handshaken connection of a transport of cfg whose
// server sends an empty SETTINGS, then script; nil when the handshake
// fails on it.
func scriptedConn(t *testing.T, cfg TransportConfig, proto string, script []byte) (*http2T, *h2conn) {
	t.Helper()
	tr, err := newHTTP2(cfg, proto)
	if err != nil {
		t.Fatal(err)
	}
	settings := []byte{0, 0, 0, 0x4, 0, 0, 0, 0, 0}
	c := tr.newConn(&scriptConn{r: bytes.NewReader(append(settings, script...))}, nil)
	if err := c.handshake(); err != nil {
		return tr, nil
	}
	return tr, c
}

// checkFuzzedResponse fails t on what a round trip must never give,
// whatever the server sent: a failure counted ok, a status no response
// has, more body kept than the limits allow or than arrived, a captured
// header missing from the list, a gRPC call ok without HTTP 200, an
// HTTP/2 response with a protocol's verdict.
func checkFuzzedResponse(t *testing.T, res *Response, err error, grpc bool) {
	t.Helper()
	if err != nil {
		if ae := asAttemptError(err, false); ae.Outcome == OK {
			t.Fatalf("error %v classified ok", err)
		}
		return
	}
	switch {
	case res.Status < 200 && res.Status != 101 || res.Status > 999:
		t.Fatalf("accepted status %d", res.Status)
	case len(res.Body) > MaxIdentityBytes || int64(len(res.Body)) > res.BodyLen || res.BodyLen > 1<<16:
		t.Fatalf("body %d kept of %d", len(res.Body), res.BodyLen)
	case len(res.Header) != 1:
		t.Fatalf("%d captured headers", len(res.Header))
	case grpc && responseOutcome(res) == OK && res.Status != 200:
		t.Fatalf("gRPC ok with HTTP %d", res.Status)
	case !grpc && res.Outcome != OK:
		t.Fatalf("HTTP/2 response with a protocol verdict %v", res.Outcome)
	}
}

// FuzzHTTP2MuxResponse is FuzzHTTP2Response for a stream slot of a
// multiplexed connection, whose frames its read loop reads.
func FuzzHTTP2MuxResponse(f *testing.F) {
	ok := h2Script(func(fr *http2.Framer, enc *hpack.Encoder, buf *bytes.Buffer) {
		_ = fr.WriteSettings(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 2})
		_ = fr.WriteWindowUpdate(0, 1000)
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block(enc, buf, ":status", "200", "x-pod", "web-a"), EndHeaders: true})
		_ = fr.WriteData(1, false, grpcFrame(healthServingReply))
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block(enc, buf, "grpc-status", "0"), EndHeaders: true, EndStream: true})
	})
	fates := h2Script(func(fr *http2.Framer, enc *hpack.Encoder, buf *bytes.Buffer) {
		_ = fr.WritePing(false, [8]byte{2})
		b := block(enc, buf, ":status", "200", "grpc-status", "14")
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: b[:1], PadLength: 1})
		_ = fr.WriteContinuation(1, true, b[1:])
		_ = fr.WriteGoAway(0, http2.ErrCodeNo, nil)
		_ = fr.WriteRSTStream(1, http2.ErrCodeRefusedStream)
	})
	for _, s := range [][]byte{ok, fates, nil} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, script []byte, grpc bool) {
		cfg := TransportConfig{Target: "http://127.0.0.1:1/", Method: "POST", Body: []byte("body"), KeepAlive: true,
			Capture: []string{"X-Pod"}, MaxBodyBytes: 1 << 16, Streams: 4}
		proto := ProtoH2C
		if grpc {
			cfg.Target, proto = "grpc://127.0.0.1:1", ProtoGRPC
		}
		tr, c := scriptedConn(t, cfg, proto, script)
		if c == nil {
			return
		}
		m := tr.newMux()
		m.attached.Store(1)
		m.start(c)
		s := m.newSlot()
		defer s.Close()
		var res Response
		err := s.RoundTrip(context.Background(), &Request{Deadline: time.Now().Add(time.Minute)}, &res)
		_ = s.Reusable(staleAfter)
		checkFuzzedResponse(t, &res, err, grpc)
	})
}
