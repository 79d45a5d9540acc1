// Package runner sequences one rolltest run: load alone (baseline), the
// rollout under load, load alone again (settle), then stop, drain and hand
// everything measured, with what the driver says it rolled, to the report.
// It knows drivers only through rollout.Driver, never a cluster's API.
package runner

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rolltest/rolltest/internal/ctxtime"
	"github.com/rolltest/rolltest/pkg/loadgen"
	"github.com/rolltest/rolltest/pkg/report"
	"github.com/rolltest/rolltest/pkg/rollout"
)

// Load sends a run's requests: one loadgen.Engine in this process, or
// agents elsewhere whose results merge into one Stats.
type Load interface {
	// MarkPhase starts a new phase of the run now.
	MarkPhase(name string)
	// Run sends the whole load and returns what it measured; cancelling
	// ctx stops it early with what was measured so far.
	Run(ctx context.Context) (*loadgen.Stats, error)
	// Progress is a live view while Run runs.
	Progress() loadgen.Progress
}

// ScheduledLoad is a Load whose timing is fixed before it runs: it starts
// at Start and ends Duration later on its own, and its phases are fixed in
// its plan (agents in pods, which nobody can tell that the rollout began).
// The runner then triggers the rollout at Start + RolloutAfter and bounds
// it by the load's end less Settle, instead of stopping the load after it.
type ScheduledLoad interface {
	Load
	Schedule() (start time.Time, duration time.Duration)
}

// Plan is one run.
type Plan struct {
	// Engine sends the load; it must not have been run.
	Engine Load
	// Driver rolls the workload and says which (its Workload, once
	// observed); nil runs load only, as one phase "load".
	Driver rollout.Driver
	// RolloutAfter is the baseline: load alone before the rollout starts.
	RolloutAfter time.Duration
	// Settle is load alone after the last old pod is gone.
	Settle time.Duration
	// RolloutTimeout bounds the rollout phase.
	RolloutTimeout time.Duration
	// OnPhase, when set, is called as each phase begins.
	OnPhase func(name string)
}

// Outcome is what a run produced.
type Outcome struct {
	Stats       *loadgen.Stats
	Rollout     *report.RolloutInput
	Interrupted bool
	StopReason  string
	EndedAt     time.Time
}

// Run carries out the plan. Cancelling ctx interrupts the run: sending
// stops, requests in flight finish, and Run still returns everything
// measured so far with Interrupted set, so the partial report can be
// written. The error is set only when nothing could be measured.
func Run(ctx context.Context, p Plan) (*Outcome, error) {
	if p.Driver == nil {
		return runLoadOnly(ctx, p)
	}
	return runRollout(ctx, p)
}

func runLoadOnly(ctx context.Context, p Plan) (*Outcome, error) {
	p.Engine.MarkPhase("load")
	notify(p, "load")
	st, err := p.Engine.Run(ctx)
	if err != nil {
		return nil, err
	}
	out := &Outcome{Stats: st, EndedAt: time.Now(), StopReason: "completed"}
	if ctx.Err() != nil {
		out.Interrupted, out.StopReason = true, stopReason(ctx)
	}
	return out, nil
}

func runRollout(ctx context.Context, p Plan) (*Outcome, error) {
	var (
		mu     sync.Mutex
		events []rollout.Event
	)
	sink := func(e rollout.Event) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}
	obsCtx, stopObserving := context.WithCancel(context.WithoutCancel(ctx))
	defer stopObserving()
	if err := p.Driver.Observe(obsCtx, sink); err != nil {
		return nil, fmt.Errorf("observe %s: %w", p.Driver.Describe(), err)
	}
	// Once observed, the workload names the Service the driver found.
	workload := p.Driver.Workload()

	// The load runs on its own context so that it stops only when the plan
	// says so (or on interruption), whatever the rollout does.
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	p.Engine.MarkPhase("baseline")
	notify(p, "baseline")
	loadDone := make(chan result, 1)
	go func() {
		st, err := p.Engine.Run(loadCtx)
		loadDone <- result{st, err}
	}()

	// A scheduled load's clock is its own: the rollout comes at its start
	// plus the baseline, and must be over before its settle begins.
	after, timeout, timeoutSays := p.RolloutAfter, p.RolloutTimeout, fmt.Sprintf("the rollout timeout of %v", p.RolloutTimeout)
	sl, scheduled := p.Engine.(ScheduledLoad)
	if scheduled {
		start, d := sl.Schedule()
		after = time.Until(start.Add(p.RolloutAfter))
		if left := time.Until(start.Add(d - p.Settle)); left < timeout {
			timeout, timeoutSays = left, fmt.Sprintf("the load's rollout phase (--duration %v less --rollout-after %v and --settle %v)", d, p.RolloutAfter, p.Settle)
		}
	}
	status := rollout.Status{}
	var rollErr error
	ended, begin := waitForRollout(ctx, after, loadDone)
	if begin {
		p.Engine.MarkPhase("rollout")
		notify(p, "rollout")
		rollCtx, cancel := context.WithTimeout(ctx, timeout)
		status, rollErr = p.Driver.Roll(rollCtx)
		timedOut := errors.Is(rollCtx.Err(), context.DeadlineExceeded)
		cancel()
		switch {
		case rollErr != nil && !status.Failed:
			status.Failed = true
			status.Reason = rollErr.Error()
		case !status.Done && !status.Failed && timedOut:
			status.Failed = true
			status.Reason = fmt.Sprintf("the rollout did not finish within %s", timeoutSays)
		}
		switch {
		case scheduled: // its settle is in its plan
			notify(p, "settle")
		case ctx.Err() == nil:
			p.Engine.MarkPhase("settle")
			notify(p, "settle")
			ctxtime.Sleep(ctx, p.Settle)
		}
	}
	if ended == nil {
		if !scheduled {
			stopLoad()
		}
		r := <-loadDone
		ended = &r
	}
	res := *ended
	if res.err != nil {
		return nil, res.err
	}
	// Let the observer catch events of the last moments (e.g. the final
	// deletion) before the timeline is closed.
	stopObserving()
	mu.Lock()
	evs := append([]rollout.Event(nil), events...)
	mu.Unlock()

	out := &Outcome{
		Stats:      res.st,
		EndedAt:    time.Now(),
		StopReason: "completed",
		Rollout: &report.RolloutInput{
			Driver: p.Driver.Describe(), Action: p.Driver.Action(), Workload: workload, Status: status, Events: evs,
		},
	}
	if ctx.Err() != nil {
		out.Interrupted, out.StopReason = true, stopReason(ctx)
	}
	return out, nil
}

type result struct {
	st  *loadgen.Stats
	err error
}

// waitForRollout waits d and reports whether the rollout should begin:
// not when ctx ended, nor when the load ended first, whose result it then
// returns (a load whose agents failed must not leave the rollout to run
// unobserved).
func waitForRollout(ctx context.Context, d time.Duration, loadDone <-chan result) (ended *result, begin bool) {
	t := time.NewTimer(max(d, 0))
	defer t.Stop()
	select {
	case <-t.C:
		return nil, ctx.Err() == nil
	case <-ctx.Done():
		return nil, false
	case r := <-loadDone:
		return &r, false
	}
}

func notify(p Plan, phase string) {
	if p.OnPhase != nil {
		p.OnPhase(phase)
	}
}

func stopReason(ctx context.Context) string {
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause.Error()
	}
	return "interrupted"
}
