package loadgen

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/rolltest/rolltest/internal/faultserver"
)

// dropPlan drops a known, irregular subset of requests in every way the
// fault server knows.
func dropPlan(n uint64) faultserver.Action {
	switch {
	case n%97 == 50:
		return faultserver.Stall
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
				Target:          srv.URL("/common/healthy"),
				Requests:        requests,
				KeepAlive:       tc.keepAlive,
				Retries:         tc.retries,
				Timeout:         300 * time.Millisecond,
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
				if strconv.FormatUint(f.Seq, 10) != d.RequestID {
					t.Fatalf("record %d is request %d, drop %d is request %s", i, f.Seq, i, d.RequestID)
				}
				if f.Outcome != actionOutcome[d.Action] {
					t.Errorf("request %d: outcome %s, server did %s", f.Seq, f.Outcome, d.Action)
				}
				pod := st.Pods[f.Pod].Pod
				switch {
				case d.OKBefore > 0 && (pod != d.Pod || f.AttributedBy != AttrConnection):
					t.Errorf("request %d dropped on %s's connection, attributed to %q (%s)", f.Seq, d.Pod, pod, f.AttributedBy)
				case d.OKBefore == 0 && f.AttributedBy != AttrNone:
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
