package app

import (
	"net/http"
	"testing"

	"golang.org/x/net/http2"

	"github.com/rolltest/rolltest/internal/nettest"
)

// TestIdentityHeaders: every response, whatever its status, names the
// replica in X-Pod-Id and X-App-Version, over HTTP/1.1 and h2c alike.
func TestIdentityHeaders(t *testing.T) {
	ts := start(t, Config{PodID: "pod-a", PodIP: "10.0.0.1", Version: "v7"}, nil)
	clients := []struct {
		name  string
		c     *http.Client
		proto int
	}{
		{"HTTP/1.1", newClient(t), 1},
		{"h2c", newH2CClient(t), 2},
	}
	for _, cl := range clients {
		for _, tc := range []struct {
			method, path string
			code         int
		}{
			{"GET", PathHealthy, 200},
			{"HEAD", PathHealthy, 200},
			{"GET", PathTime, 200},
			{"GET", "/nope", 404},
			{"POST", PathHealthy, 405},
		} {
			t.Run(cl.name+" "+tc.method+" "+tc.path, func(t *testing.T) {
				req, err := http.NewRequest(tc.method, ts.url+tc.path, nil)
				if err != nil {
					t.Fatal(err)
				}
				resp, err := cl.c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.ProtoMajor != cl.proto || resp.StatusCode != tc.code {
					t.Errorf("%s %d, want HTTP/%d %d", resp.Proto, resp.StatusCode, cl.proto, tc.code)
				}
				if id, v := resp.Header.Get(HeaderPodID), resp.Header.Get(HeaderAppVersion); id != "pod-a" || v != "v7" {
					t.Errorf("%s %q, %s %q; want pod-a, v7", HeaderPodID, id, HeaderAppVersion, v)
				}
			})
		}
	}
}

// TestH2CDraining: on HTTP/2, what Connection: close does for HTTP/1.1 in
// drain mode is a graceful GOAWAY after the response, so that the client
// opens a new connection (to a pod that is still an endpoint) for its next
// request. Before draining there is none.
func TestH2CDraining(t *testing.T) {
	ts := start(t, Config{PodID: "pod-a", PodIP: "10.0.0.1", Version: "v1"}, nil)
	hc := dialH2(t, ts.addr)
	hc.send(1, "GET", PathHealthy, nil)
	hc.readUntil(hc.ended(1))
	ts.s.StartDraining()
	// One request: the GOAWAY its answer brings may come before the
	// server reads a second one, which it would then ignore.
	hc.send(3, "GET", PathHealthy, nil)
	hc.readUntil(func() bool { return hc.ended(3)() && len(hc.goAways) > 0 })
	if hc.err != nil {
		t.Fatalf("connection ended early: %v", hc.err)
	}
	for _, tc := range []struct {
		id     uint32
		status string
		body   string
	}{
		{1, "200", "pod-a >> 10.0.0.1 >> v1"},
		{3, "200", "pod-a >> 10.0.0.1 >> v1"},
	} {
		s := hc.streams[tc.id]
		if st, _ := s.field(":status"); st != tc.status || string(s.data) != tc.body {
			t.Errorf("stream %d: %s %q, want %s %q", tc.id, st, s.data, tc.status, tc.body)
		}
		if _, ok := s.field("connection"); ok {
			t.Errorf("stream %d: a connection header, which HTTP/2 forbids", tc.id)
		}
	}
	g := hc.goAways[0]
	if g.ErrCode != http2.ErrCodeNo || g.LastStreamID < 3 {
		t.Errorf("GOAWAY %v last stream %d, want NO_ERROR covering stream 3", g.ErrCode, g.LastStreamID)
	}
}

// TestH2CShutdownCompletesStreams: cancelling Serve with an HTTP request
// and a gRPC call in flight on one h2c connection sends a graceful GOAWAY
// at once, closes the listener, lets both streams complete, and only then
// returns.
func TestH2CShutdownCompletesStreams(t *testing.T) {
	b := newBlocker(t)
	ts := start(t, Config{PodID: "pod-a", DrainTimeout: waitBound}, b.install)
	hc := dialH2(t, ts.addr)
	msg := grpcFrame([]byte("in flight"))
	hc.send(1, "GET", PathTime, nil, "x-test-block", "1")
	b.waitEntered(t)
	hc.send(3, "POST", GRPCEchoPath, msg, "content-type", "application/grpc", "x-test-block", "1")
	b.waitEntered(t)

	ts.cancel()
	hc.readUntil(func() bool { return len(hc.goAways) > 0 })
	if hc.err != nil {
		t.Fatalf("connection ended before a GOAWAY: %v", hc.err)
	}
	if g := hc.goAways[0]; g.ErrCode != http2.ErrCodeNo || g.LastStreamID != 3 {
		t.Errorf("GOAWAY %v last stream %d, want NO_ERROR, 3", g.ErrCode, g.LastStreamID)
	}
	nettest.WaitRefused(t, ts.addr, waitBound)
	if ts.hasFinished() {
		t.Fatalf("Serve returned (%v) with streams in flight", ts.err)
	}
	if len(hc.streams) != 0 {
		t.Fatalf("frames on the blocked streams: %+v", hc.streams)
	}

	b.unblock()
	hc.readUntil(func() bool { return false }) // until the server closes
	for id, s := range hc.streams {
		if s.reset || !s.ended {
			t.Errorf("stream %d: reset %v, ended %v; want it completed", id, s.reset, s.ended)
		}
	}
	if s := hc.streams[1]; s == nil || !timeRE.Match(s.data) {
		t.Errorf("stream 1: %+v, want the time", s)
	}
	if s := hc.streams[3]; s == nil || string(s.data) != string(msg) {
		t.Errorf("stream 3: %+v, want the echo %q", s, msg)
	} else if st, _ := s.field("grpc-status"); st != "0" {
		t.Errorf("stream 3: grpc-status %q, want 0", st)
	}
	for _, g := range hc.goAways {
		if g.ErrCode != http2.ErrCodeNo {
			t.Errorf("GOAWAY %v, want only graceful ones", g.ErrCode)
		}
	}
	if err, ok := ts.wait(); !ok || err != nil {
		t.Errorf("Serve = %v (returned: %v), want nil", err, ok)
	}
	if got := ts.s.Counts().Traffic; got != (RequestCounts{Received: 2, Written: StatusCounts{S2xx: 2}}) {
		t.Errorf("traffic counts %+v, want both streams written", got)
	}
}

// TestH2CExitAtOnceKillsStreams: with ExitOnSIGTERM, cancelling Serve
// closes the h2c connection under its in-flight streams, without a GOAWAY
// and without answering them.
func TestH2CExitAtOnceKillsStreams(t *testing.T) {
	b := newBlocker(t)
	ts := start(t, Config{ExitOnSIGTERM: true, DrainTimeout: waitBound}, b.install)
	hc := dialH2(t, ts.addr)
	hc.send(1, "GET", PathTime, nil, "x-test-block", "1")
	b.waitEntered(t)
	hc.send(3, "POST", GRPCEchoPath, grpcFrame([]byte("x")), "content-type", "application/grpc", "x-test-block", "1")
	b.waitEntered(t)

	ts.cancel()
	hc.readUntil(func() bool { return false })
	if hc.err == nil {
		t.Fatal("the connection survived")
	}
	if len(hc.goAways) != 0 || len(hc.streams) != 0 {
		t.Errorf("GOAWAY %+v, streams %+v; want the connection closed without a frame", hc.goAways, hc.streams)
	}
	if err, ok := ts.wait(); !ok || err != nil {
		t.Errorf("Serve = %v (returned: %v), want nil while the handlers are still blocked", err, ok)
	}
	// Once the connection is closed, so are its streams' contexts: the
	// handlers, released, find them gone.
	waitFor(t, "the connection closed", func() bool { return ts.s.Counts().Connections.Closed == 1 })
	b.unblock()
	waitFor(t, "the killed streams accounted for", func() bool {
		c := ts.s.Counts().Traffic // the blocker holds requests before they are counted
		return c.Received == 2 && c.InFlight == 0
	})
	if got := ts.s.Counts().Traffic; got != (RequestCounts{Received: 2, Unanswered: 2}) {
		t.Errorf("traffic counts %+v, want both streams unanswered", got)
	}
}
