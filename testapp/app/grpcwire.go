package app

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"
)

// The gRPC wire format, by hand: testapp imports only the standard library,
// and its two unary methods need little of it. A message travels as a
// 5-byte prefix (a compressed flag, then the length, big-endian) and the
// protobuf bytes; the status travels in the grpc-status and grpc-message
// trailers (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md).

// gRPC status codes testapp answers with (google.rpc.Code).
const (
	grpcOK                = 0
	grpcNotFound          = 5
	grpcResourceExhausted = 8
	grpcUnimplemented     = 12
	grpcInternal          = 13
	grpcUnavailable       = 14
	numGRPCCodes          = 17
)

// grpcHTTPStatus maps a gRPC status code to the HTTP status of the same
// meaning, as google.rpc.Code documents it: the status class Counts files
// a gRPC response under, whose HTTP status is always 200.
func grpcHTTPStatus(code int) int {
	switch code {
	case 0: // OK
		return http.StatusOK
	case 1: // CANCELLED: the client gave up, nginx's 499
		return 499
	case 3, 9, 11: // INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE
		return http.StatusBadRequest
	case 4: // DEADLINE_EXCEEDED
		return http.StatusGatewayTimeout
	case 5: // NOT_FOUND
		return http.StatusNotFound
	case 6, 10: // ALREADY_EXISTS, ABORTED
		return http.StatusConflict
	case 7: // PERMISSION_DENIED
		return http.StatusForbidden
	case 8: // RESOURCE_EXHAUSTED
		return http.StatusTooManyRequests
	case 12: // UNIMPLEMENTED
		return http.StatusNotImplemented
	case 14: // UNAVAILABLE
		return http.StatusServiceUnavailable
	case 16: // UNAUTHENTICATED
		return http.StatusUnauthorized
	}
	return http.StatusInternalServerError // UNKNOWN, INTERNAL, DATA_LOSS, anything else
}

// grpcPrefixLen is the length of a message's prefix: the compressed flag
// and the 4-byte length.
const grpcPrefixLen = 5

// maxGRPCMessage bounds a request message, as grpc-go's default maximum
// receive size does: the length comes from the client and is allocated.
const maxGRPCMessage = 4 << 20

// rpcError is a gRPC status other than OK, to answer with.
type rpcError struct {
	code int
	msg  string
}

func (e *rpcError) Error() string { return fmt.Sprintf("grpc status %d: %s", e.code, e.msg) }

// readUnaryFrame reads the body of a unary call: exactly one uncompressed
// message of at most limit bytes. It returns the message with its prefix,
// which is also its echo. Every error is an *rpcError.
func readUnaryFrame(body io.Reader, limit int) ([]byte, error) {
	var prefix [grpcPrefixLen]byte
	switch _, err := io.ReadFull(body, prefix[:]); {
	case errors.Is(err, io.EOF):
		return nil, &rpcError{grpcInternal, "no request message for a unary method"}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return nil, &rpcError{grpcInternal, "request message prefix cut short"}
	case err != nil:
		return nil, &rpcError{grpcInternal, "reading the request: " + err.Error()}
	}
	switch prefix[0] {
	case 0:
	case 1:
		// testapp never sends grpc-accept-encoding, so a client has no
		// encoding to compress with.
		return nil, &rpcError{grpcUnimplemented, "compressed messages are not supported"}
	default:
		return nil, &rpcError{grpcInternal, fmt.Sprintf("invalid compressed flag %d", prefix[0])}
	}
	n := binary.BigEndian.Uint32(prefix[1:])
	if uint64(n) > uint64(limit) {
		return nil, &rpcError{grpcResourceExhausted, fmt.Sprintf("request message of %d bytes exceeds the limit of %d", n, limit)}
	}
	frame := make([]byte, grpcPrefixLen+int(n))
	copy(frame, prefix[:])
	if _, err := io.ReadFull(body, frame[grpcPrefixLen:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, &rpcError{grpcInternal, fmt.Sprintf("request message cut short of its %d bytes", n)}
		}
		return nil, &rpcError{grpcInternal, "reading the request: " + err.Error()}
	}
	var extra [1]byte
	switch k, err := io.ReadFull(body, extra[:]); {
	case k > 0:
		return nil, &rpcError{grpcInternal, "more than one request message for a unary method"}
	case !errors.Is(err, io.EOF):
		return nil, &rpcError{grpcInternal, "reading the request: " + err.Error()}
	}
	return frame, nil
}

// Protobuf wire types.
const (
	wireVarint = 0
	wireI64    = 1
	wireLen    = 2
	wireI32    = 5
)

// parseHealthCheckRequest returns the service field (1, a string) of a
// serialized grpc.health.v1.HealthCheckRequest, "" when absent. As
// protobuf decoders do, it skips unknown fields and keeps the last of a
// repeated scalar. Every error is an *rpcError with INTERNAL, as a
// generated server answers a request it cannot unmarshal.
func parseHealthCheckRequest(msg []byte) (string, error) {
	bad := func(why string) error {
		return &rpcError{grpcInternal, "unmarshalling grpc.health.v1.HealthCheckRequest: " + why}
	}
	var service string
	for len(msg) > 0 {
		tag, n := consumeVarint(msg)
		if n <= 0 {
			return "", bad("bad field tag")
		}
		msg = msg[n:]
		field, wire := tag>>3, tag&7
		if field == 0 || field > 1<<29-1 {
			return "", bad(fmt.Sprintf("invalid field number %d", field))
		}
		var val []byte
		switch wire {
		case wireVarint:
			_, n = consumeVarint(msg)
			if n <= 0 {
				return "", bad("bad varint")
			}
		case wireI64:
			n = 8
		case wireI32:
			n = 4
		case wireLen:
			l, k := consumeVarint(msg)
			if k <= 0 || l > uint64(len(msg)-k) {
				return "", bad("bad length")
			}
			val = msg[k : k+int(l)]
			n = k + int(l)
		default: // groups (3, 4) are not proto3; 6 and 7 do not exist
			return "", bad(fmt.Sprintf("wire type %d", wire))
		}
		if n > len(msg) {
			return "", bad("field cut short")
		}
		msg = msg[n:]
		if field != 1 {
			continue
		}
		if wire != wireLen {
			return "", bad(fmt.Sprintf("field service has wire type %d, want %d", wire, wireLen))
		}
		if !utf8.Valid(val) {
			return "", bad("field service is not valid UTF-8")
		}
		service = string(val)
	}
	return service, nil
}

// consumeVarint decodes the protobuf varint at the start of b and returns
// it with its length, or a length <= 0 if b holds no valid varint (cut
// short, or longer than 10 bytes or 64 bits).
func consumeVarint(b []byte) (uint64, int) {
	var v uint64
	for i := 0; i < len(b) && i < 10; i++ {
		c := b[i]
		if i == 9 && c > 1 {
			return 0, -1 // beyond 64 bits
		}
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return v, i + 1
		}
	}
	return 0, -1
}

// appendVarint appends v as a protobuf varint.
func appendVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// grpcFrame returns msg with its 5-byte prefix, uncompressed.
func grpcFrame(msg []byte) []byte {
	f := make([]byte, grpcPrefixLen, grpcPrefixLen+len(msg))
	binary.BigEndian.PutUint32(f[1:], uint32(len(msg)))
	return append(f, msg...)
}

// percentEncode encodes a grpc-message value: bytes outside printable
// ASCII, and '%', become %XX. Messages may quote a request's path.
func percentEncode(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c <= 0x7e && c != '%' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xf])
	}
	return b.String()
}
