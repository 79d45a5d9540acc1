package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rolltest/rolltest/pkg/agent"
	"github.com/rolltest/rolltest/pkg/loadgen"
	"github.com/rolltest/rolltest/pkg/report"
)

// twoPodServer answers on loopback as two pods, chosen by the request id's
// parity, and fails every request whose id ends in 3 with a 503 that still
// names its pod: which pod answered and which request failed depend on the
// request alone, never on timing or connections, so one engine and any
// split of its schedule must count them alike.
func twoPodServer(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.Atoi(r.Header.Get("X-Request-Id"))
		if err != nil {
			http.Error(w, "no request id", http.StatusBadRequest)
			return
		}
		if id%10 == 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		fmt.Fprintf(w, "pod-%c >> 127.0.0.1 >> v1", "ab"[id%2])
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// agentLoad is the schedule both sides send: two targets (weights 2 and
// 1), 300 req/s, 900 requests (3 s).
func agentLoad(t *testing.T, base string, requests uint64) loadgen.Config {
	t.Helper()
	id, err := loadgen.ParseIdentity("line")
	if err != nil {
		t.Fatal(err)
	}
	return loadgen.Config{
		Targets: []loadgen.Target{{Name: "get", URL: base + "/a", Method: "GET", Weight: 2},
			{Name: "post", URL: base + "/b", Method: "POST", Body: []byte(`{"x":1}`), Headers: []loadgen.Header{{Name: "Content-Type", Value: "application/json"}}}},
		Rate: 300, Connections: 4, Requests: requests, Timeout: 5 * time.Second, KeepAlive: true,
		Identity: id, RequestIDHeader: "X-Request-Id", MaxFailureRecords: 10000, UserAgent: "rolltest-test",
	}
}

// startAgent starts `rolltest agent` for shard i of plan.
func startAgent(t *testing.T, ctx context.Context, bin string, p agent.Plan) (*exec.Cmd, *lockedBuffer, *lockedBuffer) {
	t.Helper()
	enc, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, bin, "agent", "--plan", enc)
	var stdout, stderr lockedBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, &stdout, &stderr
}

// lockedBuffer is a buffer a test reads while a process writes it (exec
// copies a non-file writer from a goroutine of its own).
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.b.Bytes())
}

func (l *lockedBuffer) Len() int { return len(l.Bytes()) }

func (l *lockedBuffer) String() string { return string(l.Bytes()) }

// TestAgentsMergeIntoOneEngine is the proof on loopback: three
// `rolltest agent` processes sending one plan's shards, decoded and merged,
// give the document one engine sending the whole schedule gives — the same
// totals, outcomes, pods, targets, failures by sequence number and requests
// per second; latencies, which depend on timing, by count.
func TestAgentsMergeIntoOneEngine(t *testing.T) {
	bin := buildRolltest(t, "agent-test")
	base := twoPodServer(t)
	const shards, requests = 3, 900
	cfg := agentLoad(t, base, requests)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	// The agents' start leaves them time to start up: Run refuses a start
	// already past.
	start := time.Now().Add(2 * time.Second)
	finals := make([]*agent.Final, shards)
	type proc struct {
		cmd            *exec.Cmd
		stdout, stderr *lockedBuffer
	}
	procs := make([]proc, shards)
	for i := range shards {
		cmd, out, errOut := startAgent(t, ctx, bin, agent.PlanOf(cfg, i, shards, start))
		procs[i] = proc{cmd, out, errOut}
	}
	var streamBytes int
	for i, p := range procs {
		if err := p.cmd.Wait(); err != nil {
			t.Fatalf("agent %d: %v\n%s", i, err, p.stderr)
		}
		streamBytes += p.stdout.Len()
		var progress int
		f, err := agent.ReadFinal(bytes.NewReader(p.stdout.Bytes()), i, func(*agent.Progress) { progress++ })
		if err != nil {
			t.Fatal(err)
		}
		if progress == 0 {
			t.Errorf("agent %d streamed no progress record", i)
		}
		finals[i] = f
	}
	merged, agents, err := agent.Merge(finals)
	if err != nil {
		t.Fatal(err)
	}

	one := cfg
	one.Start = time.Now().Add(300 * time.Millisecond)
	eng, err := loadgen.New(ctx, one)
	if err != nil {
		t.Fatal(err)
	}
	single, err := eng.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}

	build := func(st *loadgen.Stats, agents []report.Agent) *report.Result {
		return report.Build(report.Input{Stats: st, Config: report.Config{Mode: "rate", Rate: cfg.Rate}, Agents: agents})
	}
	got, want := build(merged, agents), build(single, nil)
	t.Logf("agents: %d requests, %d failed, %d pods, %d failure records, %d seconds; %d stream bytes",
		got.Totals.Requests, got.Totals.Failed, len(got.Pods), len(got.Failures.Records), len(got.Series), streamBytes)
	if want.Totals.Requests != requests || want.Totals.Failed != requests/10 || len(want.Pods) != 2 {
		t.Fatalf("the single engine sent %d requests, %d failed, %d pods: the server or the schedule is not what this test expects",
			want.Totals.Requests, want.Totals.Failed, len(want.Pods))
	}
	same := func(what string, a, b any) {
		t.Helper()
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: agents merged %v, one engine %v", what, a, b)
		}
	}
	same("requests", got.Totals.Requests, want.Totals.Requests)
	same("ok", got.Totals.OK, want.Totals.OK)
	same("failed", got.Totals.Failed, want.Totals.Failed)
	same("outcomes", got.Totals.Outcomes, want.Totals.Outcomes)
	same("status codes", got.Totals.StatusCodes, want.Totals.StatusCodes)
	type podCount struct {
		name              string
		requests, ok, bad int64
		outcomes          map[string]int64
	}
	pods := func(r *report.Result) (out []podCount) {
		for _, p := range r.Pods {
			out = append(out, podCount{p.Name + p.ID, p.Requests, p.OK, p.Failed, p.Outcomes})
		}
		return out
	}
	same("pods", pods(got), pods(want))
	type targetCount struct {
		name              string
		requests, ok, bad int64
	}
	targets := func(r *report.Result) (out []targetCount) {
		for _, tg := range r.Targets {
			out = append(out, targetCount{tg.Name, tg.Requests, tg.OK, tg.Failed})
		}
		return out
	}
	same("targets", targets(got), targets(want))
	type failure struct {
		seq                  uint64
		outcome, pod, target string
		status               int
		at                   float64
	}
	failures := func(r *report.Result) (out []failure) {
		for _, f := range r.Failures.Records {
			out = append(out, failure{f.Seq, f.Outcome, f.Pod, f.Target, f.Status, f.AtS})
		}
		return out
	}
	same("failures", failures(got), failures(want))
	same("failures total", got.Failures.Total, want.Failures.Total)
	type second struct {
		t                 int
		requests, ok, bad int64
		byPod             map[string]int64
	}
	series := func(r *report.Result) (out []second) {
		for _, s := range r.Series {
			out = append(out, second{s.T, s.Requests, s.OK, s.Failed, s.ByPod})
		}
		return out
	}
	same("series", series(got), series(want))
	same("latency count", merged.Latency.TotalCount(), single.Latency.TotalCount())
	for i := range merged.Targets {
		same("target latency count", merged.Targets[i].Latency.TotalCount(), single.Targets[i].Latency.TotalCount())
	}

	if got.Config.Agents != shards || len(got.Agents) != shards || want.Config.Agents != 1 || want.Agents != nil || got.Config.LoadFrom != "local" {
		t.Errorf("config.agents %d, agents[] %+v; one engine: %d, %+v", got.Config.Agents, got.Agents, want.Config.Agents, want.Agents)
	}
	var sum int64
	for i, a := range got.Agents {
		sum += a.Requests
		if a.Index != i || a.Requests != requests/shards || a.Host == "" {
			t.Errorf("agent %d: %+v, want index %d, %d requests, its host", i, a, i, requests/shards)
		}
	}
	if sum != got.Totals.Requests {
		t.Errorf("agents sent %d requests between them, the total is %d", sum, got.Totals.Requests)
	}
	var text bytes.Buffer
	if err := report.WriteText(&text, got, report.TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "Agents (load sent from local by 3 agents)") {
		t.Errorf("the text report has no agents table:\n%s", text.String())
	}
}

// TestAgentSIGTERMWritesFinal: an agent stopped by SIGTERM mid-run still
// writes a final record that decodes, marked interrupted, holding what it
// sent; and its stream cut short is refused naming the agent.
func TestAgentSIGTERMWritesFinal(t *testing.T) {
	bin := buildRolltest(t, "agent-test")
	base := twoPodServer(t)
	cfg := agentLoad(t, base, 30000) // 100 s at 300 req/s: it must be stopped
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd, stdout, stderr := startAgent(t, ctx, bin, agent.PlanOf(cfg, 1, 2, time.Now().Add(time.Second)))
	// Signal once it has sent for a while: its first progress records
	// with requests show it has.
	deadline := time.Now().Add(30 * time.Second)
	sent := regexp.MustCompile(`"requests":[1-9]`)
	for !sent.MatchString(stdout.String()) {
		if time.Now().After(deadline) {
			t.Fatalf("no progress with requests within 30 s:\n%s\n%s", stdout, stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != report.ExitInterrupted {
		t.Fatalf("agent exit %v, want %d\n%s", err, report.ExitInterrupted, stderr)
	}
	f, err := agent.ReadFinal(bytes.NewReader(stdout.Bytes()), 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	st := f.StatsOf()
	if !f.Interrupted || st.Requests() == 0 || st.Requests() >= 15000 {
		t.Fatalf("final record: interrupted %v, %d requests; want interrupted with some of the 15000", f.Interrupted, st.Requests())
	}
	for _, fr := range st.Failures {
		if fr.Seq%2 != 1 {
			t.Fatalf("agent 1 of 2 recorded request %d, not of its shard", fr.Seq)
		}
	}
	out := stdout.Bytes()
	cut := out[:len(out)-100]
	if _, err := agent.ReadFinal(bytes.NewReader(cut), 1, nil); err == nil || !strings.HasPrefix(err.Error(), "agent 1 line ") || !strings.Contains(err.Error(), "truncated record") {
		t.Errorf("a cut stream: %v, want a truncated record named by agent and line", err)
	}
}

func TestFixedPhases(t *testing.T) {
	for _, tc := range []struct {
		after, settle time.Duration
		want          string
	}{
		{10 * time.Second, 10 * time.Second, "baseline@0s rollout@10s settle@50s"},
		{0, 10 * time.Second, "rollout@0s settle@50s"},
		{10 * time.Second, 0, "baseline@0s rollout@10s"},
	} {
		var got []string
		for _, p := range fixedPhases(time.Minute, tc.after, tc.settle) {
			got = append(got, fmt.Sprintf("%s@%v", p.Name, p.At))
		}
		if s := strings.Join(got, " "); s != tc.want {
			t.Errorf("after %v settle %v: %s, want %s", tc.after, tc.settle, s, tc.want)
		}
		plan := agent.Plan{V: agent.Version, Target: "http://x/", Rate: 1, Duration: time.Minute, Start: time.Now(), Shards: 1, Phases: fixedPhases(time.Minute, tc.after, tc.settle)}
		if _, err := plan.Config(); err != nil {
			t.Errorf("after %v settle %v: the plan is refused: %v", tc.after, tc.settle, err)
		}
	}
}
