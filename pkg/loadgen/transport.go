package loadgen

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"
)

// A Transport opens connections to the target: it is the seam between the
// engine, which schedules, attributes and records requests, and the wire
// protocol, which only sends them. HTTP/1.1 over TCP or TLS is the
// built-in one (http1.go); another protocol lands as one more
// implementation of Transport and Conn, in this package or through
// Config.NewTransport, without the engine changing.
//
// Dial is called from many workers at once and must be safe for that. It
// opens a connection, finished (TLS handshake included) before deadline;
// ctx only cancels (the engine passes context.Background() for requests
// under way: a connection being set up for a request finishes, or times
// out, the way the request does). Its error is an *AttemptError whose
// Outcome is classified as a connect failure: refused, timeout_connect,
// unreachable, tls, ...
type Transport interface {
	Dial(ctx context.Context, deadline time.Time) (Conn, error)
}

// A Conn is one connection the caller owns. What every implementation
// promises, whatever its protocol:
//
//   - Owned: one goroutine uses a Conn, for one request at a time, from Dial
//     to Close. Nothing behind the caller's back re-sends a request or
//     opens another connection for it; a Conn never retries (the engine's
//     --retries rule does), so every attempt is the caller's to record and
//     counting stays exact. This is why net/http's Transport and
//     fasthttp's HostClient, which silently retry pooled requests, are not
//     used.
//   - One peer: every request on a Conn reaches the same server (pod) for
//     the Conn's life, so a failure that carries no identity can be
//     attributed to the pod that last answered on the same Conn.
//   - Sharing below the seam is allowed: a protocol that multiplexes
//     (HTTP/2 and gRPC with Streams above 1, h2mux.go) carries several
//     Conns on one transport connection, each Conn then being a stream
//     slot on it. Both promises above hold per Conn. Such a Conn says
//     which connection it shares (sharing), so that the engine counts
//     connections, not slots (ConnsOpened; PeakConns from the transport),
//     and attributes a failure to the pod the connection reached on any
//     slot; Reusable turns false for every slot of a connection the
//     server is retiring (GOAWAY).
//
// RoundTrip sends one request and reads its whole response, within
// req.Deadline. It returns nil when a complete response arrived, whatever
// its status, and fills res; otherwise an *AttemptError (any other error
// is classified with ErrorOutcome), after which the caller closes the
// Conn. res's byte counts are set either way; its slices stay valid until
// the next RoundTrip or Close. ctx only cancels: when it ends first,
// RoundTrip fails with an error that wraps ctx's.
//
// Reusable reports, before a request, whether the Conn can still carry
// one, idle for idle since its last request ended (as the engine's clock,
// which it reads anyway, says). It is false when the server closed the
// connection while it sat idle: pooling clients (net/http, JMeter,
// browsers) notice that before they reuse a connection, so a request sent
// on it anyway would count a drop no real client meets.
//
// Close closes the Conn. It is called once; the Conn must not be used
// afterwards (an implementation may recycle its memory for a later Dial).
type Conn interface {
	RoundTrip(ctx context.Context, req *Request, res *Response) error
	Reusable(idle time.Duration) bool
	Close() error
}

// Request is what varies from one request to the next; everything else
// (method, URL, headers, body) is fixed for the run by TransportConfig.
type Request struct {
	// Seq is the request's sequence number; the request id header, when
	// configured, carries Seq+1.
	Seq uint64
	// Target indexes TransportConfig.Requests: which of the run's
	// requests to send.
	Target   int
	Deadline time.Time
}

// Response is what the engine reads of a complete response: enough to
// classify it and find the pod that sent it, never the whole body.
type Response struct {
	// Status is the final (non-1xx, or 101) response's status code.
	Status int
	// Header holds the values of the headers TransportConfig.Capture
	// names, in that order; nil where a header is absent.
	Header [][]byte
	// Body is the body's first MaxIdentityBytes bytes: pod identity and
	// failure details are read from it. The rest of the body is streamed
	// past and counted, never kept.
	Body []byte
	// BodyLen is the body's length.
	BodyLen int64
	// Matched: the body contained TransportConfig.ExpectBody. Always true
	// when no text is expected; meaningful only for 2xx responses.
	Matched bool
	// Close: the connection carries no further request, because the
	// server said so (Connection: close, GOAWAY), the request asked for it
	// (no keep-alive), or the protocol changed (101).
	Close bool
	// BytesIn and BytesOut are what this round trip read and wrote, set
	// whether or not it failed. Over TLS they count the plaintext.
	BytesIn, BytesOut int64
	// Outcome, when not OK, is the protocol's verdict on a response whose
	// status alone does not tell (gRPC: grpc-status, the health check's
	// serving status); OK leaves the response to be classified by Status
	// and Matched. Detail says why, for the failure record.
	Outcome Outcome
	Detail  []byte
}

// AttemptError is why one attempt got no complete response, classified.
type AttemptError struct {
	// Outcome is never OK.
	Outcome Outcome
	// Op names the step that failed when it was not the exchange itself:
	// "connect" for a dial or TLS handshake.
	Op string
	// Status is the status of a response whose body failed; 0 when no
	// complete header block had arrived.
	Status int
	// Answered: some byte of a response had arrived. A request that got
	// none on a reused connection may be replayed (Config.Retries).
	Answered bool
	Err      error
}

func (e *AttemptError) Error() string { return e.detail(e.Err.Error()) }

func (e *AttemptError) Unwrap() error { return e.Err }

// detail prefixes cause, the cause's message, with the failed step.
func (e *AttemptError) detail(cause string) string {
	switch {
	case e.Op != "":
		return e.Op + ": " + cause
	case e.Status > 0:
		return fmt.Sprintf("HTTP %d, body: %s", e.Status, cause)
	}
	return cause
}

// asAttemptError returns err as an *AttemptError, classifying an error of
// another type (from a Transport that does not build its own) by
// ErrorOutcome.
func asAttemptError(err error, connecting bool) *AttemptError {
	var ae *AttemptError
	if errors.As(err, &ae) && ae.Outcome != OK {
		return ae
	}
	ae = &AttemptError{Outcome: ErrorOutcome(err, connecting), Err: err}
	if ae.Outcome == OK {
		ae.Outcome = Other
	}
	if connecting {
		ae.Op = "connect"
	}
	return ae
}

// RequestSpec is one of the requests of a run: Config.Target or one of
// Config.Targets, with the headers it carries.
type RequestSpec struct {
	URL     string
	Method  string
	Headers []Header
	Body    []byte
}

// TransportConfig is what a Transport is built from: the request every
// connection sends and what the engine reads of each response, resolved
// from Config by New.
type TransportConfig struct {
	// Target is the absolute http or https URL.
	Target string
	// Addrs are the target host's addresses (host:port), resolved once:
	// a transport dials these, never the name, so a run sends no DNS
	// queries. Dials rotate over them.
	Addrs []string
	// TLS is set for https targets: server name, verification and session
	// cache. It carries no NextProtos: each transport offers the
	// protocols it speaks (ALPN) on its own clone.
	TLS *tls.Config
	// Method, Headers (in order, Host and User-Agent among them when set),
	// UserAgent (unless Headers set one) and Body make the request. In a
	// run of many targets they are the first target's: Requests holds
	// every one.
	Method    string
	Headers   []Header
	UserAgent string
	Body      []byte
	// Requests are the run's requests, Request.Target their index; at
	// least one, and Requests[0] is Target, Method, Headers and Body.
	// Each is fixed for the run, so a transport renders it once; its
	// Body is the transport's to share between connections, never to
	// change.
	Requests []RequestSpec
	// KeepAlive keeps a connection for further requests; without it every
	// request asks the server to close its connection.
	KeepAlive bool
	// RequestIDHeader, when set, names the header that carries Seq+1.
	RequestIDHeader string
	// ExpectBody is the text Response.Matched looks for in 2xx bodies.
	ExpectBody []byte
	// MaxBodyBytes, when positive, caps the body bytes read: a longer body
	// fails with ErrBodyTooLarge (outcome other).
	MaxBodyBytes int
	// Capture names the response headers Response.Header carries: the
	// pod identity's, for header identities. HTTP/2 reads them from the
	// trailers too, when the headers lack them (gRPC metadata).
	Capture []string
	// GRPCMethod is the method a gRPC transport calls (Config.GRPCMethod,
	// defaulted); empty for other protocols.
	GRPCMethod string
	// Streams is how many requests one connection carries at once
	// (Config.Streams): above 1, an HTTP/2 transport multiplexes, each
	// Conn it dials being a stream slot on a connection it shares.
	Streams int
}

// cancellable runs rt, a round trip on nc, so that the end of ctx ends it:
// cancellation moves nc's deadline to the past, which wakes any read or
// write, and the attempt's error then carries ctx's cause. The run's own
// requests pass a context that never ends and skip this (see the
// transports' RoundTrip).
func cancellable(ctx context.Context, nc net.Conn, rt func() error) error {
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	err := rt()
	stop()
	if err != nil && ctx.Err() != nil {
		ae := asAttemptError(err, false)
		return &AttemptError{Outcome: ae.Outcome, Status: ae.Status, Answered: ae.Answered, Err: context.Cause(ctx)}
	}
	return err
}
