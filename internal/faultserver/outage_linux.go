package faultserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// OutageMode is how a server behaves during its outage.
type OutageMode int

const (
	// Blackhole is a pod whose IP has gone away: new connections hang in
	// connect (their SYNs are dropped, as when the accept queue is full)
	// and requests on open connections get no answer.
	Blackhole OutageMode = iota
	// Hang is a process that accepts connections and reads requests but
	// answers none of them.
	Hang
	// Hold is a process that pauses (a long GC, a full thread pool): it
	// reads requests during the outage and answers them all when it ends.
	Hold
)

// Outage is a server that answers 200 except during one outage window,
// and counts what it did, so a test can compare a client's counts with it.
//
// It records, by the client's X-Request-Id, every request it answered and
// when, and every request it read during the outage and never answered.
// What it cannot see are requests that never arrived: connects that hung,
// and in Blackhole mode requests on connections the kernel considered
// half-open (the client got the SYN-ACK, its ACK met a full accept queue).
type Outage struct {
	mode       OutageMode
	from, to   time.Time
	ln         *net.TCPListener
	dummyIP    net.IP
	cancel     context.CancelFunc
	ctx        context.Context
	wg         sync.WaitGroup
	pod        string
	stallLimit time.Duration
	// ClientTimeout, when set before the outage, is the clients' timeout:
	// Hold mode counts the responses it holds longer as late.
	ClientTimeout time.Duration

	mu             sync.Mutex
	served         map[string]time.Time
	stalled        map[string]bool
	queued, accept int
	nServed, nHeld int // totals, for clients that send no request id
	nLate          int // held responses written later than ClientTimeout after their request arrived
	conns          map[net.Conn]struct{}
}

// OutageCounts is what an Outage server did.
type OutageCounts struct {
	// Served maps the request id of every request answered 200 to when the
	// answer was written.
	Served map[string]time.Time
	// Stalled holds the request ids read during the outage, never answered.
	Stalled  map[string]bool
	Queued   int // client connections held in the accept queue through the outage, reset unread
	Accepted int // connections accepted
	// ServedTotal counts every 200 written (Served keys by request id) and
	// HeldTotal those of them that Hold mode held until the outage ended.
	ServedTotal, HeldTotal int
	// LateTotal counts the held responses written more than ClientTimeout
	// after their request arrived: the client had given up on them.
	LateTotal int
}

// StartOutage listens on 127.0.0.1 and has an outage from `after` to
// `after+length` from now. In Blackhole mode its accept queue holds one
// connection, which it fills itself during the outage.
func StartOutage(mode OutageMode, after, length time.Duration, pod string) (*Outage, error) {
	var ln *net.TCPListener
	var err error
	if mode == Blackhole {
		ln, err = listenBacklog0()
	} else {
		var l net.Listener
		l, err = net.Listen("tcp", "127.0.0.1:0")
		if l != nil {
			ln = l.(*net.TCPListener)
		}
	}
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	now := time.Now()
	o := &Outage{
		mode: mode, from: now.Add(after), to: now.Add(after + length), ln: ln,
		dummyIP: net.IPv4(127, 0, 0, 3), ctx: ctx, cancel: cancel, pod: pod,
		stallLimit: length + 30*time.Second, conns: map[net.Conn]struct{}{},
		served: map[string]time.Time{}, stalled: map[string]bool{},
	}
	o.wg.Add(1)
	go o.acceptLoop()
	return o, nil
}

// listenBacklog0 makes a listener whose accept queue holds one connection,
// so that a single unaccepted connection makes the kernel drop further
// SYNs, the way connects to a vanished pod hang.
func listenBacklog0() (*net.TCPListener, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("faultserver: socket: %w", err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("faultserver: bind: %w", err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("faultserver: listen: %w", err)
	}
	f := os.NewFile(uintptr(fd), "outage-listener")
	defer f.Close()
	l, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("faultserver: listener: %w", err)
	}
	return l.(*net.TCPListener), nil
}

// URL returns http://127.0.0.1:PORT + path.
func (o *Outage) URL(path string) string { return "http://" + o.ln.Addr().String() + path }

// Window returns the outage's start and end.
func (o *Outage) Window() (from, to time.Time) { return o.from, o.to }

// Counts returns what the server did so far.
func (o *Outage) Counts() OutageCounts {
	o.mu.Lock()
	defer o.mu.Unlock()
	c := OutageCounts{Served: make(map[string]time.Time, len(o.served)), Stalled: make(map[string]bool, len(o.stalled)),
		Queued: o.queued, Accepted: o.accept, ServedTotal: o.nServed, HeldTotal: o.nHeld, LateTotal: o.nLate}
	for k, v := range o.served {
		c.Served[k] = v
	}
	for k := range o.stalled {
		c.Stalled[k] = true
	}
	return c
}

// Close stops the server and closes every connection.
func (o *Outage) Close() {
	o.cancel()
	o.ln.Close()
	o.mu.Lock()
	for c := range o.conns {
		c.Close()
	}
	o.mu.Unlock()
	o.wg.Wait()
}

func (o *Outage) inOutage(t time.Time) bool { return !t.Before(o.from) && t.Before(o.to) }

func (o *Outage) acceptLoop() {
	defer o.wg.Done()
	// In Hang mode the accept queue plays no part: accept throughout.
	past := o.mode != Blackhole
	for {
		if !past {
			_ = o.ln.SetDeadline(o.from)
		} else {
			_ = o.ln.SetDeadline(time.Time{})
		}
		c, err := o.ln.Accept()
		if err != nil {
			var ne net.Error
			if !past && errors.As(err, &ne) && ne.Timeout() {
				past = true
				if !o.blackhole() {
					return
				}
				continue
			}
			return
		}
		o.track(c)
	}
}

// blackhole fills the accept queue with a connection of its own, so the
// kernel drops every client SYN until the outage ends; then it takes the
// queued connection back. A client connection that won the race for the
// slot is reset unread and counted as Queued: the client wrote its request
// and got no answer before its timeout (the outage outlasts it).
func (o *Outage) blackhole() bool {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: o.dummyIP}, Timeout: time.Until(o.to) + 10*time.Second}
	dummyDone := make(chan net.Conn, 1)
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		c, err := d.DialContext(o.ctx, "tcp", o.ln.Addr().String())
		if err != nil {
			dummyDone <- nil
			return
		}
		dummyDone <- c
	}()
	select {
	case <-time.After(time.Until(o.to)):
	case <-o.ctx.Done():
		return false
	}
	// The queue holds one connection: take it.
	_ = o.ln.SetDeadline(time.Now().Add(time.Second))
	c, err := o.ln.Accept()
	if err != nil {
		return o.ctx.Err() == nil
	}
	if ra, ok := c.RemoteAddr().(*net.TCPAddr); ok && ra.IP.Equal(o.dummyIP) {
		c.Close()
	} else {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		c.Close()
		o.mu.Lock()
		o.queued++
		o.mu.Unlock()
	}
	// The dummy, if its connect lost the race, lands later; close it then.
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		if dc := <-dummyDone; dc != nil {
			dc.Close()
		}
	}()
	return true
}

func (o *Outage) track(c net.Conn) {
	if ra, ok := c.RemoteAddr().(*net.TCPAddr); ok && ra.IP.Equal(o.dummyIP) {
		c.Close() // the blackhole's own connection, landing after the outage
		return
	}
	o.mu.Lock()
	o.accept++
	o.conns[c] = struct{}{}
	o.mu.Unlock()
	o.wg.Add(1)
	go o.serve(c)
}

func (o *Outage) serve(c net.Conn) {
	defer o.wg.Done()
	defer func() {
		o.mu.Lock()
		delete(o.conns, c)
		o.mu.Unlock()
		c.Close()
	}()
	br := bufio.NewReader(c)
	body := o.pod + " >> 127.0.0.1 >> v1"
	for {
		req, err := readRequest(br)
		if err != nil {
			return
		}
		id := req.Header.Get("X-Request-Id")
		held, arrived := false, time.Now()
		if o.mode == Hold && o.inOutage(arrived) {
			held = true
			select {
			case <-time.After(time.Until(o.to)):
			case <-o.ctx.Done():
				return
			}
		}
		if o.inOutage(time.Now()) {
			o.mu.Lock()
			o.stalled[id] = true
			o.mu.Unlock()
			// Hold the connection until the client gives up.
			_ = c.SetReadDeadline(time.Now().Add(o.stallLimit))
			_, _ = io.Copy(io.Discard, c)
			return
		}
		if err := writeResponse(c, 200, "OK", body, req.Close); err != nil {
			return
		}
		o.mu.Lock()
		o.served[id] = time.Now()
		o.nServed++
		if held {
			o.nHeld++
			if o.ClientTimeout > 0 && time.Since(arrived) > o.ClientTimeout {
				o.nLate++
			}
		}
		o.mu.Unlock()
		if req.Close {
			return
		}
	}
}
