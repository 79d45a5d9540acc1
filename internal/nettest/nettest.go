// Package nettest holds the waits that tests of servers share: conditions
// on a listening address, checked by dialling it. It is for tests only; a
// wait here is bounded in time and fails the test with what it saw.
package nettest

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"
)

// pollEvery is how often a wait dials: short enough that a test does not
// idle, long enough that a wait of tens of seconds dials a few thousand
// times at most.
const pollEvery = 10 * time.Millisecond

// WaitRefused dials addr until a connection is refused, i.e. until its
// listener is closed, and fails t if that has not happened within bound.
func WaitRefused(t testing.TB, addr string, bound time.Duration) {
	t.Helper()
	deadline := time.Now().Add(bound)
	var last error
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, time.Until(deadline))
		if errors.Is(err, syscall.ECONNREFUSED) {
			return
		}
		if err == nil {
			c.Close()
		}
		last = err
		time.Sleep(pollEvery)
	}
	t.Fatalf("connections to %s were still not refused after %v (last dial: %v)", addr, bound, last)
}
