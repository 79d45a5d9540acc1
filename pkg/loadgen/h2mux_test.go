package loadgen

import (
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rolltest/rolltest/internal/faultserver"
)

// TestHTTP2StreamsAgainstGoServer: with --streams N, N requests share a
// connection: the closed model's workers over Concurrency/N connections,
// the open model's over --connections; every request is counted once,
// all over HTTP/2, and a connection's pod is every one of its streams'.
func TestHTTP2StreamsAgainstGoServer(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cfg       Config
		wantConns int64
	}{
		{"closed, 20 workers on 2 connections", Config{Concurrency: 20, Streams: 10, Requests: 400}, 2},
		{"closed, 5 workers on 1 connection", Config{Concurrency: 5, Streams: 100, Requests: 200}, 1},
		{"open, 2 connections of 50", Config{Rate: 400, Connections: 2, MaxConnections: 2, Streams: 50, Requests: 200}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h podHandler
			url := h2cServer(t, &h)
			cfg := tc.cfg
			cfg.Target, cfg.Protocol, cfg.KeepAlive, cfg.Identity, cfg.Timeout = url+"/", ProtoH2C, true, mustIdentity(t, "header:X-Pod"), 10*time.Second
			st := runH2(t, cfg)
			if st.Outcomes[OK] != int64(cfg.Requests) || st.Requests() != int64(cfg.Requests) {
				for _, f := range st.Failures {
					t.Logf("%v %s", f.Outcome, f.Detail)
				}
				t.Fatalf("outcomes %v", st.Outcomes)
			}
			if h.h2.Load() != int64(cfg.Requests) || h.other.Load() != 0 {
				t.Fatalf("server saw %d, %d not HTTP/2", h.h2.Load(), h.other.Load())
			}
			if st.ConnsOpened != tc.wantConns || st.PeakConns != int(tc.wantConns) {
				t.Fatalf("%d connections opened, peak %d; want %d", st.ConnsOpened, st.PeakConns, tc.wantConns)
			}
		})
	}
}

// clientOutcomes are the outcomes a client may count for a server's fate;
// a connection closed under a stream is a reset or an EOF, whichever the
// socket said first.
var clientOutcomes = map[string][]Outcome{
	faultserver.FateRefused:     {RefusedStream},
	faultserver.FateReset:       {StreamReset},
	faultserver.FateGoAway:      {GoAwayUnprocessed},
	faultserver.FateKilled:      {EOF, Reset},
	faultserver.FateUnavailable: {GRPCUnavailable},
}

// TestStreamsGroundTruth: against a server that refuses, resets, sends
// GOAWAY below streams in flight and kills a connection under a whole
// batch of them, the run's failed + retried attempts are the server's
// failed streams, stream by stream (by request id), with one stream at a
// time and with 100, with and without --retries, over HTTP/2 and gRPC.
// A connection killed under its streams fails each of them, attributed to
// the pod the connection had reached.
func TestStreamsGroundTruth(t *testing.T) {
	for _, grpc := range []bool{false, true} {
		for _, streams := range []int{1, 100} {
			for _, retries := range []int{0, 1} {
				name := fmt.Sprintf("grpc=%v streams=%d retries=%d", grpc, streams, retries)
				t.Run(name, func(t *testing.T) { streamsGroundTruth(t, grpc, streams, retries) })
			}
		}
	}
}

func streamsGroundTruth(t *testing.T, grpc bool, streams, retries int) {
	// Connection 0 serves a batch and is killed under the next; 1 sends
	// GOAWAY below half a batch; every later one refuses, resets, serves
	// (and for gRPC answers UNAVAILABLE) in turn.
	plan := func(conn int) faultserver.H2Mode {
		switch conn {
		case 0:
			return faultserver.H2Kill
		case 1:
			return faultserver.H2GoAway
		}
		return faultserver.H2Mixed
	}
	srv, err := faultserver.StartH2(plan, faultserver.H2Options{Batch: streams, GRPC: grpc, RequestID: "x-request-id"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	requests := uint64(4*streams + 40)
	cfg := Config{Target: "http://" + srv.Addr() + "/", Protocol: ProtoH2C, Concurrency: streams, Streams: streams, Requests: requests,
		KeepAlive: true, Retries: retries, RequestIDHeader: "X-Request-Id", Identity: mustIdentity(t, "header:X-Pod"), Timeout: 10 * time.Second}
	if grpc {
		cfg.Target, cfg.Protocol = "grpc://"+srv.Addr(), ProtoGRPC
	}
	st := runH2(t, cfg)
	records := srv.Records()

	// The server's fates, by request.
	serverFailed := map[uint64][]string{}
	serverOK := map[uint64]int{}
	var failedStreams int64
	for _, r := range records {
		n, err := strconv.ParseUint(r.ID, 10, 64)
		if err != nil || n == 0 {
			t.Fatalf("record %+v without a request id", r)
		}
		seq := n - 1
		if r.Fate == faultserver.FateOK {
			serverOK[seq]++
			continue
		}
		serverFailed[seq] = append(serverFailed[seq], r.Fate)
		failedStreams++
	}
	// The client's failed attempts, by request.
	clientFailed := map[uint64][]Outcome{}
	finalFailed := map[uint64]bool{}
	for _, f := range st.Failures {
		clientFailed[f.Seq] = append(clientFailed[f.Seq], f.Outcome)
		if !f.Retried {
			finalFailed[f.Seq] = true
		}
	}
	if st.FailuresOmitted != 0 {
		t.Fatalf("%d failures omitted", st.FailuresOmitted)
	}
	if got := st.Failed() + st.Retried; got != failedStreams {
		t.Errorf("failed %d + retried %d = %d attempts; the server failed %d streams", st.Failed(), st.Retried, got, failedStreams)
	}
	if st.Requests() != int64(requests) || st.Outcomes[OK] != int64(len(serverOK)) {
		t.Errorf("%d requests, %d ok; the server answered %d requests ok", st.Requests(), st.Outcomes[OK], len(serverOK))
	}
	for seq := range requests {
		fates, outs := serverFailed[seq], clientFailed[seq]
		if len(fates) != len(outs) || serverOK[seq] > 1 || (serverOK[seq] == 1) == finalFailed[seq] {
			t.Errorf("request %d: server %v (ok %d), client %v (final failed %v)", seq, fates, serverOK[seq], outs, finalFailed[seq])
			continue
		}
		// Match the failures as multisets: each fate to one outcome it
		// may be counted as.
		used := make([]bool, len(outs))
	fate:
		for _, f := range fates {
			for i, o := range outs {
				if !used[i] && slices.Contains(clientOutcomes[f], o) {
					used[i] = true
					continue fate
				}
			}
			t.Errorf("request %d: the server's %s has no client outcome among %v", seq, f, outs)
		}
	}
	// What the scenario must have exercised, and the retry rule.
	for _, f := range []string{faultserver.FateKilled, faultserver.FateGoAway, faultserver.FateRefused, faultserver.FateReset} {
		if !slices.ContainsFunc(records, func(r faultserver.H2Record) bool { return r.Fate == f }) {
			t.Errorf("no stream was %s", f)
		}
	}
	// The retry rule, attempt by attempt: what the server did not
	// process is re-sent while attempts remain; a reset stream, an
	// UNAVAILABLE, never (a cut one only when unanswered on a reused
	// connection, which the worker's tests cover).
	for _, f := range st.Failures {
		mayRetry := f.Outcome.Unprocessed() || f.Outcome == EOF || f.Outcome == Reset
		switch {
		case f.Retried && (!mayRetry || f.Attempt > retries):
			t.Errorf("request %d attempt %d re-sent after %v with --retries %d", f.Seq, f.Attempt, f.Outcome, retries)
		case !f.Retried && f.Outcome.Unprocessed() && f.Attempt <= retries:
			t.Errorf("request %d attempt %d not re-sent after %v with --retries %d", f.Seq, f.Attempt, f.Outcome, retries)
		}
	}
	if retries > 0 && st.RetriedOutcomes[RefusedStream] == 0 {
		t.Errorf("retried %v: no refused stream re-sent", st.RetriedOutcomes)
	}
	if grpc && st.Outcomes[GRPCUnavailable] == 0 {
		t.Errorf("no grpc_unavailable: %v", st.Outcomes)
	}
	// The killed streams: each attributed to the pod its connection
	// reached.
	pod0 := slices.IndexFunc(st.Pods, func(p PodStats) bool { return p.Pod == "h2-pod-0" })
	killed := 0
	for _, f := range st.Failures {
		if f.Outcome == EOF || f.Outcome == Reset {
			killed++
			if int(f.Pod) != pod0 || f.AttributedBy != AttrConnection {
				t.Errorf("killed stream of request %d attributed to pod %d by %v, want h2-pod-0 (%d) by connection", f.Seq, f.Pod, f.AttributedBy, pod0)
			}
		}
	}
	if killed != streams {
		t.Errorf("%d attempts killed, want the batch of %d", killed, streams)
	}
	for _, f := range st.Failures {
		if f.Outcome == Other {
			t.Logf("other: %s", f.Detail)
		}
	}
	t.Logf("outcomes %v retried %v; %d connections", st.Outcomes, st.RetriedOutcomes, st.ConnsOpened)
}

// concurrencyHandler answers after holding each request a moment, so that
// streams pile up, and keeps the most requests it held at once on any one
// connection (by the client's address). With stall set, the request whose
// request id it is waits until the client cancels it, and says so.
type concurrencyHandler struct {
	mu        sync.Mutex
	inFlight  map[string]int
	most      int
	stall     string
	cancelled chan struct{}
}

func (h *concurrencyHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.stall != "" && r.Header.Get("X-Request-Id") == h.stall {
		<-r.Context().Done() // the client's RST_STREAM(CANCEL)
		close(h.cancelled)
		return
	}
	h.mu.Lock()
	h.inFlight[r.RemoteAddr]++
	h.most = max(h.most, h.inFlight[r.RemoteAddr])
	h.mu.Unlock()
	time.Sleep(time.Millisecond)
	h.mu.Lock()
	h.inFlight[r.RemoteAddr]--
	h.mu.Unlock()
	w.Header().Set("X-Pod", "web-a")
}

// TestStreamsServerLimit: a server that allows 10 streams at once gets no
// more on any connection, however many --streams asks; the run uses more
// connections instead and reports the limit.
func TestStreamsServerLimit(t *testing.T) {
	h := &concurrencyHandler{inFlight: map[string]int{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: h, Protocols: &p, HTTP2: &http.HTTP2Config{MaxConcurrentStreams: 10}}
	go srv.Serve(ln) //nolint:errcheck // ends with Close
	defer srv.Close()
	st := runH2(t, Config{Target: "http://" + ln.Addr().String() + "/", Protocol: ProtoH2C, Concurrency: 40, Streams: 100, Requests: 400,
		KeepAlive: true, Identity: mustIdentity(t, "header:X-Pod")})
	if st.Outcomes[OK] != 400 {
		t.Fatalf("outcomes %v", st.Outcomes)
	}
	h.mu.Lock()
	most := h.most
	h.mu.Unlock()
	t.Logf("%d streams at once at most on one connection, %d connections", most, st.ConnsOpened)
	if most > 10 || st.ServerMaxStreams != 10 || st.ConnsOpened < 4 {
		t.Fatalf("%d streams at once on a connection, server limit %d reported, %d connections; want at most 10, 10, at least 4", most, st.ServerMaxStreams, st.ConnsOpened)
	}
}

// TestStreamTimeoutAlone: a stream that gets no answer within --timeout
// fails alone, reset so that the server stops working on it; the other
// streams of its connection carry on, on the same connection.
func TestStreamTimeoutAlone(t *testing.T) {
	h := &concurrencyHandler{inFlight: map[string]int{}, stall: "5", cancelled: make(chan struct{})}
	url := h2cServer(t, h)
	st := runH2(t, Config{Target: url + "/", Protocol: ProtoH2C, Concurrency: 10, Streams: 10, Requests: 100, KeepAlive: true,
		RequestIDHeader: "X-Request-Id", Timeout: 500 * time.Millisecond, Identity: mustIdentity(t, "header:X-Pod")})
	<-h.cancelled // the server saw the stream cancelled
	if st.Outcomes[OK] != 99 || st.Outcomes[TimeoutResponse] != 1 || st.ConnsOpened != 1 {
		t.Fatalf("outcomes %v on %d connections; want 99 ok and one timeout on one", st.Outcomes, st.ConnsOpened)
	}
	if f := st.Failures[0]; f.Seq != 4 || f.AttributedBy != AttrConnection {
		t.Fatalf("failure %+v: want request 5, attributed by its connection", f)
	}
}

// TestGRPCStreams: gRPC calls multiplexed, 50 on one connection.
func TestGRPCStreams(t *testing.T) {
	srv := &grpcServer{reply: grpcReply{messages: [][]byte{healthServingReply}, trailers: []string{"grpc-status: 0", "x-pod: web-a"}}}
	st := runH2(t, Config{Target: startGRPC(t, srv, false), Concurrency: 50, Streams: 50, Requests: 500, KeepAlive: true, Identity: mustIdentity(t, "header:X-Pod")})
	if st.Outcomes[OK] != 500 || st.ConnsOpened != 1 || podNames(st)["web-a"] != 500 {
		t.Fatalf("outcomes %v on %d connections, pods %v", st.Outcomes, st.ConnsOpened, podNames(st))
	}
}
