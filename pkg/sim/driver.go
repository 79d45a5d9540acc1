package sim

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rolltest/rolltest/pkg/rollout"
)

// Driver returns the rollout.Driver that rolls this cluster, for the same
// orchestrator that drives a real Deployment.
func (c *Cluster) Driver() rollout.Driver { return driver{c} }

type driver struct{ c *Cluster }

// Describe names the rollout the way the Kubernetes driver would, marked as
// simulated.
func (d driver) Describe() string {
	c := d.c
	what := "rollout restart of"
	if c.cfg.RolloutKind == RolloutImage {
		what = fmt.Sprintf("set image %s→%s on", c.cfg.FromVersion, c.cfg.ToVersion)
	}
	return fmt.Sprintf("%s simulated deployment %s (%d replicas, maxSurge %d, maxUnavailable %d) behind %s",
		what, c.cfg.Name, c.cfg.Replicas, c.surge, c.unavailable, c.Addr())
}

// Action implements rollout.Driver: the simulator's rollouts are reported as
// simulated, whichever of restart and image they are.
func (d driver) Action() rollout.ActionKind { return rollout.ActionSimulated }

// Workload implements rollout.Driver: the simulated Deployment. Its Service
// is the local proxy, which has no name.
func (d driver) Workload() rollout.Workload {
	return rollout.Workload{Kind: rollout.KindDeployment, Name: d.c.cfg.Name}
}

// Observe passes to sink every event from now on, until ctx is done or
// the cluster closes. Events of the start (the initial pods) are not
// replayed.
func (d driver) Observe(ctx context.Context, sink func(rollout.Event)) error {
	if sink == nil {
		return errors.New("sim: observe: nil sink")
	}
	c := d.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return errors.New("sim: observe: cluster closed")
	}
	// Under c.mu, so the first event delivered is the first emitted after
	// this call.
	c.events.subscribe(ctx, sink)
	return nil
}

// Roll triggers a rollout of RolloutKind and blocks until it is complete
// and the last old pod is deleted, the progress deadline passes, or ctx is
// done. Every event up to its return has been passed to the observers. One
// rollout at a time; an image rollout goes to ToVersion once.
func (d driver) Roll(ctx context.Context) (rollout.Status, error) {
	c := d.c
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return rollout.Status{}, errors.New("sim: roll: cluster closed")
	}
	if c.roll != nil && !c.roll.status.Done {
		c.mu.Unlock()
		return rollout.Status{}, errors.New("sim: roll: a rollout is already in progress")
	}
	cur := c.currentLocked()
	version := cur.appVersion
	trigger := fmt.Sprintf("kubectl rollout restart deployment/%s (simulated)", c.cfg.Name)
	if c.cfg.RolloutKind == RolloutImage {
		if cur.appVersion == c.cfg.ToVersion {
			c.mu.Unlock()
			return rollout.Status{}, fmt.Errorf("sim: roll: already at %s; an image rollout changes nothing", c.cfg.ToVersion)
		}
		version = c.cfg.ToVersion
		trigger = fmt.Sprintf("kubectl set image deployment/%s %s=%s:%s (simulated)", c.cfg.Name, c.cfg.Name, c.cfg.Name, version)
	}
	r := &rollState{done: make(chan struct{})}
	r.status.Triggered = time.Now()
	c.roll = r
	c.emitLocked(rollout.Event{Kind: rollout.EventTrigger, Message: trigger})
	c.newReplicaSetLocked(version)
	c.reconcileLocked()
	c.mu.Unlock()

	deadline := time.NewTimer(time.Until(r.status.Triggered.Add(c.cfg.ProgressDeadline)))
	defer deadline.Stop()
	select {
	case <-r.done:
	case <-deadline.C:
		c.mu.Lock()
		if !r.status.Done {
			r.status.Failed = true
			r.status.Reason = fmt.Sprintf("not done within the %v progress deadline", c.cfg.ProgressDeadline)
			c.emitLocked(rollout.Event{Kind: rollout.EventRolloutFailed, Message: r.status.Reason})
		}
		c.mu.Unlock()
	case <-ctx.Done():
		return c.rollStatus(r), fmt.Errorf("sim: roll: %w", ctx.Err())
	case <-c.ctx.Done():
		return c.rollStatus(r), errors.New("sim: roll: cluster closed during the rollout")
	}
	if err := c.events.flush(ctx, c.ctx.Done()); err != nil {
		return c.rollStatus(r), fmt.Errorf("sim: roll: delivering events: %w", err)
	}
	return c.rollStatus(r), nil
}

func (c *Cluster) rollStatus(r *rollState) rollout.Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return r.status
}

// dispatcher delivers events to the observers in order, from one goroutine,
// so that a slow sink never holds up the simulation.
type dispatcher struct {
	mu    sync.Mutex
	queue []queued
	subs  []*subscriber
	seq   uint64
	wake  chan struct{}
}

type queued struct {
	seq     uint64
	ev      rollout.Event
	flushed chan struct{} // a flush marker instead of an event
}

type subscriber struct {
	ctx  context.Context
	sink func(rollout.Event)
	from uint64 // first event sequence number it gets
}

func newDispatcher() *dispatcher { return &dispatcher{wake: make(chan struct{}, 1)} }

func (d *dispatcher) publish(ev rollout.Event) {
	d.mu.Lock()
	d.seq++
	d.queue = append(d.queue, queued{seq: d.seq, ev: ev})
	d.mu.Unlock()
	d.notify()
}

func (d *dispatcher) subscribe(ctx context.Context, sink func(rollout.Event)) {
	d.mu.Lock()
	d.subs = append(d.subs, &subscriber{ctx: ctx, sink: sink, from: d.seq + 1})
	d.mu.Unlock()
}

// flush returns once every event published before it was delivered.
func (d *dispatcher) flush(ctx context.Context, closed <-chan struct{}) error {
	ch := make(chan struct{})
	d.mu.Lock()
	d.queue = append(d.queue, queued{flushed: ch})
	d.mu.Unlock()
	d.notify()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-closed:
		return errors.New("cluster closed")
	}
}

func (d *dispatcher) notify() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *dispatcher) run(ctx context.Context) {
	for {
		d.mu.Lock()
		if len(d.queue) == 0 {
			d.mu.Unlock()
			select {
			case <-d.wake:
				continue
			case <-ctx.Done():
				return
			}
		}
		q := d.queue[0]
		d.queue[0] = queued{}
		d.queue = d.queue[1:]
		live := d.subs[:0]
		for _, s := range d.subs {
			if s.ctx.Err() == nil {
				live = append(live, s)
			}
		}
		clear(d.subs[len(live):])
		d.subs = live
		subs := append([]*subscriber(nil), live...)
		d.mu.Unlock()

		if q.flushed != nil {
			close(q.flushed)
			continue
		}
		for _, s := range subs {
			if q.seq >= s.from && s.ctx.Err() == nil {
				s.sink(q.ev)
			}
		}
		if ctx.Err() != nil {
			return
		}
	}
}
