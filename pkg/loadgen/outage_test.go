//go:build linux

package loadgen

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/rolltest/rolltest/internal/faultserver"
)

// TestOutageCountsWhatTheServerDid is the open model's promise under the
// failure a rollout creates: a service that stops answering (a vanished pod
// whose connects hang, or a process that answers nothing) holds
// connections, never the schedule. Every request due during the outage is
// sent on time and ends the way the server made it end, so the counts
// equal the server's own, request for request, with keep-alive on and off.
func TestOutageCountsWhatTheServerDid(t *testing.T) {
	const (
		rate    = 400.0
		timeout = 1500 * time.Millisecond
		after   = 1500 * time.Millisecond
		length  = 4 * time.Second
		runFor  = 7 * time.Second
		// How far from the outage's edges a request must be due to be
		// certain to fail: the engine's and the server's clocks start at
		// different moments, and a send may leave a little late.
		slack = 250 * time.Millisecond
	)
	for _, mode := range []faultserver.OutageMode{faultserver.Blackhole, faultserver.Hang} {
		for _, keepAlive := range []bool{true, false} {
			name := fmt.Sprintf("%s/keepalive=%v", map[faultserver.OutageMode]string{faultserver.Blackhole: "blackhole", faultserver.Hang: "hang"}[mode], keepAlive)
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				srv, err := faultserver.StartOutage(mode, after, length, "pod-out")
				if err != nil {
					t.Fatal(err)
				}
				defer srv.Close()
				ctx, cancel := context.WithTimeout(context.Background(), runFor+30*time.Second)
				defer cancel()
				e, err := New(ctx, Config{Target: srv.URL("/"), Rate: rate, Duration: runFor, Timeout: timeout, KeepAlive: keepAlive, Connections: 8, RequestIDHeader: "X-Request-Id"})
				if err != nil {
					t.Fatal(err)
				}
				from, to := srv.Window()
				mark := time.AfterFunc(time.Until(from), func() { e.MarkPhase("outage") })
				defer mark.Stop()
				st, err := e.Run(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if ctx.Err() != nil {
					t.Fatal("the run did not end")
				}
				got := srv.Counts()
				total := st.Requests()
				t.Logf("requests %d %v; server served %d stalled %d queued %d accepted %d; late %d behind %d max delay %v; conns opened %d peak %d max %d",
					total, st.Outcomes, len(got.Served), len(got.Stalled), got.Queued, got.Accepted, st.LateSends, st.BehindSends, st.MaxSendDelay, st.ConnsOpened, st.PeakConns, st.MaxConns)

				if want := int64(ConstantPacer{Rate: rate}.Count(runFor)); total != want {
					t.Fatalf("%d requests recorded, %d were due", total, want)
				}
				if st.PeakConns <= 8 {
					t.Fatalf("at most %d connections at once: the pool never grew past its steady 8", st.PeakConns)
				}
				if st.PoolWaits != 0 {
					t.Fatalf("%d requests waited for a connection (pool bound %d): the schedule depended on the generator", st.PoolWaits, st.MaxConns)
				}
				// Request by request against the server's record. A request
				// the client counted ok was served; a request served but not
				// ok was answered after the client's deadline had passed;
				// every other request timed out, and one the server stalled
				// timed out waiting for its response.
				failures := map[uint64]FailureRecord{}
				for _, f := range st.Failures {
					failures[f.Seq] = f
					if f.Start < f.Intended {
						t.Fatalf("request %d: attempt started at %v, before it was due at %v", f.Seq+1, f.Start, f.Intended)
					}
					if f.Outcome != TimeoutConnect && f.Outcome != TimeoutResponse {
						t.Fatalf("request %d ended %v (%s): an outage only times requests out", f.Seq+1, f.Outcome, f.Detail)
					}
				}
				if st.FailuresOmitted != 0 {
					t.Fatalf("%d failure records omitted", st.FailuresOmitted)
				}
				lateAnswers := 0
				for seq := uint64(0); seq < uint64(total); seq++ {
					id := strconv.FormatUint(seq+1, 10)
					f, failedReq := failures[seq]
					at, served := got.Served[id]
					switch {
					case !failedReq && !served:
						t.Fatalf("request %d counted ok, but the server never answered it", seq+1)
					case failedReq && served:
						deadline := st.Start.Add(f.Start + timeout)
						if at.Before(deadline.Add(-5 * time.Millisecond)) {
							t.Fatalf("request %d counted %v, but the server answered it at %v, before the client's deadline %v",
								seq+1, f.Outcome, at.Sub(st.Start), deadline.Sub(st.Start))
						}
						lateAnswers++
					case failedReq && got.Stalled[id] && f.Outcome != TimeoutResponse:
						t.Fatalf("request %d was stalled by the server, but counted %v", seq+1, f.Outcome)
					}
				}
				if o := st.Outcomes; o[OK] != int64(len(got.Served)-lateAnswers) {
					t.Errorf("ok %d, server served %d of which %d after the client gave up", o[OK], len(got.Served), lateAnswers)
				}
				if mode == faultserver.Hang && st.Outcomes[TimeoutConnect] != 0 {
					t.Errorf("%d connect timeouts from a server that accepts throughout", st.Outcomes[TimeoutConnect])
				}

				// Request by request: every request whose whole attempt lay
				// inside the outage timed out.
				wFrom, wTo := from.Sub(st.Start), to.Sub(st.Start)
				p := ConstantPacer{Rate: rate}
				checked := 0
				for seq := uint64(0); seq < uint64(total); seq++ {
					due := p.Due(seq)
					if due < wFrom+slack || due+timeout > wTo-slack {
						continue
					}
					checked++
					if _, ok := failures[seq]; !ok {
						t.Fatalf("request %d, due at %v inside the outage %v–%v, succeeded", seq+1, due, wFrom, wTo)
					}
				}
				if checked < 700 {
					t.Fatalf("only %d requests fell inside the outage", checked)
				}

				// Phases by due time: the requests before the outage mark are
				// exactly the first phase's.
				if len(st.Phases) != 2 {
					t.Fatalf("phases %d, want 2", len(st.Phases))
				}
				before := int64(p.Count(st.Phases[1].Start))
				if st.Phases[0].Requests() != before {
					t.Errorf("phase %q has %d requests, %d were due before it ended at %v", st.Phases[0].Name, st.Phases[0].Requests(), before, st.Phases[1].Start)
				}
			})
		}
	}
}

// TestPinnedPoolWaitsAndSaysSo: with --max-connections equal to
// --connections the pool cannot grow, so an outage holds the schedule back;
// the run must say so (pool waits, sends behind schedule) rather than pass
// off the held-back requests as the service's behaviour.
func TestPinnedPoolWaitsAndSaysSo(t *testing.T) {
	srv, err := faultserver.StartOutage(faultserver.Hang, 500*time.Millisecond, 2*time.Second, "pod-out")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	st := runEngine(t, Config{Target: srv.URL("/"), Rate: 200, Duration: 3 * time.Second, Timeout: time.Second,
		KeepAlive: true, Connections: 4, MaxConnections: 4}, 40*time.Second)
	t.Logf("requests %d %v; pool waits %d, behind %d, max delay %v, peak %d", st.Requests(), st.Outcomes, st.PoolWaits, st.BehindSends, st.MaxSendDelay, st.PeakConns)
	if st.PeakConns != 4 || st.MaxConns != 4 {
		t.Fatalf("peak %d connections with a bound of %d, want the pool pinned at 4", st.PeakConns, st.MaxConns)
	}
	if st.PoolWaits == 0 || st.BehindSends == 0 || st.MaxSendDelay < 500*time.Millisecond {
		t.Fatalf("pool waits %d, behind %d, max delay %v: a pinned pool in an outage must hold requests back, and say so", st.PoolWaits, st.BehindSends, st.MaxSendDelay)
	}
}

func TestDefaultMaxConnections(t *testing.T) {
	for _, tc := range []struct {
		rate        float64
		timeout     time.Duration
		retries     int
		connections int
		fdLimit     uint64
		want        int
	}{
		{rate: 500, timeout: 10 * time.Second, connections: 64, fdLimit: 1 << 20, want: 6314},   // 1.25×500×10 + 64
		{rate: 1000, timeout: time.Second, retries: 1, connections: 64, fdLimit: 0, want: 2564}, // retries hold a worker longer
		{rate: 20000, timeout: 10 * time.Second, connections: 64, fdLimit: 20000, want: 19744},  // the open-file limit
		{rate: 1e6, timeout: time.Minute, connections: 64, fdLimit: 1 << 30, want: 100000},      // the cap
		{rate: 1, timeout: time.Millisecond, connections: 64, fdLimit: 0, want: 65},             // one request in flight
		{rate: 1000, timeout: time.Second, connections: 64, fdLimit: 300, want: 64},             // never below the steady pool
	} {
		if got := DefaultMaxConnections(tc.rate, tc.timeout, tc.retries, tc.connections, tc.fdLimit); got != tc.want {
			t.Errorf("DefaultMaxConnections(%v, %v, %d, %d, %d) = %d, want %d", tc.rate, tc.timeout, tc.retries, tc.connections, tc.fdLimit, got, tc.want)
		}
	}
}
