package main

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/rolltest/rolltest/internal/redact"
	"github.com/rolltest/rolltest/pkg/agent"
	"github.com/rolltest/rolltest/pkg/agent/kubejob"
	"github.com/rolltest/rolltest/pkg/loadgen"
	"github.com/rolltest/rolltest/pkg/report"
	"github.com/rolltest/rolltest/pkg/rollout"
	"github.com/rolltest/rolltest/pkg/runner"
)

// runAgents is run with --agents: the load goes out from agent pods of
// one Job, this process drives the rollout and merges what they measured.
// The target is as the pods reach it, so this process neither resolves
// nor calls it: the agents do.
func (j *job) runAgents(ctx context.Context, af *agentsFlags, rf *rolloutFlags) error {
	if err := j.load.Validate(); err != nil {
		return &usageError{msg: fmt.Sprintf("%s: %v", targetFlag(j.load), err)}
	}
	restCfg, ns, err := kubeCluster(rf)
	if err != nil {
		return err
	}
	if af.namespace != "" {
		ns = af.namespace
	}
	var drv rollout.Driver
	if j.rollout != nil {
		if drv, err = kubeDriver(j.rollout); err != nil {
			return err
		}
	}
	// The start is fixed now, before the rollout's informers sync and the
	// Job is created: --agents-startup covers both.
	start := time.Now().Add(af.startup)
	plan := agent.PlanOf(j.load, 0, af.n, start)
	if j.rollout != nil {
		plan.Phases = fixedPhases(j.load.Duration, rf.after, rf.settle)
	}
	// Count the agents' API requests: their cost to the API server, said
	// at the end (docs/distributed.md sizes runs from it).
	var apiRequests atomic.Int64
	restCfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			apiRequests.Add(1)
			return rt.RoundTrip(r)
		})
	})
	eff := j.load.WithDefaults()
	load := &agentsLoad{latest: make([]agent.Progress, af.n)}
	load.cfg = kubejob.Config{
		REST: restCfg, Namespace: ns, Agents: af.n, Image: af.imageFor(versionString()), PullPolicy: corev1.PullPolicy(af.pullPolicy),
		Plan: plan, Grace: time.Duration(eff.Retries+1)*eff.Timeout + 5*time.Second, OnProgress: load.progress,
	}
	if !j.out.quiet {
		load.cfg.Logf = func(format string, args ...any) {
			fmt.Fprintf(j.stderr, "rolltest: agents: "+format+"\n", args...)
		}
	}
	rp := runner.Plan{Engine: load, Driver: drv}
	if j.rollout != nil {
		rp.RolloutAfter, rp.Settle, rp.RolloutTimeout = rf.after, rf.settle, rf.timeout
	}
	prog := startProgress(j.stderr, load, j.out.quiet || j.out.noProgress, j.load.Duration)
	rp.OnPhase = prog.phase
	outcome, err := runner.Run(ctx, rp)
	prog.stop()
	if err != nil {
		if ctx.Err() != nil && load.result == nil {
			if !j.out.quiet {
				fmt.Fprintln(j.stderr, "rolltest: interrupted before the agents started; their Job was deleted and nothing was sent")
			}
			return exitCode(report.ExitInterrupted)
		}
		return setupError(err, j.rollout)
	}
	failed := load.result.Failed
	if !j.out.quiet {
		fmt.Fprintf(j.stderr, "rolltest: agents: %d final records, %d bytes of log read, merged in %v, %d API requests\n",
			len(load.result.Finals), load.result.LogBytes, load.mergeTime.Round(time.Microsecond), apiRequests.Load())
	}
	if load.result.Stopped != "" {
		outcome.Interrupted, outcome.StopReason = true, load.result.Stopped
	}
	res := report.Build(report.Input{
		Redactor:    runRedactor(j.load),
		Tool:        report.Tool{Name: "rolltest", Version: versionString()},
		Config:      j.reportConfig(eff),
		Stats:       outcome.Stats,
		EndedAt:     outcome.EndedAt,
		Interrupted: outcome.Interrupted,
		StopReason:  outcome.StopReason,
		Rollout:     outcome.Rollout,
		Agents:      load.agents,
		LoadFrom:    "in-cluster",
	})
	report.Diagnose(res)
	report.Judge(res)
	if err := writeReports(res, j.out, j.stdout); err != nil {
		return err
	}
	if failed {
		return &rolloutError{err: fmt.Errorf("--agents: %s; partial report written (%s requests)", load.result.Stopped, strconv.FormatInt(res.Totals.Requests, 10))}
	}
	if outcome.Interrupted && !j.out.quiet {
		fmt.Fprintf(j.stderr, "rolltest: interrupted; partial report written (%s requests)\n", strconv.FormatInt(res.Totals.Requests, 10))
	}
	return exitCode(res.Verdict.ExitCode)
}

// fixedPhases are a rollout run's phases when nobody can tell the agents
// when the rollout begins: baseline until --rollout-after, rollout until
// the last --settle of --duration, settle to the end. A phase of no
// length is left out.
func fixedPhases(d, after, settle time.Duration) []agent.Phase {
	var ps []agent.Phase
	if after > 0 {
		ps = append(ps, agent.Phase{Name: "baseline"})
	}
	ps = append(ps, agent.Phase{Name: "rollout", At: after})
	if settle > 0 {
		ps = append(ps, agent.Phase{Name: "settle", At: d - settle})
	}
	return ps
}

// agentsLoad is the runner's Load for agents in pods: it runs their Job
// and merges their final records into one Stats.
type agentsLoad struct {
	cfg    kubejob.Config
	mu     sync.Mutex
	latest []agent.Progress // by agent: its latest progress record
	result *kubejob.Result  // set by Run
	agents []report.Agent   // set by Run
	// mergeTime is how long the merge took, set by Run.
	mergeTime time.Duration
}

// roundTripFunc is an http.RoundTripper of a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// MarkPhase does nothing: the agents' phases are fixed in their plan.
func (l *agentsLoad) MarkPhase(string) {}

// Schedule implements runner.ScheduledLoad.
func (l *agentsLoad) Schedule() (time.Time, time.Duration) {
	return l.cfg.Plan.Start, l.cfg.Plan.Duration
}

func (l *agentsLoad) progress(p *agent.Progress) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p.Agent >= 0 && p.Agent < len(l.latest) && p.Sec >= l.latest[p.Agent].Sec {
		l.latest[p.Agent] = *p
	}
}

// Progress sums the agents' latest records: about a second behind.
func (l *agentsLoad) Progress() loadgen.Progress {
	l.mu.Lock()
	defer l.mu.Unlock()
	var p loadgen.Progress
	for _, a := range l.latest {
		p.Requests += a.Requests
		p.Failed += a.Failed
	}
	p.Elapsed = max(time.Since(l.cfg.Plan.Start), 0)
	return p
}

// Run runs the agents' Job and merges what they sent.
func (l *agentsLoad) Run(ctx context.Context) (*loadgen.Stats, error) {
	res, err := kubejob.Run(ctx, l.cfg)
	if err != nil {
		return nil, err
	}
	var (
		st     *loadgen.Stats
		agents []report.Agent
	)
	began := time.Now()
	defer func() { l.mergeTime = time.Since(began) }()
	if res.Stopped == "" {
		st, agents, err = agent.Merge(res.Finals)
	} else {
		st, agents, err = agent.MergeInterrupted(l.cfg.Agents, res.Finals, func(i int) string { return redact.Text(res.Missing[i]) })
	}
	if err != nil {
		return nil, fmt.Errorf("--agents: merge the agents' results: %w", err)
	}
	if st.Start.IsZero() {
		st.Start = l.cfg.Plan.Start
	}
	for i := range agents {
		if i < len(res.Pods) {
			agents[i].Node = res.Pods[i].Node
			if agents[i].Host == "" {
				agents[i].Host = res.Pods[i].Name
			}
		}
	}
	l.result, l.agents = res, agents
	return st, nil
}
