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

// surgeAfter is how long past its due time a request waits for a busy
// worker to come free before the pool grows for it. It keeps a generator
// that is momentarily short of CPU from dialling for requests its pool is
// about to carry, and stays under LateThreshold, so the requests of a
// stalled service leave on time.
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
	e      *Engine
	steady chan job // unbuffered: a send succeeds only if a steady worker waits
	surge  chan job // unbuffered: idle surge workers
	wg     sync.WaitGroup
	// idle counts steady workers that are on their way to receive the next
	// job and have not been given one; the dispatcher alone decrements it.
	// A worker between two requests counts as idle a few microseconds
	// before it waits on the channel; without this count those
	// microseconds would open a surge connection.
	idle atomic.Int64
	live atomic.Int64 // workers running, steady and surge
	done atomic.Int64 // requests completed, the pool's sign of progress

	// surgeRec records for every surge worker: surge workers come and go and
	// may number thousands during a stall, so they share one recorder
	// rather than each holding its own histograms.
	surgeMu  sync.Mutex
	surgeRec *recorder

	waits int64 // requests that waited for a worker at the bound; dispatcher only

	mu       sync.Mutex
	peak     int
	bytesIn  int64 // of surge workers that have exited
	bytesOut int64
}

func newPool(e *Engine, surgeRec *recorder) *pool {
	return &pool{
		e:        e,
		steady:   make(chan job),
		surge:    make(chan job),
		surgeRec: surgeRec,
	}
}

// startSteady starts the steady workers and returns once each of them is
// ready for its first request; they live until the run ends.
func (p *pool) startSteady(workers []*worker) {
	p.mu.Lock()
	p.peak = max(p.peak, int(p.live.Add(int64(len(workers)))))
	p.mu.Unlock()
	var ready sync.WaitGroup
	ready.Add(len(workers))
	for _, w := range workers {
		p.wg.Go(func() {
			defer w.rec.flush()
			defer w.closeConn()
			p.idle.Add(1)
			ready.Done()
			for j := range p.steady {
				w.do(j)
				p.done.Add(1)
				p.idle.Add(1)
			}
		})
	}
	ready.Wait()
}

// grow starts a surge worker with j as its first request, unless the pool
// is at its bound.
func (p *pool) grow(j job) bool {
	p.mu.Lock()
	if p.live.Load() >= int64(p.e.cfg.MaxConnections) {
		p.mu.Unlock()
		return false
	}
	p.peak = max(p.peak, int(p.live.Add(1)))
	p.mu.Unlock()
	w := newWorker(p.e, p.surgeRec, p.e.pods, &p.e.conns)
	w.recMu = &p.surgeMu
	p.wg.Go(func() { p.runSurge(w, j) })
	return true
}

func (p *pool) runSurge(w *worker, first job) {
	defer func() {
		w.closeConn()
		p.mu.Lock()
		p.live.Add(-1)
		p.bytesIn += w.bytesIn
		p.bytesOut += w.bytesOut
		p.mu.Unlock()
	}()
	w.do(first)
	p.done.Add(1)
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
			p.done.Add(1)
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
	wait := time.NewTimer(time.Hour)
	wait.Stop()
	defer func() {
		clock.close()
		close(p.steady)
		close(p.surge)
	}()
	for seq := uint64(0); e.limit == 0 || seq < e.limit; seq++ {
		due := e.pacer.Due(seq)
		if !clock.waitUntil(ctx, due) {
			return
		}
		j := job{seq: seq, due: due, phase: e.phaseAt(due)}
		if !p.handOver(ctx, j, wait) {
			return
		}
	}
}

// handOver gives j to a worker: a steady worker that waits or is about to,
// else an idle surge worker, else the first worker to come free within
// surgeAfter of j's due time, else a new worker with a new connection; only
// at --max-connections does j wait for a worker. It returns false if ctx
// ended first.
//
// A dispatcher already past that point is behind because the generator is
// short of CPU, not because the service holds the connections: then, as
// long as requests keep completing, j waits for a worker rather than cost a
// dial, which on a saturated core would make every later request later
// still. When nothing completes, the service holds every connection, and
// the pool grows.
func (p *pool) handOver(ctx context.Context, j job, wait *time.Timer) bool {
	if p.idle.Load() > 0 {
		p.idle.Add(-1)
		p.steady <- j
		return true
	}
	select {
	case p.surge <- j:
		return true
	default:
	}
	for {
		now := p.e.elapsed()
		until := j.due + surgeAfter
		behind := now >= until
		if behind {
			until = now + surgeAfter
		}
		done := p.done.Load()
		wait.Reset(until - now)
		select {
		case p.steady <- j:
			p.idle.Add(-1)
			wait.Stop()
			return true
		case p.surge <- j:
			wait.Stop()
			return true
		case <-ctx.Done():
			wait.Stop()
			return false
		case <-wait.C:
		}
		if behind && p.done.Load() != done {
			continue
		}
		if p.grow(j) {
			return true
		}
		// At --max-connections: j waits for the first free worker and is
		// sent late.
		p.waits++
		select {
		case p.steady <- j:
			p.idle.Add(-1)
			return true
		case p.surge <- j:
			return true
		case <-ctx.Done():
			return false
		}
	}
}

// peakConnections is the largest number of workers (each with at most one
// connection) that ran at once.
func (p *pool) peakConnections() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.peak
}
