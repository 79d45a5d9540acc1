package loadgen

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rolltest/rolltest/internal/nettest"
)

// scripted is one round trip of a fakeConn: a response, or an error.
type scripted struct {
	status int
	body   string
	close  bool          // the response closes the connection
	stale  bool          // the connection is not reusable after it
	err    *AttemptError // fails the round trip
}

func ok(pod string) scripted {
	return scripted{status: 200, body: pod + " >> 10.0.0.1 >> v1"}
}

func fails(o Outcome, answered bool) scripted {
	return scripted{err: &AttemptError{Outcome: o, Answered: answered, Err: errors.New(o.String())}}
}

// fakeTransport hands out connections that play a script, one per dial,
// in order; a dial beyond the script is refused. It sends nothing.
type fakeTransport struct {
	mu      sync.Mutex
	scripts [][]scripted
	conns   []*fakeConn
}

func (t *fakeTransport) Dial(context.Context, time.Time) (Conn, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.conns) == len(t.scripts) {
		return nil, &AttemptError{Outcome: Refused, Op: "connect", Err: syscall.ECONNREFUSED}
	}
	c := &fakeConn{script: t.scripts[len(t.conns)]}
	t.conns = append(t.conns, c)
	return c, nil
}

type fakeConn struct {
	script []scripted
	n      int
	stale  bool
	closed int
	seqs   []uint64
}

func (c *fakeConn) RoundTrip(_ context.Context, req *Request, res *Response) error {
	if c.closed > 0 {
		return &AttemptError{Outcome: Other, Err: errors.New("round trip on a closed Conn")}
	}
	if c.n == len(c.script) {
		return &AttemptError{Outcome: Other, Err: errors.New("script exhausted")}
	}
	s := c.script[c.n]
	c.n++
	c.seqs = append(c.seqs, req.Seq)
	c.stale = s.stale
	res.BytesOut, res.BytesIn = 100, 0
	if s.err != nil {
		if s.err.Answered {
			res.BytesIn = 10
		}
		return s.err
	}
	*res = Response{Status: s.status, Body: []byte(s.body), BodyLen: int64(len(s.body)), Matched: true, Close: s.close,
		BytesIn: int64(len(s.body)), BytesOut: 100}
	return nil
}

func (c *fakeConn) Reusable(time.Duration) bool { return !c.stale }

func (c *fakeConn) Close() error {
	c.closed++
	return nil
}

func runScript(t *testing.T, cfg Config, scripts ...[]scripted) (*Stats, *fakeTransport) {
	t.Helper()
	ft := &fakeTransport{scripts: scripts}
	cfg.Target = "http://127.0.0.1:1/" // never dialled: the transport is fake
	cfg.Concurrency = 1
	cfg.KeepAlive = true
	cfg.NewTransport = func(TransportConfig) (Transport, error) { return ft, nil }
	st := runEngine(t, cfg, 10*time.Second)
	for i, c := range ft.conns {
		if c.closed != 1 {
			t.Errorf("connection %d closed %d times, want once", i+1, c.closed)
		}
	}
	return st, ft
}

// TestRetryRule: a failed attempt is sent again only when it was on a
// reused connection, no byte of a response had arrived, the request is
// safe to replay and the connection was reset or closed (net/http's
// rule), and only as often as --retries allows. Every attempt is counted.
func TestRetryRule(t *testing.T) {
	for _, tc := range []struct {
		name    string
		method  string
		retries int
		scripts [][]scripted
		// want: the second request's outcome, retried attempts, connections
		outcome Outcome
		retried int64
		conns   int
	}{
		{"reset on a reused connection, nothing answered: retried", "GET", 1,
			[][]scripted{{ok("pod-a"), fails(Reset, false)}, {ok("pod-b")}}, OK, 1, 2},
		{"EOF on a reused connection, nothing answered: retried", "GET", 1,
			[][]scripted{{ok("pod-a"), fails(EOF, false)}, {ok("pod-b")}}, OK, 1, 2},
		{"without --retries: a failure", "GET", 0,
			[][]scripted{{ok("pod-a"), fails(Reset, false)}}, Reset, 0, 1},
		{"part of a response had arrived: a failure", "GET", 1,
			[][]scripted{{ok("pod-a"), fails(EOF, true)}}, EOF, 0, 1},
		{"a timeout is never replayed", "GET", 1,
			[][]scripted{{ok("pod-a"), fails(TimeoutResponse, false)}}, TimeoutResponse, 0, 1},
		{"POST is not safe to replay", "POST", 1,
			[][]scripted{{ok("pod-a"), fails(Reset, false)}}, Reset, 0, 1},
		{"the retry fails on its fresh connection: not retried again", "GET", 3,
			[][]scripted{{ok("pod-a"), fails(Reset, false)}, {fails(Reset, false)}}, Reset, 1, 2},
		{"the retry cannot connect", "GET", 1,
			[][]scripted{{ok("pod-a"), fails(Reset, false)}}, Refused, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sink attemptLog
			st, ft := runScript(t, Config{Requests: 2, Retries: tc.retries, Method: tc.method, RequestIDHeader: "X-Request-Id", Attempts: &sink}, tc.scripts...)
			if st.Requests() != 2 || st.Outcomes[OK] != 1+b2i(tc.outcome == OK) || st.Outcomes[tc.outcome] < 1 {
				t.Fatalf("outcomes %v, want the first ok and the second %s", st.Outcomes, tc.outcome)
			}
			if st.Retried != tc.retried || len(ft.conns) != tc.conns || st.ConnsOpened != int64(tc.conns) {
				t.Fatalf("retried %d on %d connections (%d counted), want %d on %d", st.Retried, len(ft.conns), st.ConnsOpened, tc.retried, tc.conns)
			}
			if want := tc.retried + 1 - b2i(tc.outcome == OK); int64(len(st.Failures)) != want {
				t.Fatalf("%d failure records, want one per failed attempt: %+v", len(st.Failures), st.Failures)
			}
			// A failure on pod-a's connection is pod-a's.
			if f := st.Failures[0]; f.Seq != 1 || st.Pods[f.Pod].Pod != "pod-a" || f.AttributedBy != AttrConnection || f.Retried != (tc.retried > 0) {
				t.Fatalf("first failure %+v on %q", f, st.Pods[f.Pod].Pod)
			}
			if tc.conns == 2 && ft.conns[1].seqs[0] != 1 {
				t.Fatalf("the retry sent request %d, want the same request 1", ft.conns[1].seqs[0])
			}
			// Config.Attempts sees every attempt, re-sends marked, and the
			// failure on pod-a's connection names pod-a.
			if int64(len(sink.all)) != st.Requests()+st.Retried {
				t.Fatalf("%d attempts handed over, want %d requests + %d retried: %+v", len(sink.all), st.Requests(), st.Retried, sink.all)
			}
			var retried int64
			for _, a := range sink.all {
				if a.Retried {
					retried++
				}
				if a.Seq == 1 && a.Attempt == 1 && (a.Pod.Pod != "pod-a" || a.Outcome == OK || a.Retried != (tc.retried > 0)) {
					t.Fatalf("request 1's first attempt %+v", a)
				}
				if a.End < a.Start || a.Begin.IsZero() || a.Active != 1 {
					t.Fatalf("attempt %+v", a)
				}
			}
			if retried != st.Retried {
				t.Fatalf("%d attempts marked retried, want %d", retried, st.Retried)
			}
		})
	}
}

// attemptLog is an AttemptSink that keeps a copy of every attempt.
type attemptLog struct {
	mu  sync.Mutex
	all []Attempt
}

func (l *attemptLog) Attempt(a *Attempt) {
	l.mu.Lock()
	l.all = append(l.all, *a)
	l.mu.Unlock()
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// TestConnectionLifecycle: a response that closes its connection, or an
// idle connection the server has closed, makes the next request dial; a
// stale connection is left without a failure, and each connection is
// closed once.
func TestConnectionLifecycle(t *testing.T) {
	closing := ok("pod-a")
	closing.close = true
	stale := ok("pod-b")
	stale.stale = true
	st, ft := runScript(t, Config{Requests: 5},
		[]scripted{ok("pod-a"), closing},
		[]scripted{stale},
		[]scripted{ok("pod-c"), ok("pod-c")})
	if st.Outcomes[OK] != 5 || st.Failed() != 0 || st.ConnsOpened != 3 || len(ft.conns) != 3 {
		t.Fatalf("outcomes %v, %d connections: want 5 ok on 3", st.Outcomes, st.ConnsOpened)
	}
	if st.BytesOut != 500 || st.BytesIn != 5*int64(len(ok("pod-a").body)) {
		t.Fatalf("bytes %d in, %d out", st.BytesIn, st.BytesOut)
	}
}

// TestPreflightUsesTheTransportAlone: the preflight is one dial and one
// round trip, its identity parsed from the response, its failures
// described; nothing is recorded.
func TestPreflightUsesTheTransportAlone(t *testing.T) {
	preflight := func(scripts ...[]scripted) (int, PodIdentity, error) {
		ft := &fakeTransport{scripts: scripts}
		e, err := New(context.Background(), Config{Target: "http://127.0.0.1:1/", Concurrency: 1,
			NewTransport: func(TransportConfig) (Transport, error) { return ft, nil }})
		if err != nil {
			t.Fatal(err)
		}
		status, id, err := e.Preflight(context.Background())
		if p := e.Progress(); p.Requests != 0 || e.conns.Load() != 0 {
			t.Fatalf("the preflight was recorded: %+v", p)
		}
		for _, c := range ft.conns {
			if c.closed != 1 {
				t.Fatalf("preflight connection closed %d times", c.closed)
			}
		}
		return status, id, err
	}
	status, id, err := preflight([]scripted{ok("pod-p")})
	if err != nil || status != 200 || id.Pod != "pod-p" || id.Version != "v1" {
		t.Fatalf("preflight: %d %+v %v", status, id, err)
	}
	var pe *PreflightError
	for _, tc := range []struct {
		scripts  [][]scripted
		outcome  Outcome
		answered bool
		detail   string
	}{
		{nil, Refused, false, "connect: connection refused"},
		{[][]scripted{{fails(EOF, true)}}, EOF, true, "eof"},
		{[][]scripted{{{err: &AttemptError{Outcome: EOF, Status: 200, Answered: true, Err: io.ErrUnexpectedEOF}}}}, EOF, true, "HTTP 200, body: unexpected EOF"},
	} {
		_, _, err := preflight(tc.scripts...)
		if !errors.As(err, &pe) || pe.Outcome != tc.outcome || pe.Answered != tc.answered || pe.Detail != tc.detail {
			t.Errorf("preflight error %#v, want %s answered=%v %q", err, tc.outcome, tc.answered, tc.detail)
		}
	}
}

// TestTransportConfig: what New tells the transport, resolved from Config.
func TestTransportConfig(t *testing.T) {
	var got TransportConfig
	id, _ := ParseIdentity("header:x-pod,x-version")
	_, err := New(context.Background(), Config{
		Target: "https://127.0.0.1:8443/x", Concurrency: 1, Method: "PUT", Body: []byte("b"), Identity: id,
		Headers: []Header{{Name: "Host", Value: "svc"}}, RequestIDHeader: "X-Request-Id", ExpectBody: []byte("ok"), MaxBodyBytes: 9,
		NewTransport: func(tc TransportConfig) (Transport, error) { got = tc; return &fakeTransport{}, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.Target != "https://127.0.0.1:8443/x" || strings.Join(got.Addrs, ",") != "127.0.0.1:8443" || got.Method != "PUT" ||
		string(got.Body) != "b" || got.UserAgent != "rolltest" || len(got.Headers) != 1 || got.RequestIDHeader != "X-Request-Id" ||
		string(got.ExpectBody) != "ok" || got.MaxBodyBytes != 9 || strings.Join(got.Capture, ",") != "X-Pod,X-Version" {
		t.Fatalf("transport config %+v", got)
	}
	if got.TLS == nil || got.TLS.ServerName != "127.0.0.1" || len(got.TLS.NextProtos) != 0 {
		t.Fatalf("TLS %+v: want the server name and no protocols (each transport offers its own)", got.TLS)
	}
	if h := newHTTP1(got); len(h.tls.NextProtos) != 1 || h.tls.NextProtos[0] != "http/1.1" || len(got.TLS.NextProtos) != 0 {
		t.Fatal("the HTTP/1.1 transport must offer http/1.1 alone, on its own copy of the TLS config")
	}
	if _, err := New(context.Background(), Config{Target: "http://127.0.0.1:1/", Concurrency: 1,
		NewTransport: func(TransportConfig) (Transport, error) { return nil, errors.New("no h2c here") }}); err == nil || !strings.Contains(err.Error(), "no h2c here") {
		t.Fatalf("a transport that cannot be built: %v", err)
	}
}

// TestAttemptErrorDetail: how a failure reads in records and preflight
// messages, by the step that failed.
func TestAttemptErrorDetail(t *testing.T) {
	cause := errors.New(strings.Repeat("x", 250))
	for _, tc := range []struct {
		err  *AttemptError
		want string
	}{
		{&AttemptError{Outcome: Refused, Op: "connect", Err: syscall.ECONNREFUSED}, "connect: connection refused"},
		{&AttemptError{Outcome: EOF, Status: 503, Err: io.ErrUnexpectedEOF}, "HTTP 503, body: unexpected EOF"},
		{&AttemptError{Outcome: Reset, Err: syscall.ECONNRESET}, "connection reset by peer"},
		{&AttemptError{Outcome: Other, Err: cause}, strings.Repeat("x", 200) + "…"},
	} {
		var s sample
		(&worker{}).failed(&s, tc.err)
		if s.detail != tc.want || s.outcome != tc.err.Outcome {
			t.Errorf("%v: detail %q, want %q", tc.err, s.detail, tc.want)
		}
	}
	if ae := asAttemptError(syscall.ECONNREFUSED, true); ae.Outcome != Refused || ae.Op != "connect" {
		t.Errorf("a plain dial error classified as %+v", ae)
	}
	if ae := asAttemptError(errors.New("?"), false); ae.Outcome != Other {
		t.Errorf("an unknown error classified as %s", ae.Outcome)
	}
}

// TestHTTP1PreflightCancel: a preflight whose context ends while the
// server says nothing returns at once with the context's error.
func TestHTTP1PreflightCancel(t *testing.T) {
	srv, url := stallServer(t)
	defer srv()
	e, err := New(context.Background(), Config{Target: url, Concurrency: 1, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	if _, _, err := e.Preflight(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("preflight: %v, want the context's error", err)
	}
}

// stallServer accepts connections and reads requests but never answers.
func stallServer(t *testing.T) (stop func(), url string) {
	t.Helper()
	addr, stop := nettest.Serve(t, 30*time.Second, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
	return stop, "http://" + addr + "/"
}
