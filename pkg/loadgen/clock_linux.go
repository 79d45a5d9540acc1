package loadgen

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// napper sleeps on a timerfd read through Go's netpoller: the goroutine
// parks and its P runs other goroutines, and the kernel's high-resolution
// timer wakes the poller within microseconds when the machine is idle.
// Go's own timers are rounded up to the poller's millisecond timeout.
// The thread is never locked: a locked dispatcher costs a thread handoff on
// every yield of its spin, which at one P and tens of thousands of
// requests a second is slower than the schedule.
type napper struct {
	fd    int
	file  *os.File // nil: no timerfd; fall back to a Go timer
	buf   [8]byte
	timer *time.Timer
	tried bool
}

func (n *napper) nap(d time.Duration) {
	if !n.tried {
		n.tried = true
		if fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC); err == nil {
			n.fd, n.file = fd, os.NewFile(uintptr(fd), "rolltest-pacer")
		}
	}
	if n.file != nil {
		spec := unix.ItimerSpec{Value: unix.NsecToTimespec(int64(d))}
		if unix.TimerfdSettime(n.fd, 0, &spec, nil) == nil {
			_, _ = n.file.Read(n.buf[:]) // the expiration count; an error just ends the nap early
			return
		}
	}
	if n.timer == nil {
		n.timer = time.NewTimer(d)
	} else {
		n.timer.Reset(d)
	}
	<-n.timer.C
}

// close releases the timerfd.
func (n *napper) close() {
	if n.file != nil {
		n.file.Close()
	}
}
