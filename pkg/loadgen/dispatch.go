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

	// surgeRec records for every surge worker: surge workers come and go and
	// may number thousands during a stall, so they share one recorder
	// rather than each holding its own histograms.
	surgeMu  sync.Mutex
	surgeRec *recorder

	waits int64 // requests that waited for a worker at the bound; dispatcher only

	mu       sync.Mutex
	live     int // workers running, steady and surge
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
	p.live += len(workers)
	p.peak = max(p.peak, p.live)
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
	if p.live >= p.e.cfg.MaxConnections {
		p.mu.Unlock()
		return false
	}
	p.live++
	p.peak = max(p.peak, p.live)
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
		p.live--
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
		close(p.steady)
		close(p.surge)
	}()
	for seq := uint64(0); e.limit == 0 || seq < e.limit; seq++ {
		due := e.pacer.Due(seq)
		if !clock.waitUntil(ctx, due) {
			return
		}
		j := job{seq: seq, due: due, phase: e.phaseAt(due)}
		if p.idle.Load() > 0 {
			p.idle.Add(-1)
			p.steady <- j
			continue
		}
		select {
		case p.surge <- j:
			continue
		default:
		}
		if p.grow(j) {
			continue
		}
		// At --max-connections: the request waits for the first free
		// worker and is sent late.
		p.waits++
		select {
		case p.steady <- j:
			p.idle.Add(-1)
		case p.surge <- j:
		case <-ctx.Done():
			return
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
