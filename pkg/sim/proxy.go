package sim

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// endpoint is one ready pod as the Service sees it.
type endpoint struct {
	pod  string
	addr string // 127.0.0.1:port, the pod process's listener
}

// proxy is the Service: an L4 proxy that, like kube-proxy in iptables mode,
// picks a ready endpoint at random once per connection and then only moves
// bytes. Everything HTTP (keep-alive, Connection: close) happens end to
// end, which is what pins a keep-alive client to one pod.
type proxy struct {
	ln  *net.TCPListener
	log *slog.Logger
	ctx context.Context // cancelled by Cluster.Close

	mu        sync.Mutex
	rng       *rand.Rand
	endpoints []endpoint
	conns     map[*net.TCPConn]struct{}
	closed    bool
	wg        sync.WaitGroup

	counts serviceCounters
}

// serviceCounters count the client connections that reached no pod; see
// ServiceCounts.
type serviceCounters struct {
	accepted, noEndpoint, dialFailed, afterPodClosed atomic.Int64
}

func newProxy(ctx context.Context, ln *net.TCPListener, rng *rand.Rand, log *slog.Logger) *proxy {
	return &proxy{ln: ln, log: log, ctx: ctx, rng: rng, conns: make(map[*net.TCPConn]struct{})}
}

// setEndpoints replaces the ready endpoints. Connections already proxied are
// left alone, as conntrack leaves established flows alone.
func (p *proxy) setEndpoints(eps []endpoint) {
	p.mu.Lock()
	p.endpoints = eps
	p.mu.Unlock()
}

func (p *proxy) pick() (endpoint, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.endpoints) == 0 {
		return endpoint{}, false
	}
	return p.endpoints[p.rng.IntN(len(p.endpoints))], true
}

// serve accepts until the listener is closed.
func (p *proxy) serve() {
	for {
		conn, err := p.ln.AcceptTCP()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || p.ctx.Err() != nil {
				return
			}
			// Out of file descriptors and the like: back off instead of
			// spinning, as net/http does.
			p.log.Warn("sim: service: accept", "err", err)
			select {
			case <-time.After(10 * time.Millisecond):
			case <-p.ctx.Done():
				return
			}
			continue
		}
		p.counts.accepted.Add(1)
		ep, ok := p.pick()
		if !ok {
			p.counts.noEndpoint.Add(1)
			// No ready endpoint: iptables REJECTs the SYN and the client
			// sees "connection refused". A user-space proxy has already
			// completed the handshake, so the nearest it can do is reset
			// at once; clients see a reset instead of a refusal.
			reset(conn)
			continue
		}
		if !p.track(conn) {
			reset(conn)
			return
		}
		go p.handle(conn, ep)
	}
}

// track registers c so that close can reset it, and counts the goroutine
// that will untrack it.
func (p *proxy) track(c *net.TCPConn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	p.wg.Add(1)
	return true
}

func (p *proxy) trackBackend(c *net.TCPConn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *proxy) untrack(cs ...*net.TCPConn) {
	p.mu.Lock()
	for _, c := range cs {
		delete(p.conns, c)
	}
	p.mu.Unlock()
}

func (p *proxy) handle(client *net.TCPConn, ep endpoint) {
	defer p.wg.Done()
	defer p.untrack(client)
	d := net.Dialer{Timeout: 2 * time.Second}
	bc, err := d.DialContext(p.ctx, "tcp", ep.addr)
	if err != nil {
		// The endpoint is still listed but its process is gone (or not
		// listening yet): the client would get a refusal from the pod's
		// port; here it gets a reset, see serve.
		p.log.Debug("sim: service: dial endpoint", "pod", ep.pod, "err", err)
		if p.ctx.Err() == nil {
			p.counts.dialFailed.Add(1)
		}
		reset(client)
		return
	}
	backend := bc.(*net.TCPConn)
	if !p.trackBackend(backend) {
		reset(backend)
		reset(client)
		return
	}
	defer p.untrack(backend)
	if pipe(client, backend) {
		p.counts.afterPodClosed.Add(1)
	}
}

// pipe copies both ways until both directions end, mirroring how each side
// ended: a clean close (FIN) becomes a half-close of the other side, and any
// error — a reset from the pod being killed, or the client going away —
// resets both sides, so a client sees "connection reset" where it would have
// without the proxy, not a clean EOF.
//
// It reports whether the client sent bytes after the backend had closed its
// side cleanly: a request that no pod read, since the pod's socket is gone.
// (Bytes read just before the backend's FIN arrived and forwarded into the
// closing socket are lost the same way but not reported.)
func pipe(client, backend *net.TCPConn) (sentAfterBackendClosed bool) {
	type result struct {
		toBackend bool
		err       error
	}
	res := make(chan result, 2)
	// Counting what the client sends costs splice(2) in that direction;
	// responses, the bulk, are still spliced.
	fromClient := &countingReader{r: client}
	go func() {
		_, err := io.Copy(backend, fromClient)
		res <- result{true, err}
	}()
	go func() {
		// io.Copy between two *net.TCPConn uses splice(2) on Linux.
		_, err := io.Copy(client, backend)
		res <- result{false, err}
	}()
	atBackendEnd := int64(-1)
	for range 2 {
		r := <-res
		switch {
		case r.err != nil:
			reset(client)
			reset(backend)
		case r.toBackend:
			backend.CloseWrite()
		default:
			atBackendEnd = fromClient.n.Load()
			client.CloseWrite()
		}
	}
	client.Close()
	backend.Close()
	return atBackendEnd >= 0 && fromClient.n.Load() > atBackendEnd
}

type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n.Add(int64(n))
	return n, err
}

// reset closes c with an RST instead of a FIN.
func reset(c *net.TCPConn) {
	c.SetLinger(0)
	c.Close()
}

// close stops accepting and resets every proxied connection, as when the
// node goes away. It does not wait; see wait.
func (p *proxy) close() {
	p.mu.Lock()
	p.closed = true
	conns := make([]*net.TCPConn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	p.ln.Close()
	for _, c := range conns {
		reset(c)
	}
}
