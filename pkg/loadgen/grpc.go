package loadgen

import (
	"fmt"
	"strings"
)

// gRPC is a unary call over the HTTP/2 transport (http2.go): the request
// is a POST to the method's path with one length-prefixed message, the
// response a 200 whose DATA holds the reply and whose trailers hold
// grpc-status. Nothing of grpc-go is used: it re-sends calls the server
// refused or never saw (transparent retry), which would hide exactly what
// rolltest counts. A call that ends with a status other than OK is a
// complete response with its own outcome (grpc_unavailable, ...); the
// stream's and the connection's fates (GOAWAY, RST_STREAM, a cut) are
// HTTP/2's, as for any HTTP/2 request.

// ProtoGRPC is a run of gRPC unary calls (Config.Protocol): over TCP with
// prior knowledge for grpc:// targets, over TLS with ALPN "h2" for
// grpcs:// targets.
const ProtoGRPC = "grpc"

// DefaultGRPCMethod is the call made when Config.GRPCMethod is empty: the
// standard health check (grpc.health.v1), whose response rolltest reads:
// a service not SERVING fails as grpc_not_serving.
const DefaultGRPCMethod = "/grpc.health.v1.Health/Check"

// healthServing is grpc.health.v1.HealthCheckResponse.ServingStatus
// SERVING; the response's field 1 holds it.
const healthServing = 1

// healthStatusNames name the serving statuses, for failure details.
var healthStatusNames = [...]string{"UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"}

// grpcCodeNames name the status codes 0 to 16 (the order of the gRPC
// outcomes from GRPCCancelled on, for 1 to 16).
var grpcCodeNames = [...]string{"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
	"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
	"UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"}

// validGRPCMethod checks a method path: "/package.Service/Method", a
// leading slash and exactly one more, with a name on each side.
func validGRPCMethod(m string) error {
	svc, name, ok := strings.Cut(strings.TrimPrefix(m, "/"), "/")
	switch {
	case !strings.HasPrefix(m, "/"):
		return fmt.Errorf("%q does not start with '/'; write /package.Service/Method", m)
	case !ok || svc == "" || name == "" || strings.Contains(name, "/"):
		return fmt.Errorf("%q is not /package.Service/Method (one '/' before the service, one between it and the method)", m)
	}
	for i := 0; i < len(m); i++ {
		if c := m[i]; c <= ' ' || c >= 0x7f {
			return fmt.Errorf("%q contains a space or a character outside printable ASCII", m)
		}
	}
	return nil
}

// grpcStatusOutcome is the outcome of a grpc-status code other than 0;
// codes above 16 are UNKNOWN, as the gRPC spec reads them.
func grpcStatusOutcome(code int) Outcome {
	if code >= 1 && code <= 16 {
		return GRPCCancelled + Outcome(code-1)
	}
	return GRPCUnknown
}

// grpcCall is what a gRPC response said beyond its HTTP status: the
// status from its trailers (or its trailers-only HEADERS), its message,
// and the reply messages read (grpcMessages).
type grpcCall struct {
	status    int // grpc-status; -1 when absent
	badStatus bool
	message   []byte // grpc-message, percent-encoded as sent; at most maxGRPCMessage bytes kept
	msgs      grpcMessages
}

// maxGRPCMessage bounds the grpc-message kept for a failure's detail.
const maxGRPCMessage = 256

func newGRPCCall(limit int) grpcCall {
	return grpcCall{status: -1, msgs: newGRPCMessages(limit), message: make([]byte, 0, maxGRPCMessage)}
}

func (g *grpcCall) reset() {
	g.status, g.badStatus = -1, false
	g.message = g.message[:0]
	g.msgs.reset()
}

// field takes in a field of the final header block or the trailers:
// grpc-status and grpc-message. A later block (the trailers) overrides an
// earlier one.
func (g *grpcCall) field(name, value string) {
	switch name {
	case "grpc-status":
		g.status, g.badStatus = parseGRPCStatus(value)
	case "grpc-message":
		g.message = append(g.message[:0], value[:min(len(value), maxGRPCMessage)]...)
	}
}

// parseGRPCStatus reads a grpc-status value: a decimal number. A value
// that is not one is absent, and bad.
func parseGRPCStatus(v string) (code int, bad bool) {
	if v == "" || len(v) > 9 {
		return -1, true
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return -1, true
		}
		code = code*10 + int(v[i]-'0')
	}
	return code, false
}

// verdict classifies a complete gRPC response: status is its HTTP
// status, health whether the call is the health check, whose reply names
// the serving status. It returns OK when the call succeeded, and
// otherwise the outcome and a detail appended to dst.
func (g *grpcCall) verdict(status int, health bool, dst []byte) (Outcome, []byte) {
	switch {
	case status != 200:
		// Not a gRPC answer: a proxy's or the runtime's. Its status
		// classifies it as for HTTP; a 2xx other than 200 is no gRPC
		// response at all.
		if o := StatusOutcome(status); o != OK {
			return o, dst
		}
		return Other, fmt.Appendf(dst, "gRPC: HTTP %d, not 200", status)
	case g.badStatus:
		return GRPCNoStatus, append(dst, "gRPC: HTTP 200 with a grpc-status that is not a number"...)
	case g.status < 0:
		return GRPCNoStatus, append(dst, "gRPC: HTTP 200 without grpc-status (neither in trailers nor in a trailers-only response)"...)
	case g.status != 0:
		o := grpcStatusOutcome(g.status)
		name := "code " + fmt.Sprint(g.status)
		if g.status < len(grpcCodeNames) {
			name = grpcCodeNames[g.status]
		}
		dst = fmt.Appendf(dst, "gRPC %s (%d)", name, g.status)
		if len(g.message) > 0 {
			dst = append(dst, ": "...)
			dst = appendGRPCMessage(dst, g.message)
		}
		return o, dst
	case g.msgs.count != 1:
		return Other, fmt.Appendf(dst, "gRPC: status OK with %d reply messages; a unary call has exactly one", g.msgs.count)
	case !health:
		return OK, dst
	}
	if !g.msgs.firstWhole() {
		return Other, fmt.Appendf(dst, "gRPC health: a reply of %d bytes, longer than the %d read", g.msgs.firstLen, grpcKeep)
	}
	v, _, ok := protoVarintField(g.msgs.first, 1)
	switch {
	case !ok:
		return Other, fmt.Appendf(dst, "gRPC health: the reply is not a HealthCheckResponse (% x)", g.msgs.first[:min(len(g.msgs.first), 16)])
	case v == healthServing:
		return OK, dst
	}
	name := "status " + fmt.Sprint(v)
	if v < uint64(len(healthStatusNames)) {
		name = healthStatusNames[v]
	}
	return GRPCNotServing, fmt.Appendf(dst, "gRPC health: %s", name)
}

// appendGRPCMessage appends a grpc-message, percent-decoded (the gRPC
// spec's encoding of it); a malformed escape is kept as sent.
func appendGRPCMessage(dst, m []byte) []byte {
	for i := 0; i < len(m); i++ {
		if m[i] == '%' && i+2 < len(m) {
			if h, ok := unhex(m[i+1]); ok {
				if l, ok := unhex(m[i+2]); ok {
					dst = append(dst, h<<4|l)
					i += 2
					continue
				}
			}
		}
		dst = append(dst, m[i])
	}
	return dst
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
