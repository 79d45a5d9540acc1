package loadgen

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
)

// Outcome is how one attempt at a request ended. Every request ends in
// exactly one Outcome: the outcome of its last attempt.
type Outcome uint8

// Outcomes, in schema order; outcomeTable says what each one means.
const (
	OK Outcome = iota
	HTTP4xx
	HTTP5xx
	Refused
	Reset
	EOF
	TimeoutConnect
	TimeoutResponse
	DNS
	TLS
	BodyMismatch
	Other
	// Unreachable was added after Other so that every earlier outcome
	// keeps its value; the names, not the values, are the schema.
	Unreachable
	// The HTTP/2 outcomes, added after Unreachable for the same reason.
	GoAwayUnprocessed
	RefusedStream
	StreamReset
	// gRPC's (grpc.go), added after StreamReset: a complete gRPC response
	// whose grpc-status (or health status) is not OK. GRPCCancelled to
	// GRPCUnauthenticated follow the status codes 1 to 16 in order.
	GRPCNoStatus
	GRPCCancelled
	GRPCUnknown
	GRPCInvalidArgument
	GRPCDeadlineExceeded
	GRPCNotFound
	GRPCAlreadyExists
	GRPCPermissionDenied
	GRPCResourceExhausted
	GRPCFailedPrecondition
	GRPCAborted
	GRPCOutOfRange
	GRPCUnimplemented
	GRPCInternal
	GRPCUnavailable
	GRPCDataLoss
	GRPCUnauthenticated
	GRPCNotServing
	numOutcomes
)

// outcomeTable is the one definition of each outcome's schema name, its
// meaning in one line and whether it counts as a dropped request. The
// reports (text, HTML), the diagnosis and docs/result-schema.md all say
// what it says; TestSchemaDocOutcomes holds the doc's table equal to it.
var outcomeTable = [numOutcomes]struct {
	name    string
	meaning string
	dropped bool
	// unprocessed: the protocol says the server did not process the
	// request (HTTP/2, RFC 9113 8.7), so it may be sent again whatever its
	// method.
	unprocessed bool
}{
	OK:              {"ok", "2xx response (with --expect-body, one whose body holds the text)", false, false},
	HTTP4xx:         {"http_4xx", "4xx response", true, false},
	HTTP5xx:         {"http_5xx", "5xx response", true, false},
	Refused:         {"refused", "the connection was refused", true, false},
	Reset:           {"reset", "the connection was reset (TCP RST, or a broken pipe while sending)", true, false},
	EOF:             {"eof", "the connection was closed before a complete response arrived", true, false},
	TimeoutConnect:  {"timeout_connect", "no connection within --timeout", true, false},
	TimeoutResponse: {"timeout_response", "connected, but no complete response within --timeout", true, false},
	DNS:             {"dns", "the host name did not resolve", true, false},
	TLS:             {"tls", "TLS handshake or certificate failure", true, false},
	BodyMismatch:    {"body_mismatch", "2xx, but the body lacked the --expect-body text", true, false},
	Other:           {"other", "any other error, or a 1xx/3xx final response; the failure record keeps the detail", true, false},
	Unreachable:     {"unreachable", "no route to the host or its network", true, false},
	// HTTP/2's (http2.go): the stream's fate, the connection being fine.
	GoAwayUnprocessed: {"goaway_unprocessed", "HTTP/2: the server's GOAWAY named a last stream below the request's, so it never processed it (retryable under --retries)", true, true},
	RefusedStream:     {"refused_stream", "HTTP/2: RST_STREAM(REFUSED_STREAM), the request was not processed (retryable under --retries)", true, true},
	StreamReset:       {"stream_reset", "HTTP/2: RST_STREAM with another error code (e.g. INTERNAL_ERROR, CANCEL)", true, false},
	// gRPC's (grpc.go): HTTP 200, the call's own status not OK. None is
	// unprocessed: UNAVAILABLE is what a server says when it did not
	// process a call, but also when it failed half-way, so it proves
	// nothing and is never re-sent.
	GRPCNoStatus:           {"grpc_no_status", "gRPC: the response ended without a valid grpc-status", true, false},
	GRPCCancelled:          {"grpc_cancelled", "gRPC: status CANCELLED (1)", true, false},
	GRPCUnknown:            {"grpc_unknown", "gRPC: status UNKNOWN (2), or a code above 16", true, false},
	GRPCInvalidArgument:    {"grpc_invalid_argument", "gRPC: status INVALID_ARGUMENT (3)", true, false},
	GRPCDeadlineExceeded:   {"grpc_deadline_exceeded", "gRPC: status DEADLINE_EXCEEDED (4)", true, false},
	GRPCNotFound:           {"grpc_not_found", "gRPC: status NOT_FOUND (5)", true, false},
	GRPCAlreadyExists:      {"grpc_already_exists", "gRPC: status ALREADY_EXISTS (6)", true, false},
	GRPCPermissionDenied:   {"grpc_permission_denied", "gRPC: status PERMISSION_DENIED (7)", true, false},
	GRPCResourceExhausted:  {"grpc_resource_exhausted", "gRPC: status RESOURCE_EXHAUSTED (8)", true, false},
	GRPCFailedPrecondition: {"grpc_failed_precondition", "gRPC: status FAILED_PRECONDITION (9)", true, false},
	GRPCAborted:            {"grpc_aborted", "gRPC: status ABORTED (10)", true, false},
	GRPCOutOfRange:         {"grpc_out_of_range", "gRPC: status OUT_OF_RANGE (11)", true, false},
	GRPCUnimplemented:      {"grpc_unimplemented", "gRPC: status UNIMPLEMENTED (12)", true, false},
	GRPCInternal:           {"grpc_internal", "gRPC: status INTERNAL (13)", true, false},
	GRPCUnavailable:        {"grpc_unavailable", "gRPC: status UNAVAILABLE (14); not retried: it does not prove the call was not processed", true, false},
	GRPCDataLoss:           {"grpc_data_loss", "gRPC: status DATA_LOSS (15)", true, false},
	GRPCUnauthenticated:    {"grpc_unauthenticated", "gRPC: status UNAUTHENTICATED (16)", true, false},
	GRPCNotServing:         {"grpc_not_serving", "gRPC health check: status OK, but the service is not SERVING (NOT_SERVING, UNKNOWN or SERVICE_UNKNOWN)", true, false},
}

// String returns the outcome's schema name, e.g. "http_5xx".
func (o Outcome) String() string {
	if o < numOutcomes {
		return outcomeTable[o].name
	}
	return "invalid"
}

// Meaning says in one line what the outcome means, for readers of a
// report; it is empty for an invalid outcome.
func (o Outcome) Meaning() string {
	if o < numOutcomes {
		return outcomeTable[o].meaning
	}
	return ""
}

// Failed reports whether the outcome counts as a dropped request. An
// invalid outcome does: only a success may be left out of the drops.
func (o Outcome) Failed() bool { return o >= numOutcomes || outcomeTable[o].dropped }

// Unprocessed reports whether the outcome means the server never
// processed the request, so that re-sending it is safe for any method.
func (o Outcome) Unprocessed() bool { return o < numOutcomes && outcomeTable[o].unprocessed }

// Outcomes lists every outcome in schema order.
func Outcomes() []Outcome {
	out := make([]Outcome, numOutcomes)
	for i := range out {
		out[i] = Outcome(i)
	}
	return out
}

// ParseOutcome returns the outcome whose schema name is name. For a name
// it does not know (a newer rolltest's, or a damaged document's) it
// returns false and an invalid outcome, which counts as failed and has no
// meaning.
func ParseOutcome(name string) (Outcome, bool) {
	for o := range numOutcomes {
		if outcomeTable[o].name == name {
			return o, true
		}
	}
	return numOutcomes, false
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

// ErrorOutcome classifies a transport error by what the operating system,
// the net and crypto/tls packages say; a Transport maps its own protocol
// library's errors first (http1ErrorOutcome). connecting says whether the
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
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
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
	// Anything that says it is a timeout is one, net.Error or not.
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
