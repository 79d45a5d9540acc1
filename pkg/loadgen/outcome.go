package loadgen

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"syscall"

	"github.com/valyala/fasthttp"
)

// Outcome is how one attempt at a request ended. Every request ends in
// exactly one Outcome: the outcome of its last attempt.
type Outcome uint8

// Outcomes. The names returned by String are part of the rolltest/v1 result
// schema.
const (
	OK              Outcome = iota // 2xx response
	HTTP4xx                        // 4xx response
	HTTP5xx                        // 5xx response
	Refused                        // connection refused
	Reset                          // connection reset by peer (or broken pipe while sending)
	EOF                            // connection closed before a full response arrived
	TimeoutConnect                 // no connection within the timeout
	TimeoutResponse                // connected, but no full response within the timeout
	DNS                            // the host name did not resolve
	TLS                            // TLS handshake or certificate failure
	BodyMismatch                   // 2xx, but the body did not contain the expected text
	Other                          // anything else, including 1xx/3xx final responses; the failure record keeps the detail
	// Unreachable: no route to the host or network (EHOSTUNREACH,
	// ENETUNREACH). Added after Other so that every earlier outcome keeps
	// its value; the names, not the values, are the schema.
	Unreachable
	numOutcomes
)

var outcomeNames = [numOutcomes]string{
	OK:              "ok",
	HTTP4xx:         "http_4xx",
	HTTP5xx:         "http_5xx",
	Refused:         "refused",
	Reset:           "reset",
	EOF:             "eof",
	TimeoutConnect:  "timeout_connect",
	TimeoutResponse: "timeout_response",
	DNS:             "dns",
	TLS:             "tls",
	BodyMismatch:    "body_mismatch",
	Other:           "other",
	Unreachable:     "unreachable",
}

// String returns the outcome's schema name, e.g. "http_5xx".
func (o Outcome) String() string {
	if o < numOutcomes {
		return outcomeNames[o]
	}
	return "invalid"
}

// Failed reports whether the outcome counts as a dropped request.
func (o Outcome) Failed() bool { return o != OK }

// Outcomes lists every outcome in schema order.
func Outcomes() []Outcome {
	out := make([]Outcome, numOutcomes)
	for i := range out {
		out[i] = Outcome(i)
	}
	return out
}

// StatusOutcome classifies a complete HTTP response by its status code.
func StatusOutcome(code int) Outcome {
	switch {
	case code >= 200 && code < 300:
		return OK
	case code >= 400 && code < 500:
		return HTTP4xx
	case code >= 500 && code < 600:
		return HTTP5xx
	default:
		return Other
	}
}

// ErrorOutcome classifies a transport error. connecting says whether the
// error happened while establishing the connection (dial and TLS handshake),
// which is what separates a connect timeout from a response timeout.
func ErrorOutcome(err error, connecting bool) Outcome {
	if err == nil {
		return OK
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return DNS
	}
	if isTimeout(err) {
		if connecting {
			return TimeoutConnect
		}
		return TimeoutResponse
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return Refused
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return Unreachable
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED):
		return Reset
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, fasthttp.ErrConnectionClosed):
		return EOF
	}
	// The worker peeks at the first response byte itself, so the transport
	// error arrives unwrapped; this only catches what fasthttp still wraps.
	var nothing fasthttp.ErrNothingRead
	if errors.As(err, &nothing) {
		return EOF
	}
	var broken fasthttp.ErrBrokenChunk
	if errors.As(err, &broken) {
		return EOF
	}
	if isTLS(err) {
		return TLS
	}
	return Other
}

func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	// fasthttp's ErrTimeout has Timeout but is not a net.Error.
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

func isTLS(err error) bool {
	var (
		recordErr tls.RecordHeaderError
		alertErr  tls.AlertError
		certErr   *tls.CertificateVerificationError
		unknownCA x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		invalid   x509.CertificateInvalidError
	)
	return errors.As(err, &recordErr) || errors.As(err, &alertErr) || errors.As(err, &certErr) ||
		errors.As(err, &unknownCA) || errors.As(err, &hostErr) || errors.As(err, &invalid)
}
