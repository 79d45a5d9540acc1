package loadgen

import (
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// napper sleeps with about 50 µs precision instead of the millisecond that
// Go's timers give under the netpoller: the dispatcher's goroutine is locked
// to its own thread, whose timer slack is set to the minimum, and sleeps in
// nanosleep(2). The runtime hands the thread's P to other goroutines while
// it sleeps.
type napper struct {
	locked bool
}

func (n *napper) nap(d time.Duration) {
	if !n.locked {
		// Never unlocked: when the dispatcher returns, its thread (and the
		// slack setting) ends with it.
		runtime.LockOSThread()
		_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0) // best effort: the spin window still covers a default slack
		n.locked = true
	}
	ts := unix.NsecToTimespec(int64(d))
	_ = unix.Nanosleep(&ts, nil) // EINTR just ends the nap early; the caller loops
}
