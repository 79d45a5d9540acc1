package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// gateListener lets a test hold the server's first write on a chosen
// connection, so that the client can reset it while the response is being
// written.
type gateListener struct {
	net.Listener
	mu    sync.Mutex
	gated map[string]*gate // by the client's address
}

type gate struct {
	blocked chan struct{} // closed when the server's write is held
	release chan struct{}
	once    sync.Once
}

func (l *gateListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &gateConn{Conn: c, l: l}, nil
}

func (l *gateListener) hold(clientAddr string) *gate {
	g := &gate{blocked: make(chan struct{}), release: make(chan struct{})}
	l.mu.Lock()
	l.gated[clientAddr] = g
	l.mu.Unlock()
	return g
}

type gateConn struct {
	net.Conn
	l *gateListener
}

func (c *gateConn) Write(b []byte) (int, error) {
	c.l.mu.Lock()
	g := c.l.gated[c.RemoteAddr().String()]
	c.l.mu.Unlock()
	if g != nil {
		g.once.Do(func() { close(g.blocked) })
		select {
		case <-g.release:
		case <-time.After(waitBound):
		}
	}
	return c.Conn.Write(b)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitBound)
	for i := 0; !cond(); i++ {
		if i > int(waitBound/pollEvery) || time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, waitBound)
		}
		time.Sleep(pollEvery)
	}
}

// rawRequest dials addr and sends a request whose body, announced by
// Content-Length, is withheld: net/http has called the handler, and waits
// for the body before it writes the answer.
func rawRequest(t *testing.T, s *Server, addr string) *net.TCPConn {
	t.Helper()
	before := s.Counts().Traffic.Received
	c, err := net.DialTimeout("tcp", addr, waitBound)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "GET /common/healthy HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\n")
	waitFor(t, "request received", func() bool { return s.Counts().Traffic.Received > before })
	return c.(*net.TCPConn)
}

func reset(c *net.TCPConn) {
	c.SetLinger(0)
	c.Close()
}

// TestCountsKnownSequence runs a known sequence of requests against a real
// server on loopback, including a client that resets while its response is
// being written, one that resets before its answer, and a request cut by
// shutdown, and checks every counter.
func TestCountsKnownSequence(t *testing.T) {
	s := New(Config{PodID: "pod-a", PodIP: "10.0.0.1", Version: "v1", DrainTimeout: 300 * time.Millisecond})
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := &gateListener{Listener: inner, gated: map[string]*gate{}}
	addr := inner.Addr().String()
	url := "http://" + addr
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()

	// A: 3×200, 404, 405 on one keep-alive connection, which the client
	// then closes (FIN).
	trA := &http.Transport{}
	cA := &http.Client{Transport: trA, Timeout: waitBound}
	for _, p := range []string{PathHealthy, PathHealthy, PathTime, "/nope"} {
		do(t, cA, "GET", url+p, "")
	}
	if r := do(t, cA, "POST", url+PathHealthy, ""); r.code != 405 || !r.reused {
		t.Fatalf("POST: %+v", r)
	}
	trA.CloseIdleConnections()
	waitFor(t, "A closed", func() bool { return s.Counts().Connections.Closed == 1 })

	// B: a readiness probe without keep-alive: the server closes.
	cB := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: waitBound}
	if r := do(t, cB, "GET", url+PathHealthy, "readinessProbe"); r.code != 200 {
		t.Fatalf("probe: %+v", r)
	}
	waitFor(t, "B closed", func() bool { return s.Counts().Connections.Closed == 2 })

	// C: the client resets while the server is writing its response.
	cC, err := net.DialTimeout("tcp", addr, waitBound)
	if err != nil {
		t.Fatal(err)
	}
	g := ln.hold(cC.LocalAddr().String())
	fmt.Fprintf(cC, "GET /common/healthy HTTP/1.1\r\nHost: t\r\n\r\n")
	select {
	case <-g.blocked:
	case <-time.After(waitBound):
		t.Fatal("the server did not start writing")
	}
	reset(cC.(*net.TCPConn))
	time.Sleep(100 * time.Millisecond) // for the RST to land; loopback is immediate
	close(g.release)
	waitFor(t, "C closed", func() bool { return s.Counts().Connections.Closed == 3 })

	// D: the client resets after its request was read, before the answer.
	reset(rawRequest(t, s, addr))
	waitFor(t, "D closed", func() bool { return s.Counts().Connections.Closed == 4 })

	// F: one request, then idle on a keep-alive connection until shutdown.
	cF := newClient(t)
	do(t, cF, "GET", url+PathHealthy, "")

	// E: a request in flight (its body withheld) at shutdown; the drain
	// timeout cuts it.
	rawRequest(t, s, addr)

	cancel()
	select {
	case err := <-served:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Serve = %v, want the drain timeout", err)
		}
	case <-time.After(waitBound):
		t.Fatal("Serve did not return")
	}

	got := s.Counts()
	want := Counts{
		Pod: "pod-a", IP: "10.0.0.1", Version: "v1",
		Traffic: RequestCounts{
			Received:    9, // A 5, C, D, E, F
			Written:     StatusCounts{S2xx: 4, S4xx: 2},
			WriteFailed: StatusCounts{S2xx: 1}, // C
			Unanswered:  2,                     // D, E
		},
		Probes: RequestCounts{Received: 1, Written: StatusCounts{S2xx: 1}},
		Connections: ConnCounts{
			Accepted: 6, Closed: 6,
			ClosedByServer:      3, // B (Connection: close), E (drain timeout), F (idle at shutdown)
			ClosedByClientEOF:   1, // A
			ClosedByClientReset: 2, // C, D
		},
	}
	// B's client closes as soon as it has read the Connection: close
	// response; net/http's read then may see its FIN before the server
	// closes.
	if got.Connections.ClosedByClientEOF == 2 {
		want.Connections.ClosedByServer, want.Connections.ClosedByClientEOF = 2, 2
	}
	if got != want {
		t.Errorf("counts\n got %+v\nwant %+v", got, want)
	}
}

// TestCountsExitAtOnce: with ExitOnSIGTERM, an in-flight request is cut
// and the connection counts as closed by the server.
func TestCountsExitAtOnce(t *testing.T) {
	ts := start(t, Config{ExitOnSIGTERM: true}, nil)
	rawRequest(t, ts.s, ts.addr)
	ts.cancel()
	if _, ok := ts.wait(); !ok {
		t.Fatal("Serve did not return")
	}
	got := ts.s.Counts()
	if got.Traffic != (RequestCounts{Received: 1, Unanswered: 1}) ||
		got.Connections != (ConnCounts{Accepted: 1, Closed: 1, ClosedByServer: 1}) {
		t.Errorf("counts %+v", got)
	}
}

func TestCountsHandlerAndLine(t *testing.T) {
	ts := start(t, Config{PodID: "pod-b", Version: "v2"}, nil)
	c := newClient(t)
	do(t, c, "GET", ts.url+PathHealthy, "")
	do(t, c, "GET", ts.url+PathPreStop, "") // draining: Connection: close
	waitFor(t, "closed", func() bool { return ts.s.Counts().Connections.Closed == 1 })

	rec := httptest.NewRecorder()
	ts.s.CountsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/counts", nil))
	var got Counts
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != 200 {
		t.Fatalf("%d %q: %v", rec.Code, rec.Body, err)
	}
	cc := got.Connections
	if got.Pod != "pod-b" || got.IP != "unknown" || got.Version != "v2" || got.Traffic.Written.S2xx != 1 ||
		got.Probes.Received != 1 || got.Probes.Written.S2xx != 1 ||
		cc.Accepted != 1 || cc.Closed != 1 || cc.ClosedByServer+cc.ClosedByClientEOF != 1 {
		t.Errorf("counts %+v", got)
	}

	var b strings.Builder
	if err := ts.s.WriteCountsLine(&b); err != nil {
		t.Fatal(err)
	}
	line, ok := strings.CutPrefix(b.String(), CountsLogPrefix+" ")
	if !ok || strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") {
		t.Fatalf("line %q", b.String())
	}
	if err := json.Unmarshal([]byte(line), &got); err != nil || got.Pod != "pod-b" {
		t.Errorf("line %q: %v", line, err)
	}
}

// TestCountedHandlerDoesNotAllocate: the accounting on a connection adds
// no allocation per request.
func TestCountedHandlerDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	s := New(Config{PodID: "p"})
	tc := &trackedConn{c: &s.counts}
	req := httptest.NewRequest("GET", PathHealthy, nil)
	req = req.WithContext(context.WithValue(req.Context(), connKey{}, tc))
	w := &discardWriter{h: http.Header{}}
	h := s.Handler()
	h.ServeHTTP(w, req)
	n := testing.AllocsPerRun(1000, func() {
		h.ServeHTTP(w, req)
		tc.wrote = true
		connState(tc, http.StateIdle)
	})
	if n != 0 {
		t.Errorf("%v allocations per request, want 0", n)
	}
	if got := s.Counts().Traffic; got.Received < 1000 || got.Written.S2xx < 1000 {
		t.Errorf("counts %+v", got)
	}
}

func TestCountsAtExit(t *testing.T) {
	c := Counts{
		Traffic:     RequestCounts{Received: 10, Written: StatusCounts{S2xx: 7}, Unanswered: 1, InFlight: 2},
		Probes:      RequestCounts{Received: 3, Written: StatusCounts{S2xx: 2}, InFlight: 1},
		Connections: ConnCounts{Accepted: 5, Closed: 2, Open: 3, ClosedByServer: 1, ClosedByClientEOF: 1},
	}
	got := c.AtExit()
	want := Counts{
		Traffic:     RequestCounts{Received: 10, Written: StatusCounts{S2xx: 7}, Unanswered: 1, InFlight: 2},
		Probes:      RequestCounts{Received: 3, Written: StatusCounts{S2xx: 2}, InFlight: 1},
		Connections: ConnCounts{Accepted: 5, Closed: 5, ClosedByServer: 4, ClosedByClientEOF: 1},
	}
	if got != want {
		t.Fatalf("AtExit:\n got %+v\nwant %+v", got, want)
	}
}
