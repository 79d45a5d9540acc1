package app

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rolltest/rolltest/internal/nettest"
)

// waitBound is how long a test waits for something that should happen
// promptly. It is generous because the machine is shared and noisy; tests
// never assert that something happens quickly, only that it happens.
const waitBound = 20 * time.Second

// pollEvery paces the bounded polling loops.
const pollEvery = 10 * time.Millisecond

var timeRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?$`)

type testServer struct {
	s      *Server
	addr   string
	url    string
	cancel context.CancelFunc

	finished chan struct{} // closed when Serve has returned
	err      error         // Serve's result, once finished is closed
}

// start serves a New(cfg) on a fresh 127.0.0.1 port. setup, if not nil, may
// adjust the Server (its http.Server, say) before Serve starts.
func start(t *testing.T, cfg Config, setup func(*Server)) *testServer {
	t.Helper()
	s := New(cfg)
	if setup != nil {
		setup(s)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{
		s:        s,
		addr:     ln.Addr().String(),
		url:      "http://" + ln.Addr().String(),
		cancel:   cancel,
		finished: make(chan struct{}),
	}
	go func() {
		ts.err = s.Serve(ctx, ln)
		close(ts.finished)
	}()
	t.Cleanup(func() {
		cancel()
		if _, ok := ts.wait(); !ok {
			t.Errorf("Serve did not return within %v of cancellation", waitBound)
		}
	})
	return ts
}

// wait waits for Serve to return and reports its error, or false if it has
// not returned within waitBound.
func (ts *testServer) wait() (error, bool) {
	select {
	case <-ts.finished:
		return ts.err, true
	case <-time.After(waitBound):
		return nil, false
	}
}

func (ts *testServer) hasFinished() bool {
	select {
	case <-ts.finished:
		return true
	default:
		return false
	}
}

func newClient(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: waitBound}
}

type result struct {
	code   int
	body   string
	header http.Header
	close  bool // the response asked to close the connection
	reused bool // the request went over a kept-alive connection
}

func do(t *testing.T, c *http.Client, method, url, checker string) result {
	t.Helper()
	r, err := doErr(c, method, url, checker)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return r
}

func doErr(c *http.Client, method, url, checker string) (result, error) {
	var res result
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		return res, err
	}
	if checker != "" {
		req.Header.Set("checker", checker)
	}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { res.reused = i.Reused },
	}))
	resp, err := c.Do(req)
	if err != nil {
		return res, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return res, err
	}
	res.code, res.body, res.header, res.close = resp.StatusCode, string(b), resp.Header, resp.Close
	return res, nil
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// syncBuffer is a bytes.Buffer that handler goroutines may write while the
// test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// blocker holds requests carrying X-Test-Block in the handler until
// released, so that tests can have a request in flight while the server
// shuts down, without a product endpoint that sleeps.
type blocker struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func newBlocker(t *testing.T) *blocker {
	b := &blocker{entered: make(chan struct{}, 1), release: make(chan struct{})}
	t.Cleanup(b.unblock)
	return b
}

func (b *blocker) install(s *Server) {
	h := s.srv.Handler
	s.srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Test-Block") != "" {
			b.entered <- struct{}{}
			<-b.release
		}
		h.ServeHTTP(w, r)
	})
}

func (b *blocker) unblock() { b.once.Do(func() { close(b.release) }) }

func (b *blocker) waitEntered(t *testing.T) {
	t.Helper()
	select {
	case <-b.entered:
	case <-time.After(waitBound):
		t.Fatal("blocked request did not reach the handler")
	}
}

// startBlocked sends a blocked GET /common/time and returns where its
// outcome will arrive.
func startBlocked(t *testing.T, ts *testServer, b *blocker) <-chan error {
	t.Helper()
	out := make(chan error, 1)
	c := newClient(t)
	go func() {
		req, _ := http.NewRequest("GET", ts.url+PathTime, nil)
		req.Header.Set("X-Test-Block", "1")
		resp, err := c.Do(req)
		if err != nil {
			out <- err
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		switch {
		case err != nil:
			out <- err
		case resp.StatusCode != http.StatusOK || !timeRE.Match(body):
			out <- fmt.Errorf("got %d %q, want 200 and a time", resp.StatusCode, body)
		default:
			out <- nil
		}
	}()
	b.waitEntered(t)
	return out
}

func TestParsePreStopMode(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    PreStopMode
		wantErr bool
	}{
		{"", PreStopDrain, false},
		{"drain", PreStopDrain, false},
		{"reject", PreStopReject, false},
		{"Drain", "", true},
		{"close", "", true},
	} {
		got, err := ParsePreStopMode(tc.in)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("ParsePreStopMode(%q) = %q, %v; want %q, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestNewPanicsOnBadMode(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("New with an unknown PreStopMode did not panic")
		}
	}()
	New(Config{PreStopMode: "bogus"})
}

func TestHealthyBody(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"all set", Config{PodID: "testapp-7d9f-abcde", PodIP: "10.244.0.7", Version: "v1"}, "testapp-7d9f-abcde >> 10.244.0.7 >> v1"},
		{"env missing", Config{}, "unknown >> unknown >> V0"},
		{"only version", Config{Version: "v2"}, "unknown >> unknown >> v2"},
		{"uid as id", Config{PodID: "0b7c6e1e-4a4e-4bde-9f1a-1d2c3b4a5f6e", PodIP: "fd00::7"}, "0b7c6e1e-4a4e-4bde-9f1a-1d2c3b4a5f6e >> fd00::7 >> V0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := start(t, tc.cfg, nil)
			r := do(t, newClient(t), "GET", ts.url+PathHealthy, "")
			if r.code != http.StatusOK || r.body != tc.want {
				t.Errorf("got %d %q, want 200 %q", r.code, r.body, tc.want)
			}
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("Content-Type = %q, want text/plain", ct)
			}
			if ts.s.Healthy() != tc.want {
				t.Errorf("Healthy() = %q, want %q", ts.s.Healthy(), tc.want)
			}
		})
	}
}

func TestTimeLayout(t *testing.T) {
	clock := &fakeClock{}
	ts := start(t, Config{Now: clock.Now}, nil)
	c := newClient(t)
	loc := time.FixedZone("UTC+8", 8*3600)
	for _, tc := range []struct {
		t    time.Time
		want string
	}{
		{time.Date(2023, 12, 26, 10, 15, 30, 123456789, loc), "2023-12-26T10:15:30.123456789"},
		{time.Date(2023, 12, 26, 10, 15, 30, 120000000, loc), "2023-12-26T10:15:30.12"},
		{time.Date(2023, 12, 26, 10, 15, 30, 1000, loc), "2023-12-26T10:15:30.000001"},
		{time.Date(2023, 12, 26, 10, 15, 30, 0, loc), "2023-12-26T10:15:30"},
		{time.Date(2024, 1, 2, 3, 4, 0, 0, loc), "2024-01-02T03:04:00"},
	} {
		clock.mu.Lock()
		clock.t = tc.t
		clock.mu.Unlock()
		if r := do(t, c, "GET", ts.url+PathTime, ""); r.code != http.StatusOK || r.body != tc.want {
			t.Errorf("at %v: got %d %q, want 200 %q", tc.t, r.code, r.body, tc.want)
		}
	}
}

// TestResponses walks the state table in the package documentation.
func TestResponses(t *testing.T) {
	const (
		payload = "pod-a >> 10.0.0.1 >> v1"
		now     = "2023-12-26T10:15:30.5"
	)
	type row struct {
		state   string // serving, starting or draining
		mode    PreStopMode
		method  string
		path    string
		checker string

		code  int
		body  string
		close bool   // response must (true) or must not (false) close
		allow string // Allow header of a 405
	}
	rows := []row{
		{state: "serving", method: "GET", path: PathHealthy, code: 200, body: payload},
		{state: "serving", method: "HEAD", path: PathHealthy, code: 200, body: ""},
		{state: "serving", method: "GET", path: PathHealthy, checker: "readinessProbe", code: 200, body: payload},
		{state: "serving", method: "GET", path: PathHealthy, checker: "livenessProbe", code: 200, body: payload},
		{state: "serving", method: "GET", path: PathHealthy, checker: "startupProbe", code: 200, body: payload},
		{state: "serving", method: "GET", path: PathTime, code: 200, body: now},
		{state: "serving", method: "POST", path: PathHealthy, code: 405, allow: "GET, HEAD"},
		{state: "serving", method: "DELETE", path: PathTime, code: 405, allow: "GET, HEAD"},
		{state: "serving", method: "PUT", path: PathPreStop, code: 405, allow: "GET, POST"},
		{state: "serving", method: "HEAD", path: PathPreStop, code: 405, allow: "GET, POST"},
		{state: "serving", method: "GET", path: "/", code: 404},
		{state: "serving", method: "GET", path: "/common/healthy/", code: 404},
		{state: "serving", method: "GET", path: "/common/prestop", code: 404},
		{state: "serving", method: "GET", path: PathPreStop, code: 200, body: now, close: true},

		{state: "starting", method: "GET", path: PathHealthy, code: 503, body: BodyStarting},
		{state: "starting", method: "GET", path: PathHealthy, checker: "readinessProbe", code: 503, body: BodyStarting},
		{state: "starting", method: "GET", path: PathHealthy, checker: "livenessProbe", code: 503, body: BodyStarting},
		{state: "starting", method: "GET", path: PathHealthy, checker: "startupProbe", code: 503, body: BodyStarting},
		{state: "starting", method: "GET", path: PathTime, code: 503, body: BodyStarting},
		{state: "starting", method: "GET", path: PathPreStop, code: 200, body: now, close: true},
		{state: "starting", mode: PreStopReject, method: "GET", path: PathPreStop, code: 200, body: now},

		{state: "draining", method: "GET", path: PathHealthy, code: 200, body: payload, close: true},
		{state: "draining", method: "GET", path: PathHealthy, checker: "readinessProbe", code: 503, body: BodyDraining, close: true},
		{state: "draining", method: "GET", path: PathHealthy, checker: "READINESSPROBE", code: 503, body: BodyDraining, close: true},
		{state: "draining", method: "GET", path: PathHealthy, checker: "livenessProbe", code: 200, body: payload, close: true},
		{state: "draining", method: "GET", path: PathHealthy, checker: "startupProbe", code: 200, body: payload, close: true},
		{state: "draining", method: "GET", path: PathTime, code: 200, body: now, close: true},
		{state: "draining", method: "POST", path: PathPreStop, code: 200, body: now, close: true},

		{state: "draining", mode: PreStopReject, method: "GET", path: PathHealthy, code: 503, body: BodyShuttingDown},
		{state: "draining", mode: PreStopReject, method: "HEAD", path: PathHealthy, code: 503, body: ""},
		{state: "draining", mode: PreStopReject, method: "GET", path: PathHealthy, checker: "readinessProbe", code: 503, body: BodyDraining},
		{state: "draining", mode: PreStopReject, method: "GET", path: PathHealthy, checker: "livenessProbe", code: 200, body: payload},
		{state: "draining", mode: PreStopReject, method: "GET", path: PathHealthy, checker: "startupProbe", code: 200, body: payload},
		{state: "draining", mode: PreStopReject, method: "GET", path: PathTime, code: 503, body: BodyShuttingDown},
		{state: "draining", mode: PreStopReject, method: "GET", path: PathPreStop, code: 200, body: now},
	}
	for _, tc := range rows {
		mode := tc.mode
		if mode == "" {
			mode = PreStopDrain
		}
		name := strings.ReplaceAll(fmt.Sprintf("%s %s %s %s %s", tc.state, mode, tc.method, tc.path, tc.checker), "/", "_")
		t.Run(name, func(t *testing.T) {
			clock := &fakeClock{t: time.Date(2023, 12, 26, 10, 15, 30, 5e8, time.UTC)}
			cfg := Config{PodID: "pod-a", PodIP: "10.0.0.1", Version: "v1", PreStopMode: tc.mode, Now: clock.Now}
			if tc.state == "starting" {
				cfg.StartupDelay = time.Hour
			}
			ts := start(t, cfg, nil)
			if tc.state == "draining" {
				ts.s.StartDraining()
			}
			r := do(t, newClient(t), tc.method, ts.url+tc.path, tc.checker)
			if r.code != tc.code {
				t.Errorf("status %d, want %d", r.code, tc.code)
			}
			if tc.code != 404 && tc.code != 405 && r.body != tc.body {
				t.Errorf("body %q, want %q", r.body, tc.body)
			}
			if tc.code == 405 && r.header.Get("Allow") != tc.allow {
				t.Errorf("Allow %q, want %q", r.header.Get("Allow"), tc.allow)
			}
			if tc.code != 404 && tc.code != 405 && r.close != tc.close {
				t.Errorf("Connection: close is %v, want %v", r.close, tc.close)
			}
		})
	}
}

func TestReadyAndDraining(t *testing.T) {
	for _, tc := range []struct {
		name                    string
		cfg                     Config
		drain                   bool
		wantReady, wantDraining bool
	}{
		{"serving", Config{}, false, true, false},
		{"starting", Config{StartupDelay: time.Hour}, false, false, false},
		{"draining", Config{}, true, false, true},
		{"draining reject", Config{PreStopMode: PreStopReject}, true, false, true},
		{"starting and draining", Config{StartupDelay: time.Hour}, true, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New(tc.cfg)
			if tc.drain {
				s.StartDraining()
				s.StartDraining() // idempotent
			}
			if s.Ready() != tc.wantReady || s.Draining() != tc.wantDraining {
				t.Errorf("Ready() = %v, Draining() = %v; want %v, %v", s.Ready(), s.Draining(), tc.wantReady, tc.wantDraining)
			}
		})
	}
}

func TestStartupDelayElapses(t *testing.T) {
	clock := &fakeClock{t: time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)}
	ts := start(t, Config{StartupDelay: 10 * time.Second, Now: clock.Now}, nil)
	c := newClient(t)
	for _, step := range []struct {
		advance time.Duration
		code    int
		body    string
		ready   bool
	}{
		{0, 503, BodyStarting, false},
		{9 * time.Second, 503, BodyStarting, false},
		{time.Second, 200, "unknown >> unknown >> V0", true},
		{time.Hour, 200, "unknown >> unknown >> V0", true},
	} {
		clock.Advance(step.advance)
		r := do(t, c, "GET", ts.url+PathHealthy, "readinessProbe")
		if r.code != step.code || r.body != step.body || ts.s.Ready() != step.ready {
			t.Errorf("after +%v: got %d %q ready=%v, want %d %q ready=%v",
				step.advance, r.code, r.body, ts.s.Ready(), step.code, step.body, step.ready)
		}
	}
}

func TestCheckerLogging(t *testing.T) {
	for _, tc := range []struct {
		level   slog.Level
		checker string
		want    string // substring of the log; empty means no probe line
	}{
		{slog.LevelDebug, "readinessProbe", "checker=readinessProbe"},
		{slog.LevelDebug, "livenessProbe", "checker=livenessProbe"},
		{slog.LevelDebug, "startupProbe", "checker=startupProbe"},
		{slog.LevelDebug, "", ""},
		{slog.LevelInfo, "readinessProbe", ""},
	} {
		t.Run(fmt.Sprintf("%v %s", tc.level, tc.checker), func(t *testing.T) {
			var buf syncBuffer
			log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: tc.level}))
			ts := start(t, Config{Logger: log}, nil)
			do(t, newClient(t), "GET", ts.url+PathHealthy, tc.checker)
			out := buf.String()
			if tc.want == "" {
				if strings.Contains(out, "msg=probe") {
					t.Errorf("unexpected probe log:\n%s", out)
				}
				return
			}
			if !strings.Contains(out, "level=DEBUG msg=probe "+tc.want+" ") {
				t.Errorf("log lacks a debug probe line with %s:\n%s", tc.want, out)
			}
		})
	}
}

// TestPreStopReconnects checks which requests of a keep-alive client get a
// fresh connection around /common/preStop: in drain mode every response
// after it closes its connection, so the client re-connects (and would be
// balanced again by kube-proxy); in reject mode the client stays pinned.
func TestPreStopReconnects(t *testing.T) {
	for _, tc := range []struct {
		mode      PreStopMode
		codes     []int
		reused    []bool
		wantConns int32
	}{
		{PreStopDrain, []int{200, 200, 200, 200, 200}, []bool{false, true, true, false, false}, 3},
		{PreStopReject, []int{200, 200, 200, 503, 503}, []bool{false, true, true, true, true}, 1},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			var conns atomic.Int32
			ts := start(t, Config{PreStopMode: tc.mode}, func(s *Server) {
				s.srv.ConnState = func(_ net.Conn, st http.ConnState) {
					if st == http.StateNew {
						conns.Add(1)
					}
				}
			})
			c := newClient(t)
			paths := []string{PathTime, PathTime, PathPreStop, PathTime, PathHealthy}
			for i, p := range paths {
				r := do(t, c, "GET", ts.url+p, "")
				if r.code != tc.codes[i] || r.reused != tc.reused[i] {
					t.Errorf("request %d (%s): status %d reused %v, want %d reused %v",
						i, p, r.code, r.reused, tc.codes[i], tc.reused[i])
				}
			}
			if n := conns.Load(); n != tc.wantConns {
				t.Errorf("server saw %d connections, want %d", n, tc.wantConns)
			}
		})
	}
}

// TestStartDrainingKeepsIdleConns checks that an idle keep-alive connection
// survives the start of draining and that its next request is answered —
// in drain mode with Connection: close, so the client moves on. Closing
// idle connections when draining starts would race with a client writing a
// request on one and drop it.
func TestStartDrainingKeepsIdleConns(t *testing.T) {
	for _, tc := range []struct {
		mode      PreStopMode
		wantCode  int
		wantClose bool
	}{
		{PreStopDrain, http.StatusOK, true},
		{PreStopReject, http.StatusServiceUnavailable, false},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			ts := start(t, Config{PreStopMode: tc.mode}, nil)
			conn, err := net.DialTimeout("tcp", ts.addr, waitBound)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			br := bufio.NewReader(conn)
			conn.SetDeadline(time.Now().Add(waitBound))
			get := func() *http.Response {
				t.Helper()
				fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", PathHealthy)
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return resp
			}
			if resp := get(); resp.Close {
				t.Fatal("response before draining asked to close")
			}
			ts.s.StartDraining()
			// Give an unconditional close of idle connections time to happen.
			time.Sleep(100 * time.Millisecond)
			resp := get()
			if resp.StatusCode != tc.wantCode || resp.Close != tc.wantClose {
				t.Fatalf("request on the idle connection after StartDraining: %d close=%v, want %d close=%v",
					resp.StatusCode, resp.Close, tc.wantCode, tc.wantClose)
			}
		})
	}
}

// TestServeGracefulShutdown cancels Serve while a request is in the handler:
// the listener closes, the request still completes with 200, then Serve
// returns nil.
func TestServeGracefulShutdown(t *testing.T) {
	b := newBlocker(t)
	var buf syncBuffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	ts := start(t, Config{DrainTimeout: waitBound, Logger: log}, b.install)
	out := startBlocked(t, ts, b)

	ts.cancel()
	nettest.WaitRefused(t, ts.addr, waitBound)
	if !ts.s.Draining() || ts.s.Ready() {
		t.Errorf("after cancel: Draining() = %v, Ready() = %v; want true, false", ts.s.Draining(), ts.s.Ready())
	}
	if ts.hasFinished() {
		t.Fatalf("Serve returned (%v) while a request was in flight", ts.err)
	}

	b.unblock()
	select {
	case err := <-out:
		if err != nil {
			t.Errorf("in-flight request: %v", err)
		}
	case <-time.After(waitBound):
		t.Fatal("in-flight request did not complete")
	}
	err, ok := ts.wait()
	if !ok || err != nil {
		t.Errorf("Serve = %v (returned: %v), want nil", err, ok)
	}
	for _, want := range []string{"msg=draining reason=stop", "msg=drained"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, buf.String())
		}
	}
}

func TestServeDrainTimeout(t *testing.T) {
	b := newBlocker(t)
	ts := start(t, Config{DrainTimeout: 200 * time.Millisecond}, b.install)
	out := startBlocked(t, ts, b)

	ts.cancel()
	err, ok := ts.wait()
	if !ok || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Serve = %v (returned: %v), want an error wrapping context.DeadlineExceeded", err, ok)
	}
	select {
	case err := <-out:
		if err == nil {
			t.Error("request outliving the drain timeout succeeded, want its connection closed")
		}
	case <-time.After(waitBound):
		t.Fatal("request outliving the drain timeout neither failed nor completed")
	}
}

// TestServeExitOnSIGTERM checks the misbehaving mode: cancellation closes
// everything at once, so the in-flight request fails.
func TestServeExitOnSIGTERM(t *testing.T) {
	b := newBlocker(t)
	ts := start(t, Config{ExitOnSIGTERM: true, DrainTimeout: waitBound}, b.install)
	out := startBlocked(t, ts, b)

	ts.cancel()
	if err, ok := ts.wait(); !ok || err != nil {
		t.Errorf("Serve = %v (returned: %v), want nil while the handler is still blocked", err, ok)
	}
	select {
	case err := <-out:
		if err == nil {
			t.Error("in-flight request succeeded, want it dropped")
		}
	case <-time.After(waitBound):
		t.Fatal("in-flight request neither failed nor completed")
	}
	if ts.s.Draining() {
		t.Error("Draining() = true, want false: the server never drained")
	}
}

// TestServeShutdownDelay checks that during the shutdown delay the server,
// already draining, still accepts new connections.
func TestServeShutdownDelay(t *testing.T) {
	ts := start(t, Config{ShutdownDelay: 3 * time.Second}, nil)
	c := newClient(t)
	ts.cancel()
	deadline := time.Now().Add(waitBound)
	for i := 0; !ts.s.Draining() && i < int(waitBound/pollEvery) && time.Now().Before(deadline); i++ {
		time.Sleep(pollEvery)
	}
	if r := do(t, c, "GET", ts.url+PathHealthy, ""); r.code != 200 || !r.close || r.reused {
		t.Errorf("traffic during shutdown delay: %d close=%v reused=%v, want 200 on a new connection that closes", r.code, r.close, r.reused)
	}
	if r := do(t, c, "GET", ts.url+PathHealthy, "readinessProbe"); r.code != 503 {
		t.Errorf("readiness during shutdown delay: %d, want 503", r.code)
	}
	if err, ok := ts.wait(); !ok || err != nil {
		t.Errorf("Serve = %v (returned: %v), want nil", err, ok)
	}
}

// TestListenDelay checks that connections are refused during the listen
// delay, then served.
func TestListenDelay(t *testing.T) {
	ts := start(t, Config{ListenDelay: 2 * time.Second}, nil)
	if ts.s.Ready() {
		t.Error("Ready() = true during the listen delay")
	}
	nettest.WaitRefused(t, ts.addr, waitBound)
	c := newClient(t)
	deadline := time.Now().Add(waitBound)
	for i := 0; i < int(waitBound/pollEvery) && time.Now().Before(deadline); i++ {
		if r, err := doErr(c, "GET", ts.url+PathHealthy, "readinessProbe"); err == nil {
			if r.code != 200 || !ts.s.Ready() {
				t.Errorf("after the listen delay: status %d, Ready() = %v; want 200, true", r.code, ts.s.Ready())
			}
			return
		}
		time.Sleep(pollEvery)
	}
	t.Fatalf("still not served %v after the listen delay", waitBound)
}

func TestListenDelayCancelled(t *testing.T) {
	ts := start(t, Config{ListenDelay: time.Hour}, nil)
	ts.cancel()
	if err, ok := ts.wait(); !ok || err != nil {
		t.Errorf("Serve = %v (returned: %v), want nil", err, ok)
	}
}

func TestServeTwice(t *testing.T) {
	ts := start(t, Config{}, nil)
	// Only once the first Serve is serving is it sure to have come first.
	do(t, newClient(t), "GET", ts.url+PathHealthy, "")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.s.Serve(context.Background(), ln); err == nil {
		t.Error("second Serve returned nil, want an error")
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), waitBound); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial to the second listener: %v, want refused (closed)", err)
	}
}

// discardWriter is a ResponseWriter whose header map is reused, so that
// only the handler's own allocations are counted.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}

func TestHealthyDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	for _, tc := range []struct {
		name    string
		cfg     Config
		drain   bool
		checker string
	}{
		{"traffic", Config{PodID: "p", PodIP: "1.2.3.4", Version: "v1"}, false, ""},
		{"readiness probe, info log", Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, false, "readinessProbe"},
		{"draining traffic", Config{}, true, ""},
		{"draining readiness", Config{}, true, "readinessProbe"},
		{"rejected traffic", Config{PreStopMode: PreStopReject}, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New(tc.cfg)
			if tc.drain {
				s.StartDraining()
			}
			h := s.Handler()
			req := httptest.NewRequest("GET", PathHealthy, nil)
			if tc.checker != "" {
				req.Header.Set("checker", tc.checker)
			}
			w := &discardWriter{h: http.Header{}}
			h.ServeHTTP(w, req) // fill the header map once
			if n := testing.AllocsPerRun(1000, func() { h.ServeHTTP(w, req) }); n != 0 {
				t.Errorf("%v allocations per request, want 0", n)
			}
		})
	}
}

func BenchmarkHealthy(b *testing.B) {
	h := New(Config{PodID: "testapp-7d9f-abcde", PodIP: "10.244.0.7", Version: "v1"}).Handler()
	req := httptest.NewRequest("GET", PathHealthy, nil)
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, req)
	}
}
