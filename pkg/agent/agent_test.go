package agent

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rolltest/rolltest/pkg/loadgen"
)

// runShard runs one shard against url and returns its Stats.
func runShard(t *testing.T, url string, shard, shards int, start time.Time) *loadgen.Stats {
	t.Helper()
	id, err := loadgen.ParseIdentity("line")
	if err != nil {
		t.Fatal(err)
	}
	cfg := loadgen.Config{Target: url, Rate: 200, Connections: 2, Requests: 40, KeepAlive: true, Timeout: 5 * time.Second,
		Identity: id, RequestIDHeader: "X-Request-Id", Shard: shard, Shards: shards, Start: start}
	eng, err := loadgen.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	st, err := eng.Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func server(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if strings.HasSuffix(id, "7") {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		fmt.Fprintf(w, "pod-%d >> 127.0.0.1 >> v1", len(id)%2)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/"
}

// stream is a real agent's stream: progress, then the final record.
func stream(t *testing.T, agentIdx int, st *loadgen.Stats) []byte {
	t.Helper()
	var buf bytes.Buffer
	p := Progress{V: Version, Kind: KindProgress, Agent: agentIdx, Sec: 0, Requests: 3, OK: 2, Failed: 1, Outcomes: map[string]int64{loadgen.HTTP5xx.String(): 1}}
	if _, err := Write(&buf, &p); err != nil {
		t.Fatal(err)
	}
	buf.WriteString("rolltest: a human message on the same log\n")
	f := NewFinal(agentIdx, "host-a", false, st)
	if _, err := Write(&buf, &f); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestFinalRoundTrip: a final record decodes into Stats that merge into
// exactly what the engine's own Stats merge into.
func TestFinalRoundTrip(t *testing.T) {
	st := runShard(t, server(t), 0, 1, time.Now().Add(100*time.Millisecond))
	var progress int
	f, err := ReadFinal(bytes.NewReader(stream(t, 3, st)), 3, func(*Progress) { progress++ })
	if err != nil {
		t.Fatal(err)
	}
	if progress != 1 || f.Host != "host-a" || f.Agent != 3 {
		t.Fatalf("progress %d, final %+v", progress, f)
	}
	var want, got loadgen.Stats
	if err := want.Merge(st); err != nil {
		t.Fatal(err)
	}
	if err := got.Merge(f.StatsOf()); err != nil {
		t.Fatal(err)
	}
	if want.Latency.TotalCount() != got.Latency.TotalCount() || want.Latency.Max() != got.Latency.Max() || want.Latency.ValueAtQuantile(50) != got.Latency.ValueAtQuantile(50) {
		t.Errorf("latency differs: %d/%d/%d vs %d/%d/%d", want.Latency.TotalCount(), want.Latency.Max(), want.Latency.ValueAtQuantile(50),
			got.Latency.TotalCount(), got.Latency.Max(), got.Latency.ValueAtQuantile(50))
	}
	want.Latency, got.Latency = nil, nil
	for i := range want.Phases {
		if want.Phases[i].Latency.TotalCount() != got.Phases[i].Latency.TotalCount() {
			t.Errorf("phase %d latency count differs", i)
		}
		want.Phases[i].Latency, got.Phases[i].Latency = nil, nil
	}
	want.Start, got.Start = want.Start.UTC(), got.Start.UTC()
	if !reflect.DeepEqual(want, got) {
		t.Errorf("decoded Stats differ:\nwant %+v\n got %+v", want, got)
	}
	if st.Failed() == 0 || len(st.Pods) < 3 {
		t.Fatalf("the server should have failed some requests on two pods: %d failed, %d pods", st.Failed(), len(st.Pods))
	}
}

// TestStreamErrors: every damaged stream is refused with the agent and the
// line named.
func TestStreamErrors(t *testing.T) {
	st := runShard(t, server(t), 0, 1, time.Now().Add(100*time.Millisecond))
	good := stream(t, 1, st)
	cut := bytes.LastIndexByte(good[:len(good)-1], '\n') + 1 // where the final record starts
	for name, tc := range map[string]struct {
		in   string
		want string
	}{
		"truncated final":  {string(good[:len(good)-10]), "agent 1 line 3: truncated record"},
		"no final":         {string(good[:cut]), "agent 1: stream ended without a final record after 2 lines"},
		"empty":            {"", "agent 1: stream ended without a final record after 0 lines"},
		"other version":    {`{"v":2,"kind":"progress","agent":1}` + "\n", "agent 1 line 1: record version 2"},
		"no version":       {`{"kind":"progress","agent":1}` + "\n", "agent 1 line 1: record without a version"},
		"other agent":      {`{"v":1,"kind":"progress","agent":0}` + "\n", "agent 1 line 1: record of another agent (agent 0)"},
		"unknown kind":     {`{"v":1,"kind":"x","agent":1}` + "\n", `agent 1 line 1: unknown record kind "x"`},
		"bad json":         {"{nope\n", "agent 1 line 1: not a record"},
		"bad outcome":      {`{"v":1,"kind":"progress","agent":1,"outcomes":{"nope":1}}` + "\n", `agent 1 line 1: progress record: outcome "nope"`},
		"after final":      {string(good) + `{"v":1,"kind":"progress","agent":1}` + "\n", "agent 1 line 4: record after the final record"},
		"no latency":       {strings.Replace(string(good[cut:]), `"latency":{`, `"x":{`, 1), "agent 1 line 1: final record: no latency histogram"},
		"bad pod ref":      {strings.Replace(string(good[cut:]), `"Pod":1,`, `"Pod":99,`, 1), "agent 1 line 1: final record: failure 0 names pod 99"},
		"oversized hist":   {strings.Replace(string(good[cut:]), `"sig":3`, `"sig":5`, 1), "agent 1 line 1: final record: latency histogram: 5 significant figures"},
		"negative counter": {strings.Replace(string(good[cut:]), `"BytesIn":`, `"BytesIn":-`, 1), "agent 1 line 1: final record: negative totals"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ReadFinal(strings.NewReader(tc.in), 1, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("a multi-line error: %q", err)
			}
		})
	}
	_, err := ReadFinal(bytes.NewReader(good[:cut]), 1, nil)
	if !errors.Is(err, ErrNoFinal) {
		t.Errorf("a stream without its final record: %v, want ErrNoFinal", err)
	}
	d := NewDecoder(bytes.NewReader(good), 1)
	d.maxLine = 200
	for {
		_, err := d.Next()
		if err == io.EOF {
			t.Fatal("a final record beyond the line bound was read")
		}
		if err != nil {
			if !strings.Contains(err.Error(), "agent 1 line 3: line longer than 200 bytes") {
				t.Fatal(err)
			}
			break
		}
	}
}

// TestPlanRoundTrip: every field of loadgen.Config that shapes the load
// survives the plan exactly; a field added to Config fails this test until
// the plan carries it or it is listed as in-process only.
func TestPlanRoundTrip(t *testing.T) {
	id, err := loadgen.ParseIdentity("header:X-Pod,X-Version")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 12, 2, 17, 0, 0, 123456789, time.UTC)
	inProcess := map[string]bool{"NewTransport": true, "Attempts": true}
	cfg := loadgen.Config{
		Target: "", Headers: []loadgen.Header{{Name: "A", Value: "b"}},
		Targets: []loadgen.Target{{Name: "n", URL: "http://127.0.0.1:1/x", Method: "POST", Headers: []loadgen.Header{{Name: "C", Value: "d"}}, Body: []byte{0, 1, 0xff}, Weight: 3},
			{URL: "http://127.0.0.1:1/y", Method: "GET"}},
		Rate: 1234.5678901234567, Connections: 7, MaxConnections: 70, Duration: 3*time.Second + 1, Requests: 1 << 40,
		Timeout: 2*time.Second + 3, KeepAlive: true, Retries: 2, Protocol: loadgen.ProtoH2C, Identity: id, ExpectBody: []byte("ok\x00"), RequestIDHeader: "X-Id",
		InsecureSkipVerify: true, MaxFailureRecords: -1, MaxBodyBytes: 99, UserAgent: "ua",
		Start: start, Shard: 2, Shards: 3,
	}
	// Target, Method, Body, Concurrency and a gRPC call exclude Targets
	// and Rate: a second configuration sets them.
	other := cfg
	other.Targets, other.Target, other.Method, other.Body = nil, "grpc://127.0.0.1:1", "POST", []byte("body")
	other.Protocol, other.GRPCMethod, other.Streams = loadgen.ProtoGRPC, "/pkg.Service/Method", 10
	other.Rate, other.Concurrency, other.Connections, other.MaxConnections = 0, 5, 5, 0
	set := map[string]bool{}
	var back Plan
	for _, cfg := range []loadgen.Config{cfg, other} {
		p := PlanOf(cfg, 2, 3, start)
		enc, err := p.Encode()
		if err != nil {
			t.Fatal(err)
		}
		back, err = DecodePlan(enc)
		if err != nil {
			t.Fatal(err)
		}
		got, err := back.Config()
		if err != nil {
			t.Fatal(err)
		}
		cv, gv := reflect.ValueOf(cfg), reflect.ValueOf(got)
		for i := range cv.NumField() {
			name := cv.Type().Field(i).Name
			if inProcess[name] {
				continue
			}
			a, b := cv.Field(i).Interface(), gv.Field(i).Interface()
			if name == "Identity" {
				a, b = cfg.Identity.String(), got.Identity.String()
			}
			if !reflect.DeepEqual(a, b) {
				t.Errorf("%s: %#v became %#v", name, a, b)
			}
			if !reflect.ValueOf(a).IsZero() {
				set[name] = true
			}
		}
	}
	for i := range reflect.TypeFor[loadgen.Config]().NumField() {
		if name := reflect.TypeFor[loadgen.Config]().Field(i).Name; !set[name] && !inProcess[name] {
			t.Errorf("%s is zero in both test configs: set it, so that its round trip is checked", name)
		}
	}
	for name, mut := range map[string]func(*Plan){
		"without a start":   func(p *Plan) { p.Start = time.Time{} },
		"without an end":    func(p *Plan) { p.Duration, p.Requests = 0, 0 },
		"version":           func(p *Plan) { p.V = 2 },
		"shard out of plan": func(p *Plan) { p.Shard = 3 },
	} {
		q := back
		mut(&q)
		if _, err := q.Config(); err == nil {
			t.Errorf("a plan %s was accepted", name)
		}
	}
}

// TestPlanPhasesChecked: a plan's phases must begin at 0, be named, in
// order and within its duration; its shard must be one of its shards.
func TestPlanPhasesChecked(t *testing.T) {
	base := Plan{V: Version, Target: "http://127.0.0.1:1/", Rate: 10, Duration: time.Minute, Start: time.Now(), Shards: 2}
	ph := func(name string, at time.Duration) Phase { return Phase{Name: name, At: at} }
	for _, tc := range []struct {
		name   string
		phases []Phase
		shard  int
		want   string
	}{
		{"good", []Phase{ph("baseline", 0), ph("rollout", 10*time.Second), ph("settle", 50*time.Second)}, 1, ""},
		{"late first", []Phase{ph("rollout", time.Second)}, 0, "it must begin at 0"},
		{"unnamed", []Phase{ph("", 0)}, 0, "without a name"},
		{"out of order", []Phase{ph("a", 0), ph("b", 20*time.Second), ph("c", 10*time.Second)}, 0, "is not after phase"},
		{"past the end", []Phase{ph("a", 0), ph("b", time.Minute)}, 0, "not within the plan's duration"},
		{"shard out of range", nil, 2, "shards are 0 to 1"},
	} {
		p := base
		p.Phases, p.Shard = tc.phases, tc.shard
		_, err := p.Config()
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestMergeInterrupted: an interrupted run of 3 agents of which one left
// no final record merges the other two and marks the third with why;
// Merge refuses the same records, as a complete run must have them all.
func TestMergeInterrupted(t *testing.T) {
	url := server(t)
	start := time.Now().Add(100 * time.Millisecond)
	stats := make([]*loadgen.Stats, 3)
	var wg sync.WaitGroup
	for _, i := range []int{0, 2} {
		wg.Go(func() { stats[i] = runShard(t, url, i, 3, start) })
	}
	wg.Wait()
	var finals []*Final
	for _, i := range []int{0, 2} {
		f, err := ReadFinal(bytes.NewReader(stream(t, i, stats[i])), i, nil)
		if err != nil {
			t.Fatal(err)
		}
		finals = append(finals, f)
	}
	st, agents, err := MergeInterrupted(3, finals, func(i int) string { return fmt.Sprintf("agent %d: its pod was evicted", i) })
	if err != nil {
		t.Fatal(err)
	}
	if len(agents) != 3 || agents[1].Error != "agent 1: its pod was evicted" || !agents[1].Interrupted || agents[1].Requests != 0 {
		t.Fatalf("agents %+v, want agent 1 marked missing", agents)
	}
	if agents[0].Error != "" || agents[2].Error != "" || st.Requests() != agents[0].Requests+agents[2].Requests || st.Requests() == 0 {
		t.Fatalf("agents %+v, %d requests merged", agents, st.Requests())
	}
	if _, _, err := Merge(finals); err == nil {
		t.Fatal("Merge of 2 records numbered 0 and 2: no error")
	}
}
