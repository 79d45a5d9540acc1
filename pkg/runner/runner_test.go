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
