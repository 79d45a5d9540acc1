// Package nettest holds the waits that tests of servers share: conditions
// on a listening address, checked by dialling it. It is for tests only; a
// wait here is bounded in time and fails the test with what it saw.
package nettest

import (
	"errors"
	"net"
	"net/http"
	"sync"
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

// Serve accepts connections on a fresh loopback port and hands each to
// handle on its own goroutine, with a deadline of bound so that a test
// that forgets a connection cannot hang. It returns the address and stop,
// which closes the listener and waits for every handler; stop also runs
// when t ends.
func Serve(t testing.TB, bound time.Duration, handle func(net.Conn)) (addr string, stop func()) {
	t.Helper()
	return ServeAt(t, "127.0.0.1:0", bound, handle)
}

// ServeAt is Serve on listen, a loopback address such as "[::1]:0".
func ServeAt(t testing.TB, listen string, bound time.Duration, handle func(net.Conn)) (addr string, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(bound))
				handle(c)
			})
		}
	})
	var once sync.Once
	stop = func() { once.Do(func() { ln.Close(); wg.Wait() }) }
	t.Cleanup(stop)
	return ln.Addr().String(), stop
}

// ServeH2C serves h on loopback with HTTP/2 prior knowledge only (Go's
// server, UnencryptedHTTP2 alone: an HTTP/1.1 request fails) until the
// test ends, and returns its base URL, http://HOST:PORT.
func ServeH2C(t testing.TB, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: h, Protocols: &p}
	go srv.Serve(ln) //nolint:errcheck // ends with Close
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}
