// Package faultserver is an HTTP/1.1 server on loopback that drops chosen
// requests in chosen ways and remembers every drop, so tests can prove that
// a client counted exactly what the server did.
//
// It speaks HTTP over raw TCP rather than through net/http so that a drop is
// exactly what it says: a reset is a TCP RST (SO_LINGER 0), a close is a FIN
// without a byte of response, a stall never answers.
package faultserver

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Action is what the server does with one request.
type Action int

// Actions.
const (
	Serve   Action = iota // answer 200 with the pod's identity
	Reset                 // read the request, then reset the connection
	Close                 // read the request, then close the connection without answering
	Stall                 // read the request and never answer; close when the client gives up
	Fail503               // answer 503 and keep the connection
	// HugeBody answers 200 with a body of Options.HugeBodyBytes bytes:
	// the pod line, filler, then Options.HugeBodyTail. The body is
	// generated as it is written, never held in memory. Not a drop.
	HugeBody
	// EndlessChunked answers 200 with a chunked body that never ends
	// (the pod line, then filler chunks) until the client closes or the
	// stall limit passes.
	EndlessChunked
	// Garbage answers bytes that are not HTTP (GarbageReply), then closes.
	Garbage
	// HugeHeaders answers 200 with a header block larger than 16 KiB.
	HugeHeaders
	// Truncate answers 200 with Content-Length 1000, sends 100 body bytes
	// and closes.
	Truncate
)

// GarbageReply is what the Garbage action sends instead of a response.
const GarbageReply = "SSH-2.0-OpenSSH_9.6 \x00\x01 this is not HTTP\r\n\x7f\xfe"

// Options tune the actions that answer with generated bodies.
type Options struct {
	// HugeBodyBytes is the size of the HugeBody body; zero means 50 MB.
	HugeBodyBytes int64
	// HugeBodyTail ends the HugeBody body (it counts in HugeBodyBytes);
	// tests look for it past the first 4 KiB.
	HugeBodyTail string
}

func (a Action) String() string {
	switch a {
	case Serve:
		return "serve"
	case Reset:
		return "reset"
	case Close:
		return "close"
	case Stall:
		return "stall"
	case Fail503:
		return "503"
	case HugeBody:
		return "huge-body"
	case EndlessChunked:
		return "endless-chunked"
	case Garbage:
		return "garbage"
	case HugeHeaders:
		return "huge-headers"
	case Truncate:
		return "truncate"
	}
	return "action(" + strconv.Itoa(int(a)) + ")"
}

// Drop is one request the server did not answer with a 2xx.
type Drop struct {
	N         uint64 // the request's number in arrival order, from 1
	RequestID string // the X-Request-Id header, if the client sent one
	Action    Action
	Pod       string // the pod identity this connection answers as
	// OKBefore counts the 200s this connection sent before the drop: a
	// client can only know the pod of a connection that answered.
	OKBefore int
}

// Server is a running fault-injecting server.
type Server struct {
	plan     func(n uint64) Action
	opts     Options
	pods     []string
	stallMax time.Duration
	ln       net.Listener

	mu     sync.Mutex
	n      uint64
	conns  int
	drops  []Drop
	open   map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// Start listens on 127.0.0.1 on a free port. plan decides the action for
// request n (1-based, in arrival order across all connections); connection
// k (0-based) answers as pods[k % len(pods)].
func Start(plan func(n uint64) Action, pods ...string) (*Server, error) {
	return StartOptions(Options{}, plan, pods...)
}

// StartOptions is Start with options for the body-generating actions.
func StartOptions(opts Options, plan func(n uint64) Action, pods ...string) (*Server, error) {
	if opts.HugeBodyBytes <= 0 {
		opts.HugeBodyBytes = 50_000_000
	}
	if len(pods) == 0 {
		pods = []string{"fault-pod-1"}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultserver: listen: %w", err)
	}
	s := &Server{plan: plan, opts: opts, pods: pods, stallMax: 30 * time.Second, ln: ln, open: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// URL returns http://127.0.0.1:PORT + path.
func (s *Server) URL(path string) string { return "http://" + s.ln.Addr().String() + path }

// Requests returns how many requests arrived.
func (s *Server) Requests() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// Connections returns how many connections were accepted.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// Drops returns the dropped requests in arrival order.
func (s *Server) Drops() []Drop {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Drop(nil), s.drops...)
}

// Close stops the server and closes every connection.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	for c := range s.open {
		c.Close()
	}
	s.mu.Unlock()
	s.ln.Close()
	s.wg.Wait()
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		pod := s.pods[s.conns%len(s.pods)]
		s.conns++
		s.open[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serve(c, pod)
	}
}

func (s *Server) forget(c net.Conn) {
	s.mu.Lock()
	delete(s.open, c)
	s.mu.Unlock()
	c.Close()
}

func (s *Server) serve(c net.Conn, pod string) {
	defer s.wg.Done()
	defer s.forget(c)
	br := bufio.NewReader(c)
	body := pod + " >> 127.0.0.1 >> v1"
	okBefore := 0
	for {
		req, err := readRequest(br)
		if err != nil {
			return
		}
		s.mu.Lock()
		s.n++
		n := s.n
		action := Serve
		if s.plan != nil {
			action = s.plan(n)
		}
		if action != Serve && action != HugeBody {
			s.drops = append(s.drops, Drop{N: n, RequestID: req.Header.Get("X-Request-Id"), Action: action, Pod: pod, OKBefore: okBefore})
		}
		s.mu.Unlock()

		closeAfter := req.Close
		switch action {
		case Reset:
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			return
		case Close:
			return
		case Stall:
			// Hold the connection until the client gives up and closes it.
			_ = c.SetReadDeadline(time.Now().Add(s.stallMax))
			_, _ = io.Copy(io.Discard, c)
			return
		case Fail503:
			if err := writeResponse(c, 503, "Service Unavailable", "server is failing on purpose", closeAfter); err != nil {
				return
			}
		case HugeBody:
			if err := s.writeHugeBody(c, body, closeAfter); err != nil {
				return
			}
			okBefore++
		case EndlessChunked:
			s.writeEndless(c, body)
			return
		case Garbage:
			_, _ = io.WriteString(c, GarbageReply)
			return
		case HugeHeaders:
			filler := strings.Repeat("x", 20<<10)
			if _, err := fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nX-Filler: %s\r\nContent-Length: %d\r\n\r\n%s", filler, len(body), body); err != nil {
				return
			}
		case Truncate:
			_, _ = fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n%s", strings.Repeat("t", 100))
			return
		default:
			if err := writeResponse(c, 200, "OK", body, closeAfter); err != nil {
				return
			}
			okBefore++
		}
		if closeAfter {
			return
		}
	}
}

// filler is the repeated content of generated bodies.
var filler = []byte(strings.Repeat("filler-0123456789abcdef-", 1365)) // 32760 bytes

func (s *Server) writeHugeBody(c net.Conn, podLine string, closeAfter bool) error {
	conn := ""
	if closeAfter {
		conn = "Connection: close\r\n"
	}
	size := s.opts.HugeBodyBytes
	head := podLine + "\n"
	tail := s.opts.HugeBodyTail
	if int64(len(head)+len(tail)) > size {
		return fmt.Errorf("faultserver: HugeBodyBytes %d too small for the pod line and tail", size)
	}
	if _, err := fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n%s\r\n%s", size, conn, head); err != nil {
		return err
	}
	for left := size - int64(len(head)+len(tail)); left > 0; {
		n := min(left, int64(len(filler)))
		if _, err := c.Write(filler[:n]); err != nil {
			return err
		}
		left -= n
	}
	_, err := io.WriteString(c, tail)
	return err
}

// writeEndless sends a chunked body that never ends, until a write fails
// (the client closed, or Close) or the stall limit passes.
func (s *Server) writeEndless(c net.Conn, podLine string) {
	_ = c.SetWriteDeadline(time.Now().Add(s.stallMax))
	if _, err := fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\n\r\n", len(podLine)+1, podLine); err != nil {
		return
	}
	chunk := append(append(fmt.Appendf(nil, "%x\r\n", len(filler)), filler...), "\r\n"...)
	for {
		if _, err := c.Write(chunk); err != nil {
			return
		}
	}
}

// readRequest reads the next request on br, body included: the server
// answers by the request line and headers alone.
func readRequest(br *bufio.Reader) (*http.Request, error) {
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, req.Body)
	req.Body.Close()
	return req, nil
}

func writeResponse(w io.Writer, code int, reason, body string, closeAfter bool) error {
	conn := ""
	if closeAfter {
		conn = "Connection: close\r\n"
	}
	_, err := fmt.Fprintf(w, "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n%s\r\n%s", code, reason, len(body), conn, body)
	return err
}
