package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/rolltest/rolltest/internal/ctxtime"
)

// Serve serves HTTP/1.1 and, on the same port, HTTP/2 with prior
// knowledge (h2c, and gRPC over it) on ln until ctx is cancelled, then
// shuts down and returns. It always closes ln. It may be called once per
// Server.
//
// When ctx is cancelled (the binary cancels it on SIGTERM), Serve starts
// draining as StartDraining does, keeps accepting for Config.ShutdownDelay,
// then closes the listener and the idle HTTP/1.1 connections, sends each
// HTTP/2 connection a graceful GOAWAY (its in-flight streams go on, the
// client opens no new one), and waits up to Config.DrainTimeout for
// in-flight requests and streams. It returns nil if they all completed,
// and an error wrapping context.DeadlineExceeded if it had to close
// connections that were still active. With Config.ExitOnSIGTERM it instead
// closes the listener and every connection at once, HTTP/2 ones without a
// GOAWAY, and returns nil: in-flight requests and streams die with their
// connection.
//
// If Config.ListenDelay has not elapsed yet, Serve closes ln and listens
// again on the same address once it has, so that clients are refused in
// the meantime as by a process still booting. This needs a listener whose
// address net.Listen can open again, such as TCP. If ctx is cancelled
// before then, Serve returns nil.
//
// If accepting fails, Serve closes all connections and returns the error.
//
// Before it returns, Serve waits up to a second for the goroutine of every
// connection it closed to finish, so that Counts are final.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if !s.served.CompareAndSwap(false, true) {
		ln.Close()
		return errors.New("app: Serve called more than once")
	}
	if wait := time.Until(s.listenAt); wait > 0 {
		// Not accepting is not enough: the kernel would still complete
		// handshakes into the backlog, so clients would hang instead of
		// being refused.
		addr := ln.Addr()
		if err := ln.Close(); err != nil {
			return fmt.Errorf("app: closing listener for the listen delay: %w", err)
		}
		if !ctxtime.Sleep(ctx, wait) {
			return nil
		}
		var err error
		if ln, err = net.Listen(addr.Network(), addr.String()); err != nil {
			return fmt.Errorf("app: listening again after the listen delay: %w", err)
		}
		s.log.Info("listening after listen delay", "addr", ln.Addr().String())
	}

	ln = countingListener{Listener: ln, c: &s.counts}
	// However Serve returns, Counts are final by then.
	defer s.waitConns(connsWait)
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(ln) }()
	select {
	case err := <-errc:
		s.srv.Close()
		return err
	case <-ctx.Done():
	}

	if s.exitAtOnce {
		s.log.Info("stopping at once, not draining")
		s.srv.Close()
		<-errc
		return nil
	}

	s.startDraining("stop")
	if s.shutdownDelay > 0 {
		s.log.Info("still accepting while the endpoint removal propagates", "shutdownDelay", s.shutdownDelay)
		time.Sleep(s.shutdownDelay)
	}
	s.log.Info("closing listener, waiting for in-flight requests", "drainTimeout", s.drainTimeout)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.drainTimeout)
	defer cancel()
	err := s.srv.Shutdown(sctx)
	<-errc // srv.Serve returns http.ErrServerClosed as soon as Shutdown starts
	if errors.Is(err, context.DeadlineExceeded) {
		s.srv.Close()
		return fmt.Errorf("app: in-flight requests outlived the %v drain timeout; closed their connections: %w", s.drainTimeout, err)
	}
	if err != nil {
		return fmt.Errorf("app: shutdown: %w", err)
	}
	s.log.Info("drained")
	return nil
}

// connsWait bounds how long Serve waits for closed connections' goroutines.
// Closed connections end at once; only a handler that blocks could hold one.
const connsWait = time.Second

// waitConns waits until no accepted connection is open, at most d.
func (s *Server) waitConns(d time.Duration) {
	deadline := time.Now().Add(d)
	for s.counts.open.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
}
