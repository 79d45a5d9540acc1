package loadgen

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

type connNumber struct{}

// twoPodServer answers on loopback like a Service in front of two pods:
// each connection reaches one of them, odd ones pod-a (v1), even ones
// pod-b (v2), and every request whose id is a multiple of failEvery gets
// a 503 that still names the pod.
func twoPodServer(t *testing.T, failEvery int) string {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := r.Context().Value(connNumber{}).(int64)
		body := "pod-a >> 127.0.0.1 >> v1"
		if n%2 == 0 {
			body = "pod-b >> 127.0.0.2 >> v2"
		}
		if id, _ := strconv.Atoi(r.Header.Get("X-Request-Id")); id%failEvery == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		fmt.Fprint(w, body)
	}))
	srv.Config.ConnContext = func(ctx context.Context, _ net.Conn) context.Context {
		return context.WithValue(ctx, connNumber{}, conns.Add(1))
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL + "/"
}

// TestLiveEqualsStatsAtTheEnd: once Run has returned, the live totals an
// exporter reads are the run's Stats, by outcome, by pod, in latency count,
// late sends and connections; before Run they are empty.
func TestLiveEqualsStatsAtTheEnd(t *testing.T) {
	url := twoPodServer(t, 7)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e, err := New(ctx, Config{Target: url, Rate: 1000, Requests: 400, Connections: 4, KeepAlive: true, RequestIDHeader: "X-Request-Id"})
	if err != nil {
		t.Fatal(err)
	}
	if l := e.Live(); l.Started || l.Done || l.Requests() != 0 || l.Phase != "load" {
		t.Fatalf("before Run: %+v", l)
	}
	st, err := e.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	l := e.Live()
	if !l.Started || !l.Done {
		t.Fatalf("after Run: started %v done %v", l.Started, l.Done)
	}
	if l.Counts != st.Counts {
		t.Errorf("live counts %+v, stats %+v", l.Counts, st.Counts)
	}
	if l.Requests() != 400 || l.Outcomes[HTTP5xx] != 400/7 {
		t.Errorf("live: %d requests, %d http_5xx; want 400 and %d", l.Requests(), l.Outcomes[HTTP5xx], 400/7)
	}
	if len(l.Pods) != len(st.Pods) || len(l.Pods) != 3 {
		t.Fatalf("live pods %+v, stats pods %+v; want the unknown pod, pod-a and pod-b", l.Pods, st.Pods)
	}
	var sum OutcomeCounts
	for i, p := range l.Pods {
		if p.PodIdentity != st.Pods[i].PodIdentity || p.Outcomes != st.Pods[i].Outcomes {
			t.Errorf("pod %d: live %+v, stats %+v %+v", i, p, st.Pods[i].PodIdentity, st.Pods[i].Outcomes)
		}
		for o, v := range p.Outcomes {
			sum[o] += v
		}
	}
	if sum != l.Outcomes {
		t.Errorf("pods add up to %v, totals are %v", sum, l.Outcomes)
	}
	if _, n, _ := l.Latency(nil); int64(n) != st.Latency.TotalCount() {
		t.Errorf("live latency count %d, stats %d", n, st.Latency.TotalCount())
	}
	if l.LateSends != st.LateSends || int64(l.ConnsOpened) != st.ConnsOpened {
		t.Errorf("live late %d conns %d, stats late %d conns %d", l.LateSends, l.ConnsOpened, st.LateSends, st.ConnsOpened)
	}
}

// TestLiveCountsAFailureWhereRecorded: a failure re-attributed to a pod
// after its second was handed over stays on the unknown pod in the live
// totals, so that no counter an exporter serves ever goes down.
func TestLiveCountsAFailureWhereRecorded(t *testing.T) {
	var lt liveTotals
	first := &secSlot{sec: 0, pods: []secPod{{pod: 0, requests: 1, failed: 1}}, drops: []secDrop{{pod: 0, outcome: Reset, n: 1}}}
	first.counts.Outcomes[Reset] = 1
	lt.add(first)
	later := &secSlot{sec: 1, pods: []secPod{{pod: 1, requests: 2}}, moves: []podMove{{sec: 0, pod: 1}}}
	later.counts.Outcomes[OK] = 2
	lt.add(later)
	if lt.pods[0][Reset] != 1 || lt.pods[1][OK] != 2 || lt.pods[1][Reset] != 0 {
		t.Fatalf("pods %v", lt.pods)
	}
	if lt.counts.Outcomes[OK] != 2 || lt.counts.Outcomes[Reset] != 1 {
		t.Fatalf("counts %+v", lt.counts)
	}
}

// TestLiveLatencyBuckets: latencies land in the cumulative bucket of the
// first bound at or above them, within the per-second histogram's ±3.2%.
func TestLiveLatencyBuckets(t *testing.T) {
	var l Live
	for _, us := range []int64{20, 100, 100, 800, 980, 20_000, 3_000_000} {
		l.lat.record(us)
	}
	ms := time.Millisecond
	cum, n, sum := l.Latency([]time.Duration{ms / 2, ms, 10 * ms, 50 * ms, time.Second})
	want := []uint64{3, 5, 5, 6, 6}
	for i := range want {
		if cum[i] != want[i] {
			t.Fatalf("cumulative %v, want %v", cum, want)
		}
	}
	if n != 7 {
		t.Errorf("count %d, want 7", n)
	}
	exact := time.Duration(20+100+100+800+980+20_000+3_000_000) * time.Microsecond
	if d := sum - exact; d < -exact/30 || d > exact/30 {
		t.Errorf("sum %v, want %v ±3.2%%", sum, exact)
	}
}
