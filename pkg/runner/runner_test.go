package runner

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rolltest/rolltest/internal/faultserver"
	"github.com/rolltest/rolltest/pkg/loadgen"
	"github.com/rolltest/rolltest/pkg/rollout"
)

// scriptedDriver rolls nothing: it emits a fixed timeline and returns a
// fixed status after a delay, or blocks until its context ends.
type scriptedDriver struct {
	sink     func(rollout.Event)
	rollTime time.Duration
	status   rollout.Status
	err      error
	block    bool
	rolls    int
}

func (d *scriptedDriver) Describe() string { return "scripted" }

func (d *scriptedDriver) Action() rollout.ActionKind { return rollout.ActionRestart }

// Workload names the Service only once observed, as the Kubernetes driver
// does when it finds the Service by its selector.
func (d *scriptedDriver) Workload() rollout.Workload {
	w := rollout.Workload{Kind: rollout.KindStatefulSet, Namespace: "shop", Name: "db"}
	if d.sink != nil {
		w.Service = "db-svc"
	}
	return w
}

func (d *scriptedDriver) Observe(_ context.Context, sink func(rollout.Event)) error {
	d.sink = sink
	return nil
}

func (d *scriptedDriver) Roll(ctx context.Context) (rollout.Status, error) {
	d.rolls++
	d.sink(rollout.Event{Time: time.Now(), Kind: rollout.EventTrigger})
	if d.block {
		<-ctx.Done()
		return rollout.Status{}, nil
	}
	select {
	case <-time.After(d.rollTime):
	case <-ctx.Done():
		return rollout.Status{}, ctx.Err()
	}
	d.sink(rollout.Event{Time: time.Now(), Kind: rollout.EventOldPodsGone})
	return d.status, d.err
}

func newEngine(t *testing.T) *loadgen.Engine {
	t.Helper()
	srv, err := faultserver.Start(nil, "pod-a")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	e, err := loadgen.New(context.Background(), loadgen.Config{Target: srv.URL("/"), Rate: 200, Connections: 4, KeepAlive: true})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestRolloutPhases(t *testing.T) {
	d := &scriptedDriver{rollTime: 400 * time.Millisecond, status: rollout.Status{Done: true}}
	var phases []string
	out, err := Run(context.Background(), Plan{
		Engine: newEngine(t), Driver: d, RolloutAfter: 300 * time.Millisecond, Settle: 300 * time.Millisecond,
		RolloutTimeout: 10 * time.Second, OnPhase: func(p string) { phases = append(phases, p) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(out.Stats.Phases); got != 3 || out.Stats.Phases[0].Name != "baseline" || out.Stats.Phases[1].Name != "rollout" || out.Stats.Phases[2].Name != "settle" {
		t.Fatalf("phases = %+v", out.Stats.Phases)
	}
	if len(phases) != 3 || phases[2] != "settle" {
		t.Fatalf("OnPhase saw %v", phases)
	}
	for _, p := range out.Stats.Phases {
		if p.Requests() == 0 {
			t.Errorf("phase %s sent nothing", p.Name)
		}
	}
	if !out.Rollout.Status.Done || out.Interrupted || len(out.Rollout.Events) != 2 {
		t.Fatalf("rollout %+v interrupted %v", out.Rollout, out.Interrupted)
	}
	if out.Stats.Failed() != 0 {
		t.Fatalf("%d failures against a healthy server", out.Stats.Failed())
	}
	want := rollout.Workload{Kind: rollout.KindStatefulSet, Namespace: "shop", Name: "db", Service: "db-svc"}
	if out.Rollout.Workload != want || out.Rollout.Action != rollout.ActionRestart || out.Rollout.Driver != "scripted" {
		t.Errorf("rollout input %+v: want the driver's workload as observed %+v", out.Rollout, want)
	}
}

func TestRolloutTimeout(t *testing.T) {
	d := &scriptedDriver{block: true}
	out, err := Run(context.Background(), Plan{
		Engine: newEngine(t), Driver: d, RolloutTimeout: 300 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !out.Rollout.Status.Failed || out.Rollout.Status.Reason == "" {
		t.Fatalf("status %+v: a rollout that outlives its timeout must fail with a reason", out.Rollout.Status)
	}
}

func TestRolloutError(t *testing.T) {
	d := &scriptedDriver{rollTime: time.Millisecond, err: errors.New("patch deployment x: forbidden")}
	out, err := Run(context.Background(), Plan{Engine: newEngine(t), Driver: d, RolloutTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if !out.Rollout.Status.Failed || out.Rollout.Status.Reason != "patch deployment x: forbidden" {
		t.Fatalf("status %+v", out.Rollout.Status)
	}
}

func TestInterruptDuringRollout(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(500*time.Millisecond, cancel)
	d := &scriptedDriver{block: true}
	out, err := Run(ctx, Plan{Engine: newEngine(t), Driver: d, RolloutAfter: 100 * time.Millisecond, RolloutTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if !out.Interrupted || out.Stats.Requests() == 0 {
		t.Fatalf("interrupted %v requests %d", out.Interrupted, out.Stats.Requests())
	}
}

func TestLoadOnly(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	out, err := Run(ctx, Plan{Engine: newEngine(t)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Stats.Phases) != 1 || out.Stats.Phases[0].Name != "load" || out.Rollout != nil {
		t.Fatalf("phases %+v rollout %+v", out.Stats.Phases, out.Rollout)
	}
}

// scheduledLoad is a ScheduledLoad that sends nothing: it waits for its
// end (or ctx) and says when the rollout began, relative to its start.
type scheduledLoad struct {
	start    time.Time
	d        time.Duration
	marked   []string
	fail     error // returned at once, as agents that never started
	stoppedE bool  // its ctx ended before its end
}

func (l *scheduledLoad) MarkPhase(name string)                { l.marked = append(l.marked, name) }
func (l *scheduledLoad) Progress() loadgen.Progress           { return loadgen.Progress{} }
func (l *scheduledLoad) Schedule() (time.Time, time.Duration) { return l.start, l.d }
func (l *scheduledLoad) Run(ctx context.Context) (*loadgen.Stats, error) {
	if l.fail != nil {
		return nil, l.fail
	}
	select {
	case <-time.After(time.Until(l.start.Add(l.d))):
	case <-ctx.Done():
		l.stoppedE = true
	}
	return &loadgen.Stats{Start: l.start}, nil
}

// TestScheduledLoad: the rollout of a load with a fixed schedule begins at
// its start plus the baseline, not when Run was called; the load is not
// stopped after the rollout but ends on its own; a rollout still going
// when the settle is due fails naming the phases; a load that fails before
// the rollout leaves no rollout triggered.
func TestScheduledLoad(t *testing.T) {
	t.Run("timing", func(t *testing.T) {
		var triggered time.Time
		d := &scriptedDriver{rollTime: 50 * time.Millisecond, status: rollout.Status{Done: true}}
		l := &scheduledLoad{start: time.Now().Add(300 * time.Millisecond), d: 900 * time.Millisecond}
		out, err := Run(context.Background(), Plan{Engine: l, Driver: d, RolloutAfter: 200 * time.Millisecond, Settle: 200 * time.Millisecond,
			RolloutTimeout: time.Minute, OnPhase: func(p string) {
				if p == "rollout" {
					triggered = time.Now()
				}
			}})
		if err != nil {
			t.Fatal(err)
		}
		if at := triggered.Sub(l.start); at < 200*time.Millisecond {
			t.Errorf("rollout began %v after the load's start, want at least the 200ms baseline", at)
		}
		if l.stoppedE || !out.Rollout.Status.Done || out.Interrupted {
			t.Errorf("load stopped early %t, rollout %+v, interrupted %t", l.stoppedE, out.Rollout.Status, out.Interrupted)
		}
	})
	t.Run("rollout outlives its phase", func(t *testing.T) {
		d := &scriptedDriver{block: true}
		l := &scheduledLoad{start: time.Now().Add(100 * time.Millisecond), d: 600 * time.Millisecond}
		out, err := Run(context.Background(), Plan{Engine: l, Driver: d, RolloutAfter: 100 * time.Millisecond, Settle: 200 * time.Millisecond, RolloutTimeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		want := "the rollout did not finish within the load's rollout phase (--duration 600ms less --rollout-after 100ms and --settle 200ms)"
		if !out.Rollout.Status.Failed || out.Rollout.Status.Reason != want {
			t.Errorf("status %+v, want failed: %s", out.Rollout.Status, want)
		}
	})
	t.Run("load fails first", func(t *testing.T) {
		d := &scriptedDriver{rollTime: time.Millisecond, status: rollout.Status{Done: true}}
		l := &scheduledLoad{start: time.Now().Add(time.Hour), d: time.Hour, fail: errors.New("agents did not start")}
		_, err := Run(context.Background(), Plan{Engine: l, Driver: d, RolloutAfter: time.Second, RolloutTimeout: time.Minute})
		if err == nil || err.Error() != "agents did not start" {
			t.Fatalf("err %v", err)
		}
		if d.sink == nil || d.rolls != 0 {
			t.Fatalf("observed %t, rolled %d times: want observed and never rolled", d.sink != nil, d.rolls)
		}
	})
}
