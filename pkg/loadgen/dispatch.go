package loadgen

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// job is one request of an open-model run, handed from the dispatcher to a
// worker at its due time.
type job struct {
	seq   uint64
	due   time.Duration
	phase int32
}

// surgeIdle is how long a connection opened beyond the steady pool may sit
// idle before it is closed: long enough to carry a burst of slow responses
// through, short enough that the pool returns to --connections soon after
// the service recovers, so connection spread over pods is the steady one.
const surgeIdle = time.Second

// surgeAfter is how long past its due time a request waits, yielding, for
// a busy worker to come free before the pool grows for it. A worker that
// has finished its request but not yet been scheduled to say so is not
// busy: on a saturated core that is the common case, and a dial for each
// such request makes every later request later still (20,000 req/s on one
// core collapsed to 5,500 with 18,000 connections). It stays under
// LateThreshold, so the requests of a stalled service leave on time.
const surgeAfter = 500 * time.Microsecond

// pool is the open model's set of workers. The steady workers (one per
// --connections) take due requests first, in turn; when all of them are
// busy the dispatcher hands the request to an idle surge worker, or starts
// one with a new connection, up to --max-connections. Only at that bound
// does a due request wait, and the wait is counted as a late send.
//
// That is what keeps the model open: a service that stalls holds
// connections, not the schedule, so every request due during a stall is
// sent on time and ends the way the service made it end.
type pool struct {
	e *Engine
	// idle queues the steady workers waiting for a request, longest
	// waiting first, so requests go round the steady connections in turn.
	// Taking a worker from it is the claim.
	idle   chan *steadyWorker
	steady []*steadyWorker
	surge  chan job // unbuffered: idle surge workers
	wg     sync.WaitGroup
	live   *atomic.Int64 // workers running, steady and surge: the Engine's active

	// surgeRec records for every surge worker: surge workers come and go and
	// may number thousands during a stall, so they share one recorder
	// rather than each holding its own histograms.
	surgeMu  sync.Mutex
	surgeRec *recorder

	// The dispatcher's own: requests that waited for a worker at the bound,
	// and its timer.
	waits int64
	wait  *time.Timer
	sat   *saturation

	mu       sync.Mutex
	peak     int
	bytesIn  int64 // of surge workers that have exited
	bytesOut int64
}

// steadyWorker is a worker of the steady pool and the channel it takes its
// next request from.
type steadyWorker struct {
	*worker
	jobs chan job // buffered 1: whoever took the worker from idle sends at once
}

func newPool(e *Engine, surgeRec *recorder, workers []*worker) *pool {
	p := &pool{
		e:        e,
		idle:     make(chan *steadyWorker, len(workers)),
		wait:     time.NewTimer(time.Hour),
		sat:      newSaturation(e.elapsed),
		surge:    make(chan job),
		surgeRec: surgeRec,
		live:     &e.active,
	}
	p.wait.Stop()
	for _, w := range workers {
		p.steady = append(p.steady, &steadyWorker{worker: w, jobs: make(chan job, 1)})
	}
	return p
}

// startSteady starts the steady workers, idle; they live until the run
// ends.
func (p *pool) startSteady() {
	p.live.Add(int64(len(p.steady)))
	p.peak = len(p.steady)
	for _, w := range p.steady {
		p.idle <- w
		p.wg.Go(func() {
			defer w.closeConn()
			for j := range w.jobs {
				w.do(j)
				p.idle <- w
			}
		})
	}
}

// grow starts a surge worker with j as its first request, unless the pool
// is at its bound.
func (p *pool) grow(j job) bool {
	p.mu.Lock()
	if p.live.Load() >= int64(p.e.cfg.MaxConnections*p.e.cfg.Streams) { // workers are stream slots
		p.mu.Unlock()
		return false
	}
	p.peak = max(p.peak, int(p.live.Add(1)))
	p.mu.Unlock()
	p.wg.Go(func() { p.runSurge(j) })
	return true
}

// runSurge carries first, and then whatever the dispatcher hands to idle
// surge workers, until it has been idle for surgeIdle or the run ends.
func (p *pool) runSurge(first job) {
	defer p.live.Add(-1)
	w := newWorker(p.e, p.surgeRec, p.e.pods, &p.e.conns)
	w.recMu = &p.surgeMu
	defer func() {
		w.closeConn()
		p.mu.Lock()
		p.bytesIn += w.bytesIn
		p.bytesOut += w.bytesOut
		p.mu.Unlock()
	}()
	w.do(first)
	idle := time.NewTimer(surgeIdle)
	defer idle.Stop()
	for {
		idle.Reset(surgeIdle)
		select {
		case j, ok := <-p.surge:
			if !ok {
				return
			}
			w.do(j)
		case <-idle.C:
			return
		}
	}
}

// dispatch sends every request of the run at its due time and returns once
// the last one has been handed to a worker, or ctx is done. Requests not yet
// due when ctx ends are not sent; requests already handed over run to
// completion.
func (p *pool) dispatch(ctx context.Context, clock *sendClock) {
	e := p.e
	defer func() {
		clock.close()
		for _, w := range p.steady {
			close(w.jobs)
		}
		close(p.surge)
	}()
	step := uint64(e.cfg.shards())
	for seq := uint64(e.cfg.Shard); e.limit == 0 || seq < e.limit; seq += step {
		due := e.pacer.Due(seq)
		if !clock.waitUntil(ctx, due) {
			return
		}
		j := job{seq: seq, due: due, phase: e.phaseAt(due)}
		if !p.handOver(ctx, j) {
			return
		}
	}
}

// handOver gives j to an idle steady worker, else an idle surge worker,
// else a new surge worker; only at --max-connections does j wait for a
// worker. It returns false if ctx ended first.
func (p *pool) handOver(ctx context.Context, j job) bool {
	if p.give(j) {
		return true
	}
	if p.waitForWorker(ctx, j) {
		return true
	}
	if ctx.Err() != nil {
		return false
	}
	if p.grow(j) {
		return true
	}
	// At --max-connections: j waits for the first free worker and is sent
	// late.
	p.waits++
	for !p.await(ctx, j, time.Second) {
		if ctx.Err() != nil {
			return false
		}
	}
	return true
}

// give hands j to an idle worker, steady first, if one waits.
func (p *pool) give(j job) bool {
	select {
	case w := <-p.idle:
		w.jobs <- j
		return true
	default:
	}
	select {
	case p.surge <- j:
		return true
	default:
		return false
	}
}

// waitForWorker decides whether j should wait for a busy worker rather
// than have the pool grow, and waits. While the generator is saturated
// (see saturation) j waits for the next worker to come free: more
// connections would not help. Otherwise a dispatcher on time gives the
// workers until surgeAfter past j's due time, parked so that they have the
// CPU; one already past that point has been waiting on a service that
// holds every connection, and the pool grows at once.
func (p *pool) waitForWorker(ctx context.Context, j job) bool {
	for p.sat.saturated() {
		if p.await(ctx, j, surgeAfter) {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
	}
	if now := p.e.elapsed(); now < j.due+surgeAfter {
		return p.await(ctx, j, j.due+surgeAfter-now)
	}
	return false
}

// await hands j to the first worker to come free within d.
func (p *pool) await(ctx context.Context, j job, d time.Duration) bool {
	p.wait.Reset(d)
	defer p.wait.Stop()
	select {
	case w := <-p.idle:
		w.jobs <- j
		return true
	case p.surge <- j:
		return true
	case <-p.wait.C:
	case <-ctx.Done():
	}
	return false
}

// peakConnections is the largest number of workers (each with at most one
// connection) that ran at once.
func (p *pool) peakConnections() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.peak
}
