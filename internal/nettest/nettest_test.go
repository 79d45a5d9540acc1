package nettest

import (
	"io"
	"net"
	"runtime"
	"testing"
	"time"
)

func TestWaitRefusedReturnsOnceTheListenerCloses(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	time.AfterFunc(50*time.Millisecond, func() { ln.Close() })
	WaitRefused(t, addr, 10*time.Second)
}

// A listener that stays open fails the wait: the test sees a Fatalf.
func TestWaitRefusedFailsWhileListening(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	rec := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		WaitRefused(rec, ln.Addr().String(), 100*time.Millisecond)
	}()
	<-done
	if !rec.failed {
		t.Error("WaitRefused returned although the address still accepted connections")
	}
}

// fatalRecorder records Fatalf and ends the goroutine as testing.T would.
type fatalRecorder struct {
	testing.TB
	failed bool
}

func (r *fatalRecorder) Helper() {}
func (r *fatalRecorder) Fatalf(string, ...any) {
	r.failed = true
	runtime.Goexit()
}

// Serve hands every connection to its handler and stop waits for them.
func TestServe(t *testing.T) {
	served := make(chan string, 1)
	addr, stop := Serve(t, 10*time.Second, func(c net.Conn) {
		buf := make([]byte, 5)
		if _, err := io.ReadFull(c, buf); err == nil {
			served <- string(buf)
		}
	})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if got := <-served; got != "hello" {
		t.Errorf("handler read %q, want hello", got)
	}
	c.Close()
	stop()
	WaitRefused(t, addr, 10*time.Second)
}
