package loadgen

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestWeightedSchedule(t *testing.T) {
	for _, tc := range []struct {
		weights []int
		want    []uint32 // one cycle, exactly
	}{
		{[]int{1}, []uint32{0}},
		{[]int{1, 1, 1}, []uint32{0, 1, 2}},
		{[]int{3, 1, 1}, []uint32{0, 1, 0, 2, 0}},
		{[]int{6, 2, 2}, []uint32{0, 1, 0, 2, 0}}, // reduced by the common divisor
		{[]int{1, 3}, []uint32{1, 0, 1, 1}},
		{[]int{2, 5, 1}, []uint32{1, 0, 1, 1, 2, 1, 0, 1}},
	} {
		got := weightedSchedule(tc.weights)
		if !slices.Equal(got, tc.want) {
			t.Errorf("weights %v: schedule %v, want %v", tc.weights, got, tc.want)
		}
		if n := scheduleLen(tc.weights); n != len(got) {
			t.Errorf("weights %v: scheduleLen %d, schedule has %d", tc.weights, n, len(got))
		}
	}
	// Exact proportions over one cycle, for weights with no common divisor.
	ws := []int{7, 1, 13, 4, 4, 1000, 1}
	counts := make([]int, len(ws))
	for _, i := range weightedSchedule(ws) {
		counts[i]++
	}
	if !slices.Equal(counts, ws) {
		t.Fatalf("one cycle of %v holds %v", ws, counts)
	}
}

// recordingServer answers 200 and counts requests by "METHOD path".
func recordingServer(t *testing.T) (url string, seen func() (byPath map[string]int, byID map[int]string)) {
	t.Helper()
	var mu sync.Mutex
	paths, ids := map[string]int{}, map[int]string{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		key := r.Method + " " + r.URL.Path
		id, _ := strconv.Atoi(r.Header.Get("X-Request-Id"))
		mu.Lock()
		paths[key]++
		ids[id] = key
		mu.Unlock()
		fmt.Fprint(w, "pod-t >> 127.0.0.1 >> v1")
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() (map[string]int, map[int]string) {
		mu.Lock()
		defer mu.Unlock()
		p, i := map[string]int{}, map[int]string{}
		for k, v := range paths {
			p[k] = v
		}
		for k, v := range ids {
			i[k] = v
		}
		return p, i
	}
}

func weightedTargets(base string) []Target {
	return []Target{
		{Name: "home", Method: "GET", URL: base + "/a", Weight: 3},
		{Name: "make", Method: "POST", URL: base + "/b", Body: []byte("body")},
		{Name: "put", Method: "PUT", URL: base + "/c", Weight: 1},
	}
}

// TestTargetsFollowTheSchedule: request n reaches the target the schedule
// gives n, whether one engine sends the whole schedule or shards split
// it; per-target stats count what the server saw, and the shards' stats
// merge into the whole run's.
func TestTargetsFollowTheSchedule(t *testing.T) {
	const requests = 47
	for _, model := range []string{"rate", "concurrency"} {
		t.Run(model, func(t *testing.T) {
			run := func(url string, shard, shards int, start time.Time) *Stats {
				cfg := Config{Targets: weightedTargets(url), Requests: requests, KeepAlive: true, RequestIDHeader: "X-Request-Id",
					Shard: shard, Shards: shards, Timeout: 10 * time.Second, Start: start}
				if model == "rate" {
					cfg.Rate, cfg.Connections = 500, 2
				} else {
					cfg.Concurrency = 2
				}
				return runEngine(t, cfg, 30*time.Second)
			}
			names := []string{"GET /a", "POST /b", "PUT /c"}
			sched := weightedSchedule([]int{3, 1, 1})
			checkIDs := func(what string, ids map[int]string) {
				for id := 1; id <= requests; id++ {
					if want := names[sched[(id-1)%len(sched)]]; ids[id] != want {
						t.Errorf("%s: request %d went to %q, want %q", what, id, ids[id], want)
					}
				}
			}
			url, seen := recordingServer(t)
			whole := run(url, 0, 0, time.Time{})
			paths, ids := seen()
			checkIDs("one engine", ids)
			if len(whole.Targets) != 3 {
				t.Fatalf("%d target stats, want 3", len(whole.Targets))
			}
			for i, ts := range whole.Targets {
				if int(ts.Requests()) != paths[names[i]] || ts.Failed() != 0 || ts.Latency.TotalCount() != ts.Requests() {
					t.Errorf("target %s: %d requests (%d failed, %d latencies), the server saw %d", ts.Name, ts.Requests(), ts.Failed(), ts.Latency.TotalCount(), paths[names[i]])
				}
			}
			// 47 = 9 cycles of 5 and two more (targets 0, 1).
			if paths["GET /a"] != 28 || paths["POST /b"] != 10 || paths["PUT /c"] != 9 {
				t.Errorf("server saw %v, want 28 / 10 / 9", paths)
			}

			// Three shards at once, on one time base as Merge needs, against
			// a server of their own.
			shardURL, shardSeen := recordingServer(t)
			start := time.Now().Add(300 * time.Millisecond)
			shardStats := make([]*Stats, 3)
			var wg sync.WaitGroup
			for shard := range 3 {
				wg.Go(func() { shardStats[shard] = run(shardURL, shard, 3, start) })
			}
			wg.Wait()
			_, shardIDs := shardSeen()
			checkIDs("three shards", shardIDs)
			var merged Stats
			for _, st := range shardStats {
				if err := merged.Merge(st); err != nil {
					t.Fatal(err)
				}
			}
			if len(merged.Targets) != 3 {
				t.Fatalf("merged shards: %d targets", len(merged.Targets))
			}
			for i := range whole.Targets {
				g, w := &merged.Targets[i], &whole.Targets[i]
				if g.Counts != w.Counts || g.Latency.TotalCount() != w.Latency.TotalCount() || g.Name != w.Name {
					t.Errorf("target %d: merged shards %s %+v, whole run %s %+v", i, g.Name, g.Counts, w.Name, w.Counts)
				}
			}
		})
	}
}

// TestTargetFailuresNameTheTarget: a failure record carries its request's
// target, and common headers reach every target unless it sets its own.
func TestTargetFailuresNameTheTarget(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]string{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.URL.Path] = r.Header.Get("X-Env") + "|" + r.Header.Get("X-Common")
		mu.Unlock()
		if r.URL.Path == "/bad" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	st := runEngine(t, Config{
		Targets: []Target{
			{Name: "good", Method: "GET", URL: srv.URL + "/good"},
			{Name: "bad", Method: "GET", URL: srv.URL + "/bad", Headers: []Header{{Name: "x-env", Value: "own"}}},
		},
		Headers:     []Header{{Name: "X-Env", Value: "common"}, {Name: "X-Common", Value: "1"}},
		Concurrency: 1, Requests: 6, KeepAlive: true, Timeout: 10 * time.Second,
	}, 30*time.Second)
	if len(st.Failures) != 3 {
		t.Fatalf("%d failures, want 3", len(st.Failures))
	}
	for _, f := range st.Failures {
		if f.Target != 1 || f.Seq%2 != 1 {
			t.Errorf("failure of request %d names target %d, want 1", f.Seq, f.Target)
		}
	}
	if st.Targets[0].Failed() != 0 || st.Targets[1].Failed() != 3 {
		t.Errorf("failed per target: %d, %d", st.Targets[0].Failed(), st.Targets[1].Failed())
	}
	if seen["/good"] != "common|1" || seen["/bad"] != "own|1" {
		t.Errorf("headers seen %v: a target's own header replaces the common one of its name", seen)
	}
}

func TestTargetsConfigErrors(t *testing.T) {
	ok := []Target{{Method: "GET", URL: "http://127.0.0.1:1/a"}}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Targets: ok, Target: "http://127.0.0.1:1/"}, "not both"},
		{Config{Targets: ok, Method: "POST"}, "--method"},
		{Config{Targets: ok, Body: []byte("x")}, "--body"},
		{Config{Targets: append(slices.Clone(ok), Target{Method: "GET", URL: "http://127.0.0.1:2/b"})}, "target 2"},
		{Config{Targets: append(slices.Clone(ok), Target{Method: "GET", URL: "https://127.0.0.1:1/b"})}, "scheme, host and port"},
		{Config{Targets: []Target{{Method: "G T", URL: "http://127.0.0.1:1/"}}}, "not a valid HTTP method"},
		{Config{Targets: []Target{{Method: "GET", URL: "ftp://h/"}}}, "scheme must be"},
		{Config{Targets: []Target{{Method: "GET", URL: "http://h/", Weight: 1001}}}, "between 1 and 1000"},
		{Config{Targets: []Target{{Method: "GET", URL: "http://h/", Headers: []Header{{Name: "X", Value: "a\nb"}}}}}, "cannot be sent"},
		{Config{Targets: slices.Repeat(ok, MaxTargets+1)}, "101 targets; at most 100"},
	} {
		tc.cfg.Rate = 1
		err := tc.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%d targets, first %+v: %v, want %q", len(tc.cfg.Targets), tc.cfg.Targets[0], err, tc.want)
		}
	}
	var many []Target
	for range 99 {
		many = append(many, Target{Method: "GET", URL: "http://h/", Weight: 997})
	}
	many = append(many, Target{Method: "GET", URL: "http://h/", Weight: 1}) // no common divisor: 98,704 entries
	if err := (&Config{Targets: many, Rate: 1}).Validate(); err == nil || !strings.Contains(err.Error(), "sum to 98704") {
		t.Errorf("a schedule beyond its bound: %v", err)
	}
}

func TestMergeRefusesOtherTargets(t *testing.T) {
	a := Stats{Start: time.Unix(100, 0), Targets: []TargetStats{{Name: "a", Method: "GET", URL: "http://h/a", Weight: 1}}}
	a.Targets[0].Outcomes[OK] = 5
	for _, o := range []Stats{
		{Start: a.Start},
		{Start: a.Start, Targets: []TargetStats{{Name: "b", Method: "GET", URL: "http://h/a", Weight: 1}}},
		{Start: a.Start, Targets: []TargetStats{{Name: "a", Method: "GET", URL: "http://h/a", Weight: 2}}},
	} {
		before := a.Targets[0]
		if err := a.Merge(&o); err == nil || !strings.Contains(err.Error(), "target") {
			t.Errorf("merging targets %+v into %+v: %v, want an error", o.Targets, a.Targets, err)
		}
		if a.Targets[0] != before {
			t.Error("a refused merge changed the stats")
		}
	}
}
