package loadgen

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// grpcReply is what the test gRPC server answers a call with.
type grpcReply struct {
	httpStatus   int      // 0: 200
	headers      []string // response headers, "name: value"
	messages     [][]byte // reply messages, each framed
	raw          []byte   // body bytes written as they are, after messages
	trailers     []string // "name: value"; grpc-status among them, or not
	trailersOnly bool     // no body, the trailers' fields sent in the one HEADERS frame
}

// grpcCallSeen is what the server saw of a call.
type grpcCallSeen struct {
	method, path, contentType, te, ua, custom string
	proto                                     int
	body                                      []byte
}

// grpcServer is a gRPC-speaking server built with net/http alone (HTTP/2
// without TLS when tls is false, over TLS with h2 otherwise), answering
// every call with reply and keeping what it saw of each call.
type grpcServer struct {
	reply grpcReply
	mu    sync.Mutex
	seen  []grpcCallSeen
}

func (s *grpcServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.seen = append(s.seen, grpcCallSeen{method: r.Method, path: r.URL.Path, contentType: r.Header.Get("Content-Type"),
		te: r.Header.Get("Te"), ua: r.Header.Get("User-Agent"), custom: r.Header.Get("X-Custom"), proto: r.ProtoMajor, body: body})
	s.mu.Unlock()
	rp := s.reply
	h := w.Header()
	h.Set("Content-Type", "application/grpc")
	for _, kv := range rp.headers {
		k, v, _ := strings.Cut(kv, ": ")
		h.Add(k, v)
	}
	if rp.trailersOnly {
		for _, kv := range rp.trailers {
			k, v, _ := strings.Cut(kv, ": ")
			h.Add(k, v)
		}
		w.WriteHeader(cmpOr(rp.httpStatus, 200))
		return
	}
	w.WriteHeader(cmpOr(rp.httpStatus, 200))
	for _, m := range rp.messages {
		_, _ = w.Write(grpcFrame(m))
	}
	_, _ = w.Write(rp.raw)
	for _, kv := range rp.trailers {
		k, v, _ := strings.Cut(kv, ": ")
		h.Add(http.TrailerPrefix+k, v)
	}
}

func cmpOr(a, b int) int {
	if a != 0 {
		return a
	}
	return b
}

// startGRPC serves s on loopback and returns the target: grpc:// (h2c) or
// grpcs:// (TLS, h2 by ALPN).
func startGRPC(t *testing.T, s *grpcServer, tls bool) string {
	t.Helper()
	if !tls {
		return "grpc://" + strings.TrimPrefix(h2cServer(t, s), "http://")
	}
	ts := httptest.NewUnstartedServer(s)
	ts.EnableHTTP2 = true
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return "grpcs://" + strings.TrimPrefix(ts.URL, "https://")
}

var (
	healthServingReply = []byte{0x08, 0x01}
	grpcOK             = []string{"grpc-status: 0"}
)

// TestGRPCCalls: each way a gRPC response can end, against a real HTTP/2
// server (net/http's), counted as its outcome, with the detail the
// failure record keeps.
func TestGRPCCalls(t *testing.T) {
	type tc struct {
		name   string
		reply  grpcReply
		method string // "" for the health check
		body   []byte
		limit  int // MaxBodyBytes
		want   Outcome
		detail string // in the failure record
	}
	cases := []tc{
		{name: "serving", reply: grpcReply{messages: [][]byte{healthServingReply}, trailers: grpcOK}, want: OK},
		{name: "not serving", reply: grpcReply{messages: [][]byte{{0x08, 0x02}}, trailers: grpcOK}, want: GRPCNotServing, detail: "gRPC health: NOT_SERVING"},
		{name: "service unknown", reply: grpcReply{messages: [][]byte{{0x08, 0x03}}, trailers: grpcOK}, want: GRPCNotServing, detail: "SERVICE_UNKNOWN"},
		{name: "unknown (empty reply)", reply: grpcReply{messages: [][]byte{nil}, trailers: grpcOK}, want: GRPCNotServing, detail: "gRPC health: UNKNOWN"},
		{name: "health reply not protobuf", reply: grpcReply{messages: [][]byte{{0x08}}, trailers: grpcOK}, want: Other, detail: "not a HealthCheckResponse"},
		{name: "health reply too long", reply: grpcReply{messages: [][]byte{bytes.Repeat([]byte{0x10, 0x01}, 200)}, trailers: grpcOK}, want: Other, detail: "longer than the 256 read"},
		{name: "no reply message", reply: grpcReply{trailers: grpcOK}, want: Other, detail: "0 reply messages"},
		{name: "two reply messages", reply: grpcReply{messages: [][]byte{healthServingReply, healthServingReply}, trailers: grpcOK}, want: Other, detail: "2 reply messages"},
		{name: "trailers-only unavailable", reply: grpcReply{trailersOnly: true, trailers: []string{"grpc-status: 14", "grpc-message: shutting%20down"}}, want: GRPCUnavailable, detail: "gRPC UNAVAILABLE (14): shutting down"},
		{name: "trailers-only OK is no reply", reply: grpcReply{trailersOnly: true, trailers: grpcOK}, want: Other, detail: "0 reply messages"},
		{name: "missing grpc-status", reply: grpcReply{messages: [][]byte{healthServingReply}}, want: GRPCNoStatus, detail: "without grpc-status"},
		{name: "trailers without grpc-status", reply: grpcReply{messages: [][]byte{healthServingReply}, trailers: []string{"x-other: 1"}}, want: GRPCNoStatus},
		{name: "grpc-status not a number", reply: grpcReply{messages: [][]byte{healthServingReply}, trailers: []string{"grpc-status: ok"}}, want: GRPCNoStatus, detail: "not a number"},
		{name: "code 17", reply: grpcReply{trailers: []string{"grpc-status: 17"}}, want: GRPCUnknown, detail: "gRPC code 17 (17)"},
		{name: "HTTP 503", reply: grpcReply{httpStatus: 503, raw: []byte("upstream connect error")}, want: HTTP5xx, detail: "HTTP 503: \"upstream connect error\""},
		{name: "HTTP 404", reply: grpcReply{httpStatus: 404}, want: HTTP4xx},
		{name: "HTTP 202", reply: grpcReply{httpStatus: 202, messages: [][]byte{healthServingReply}, trailers: grpcOK}, want: Other, detail: "HTTP 202, not 200"},
		{name: "compressed reply", reply: grpcReply{raw: []byte{1, 0, 0, 0, 0}, trailers: grpcOK}, want: Other, detail: "compressed"},
		{name: "reply cut inside a message", reply: grpcReply{raw: []byte{0, 0, 0, 0, 9, 1}, trailers: grpcOK}, want: Other, detail: "ended inside a message"},
		{name: "reply larger than the cap", reply: grpcReply{messages: [][]byte{bytes.Repeat([]byte("x"), 1000)}, trailers: grpcOK}, method: "/test.Echo/Echo", limit: 999, want: Other, detail: "a gRPC message of 1000 bytes, more than MaxBodyBytes 999"},
		{name: "reply at the cap", reply: grpcReply{messages: [][]byte{bytes.Repeat([]byte("x"), 994)}, trailers: grpcOK}, method: "/test.Echo/Echo", limit: 999, want: OK},
		{name: "custom method with a body", reply: grpcReply{messages: [][]byte{[]byte("\x0a\x05hello")}, trailers: grpcOK}, method: "/test.Echo/Echo", body: []byte("\x0a\x05hello"), want: OK},
		{name: "custom method, its reply is not read", reply: grpcReply{messages: [][]byte{{0x08, 0x02}}, trailers: grpcOK}, method: "/test.Echo/Echo", want: OK},
	}
	for code := 1; code <= 16; code++ {
		cases = append(cases, tc{name: "code " + strconv.Itoa(code), reply: grpcReply{trailers: []string{"grpc-status: " + strconv.Itoa(code), "grpc-message: boom"}},
			want: grpcStatusOutcome(code), detail: "gRPC " + grpcCodeNames[code] + " (" + strconv.Itoa(code) + "): boom"})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := &grpcServer{reply: c.reply}
			target := startGRPC(t, srv, false)
			st := runH2(t, Config{Target: target, GRPCMethod: c.method, Body: c.body, Concurrency: 1, Requests: 2, KeepAlive: true,
				MaxBodyBytes: c.limit, Identity: mustIdentity(t, "none"), Headers: []Header{{Name: "X-Custom", Value: "c"}}})
			if st.Requests() != 2 || st.Outcomes[c.want] != 2 {
				for _, f := range st.Failures {
					t.Logf("failure: %v %s", f.Outcome, f.Detail)
				}
				t.Fatalf("outcomes %v, want 2 %v", st.Outcomes, c.want)
			}
			if c.want != OK && (len(st.Failures) != 2 || !strings.Contains(st.Failures[0].Detail, c.detail)) {
				t.Fatalf("failures %+v, want the detail to say %q", st.Failures, c.detail)
			}
			if st.Retried != 0 {
				t.Fatalf("%d retried", st.Retried)
			}
			srv.mu.Lock()
			defer srv.mu.Unlock()
			if len(srv.seen) != 2 {
				t.Fatalf("the server saw %d calls, want 2", len(srv.seen))
			}
			s := srv.seen[0]
			wantPath := c.method
			if wantPath == "" {
				wantPath = DefaultGRPCMethod
			}
			if s.method != "POST" || s.path != wantPath || s.contentType != "application/grpc" || s.te != "trailers" ||
				s.proto != 2 || s.ua != "rolltest" || s.custom != "c" || !bytes.Equal(s.body, grpcFrame(c.body)) {
				t.Fatalf("the server saw %+v", s)
			}
		})
	}
}

// TestGRPCOverTLS: a grpcs:// target is called over TLS with h2 by ALPN.
func TestGRPCOverTLS(t *testing.T) {
	srv := &grpcServer{reply: grpcReply{messages: [][]byte{healthServingReply}, trailers: grpcOK}}
	target := startGRPC(t, srv, true)
	st := runH2(t, Config{Target: target, Concurrency: 2, Requests: 10, KeepAlive: true, InsecureSkipVerify: true})
	if st.Outcomes[OK] != 10 || len(srv.seen) != 10 || srv.seen[0].proto != 2 {
		t.Fatalf("outcomes %v, server saw %d", st.Outcomes, len(srv.seen))
	}
}

// TestGRPCIdentity: --identity header:NAME reads the pod from the
// response headers or, where they lack it, from the trailers (gRPC
// metadata); auto identity reads the header rules alone, never a
// protobuf body, from headers and trailers alike; a regex reads the body
// as it came (prefix and protobuf).
func TestGRPCIdentity(t *testing.T) {
	bodyNamingAPod := []byte("web-z >> 10.0.0.9 >> v9") // a protobuf string could hold this
	for _, tc := range []struct {
		name, identity string
		reply          grpcReply
		pod, version   string // "" for no pod
		rule           string
	}{
		{"header in headers", "header:X-Pod", grpcReply{headers: []string{"x-pod: web-a"}, trailers: grpcOK}, "web-a", "", "header:X-Pod"},
		{"header in trailers", "header:X-Pod,X-Version", grpcReply{trailers: []string{"grpc-status: 0", "x-pod: web-b", "x-version: v2"}}, "web-b", "v2", "header:X-Pod,X-Version"},
		{"headers win over trailers", "header:X-Pod", grpcReply{headers: []string{"x-pod: web-a"}, trailers: []string{"grpc-status: 0", "x-pod: web-b"}}, "web-a", "", "header:X-Pod"},
		{"trailers-only", "header:X-Pod", grpcReply{trailersOnly: true, trailers: []string{"grpc-status: 14", "x-pod: web-c"}}, "web-c", "", "header:X-Pod"},
		{"auto from trailers", "auto", grpcReply{trailers: []string{"grpc-status: 0", "x-pod-name: web-d"}}, "web-d", "", "header:X-Pod-Name"},
		{"auto ignores the body", "auto", grpcReply{raw: grpcFrame(bodyNamingAPod), trailers: grpcOK}, "", "", ""},
		{"regex reads the body", "regex:(?P<pod>web-[a-z])", grpcReply{raw: grpcFrame(bodyNamingAPod), trailers: grpcOK}, "web-z", "", "regex:(?P<pod>web-[a-z])"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := &grpcServer{reply: tc.reply}
			if tc.reply.raw == nil && !tc.reply.trailersOnly {
				srv.reply.messages = [][]byte{{0x0a, 0x01, 'x'}}
			}
			target := startGRPC(t, srv, false)
			st := runH2(t, Config{Target: target, GRPCMethod: "/test.Echo/Echo", Concurrency: 1, Requests: 5, KeepAlive: true, Identity: mustIdentity(t, tc.identity)})
			if st.Requests() != 5 {
				t.Fatalf("%d requests", st.Requests())
			}
			switch {
			case tc.pod == "":
				if len(st.Pods) != 1 {
					t.Fatalf("pods %+v, want none", st.Pods[1:])
				}
			default:
				if len(st.Pods) != 2 || st.Pods[1].Pod != tc.pod || st.Pods[1].Version != tc.version || st.Pods[1].Counts.Requests() != 5 {
					t.Fatalf("pods %+v, want 5 requests from %s %s", st.Pods, tc.pod, tc.version)
				}
			}
			if st.IdentityRule != tc.rule {
				t.Fatalf("identity rule %q, want %q", st.IdentityRule, tc.rule)
			}
		})
	}
}

// TestGRPCPreflight: the preflight says how the run would count a gRPC
// status, which HTTP 200 alone does not.
func TestGRPCPreflight(t *testing.T) {
	srv := &grpcServer{reply: grpcReply{trailersOnly: true, trailers: []string{"grpc-status: 14", "grpc-message: draining", "x-pod: web-a"}}}
	e, err := New(context.Background(), Config{Target: startGRPC(t, srv, false), Concurrency: 1, Identity: mustIdentity(t, "header:X-Pod")})
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.PreflightCheck(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != 200 || r.Outcome != GRPCUnavailable || r.Detail != "gRPC UNAVAILABLE (14): draining" || r.Pod.Pod != "web-a" {
		t.Fatalf("preflight %+v", r)
	}
}

// grpcTarget turns a misbehaving server's http:// URL into a grpc:// target.
func grpcTarget(url string) string { return "grpc://" + strings.TrimPrefix(url, "http://") }

// writeGRPCTrailersOnly answers a call with one HEADERS frame ending the
// stream: :status 200 and the gRPC status.
func writeGRPCTrailersOnly(fr *http2.Framer, stream uint32, code int) error {
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	_ = enc.WriteField(hpack.HeaderField{Name: ":status", Value: "200"})
	_ = enc.WriteField(hpack.HeaderField{Name: "content-type", Value: "application/grpc"})
	_ = enc.WriteField(hpack.HeaderField{Name: "grpc-status", Value: strconv.Itoa(code)})
	_ = enc.WriteField(hpack.HeaderField{Name: "x-pod", Value: "web-a"})
	return fr.WriteHeaders(http2.HeadersFrameParam{StreamID: stream, BlockFragment: buf.Bytes(), EndHeaders: true, EndStream: true})
}

// writeGRPCServing answers a health check SERVING: headers, the reply,
// trailers.
func writeGRPCServing(fr *http2.Framer, stream uint32) error {
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	_ = enc.WriteField(hpack.HeaderField{Name: ":status", Value: "200"})
	_ = enc.WriteField(hpack.HeaderField{Name: "x-pod", Value: "web-a"})
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: stream, BlockFragment: bytes.Clone(buf.Bytes()), EndHeaders: true}); err != nil {
		return err
	}
	if err := fr.WriteData(stream, false, grpcFrame(healthServingReply)); err != nil {
		return err
	}
	buf.Reset()
	_ = enc.WriteField(hpack.HeaderField{Name: "grpc-status", Value: "0"})
	return fr.WriteHeaders(http2.HeadersFrameParam{StreamID: stream, BlockFragment: buf.Bytes(), EndHeaders: true, EndStream: true})
}

// TestGRPCStreamFates: against the raw-framer server, a gRPC call's
// stream fates are HTTP/2's: GOAWAY and REFUSED_STREAM are re-sent under
// --retries, another RST_STREAM is not; a trailers-only UNAVAILABLE is a
// complete response, counted as grpc_unavailable and never re-sent.
func TestGRPCStreamFates(t *testing.T) {
	serving := func(fr *http2.Framer, _ net.Conn, _ int, s uint32) error { return writeGRPCServing(fr, s) }
	firstConn := func(bad h2Action) h2Action {
		return func(fr *http2.Framer, nc net.Conn, conn int, s uint32) error {
			if conn == 0 {
				return bad(fr, nc, conn, s)
			}
			return serving(fr, nc, conn, s)
		}
	}
	goAway := func(fr *http2.Framer, _ net.Conn, _ int, s uint32) error {
		if err := fr.WriteGoAway(s-1, http2.ErrCodeNo, nil); err != nil {
			return err
		}
		return errors.New("closing after GOAWAY")
	}
	refused := func(fr *http2.Framer, _ net.Conn, _ int, s uint32) error {
		return fr.WriteRSTStream(s, http2.ErrCodeRefusedStream)
	}
	cancel := func(fr *http2.Framer, _ net.Conn, _ int, s uint32) error {
		return fr.WriteRSTStream(s, http2.ErrCodeCancel)
	}
	unavailable := func(fr *http2.Framer, _ net.Conn, _ int, s uint32) error { return writeGRPCTrailersOnly(fr, s, 14) }
	for _, tc := range []struct {
		name    string
		act     h2Action
		retries int
		want    Outcome
		retried Outcome // OK for none
	}{
		{"serving", serving, 0, OK, OK},
		{"goaway", goAway, 0, GoAwayUnprocessed, OK},
		{"goaway retried", firstConn(goAway), 1, OK, GoAwayUnprocessed},
		{"refused retried", firstConn(refused), 1, OK, RefusedStream},
		{"cancel not retried", firstConn(cancel), 1, StreamReset, OK},
		{"unavailable not retried", firstConn(unavailable), 1, GRPCUnavailable, OK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := grpcTarget(misbehavingH2(t, tc.act))
			st := runH2(t, Config{Target: target, Concurrency: 1, Requests: 1, KeepAlive: true, Retries: tc.retries, Identity: mustIdentity(t, "header:X-Pod")})
			if st.Requests() != 1 || st.Outcomes[tc.want] != 1 {
				t.Fatalf("outcomes %v, want one %v", st.Outcomes, tc.want)
			}
			wantRetried := int64(0)
			if tc.retried != OK {
				wantRetried = 1
			}
			if st.Retried != wantRetried || wantRetried == 1 && st.RetriedOutcomes[tc.retried] != 1 {
				t.Fatalf("retried %d %v, want %d %v", st.Retried, st.RetriedOutcomes, wantRetried, tc.retried)
			}
			if tc.want == GRPCUnavailable && podNames(st)["web-a"] != 1 {
				t.Fatalf("pods %v: the trailers-only answer names web-a", podNames(st))
			}
		})
	}
}

// TestGRPCNotSpoken: a gRPC target that is no HTTP/2 server fails at
// connect, saying so.
func TestGRPCNotSpoken(t *testing.T) {
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer plain.Close()
	e, err := New(context.Background(), Config{Target: "grpc://" + strings.TrimPrefix(plain.URL, "http://"), Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.transport.Dial(context.Background(), time.Now().Add(5*time.Second))
	if !errors.Is(err, ErrNoHTTP2) {
		t.Fatalf("Dial: %v, want ErrNoHTTP2", err)
	}
}
