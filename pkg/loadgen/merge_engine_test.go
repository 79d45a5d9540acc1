package loadgen_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rolltest/rolltest/internal/nettest"
	"github.com/rolltest/rolltest/pkg/loadgen"
	"github.com/rolltest/rolltest/pkg/report"
)

// byIDServer answers on loopback as one of three pods, deciding by the
// request id alone, so that any engine sending request n meets the same
// fate for it whatever connection, order or engine carries it: reset,
// closed, 503 without identity, 503 naming the pod, or 200 naming it.
func byIDServer(t *testing.T) string {
	t.Helper()
	pods := []struct{ name, version string }{{"web-a", "v1"}, {"web-b", "v1"}, {"web-c", "v2"}}
	addr, _ := nettest.Serve(t, 30*time.Second, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			id, _ := strconv.Atoi(req.Header.Get("X-Request-Id"))
			pod := pods[id%len(pods)]
			named := pod.name + " >> 127.0.0.1 >> " + pod.version
			var status int
			var body string
			switch {
			case id%11 == 4:
				_ = c.(*net.TCPConn).SetLinger(0)
				return // reset
			case id%13 == 6:
				return // closed without an answer
			case id%7 == 3:
				status, body = 503, "shutting down"
			case id%5 == 2:
				status, body = 503, named
			default:
				status, body = 200, named
			}
			conn := ""
			if req.Close {
				conn = "Connection: close\r\n"
			}
			if _, err := fmt.Fprintf(c, "HTTP/1.1 %d %s\r\nContent-Length: %d\r\n%s\r\n%s", status, http.StatusText(status), len(body), conn, body); err != nil || req.Close {
				return
			}
		}
	})
	return "http://" + addr + "/"
}

// TestMergedShardsBuildTheSameReport runs one schedule three times at
// once over the same time base: as two shards, and whole. The report
// built from the shards' merged Stats must be the whole run's, in
// everything the run determines: counts and outcomes in total, per pod,
// per phase and per second, the failure records, status codes, bytes,
// connections and latency counts. Keep-alive is off, so that which pod a
// failure is blamed on does not depend on which connection carried it.
func TestMergedShardsBuildTheSameReport(t *testing.T) {
	t.Run("one target", func(t *testing.T) { mergedShardsBuildTheSameReport(t, nil) })
	// With targets, the per-target counts and the failures' targets must
	// come out the same too: request n has its target by n alone.
	t.Run("weighted targets", func(t *testing.T) {
		mergedShardsBuildTheSameReport(t, func(url string) []loadgen.Target {
			return []loadgen.Target{
				{Name: "a", Method: "GET", URL: url + "a", Weight: 3},
				{Name: "b", Method: "GET", URL: url + "b"},
				{Name: "c", Method: "GET", URL: url + "c", Weight: 2},
			}
		})
	})
}

func mergedShardsBuildTheSameReport(t *testing.T, targets func(url string) []loadgen.Target) {
	const (
		rate     = 10.0
		requests = 40
		mark     = 1550 * time.Millisecond // between two due times, 100 ms apart
	)
	url := byIDServer(t)
	start := time.Now().Add(300 * time.Millisecond)
	base := loadgen.Config{Target: url, Rate: rate, Requests: requests, Connections: 2, RequestIDHeader: "X-Request-Id", Timeout: 10 * time.Second, Start: start}
	if targets != nil {
		base.Target, base.Targets = "", targets(url)
	}
	configs := []loadgen.Config{base, base, base} // whole, shard 0, shard 1
	for i := 1; i < 3; i++ {
		configs[i].Shard, configs[i].Shards = i-1, 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	engines := make([]*loadgen.Engine, len(configs))
	for i, cfg := range configs {
		e, err := loadgen.New(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		e.MarkPhase("baseline")
		engines[i] = e
	}
	rollout := time.AfterFunc(time.Until(start.Add(mark)), func() {
		for _, e := range engines {
			e.MarkPhase("rollout")
		}
	})
	defer rollout.Stop()
	stats := make([]*loadgen.Stats, len(engines))
	var wg sync.WaitGroup
	for i, e := range engines {
		wg.Go(func() {
			st, err := e.Run(ctx)
			if err != nil {
				t.Error(err)
			}
			stats[i] = st
		})
	}
	wg.Wait()
	if t.Failed() || ctx.Err() != nil {
		t.Fatal("the runs did not complete")
	}
	whole := stats[0]
	var merged loadgen.Stats
	for _, st := range stats[1:] {
		if err := merged.Merge(st); err != nil {
			t.Fatal(err)
		}
	}
	if targets != nil && (len(whole.Targets) != 3 || whole.Targets[0].Requests() != 20 || whole.Targets[1].Failed() == 0) {
		t.Fatalf("the whole run's targets %+v: want 20 requests of a, and failures of b", whole.Targets)
	}
	if whole.Requests() != requests || whole.Failed() == 0 || whole.Outcomes[loadgen.OK] == 0 {
		t.Fatalf("the whole run: %d requests, outcomes %v: want %d with failures and successes", whole.Requests(), whole.Outcomes, requests)
	}

	// A phase mark is a moment: the phases split the schedule alike only
	// when every engine's mark fell between the same two due times.
	samePhases := true
	for _, st := range stats {
		if len(st.Phases) != 2 || st.Phases[1].Start/(100*time.Millisecond) != mark/(100*time.Millisecond) {
			samePhases = false
			t.Logf("a phase mark landed at %v, not between the due times around %v (a loaded machine): phases are not compared", st.Phases[len(st.Phases)-1].Start, mark)
		}
	}

	in := func(st *loadgen.Stats) report.Input {
		return report.Input{Config: report.Config{Target: url, Mode: "rate", Rate: rate}, Stats: st, EndedAt: start}
	}
	got, want := deterministic(report.Build(in(&merged)), samePhases), deterministic(report.Build(in(whole)), samePhases)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("the merged shards' report differs from the whole run's:\n%s", diffResults(got, want))
	}
	if g, w := merged.Latency.TotalCount(), whole.Latency.TotalCount(); g != w || g == 0 {
		t.Errorf("latency histogram holds %d, the whole run's %d", g, w)
	}
	if !merged.Start.Equal(whole.Start) {
		t.Errorf("merged start %v, whole run's %v", merged.Start, whole.Start)
	}
}

// deterministic keeps what a run's schedule and the server determine and
// blanks what the machine's timing does (send delays, latencies, peaks,
// connection numbers, error texts with port numbers, phase marks).
func deterministic(r *report.Result, phases bool) *report.Result {
	r.Run = report.Run{}
	r.Latency = report.Latency{LatencySummary: report.LatencySummary{Count: r.Latency.Count}}
	t := &r.Totals
	t.AchievedRPS, t.LateSends, t.MaxSendDelayMs, t.BehindSends, t.PoolWaits, t.ConnectionsPeak = 0, 0, 0, 0, 0, 0
	for i := range r.Phases {
		p := &r.Phases[i]
		p.StartS, p.EndS = 0, 0
		p.Latency = report.LatencySummary{Count: p.Latency.Count}
	}
	if !phases {
		r.Phases = nil
	}
	for i := range r.Series {
		s := &r.Series[i]
		s.LateSends, s.P50Ms, s.P90Ms, s.P99Ms, s.MaxMs = 0, 0, 0, 0, 0
	}
	for i := range r.Failures.Records {
		f := &r.Failures.Records[i]
		f.StartS, f.Detail, f.LatencyMs, f.Conn, f.ConnRequests = 0, "", 0, 0, 0
	}
	for i := range r.Targets {
		tg := &r.Targets[i]
		tg.P50Ms, tg.P99Ms, tg.MaxMs = 0, 0, 0
	}
	return r
}

// diffResults names the parts of two results that differ.
func diffResults(got, want *report.Result) string {
	var b strings.Builder
	gv, wv := reflect.ValueOf(got).Elem(), reflect.ValueOf(want).Elem()
	for i := range gv.NumField() {
		if g, w := gv.Field(i).Interface(), wv.Field(i).Interface(); !reflect.DeepEqual(g, w) {
			fmt.Fprintf(&b, "%s:\n merged %+v\n whole  %+v\n", gv.Type().Field(i).Name, g, w)
		}
	}
	return b.String()
}
