package loadgen

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestShareOf(t *testing.T) {
	for _, tc := range []struct{ limit, shard, shards, want uint64 }{
		{10, 0, 1, 10},
		{10, 0, 2, 5}, {10, 1, 2, 5},
		{11, 0, 2, 6}, {11, 1, 2, 5},
		{10, 0, 3, 4}, {10, 1, 3, 3}, {10, 2, 3, 3},
		{2, 2, 3, 0}, {0, 0, 2, 0},
	} {
		if got := shareOf(tc.limit, tc.shard, tc.shards); got != tc.want {
			t.Errorf("shareOf(%d, %d, %d) = %d, want %d", tc.limit, tc.shard, tc.shards, got, tc.want)
		}
	}
}

// idServer answers every request with the seed payload and keeps the
// request ids it saw.
func idServer(t *testing.T) (url string, ids func() map[int]int) {
	t.Helper()
	var mu sync.Mutex
	seen := map[int]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := strconv.Atoi(r.Header.Get("X-Request-Id"))
		mu.Lock()
		seen[id]++
		mu.Unlock()
		fmt.Fprint(w, "pod-s >> 127.0.0.1 >> v1")
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/", func() map[int]int {
		mu.Lock()
		defer mu.Unlock()
		out := make(map[int]int, len(seen))
		for k, v := range seen {
			out[k] = v
		}
		return out
	}
}

// TestShardsSplitTheSchedule: shards of one schedule send every request of
// it exactly once between them, numbered as the whole schedule numbers
// them, each at its time in the whole schedule.
func TestShardsSplitTheSchedule(t *testing.T) {
	const requests, shards = 31, 3
	for _, model := range []string{"rate", "concurrency"} {
		t.Run(model, func(t *testing.T) {
			url, ids := idServer(t)
			var wg sync.WaitGroup
			stats := make([]*Stats, shards)
			for i := range shards {
				cfg := Config{Target: url, Requests: requests, KeepAlive: true, RequestIDHeader: "X-Request-Id", Shard: i, Shards: shards, Timeout: 10 * time.Second}
				if model == "rate" {
					cfg.Rate, cfg.Connections = 200, 2
				} else {
					cfg.Concurrency = 2
				}
				wg.Go(func() { stats[i] = runEngine(t, cfg, 30*time.Second) })
			}
			wg.Wait()
			seen := ids()
			for id := 1; id <= requests; id++ {
				if seen[id] != 1 {
					t.Errorf("request id %d sent %d times", id, seen[id])
				}
			}
			if len(seen) != requests {
				t.Errorf("%d distinct ids, want %d: %v", len(seen), requests, seen)
			}
			for i, st := range stats {
				if want := int64(shareOf(requests, uint64(i), shards)); st.Requests() != want {
					t.Errorf("shard %d sent %d requests, want %d", i, st.Requests(), want)
				}
			}
		})
	}
}

// TestShardIntendedTimes: a shard's requests are due when the whole
// schedule has them due, so a shard's failures carry their global
// sequence numbers and times.
func TestShardIntendedTimes(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	p := ConstantPacer{Rate: 100}
	st := runEngine(t, Config{Target: srv.URL + "/", Rate: 100, Connections: 2, Requests: 10, Shard: 1, Shards: 2, KeepAlive: true, Timeout: 10 * time.Second}, 30*time.Second)
	if len(st.Failures) != 5 {
		t.Fatalf("%d failures, want 5", len(st.Failures))
	}
	for i, f := range st.Failures {
		if want := uint64(2*i + 1); f.Seq != want || f.Intended != p.Due(want) {
			t.Errorf("failure %d: request %d due at %v, want request %d due at %v", i, f.Seq, f.Intended, want, p.Due(want))
		}
	}
}

// TestStartIsTheTimeBase: a run given a Start waits for it and counts
// every offset from it; one whose Start has long passed is refused.
func TestStartIsTheTimeBase(t *testing.T) {
	url, _ := idServer(t)
	start := time.Now().Add(200 * time.Millisecond).Truncate(time.Millisecond)
	st := runEngine(t, Config{Target: url, Rate: 50, Connections: 1, Requests: 5, KeepAlive: true, Start: start}, 30*time.Second)
	if !st.Start.Equal(start) {
		t.Fatalf("Stats.Start %v, want the configured %v", st.Start, start)
	}
	if st.Requests() != 5 || len(st.Seconds) == 0 || st.Seconds[0].Requests() != 5 {
		t.Fatalf("%d requests, series %+v: want all 5 in second 0 of the run", st.Requests(), st.Seconds)
	}

	e, err := New(context.Background(), Config{Target: url, Rate: 50, Requests: 5, Start: time.Now().Add(-time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "passed") {
		t.Fatalf("a start a second ago: %v, want it refused", err)
	}
}

// TestMarkPhaseAtCutsShardsAlike: shards that mark the same phases at the
// same offsets put each request in the phase of its due time, so their
// merged phases hold what one engine's would: the requests due before the
// mark in the first, the others in the second, whatever each shard's clock
// did when it marked.
func TestMarkPhaseAtCutsShardsAlike(t *testing.T) {
	const requests, shards, rate = 40, 2, 100.0
	at := 205 * time.Millisecond // between requests 20 (200 ms) and 21 (210 ms)
	url, _ := idServer(t)
	start := time.Now().Add(300 * time.Millisecond)
	stats := make([]*Stats, shards)
	var wg sync.WaitGroup
	for i := range shards {
		cfg := Config{Target: url, Requests: requests, Rate: rate, Connections: 2, KeepAlive: true, Shard: i, Shards: shards, Start: start, Timeout: 10 * time.Second}
		e, err := New(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		e.MarkPhase("baseline")
		if err := e.MarkPhaseAt("rollout", at); err == nil {
			t.Fatal("MarkPhaseAt before Run: no error")
		}
		wg.Go(func() {
			// The shards mark at different times ahead of the offset:
			// where each request goes must not depend on it.
			mark := start.Add(at - time.Duration(30+60*i)*time.Millisecond)
			go func() {
				time.Sleep(time.Until(mark))
				if err := e.MarkPhaseAt("rollout", at); err != nil {
					t.Error(err)
				}
			}()
			st, err := e.Run(context.Background())
			if err != nil {
				t.Error(err)
				return
			}
			stats[i] = st
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	var merged Stats
	for _, st := range stats {
		if err := merged.Merge(st); err != nil {
			t.Fatal(err)
		}
	}
	if len(merged.Phases) != 2 || merged.Phases[0].Name != "baseline" || merged.Phases[1].Name != "rollout" {
		t.Fatalf("phases %+v, want baseline then rollout", merged.Phases)
	}
	// Request n (1-based) is due at (n-1)/rate: 21 are due before 205 ms.
	if got, want := merged.Phases[0].Requests(), int64(21); got != want {
		t.Errorf("baseline holds %d requests, want %d", got, want)
	}
	if got, want := merged.Phases[1].Requests(), int64(requests-21); got != want {
		t.Errorf("rollout holds %d requests, want %d", got, want)
	}
	if merged.Phases[1].Start != at.Truncate(time.Microsecond) {
		t.Errorf("rollout starts at %v, want %v", merged.Phases[1].Start, at)
	}
}
