package loadgen

import (
	"context"
	"runtime"
	"time"
)

// spinWindow is how long before a request's due time the dispatcher stops
// sleeping and yields in a loop instead. Sleeps overshoot (tens of µs with
// the Linux nap, about 1 ms with Go's timers), so sleeping all the way
// would send many requests late; spinning all the way would burn a core at
// low rates. The window trades one for the other: the CPU it costs is at
// most spinWindow × rate per second, 5% of a core at 500 req/s, and the
// spin yields to every other goroutine on each turn.
const spinWindow = 30 * time.Microsecond

// maxNap bounds one sleep, so that a cancelled run stops dispatching within
// this much even while the next request is far away.
const maxNap = 20 * time.Millisecond

// sendClock waits for due times, measured from the start of the run. It is
// used by one goroutine only: the dispatcher.
type sendClock struct {
	start time.Time
	napper
}

// waitUntil returns when due has come (true) or ctx is done (false).
func (c *sendClock) waitUntil(ctx context.Context, due time.Duration) bool {
	done := ctx.Done()
	for {
		select {
		case <-done:
			return false
		default:
		}
		wait := due - time.Since(c.start)
		switch {
		case wait <= 0:
			return true
		case wait > spinWindow:
			c.nap(min(wait-spinWindow, maxNap))
		default:
			runtime.Gosched()
		}
	}
}
