//go:build !linux

package loadgen

import "time"

// napper sleeps on a Go timer: about millisecond precision, which the spin
// window does not fully cover, so more sends are counted late than on Linux.
type napper struct {
	timer *time.Timer
}

func (n *napper) nap(d time.Duration) {
	if n.timer == nil {
		n.timer = time.NewTimer(d)
	} else {
		n.timer.Reset(d)
	}
	<-n.timer.C
}

func (n *napper) close() {}
