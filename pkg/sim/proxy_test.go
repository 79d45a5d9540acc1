package sim

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"syscall"
	"testing"
	"time"
)

// testProxy starts a proxy with one endpoint: a backend whose accepted
// connections are handed to the test.
func testProxy(t *testing.T) (*proxy, <-chan *net.TCPConn) {
	t.Helper()
	backend, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan *net.TCPConn, 4)
	go func() {
		for {
			c, err := backend.AcceptTCP()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := newProxy(ctx, ln, rand.New(rand.NewPCG(1, 2)), slog.New(slog.DiscardHandler))
	p.setEndpoints([]endpoint{{pod: "b", addr: backend.Addr().String()}})
	done := make(chan struct{})
	go func() { p.serve(); close(done) }()
	t.Cleanup(func() {
		cancel()
		p.close()
		backend.Close()
		<-done
		p.wg.Wait()
	})
	return p, accepted
}

func dialProxy(t *testing.T, p *proxy) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", p.ln.Addr().String(), hangGuard)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(hangGuard)) // a hang guard only
	t.Cleanup(func() { c.Close() })
	return c
}

func TestProxyPassesCleanCloseAsEOF(t *testing.T) {
	p, accepted := testProxy(t)
	client := dialProxy(t, p)
	if _, err := client.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	b := <-accepted
	buf := make([]byte, 4)
	if _, err := io.ReadFull(b, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("backend read %q, %v", buf, err)
	}
	b.Write([]byte("pong"))
	b.Close()
	got, err := io.ReadAll(client)
	if err != nil || string(got) != "pong" {
		t.Fatalf("client read %q, %v; want pong then a clean EOF", got, err)
	}
}

func TestProxyPassesResetAsReset(t *testing.T) {
	p, accepted := testProxy(t)
	client := dialProxy(t, p)
	client.Write([]byte("ping"))
	b := <-accepted
	reset(b) // the pod is killed
	_, err := io.ReadAll(client)
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("client read error %v, want a connection reset", err)
	}
}

// resetOnUse dials the proxy, sends a request and reads, and returns the
// first error. The proxy resets at once, so depending on timing the reset
// shows up at connect, at the write, or at the read (after which Linux
// reports a plain EOF).
func resetOnUse(t *testing.T, p *proxy) error {
	t.Helper()
	c, err := net.DialTimeout("tcp", p.ln.Addr().String(), hangGuard)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(hangGuard)) // a hang guard only
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\n\r\n")); err != nil {
		return err
	}
	_, err = io.ReadAll(c)
	return err
}

func TestProxyResetsWithoutEndpoints(t *testing.T) {
	p, _ := testProxy(t)
	p.setEndpoints(nil)
	if err := resetOnUse(t, p); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("got %v, want a reset when no endpoint is ready", err)
	}
}

func TestProxyResetsWhenEndpointIsGone(t *testing.T) {
	p, _ := testProxy(t)
	// A port nobody listens on: a pod whose process died while it is
	// still an endpoint.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := l.Addr().String()
	l.Close()
	p.setEndpoints([]endpoint{{pod: "dead", addr: dead}})
	if err := resetOnUse(t, p); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("got %v, want a reset for a dead endpoint", err)
	}
}

func TestProxyKeepsConnectionsWhenEndpointRemoved(t *testing.T) {
	p, accepted := testProxy(t)
	client := dialProxy(t, p)
	client.Write([]byte("a"))
	b := <-accepted
	p.setEndpoints(nil) // conntrack keeps the established flow
	b.Write([]byte("still here"))
	buf := make([]byte, 10)
	if _, err := io.ReadFull(client, buf); err != nil || string(buf) != "still here" {
		t.Fatalf("after the endpoint removal: %q, %v", buf, err)
	}
}
