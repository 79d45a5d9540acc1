package loadgen

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/rolltest/rolltest/internal/faultserver"
)

// dropPlan drops a known, irregular subset of requests in every way the
// fault server knows that does not depend on timing. Stalls, which only a
// timeout reveals, are tested on their own in TestStallIsATimeout, so that
// this test's exact counts cannot be disturbed by a slow machine.
func dropPlan(n uint64) faultserver.Action {
	switch {
	case n%7 == 3:
		return faultserver.Reset
	case n%11 == 5:
		return faultserver.Close
	case n%13 == 6:
		return faultserver.Fail503
	}
	return faultserver.Serve
}

var actionOutcome = map[faultserver.Action]Outcome{
	faultserver.Reset:   Reset,
	faultserver.Close:   EOF,
	faultserver.Stall:   TimeoutResponse,
	faultserver.Fail503: HTTP5xx,
}

// TestExactCounting is the engine's central promise: every request the
// server dropped is reported, as a failure or as a retried attempt, exactly
// once, with the right outcome, the right sequence number and the pod of
// the connection it was dropped on.
func TestExactCounting(t *testing.T) {
	const requests = 1200
	for _, tc := range []struct {
		keepAlive bool
		retries   int
		rate      float64
		workers   int
	}{
		{keepAlive: true, retries: 0, workers: 6},
		{keepAlive: true, retries: 1, workers: 6},
		{keepAlive: false, retries: 0, workers: 6},
		{keepAlive: false, retries: 1, workers: 6},
		{keepAlive: true, retries: 2, rate: 3000, workers: 8},
		{keepAlive: false, retries: 0, rate: 3000, workers: 8},
	} {
		name := fmt.Sprintf("keepalive=%v/retries=%d/rate=%v", tc.keepAlive, tc.retries, tc.rate)
		t.Run(name, func(t *testing.T) {
			srv, err := faultserver.Start(dropPlan, "pod-a", "pod-b", "pod-c")
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			cfg := Config{
				Target:    srv.URL("/common/healthy"),
				Requests:  requests,
				KeepAlive: tc.keepAlive,
				Retries:   tc.retries,
				// Far longer than any request takes: a timeout here would
				// be a failure the server did not cause.
				Timeout:         30 * time.Second,
				RequestIDHeader: "X-Request-Id",
			}
			if tc.rate > 0 {
				cfg.Rate, cfg.Connections = tc.rate, tc.workers
			} else {
				cfg.Concurrency = tc.workers
			}
			st := runEngine(t, cfg, 60*time.Second)
			drops := srv.Drops()

			if got := st.Requests(); got != requests {
				t.Fatalf("requests = %d, want %d", got, requests)
			}
			if got, want := uint64(st.Requests()+st.Retried), srv.Requests(); got != want {
				t.Fatalf("attempts = %d, server saw %d", got, want)
			}
			if got := st.Failed() + st.Retried; got != int64(len(drops)) {
				t.Fatalf("failed %d + retried %d = %d, server dropped %d", st.Failed(), st.Retried, got, len(drops))
			}
			if !tc.keepAlive && st.Retried != 0 {
				t.Fatalf("retried = %d without keep-alive: a fresh connection is never retried", st.Retried)
			}
			if tc.keepAlive && tc.retries > 0 && st.Retried == 0 {
				t.Fatalf("no retries with keep-alive and --retries %d: the test did not exercise them", tc.retries)
			}
			byAction := map[Outcome]int64{}
			for _, d := range drops {
				byAction[actionOutcome[d.Action]]++
			}
			for o, want := range byAction {
				if got := st.Outcomes[o] + st.RetriedOutcomes[o]; got != want {
					t.Errorf("%s: reported %d (failed %d + retried %d), server dropped %d", o, got, st.Outcomes[o], st.RetriedOutcomes[o], want)
				}
			}
			if st.FailuresOmitted != 0 {
				t.Fatalf("%d failure records omitted", st.FailuresOmitted)
			}
			if len(st.Failures) != len(drops) {
				t.Fatalf("%d failure records, %d drops", len(st.Failures), len(drops))
			}
			// Match records to drops one by one: same request, same way, same pod.
			sort.SliceStable(drops, func(i, j int) bool {
				a, _ := strconv.Atoi(drops[i].RequestID)
				b, _ := strconv.Atoi(drops[j].RequestID)
				if a != b {
					return a < b
				}
				return drops[i].N < drops[j].N
			})
			for i, f := range st.Failures {
				d := drops[i]
				if strconv.FormatUint(f.Seq+1, 10) != d.RequestID {
					t.Fatalf("record %d is request %d, drop %d is request %s", i, f.Seq, i, d.RequestID)
				}
				if f.Outcome != actionOutcome[d.Action] {
					t.Errorf("request %d: outcome %s, server did %s", f.Seq, f.Outcome, d.Action)
				}
				pod := st.Pods[f.Pod].Pod
				switch {
				case f.AttributedBy != AttrNone && pod != d.Pod:
					t.Errorf("request %d dropped on %s's connection, attributed to %q (%s)", f.Seq, d.Pod, pod, f.AttributedBy)
				case d.OKBefore > 0 && f.AttributedBy != AttrConnection:
					t.Errorf("request %d dropped on %s's connection after it answered, attributed by %s", f.Seq, d.Pod, f.AttributedBy)
				case d.OKBefore == 0 && d.Action != faultserver.Fail503 && f.AttributedBy != AttrNone:
					// A connection that was reset or closed before it ever
					// answered cannot say which pod it reached.
					t.Errorf("request %d failed on a connection that never answered but was attributed to %q by %s", f.Seq, pod, f.AttributedBy)
				}
				if f.Retried && f.Attempt > tc.retries {
					t.Errorf("request %d attempt %d marked retried beyond --retries %d", f.Seq, f.Attempt, tc.retries)
				}
			}
			// Exact per-pod and per-second accounting.
			var podSum, secSum, secRetried int64
			for _, p := range st.Pods {
				podSum += p.Requests()
			}
			for _, s := range st.Seconds {
				secSum += s.Requests()
				secRetried += s.Retried
			}
			if podSum != requests || secSum != requests || secRetried != st.Retried {
				t.Fatalf("pods sum %d, seconds sum %d (retried %d), want %d (retried %d)", podSum, secSum, secRetried, requests, st.Retried)
			}
			if !tc.keepAlive && st.ConnsOpened != st.Requests()+st.Retried {
				t.Errorf("keep-alive off: %d connections for %d attempts", st.ConnsOpened, st.Requests()+st.Retried)
			}
			if int(st.ConnsOpened) != srv.Connections() {
				t.Errorf("opened %d connections, server accepted %d", st.ConnsOpened, srv.Connections())
			}
		})
	}
}

func runEngine(t *testing.T, cfg Config, limit time.Duration) *Stats {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	e, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	st, err := e.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatalf("run did not finish within %v", limit)
	}
	return st
}

// TestStallIsATimeout checks that a server that reads a request and never
// answers shows up as a response timeout of exactly that request, on the
// right pod, after which the worker carries on with a new connection.
func TestStallIsATimeout(t *testing.T) {
	stalled := map[uint64]bool{5: true, 9: true, 10: true}
	srv, err := faultserver.Start(func(n uint64) faultserver.Action {
		if stalled[n] {
			return faultserver.Stall
		}
		return faultserver.Serve
	}, "pod-s")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	st := runEngine(t, Config{
		Target: srv.URL("/"), Concurrency: 1, Requests: 20, KeepAlive: true,
		Timeout: 1500 * time.Millisecond, RequestIDHeader: "X-Request-Id",
	}, 60*time.Second)
	if st.Failed() != 3 || st.Outcomes[TimeoutResponse] != 3 {
		t.Fatalf("failed %d, response timeouts %d; want 3 and 3 (outcomes %v)", st.Failed(), st.Outcomes[TimeoutResponse], st.Outcomes)
	}
	for i, want := range []uint64{5, 9, 10} {
		f := st.Failures[i]
		if f.Seq+1 != want || f.Outcome != TimeoutResponse || f.Latency < 1500*time.Millisecond {
			t.Errorf("failure %d: request %d %s after %v; want request %d timing out after 1.5s", i, f.Seq+1, f.Outcome, f.Latency, want)
		}
	}
	// Request 10 was sent on a new connection (9 stalled and was closed),
	// whose first request it was: no pod can be blamed by connection.
	if f := st.Failures[2]; f.ConnRequests != 0 || f.AttributedBy != AttrNone {
		t.Errorf("request 10 on a fresh connection attributed by %s after %d responses", f.AttributedBy, f.ConnRequests)
	}
	if f := st.Failures[0]; st.Pods[f.Pod].Pod != "pod-s" || f.AttributedBy != AttrConnection {
		t.Errorf("request 5 attributed to %q by %s, want pod-s by connection", st.Pods[f.Pod].Pod, f.AttributedBy)
	}
	// The latency histogram holds the timeouts: 3 of 20 at >= 1.5 s.
	if st.Latency.TotalCount() != 20 || st.Latency.Max() < 1_500_000 {
		t.Errorf("latency count %d max %dµs", st.Latency.TotalCount(), st.Latency.Max())
	}
}

// TestIdleCloseIsNotADrop: a server that closes an idle keep-alive
// connection between requests (as http.Server.Shutdown does) drops nothing;
// the worker notices the close before reusing the connection, like real
// clients, and reconnects.
func TestIdleCloseIsNotADrop(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				// Answer two requests, then close the idle connection.
				for range 2 {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					req.Body.Close()
					fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 18\r\n\r\npod-i >> ip >> v1\n")
				}
			}()
		}
	}()
	// The pool is pinned: on a loaded machine the one worker can still be
	// busy when the next request falls due, and a surge connection would
	// change the count this test is about. Requests are 100 ms apart: only
	// a worker behind by all of that sends within staleAfter of the last
	// response, when no check is made and the close races the request.
	st := runEngine(t, Config{Target: "http://" + ln.Addr().String() + "/", Rate: 10, Connections: 1, MaxConnections: 1, Requests: 16, KeepAlive: true}, 30*time.Second)
	if st.Failed() != 0 || st.Retried != 0 {
		t.Fatalf("failed %d retried %d (outcomes %v): an idle connection closed by the server is not a drop", st.Failed(), st.Retried, st.Outcomes)
	}
	if st.ConnsOpened != 8 {
		t.Fatalf("opened %d connections, want 8 (two requests each)", st.ConnsOpened)
	}
}

// TestFailuresBeforeIdentityAreAttributedByConnection: a pod that answers
// 503 without naming itself (the seed app while starting) is blamed for
// those failures as soon as the same connection names it: a connection
// behind a Service never changes pod.
func TestFailuresBeforeIdentityAreAttributedByConnection(t *testing.T) {
	srv, err := faultserver.Start(func(n uint64) faultserver.Action {
		if n <= 5 {
			return faultserver.Fail503
		}
		return faultserver.Serve
	}, "pod-late")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	st := runEngine(t, Config{Target: srv.URL("/"), Concurrency: 1, Requests: 20, KeepAlive: true}, 30*time.Second)
	if st.Failed() != 5 || st.ConnsOpened != 1 {
		t.Fatalf("failed %d on %d connections, want 5 on 1", st.Failed(), st.ConnsOpened)
	}
	for _, f := range st.Failures {
		if st.Pods[f.Pod].Pod != "pod-late" || f.AttributedBy != AttrConnection {
			t.Fatalf("request %d attributed to %q by %s, want pod-late by connection", f.Seq+1, st.Pods[f.Pod].Pod, f.AttributedBy)
		}
	}
	if unknown := st.Pods[0]; unknown.Requests() != 0 {
		t.Fatalf("%d requests left unattributed", unknown.Requests())
	}
	var p PodStats
	for _, q := range st.Pods {
		if q.Pod == "pod-late" {
			p = q
		}
	}
	if p.Requests() != 20 || p.Failed() != 5 || p.AttributedBy[AttrConnection] != 5 || p.First != st.Failures[0].Intended {
		t.Fatalf("pod-late: %d requests, %d failed, %d by connection, first %v", p.Requests(), p.Failed(), p.AttributedBy[AttrConnection], p.First)
	}
	var byPod int64
	for _, s := range st.Seconds {
		byPod += s.ByPod[0]
	}
	if byPod != 0 {
		t.Fatalf("the per-second series still counts %d requests as unattributed", byPod)
	}
}

// TestLateIdentityMovesFlushedSeconds: when a connection names its pod only
// after a second boundary, the failures of the second already handed to the
// collector move too, so the series agrees with the pod table.
func TestLateIdentityMovesFlushedSeconds(t *testing.T) {
	srv, err := faultserver.Start(func(n uint64) faultserver.Action {
		if n <= 13 { // the preflight-free run's first 13 requests: seconds 0 and 1
			return faultserver.Fail503
		}
		return faultserver.Serve
	}, "pod-slow")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	// Pinned to one connection: a surge connection would answer failures
	// of its own and never name a pod.
	st := runEngine(t, Config{Target: srv.URL("/"), Rate: 10, Connections: 1, MaxConnections: 1, Requests: 20, KeepAlive: true}, 30*time.Second)
	if st.Failed() != 13 || st.Pods[0].Requests() != 0 {
		t.Fatalf("failed %d, unattributed %d; want 13 and 0", st.Failed(), st.Pods[0].Requests())
	}
	for i, s := range st.Seconds {
		if s.ByPod[0] != 0 || s.FailedByPod[0] != 0 {
			t.Fatalf("second %d still counts %d requests (%d failed) as unattributed: %v", i, s.ByPod[0], s.FailedByPod[0], s.ByPod)
		}
	}
	var failedInSeries int64
	for _, s := range st.Seconds {
		for _, n := range s.FailedByPod {
			failedInSeries += n
		}
	}
	if failedInSeries != 13 {
		t.Fatalf("the series holds %d failures by pod, want 13", failedInSeries)
	}
}
