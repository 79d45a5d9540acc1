package loadgen

import (
	"errors"
	"fmt"
)

// gRPC's wire format, the parts a unary client reads: length-prefixed
// messages in a response body (grpcMessages) and, for the health check,
// one varint field of a protobuf message (protoVarintField). Both read
// what the server sent, so both are fuzzed (grpcwire_test.go).

// grpcPrefixLen is a message's prefix: a compressed flag byte and a
// big-endian uint32 length (gRPC over HTTP/2, "Length-Prefixed-Message").
const grpcPrefixLen = 5

// grpcKeep is how much of the first message is kept: enough for the
// health check's response (two bytes) and any small reply a check reads,
// never the whole of a large one.
const grpcKeep = 256

// Errors of a gRPC body; errors.Is finds them. Each is counted as other.
var (
	// ErrGRPCCompressed: a message flagged compressed, although rolltest
	// offers no compression (it sends no grpc-accept-encoding), so the
	// server may not use any.
	ErrGRPCCompressed = errors.New("gRPC: a compressed message, although the request offered no compression")
	// ErrGRPCMalformed: a message prefix whose flag is neither 0 nor 1, or
	// a body that ends inside a message.
	ErrGRPCMalformed = errors.New("gRPC: malformed message framing")
)

// grpcMessages reads a body of gRPC length-prefixed messages as it
// streams past, a piece at a time, however the pieces cut it: it counts
// the messages, keeps the first one's first grpcKeep bytes and refuses a
// message longer than limit before reading it. It holds nothing else and,
// once created, allocates nothing.
type grpcMessages struct {
	limit    int64 // the longest message accepted; 0: no limit
	prefix   [grpcPrefixLen]byte
	nprefix  int    // prefix bytes read of the message being read
	left     uint32 // its bytes still to come, once the prefix is complete
	count    int    // messages whose prefix is complete
	firstLen uint32 // the first message's length
	first    []byte // its first grpcKeep bytes
}

func newGRPCMessages(limit int) grpcMessages {
	return grpcMessages{limit: int64(limit), first: make([]byte, 0, grpcKeep)}
}

// reset starts a new body.
func (g *grpcMessages) reset() {
	g.nprefix, g.left, g.count, g.firstLen = 0, 0, 0, 0
	g.first = g.first[:0]
}

// write takes in the next piece of the body.
func (g *grpcMessages) write(p []byte) error {
	for len(p) > 0 {
		if g.left > 0 {
			n := min(uint32(len(p)), g.left)
			if g.count == 1 {
				if room := grpcKeep - len(g.first); room > 0 {
					g.first = append(g.first, p[:min(room, int(n))]...)
				}
			}
			g.left -= n
			p = p[n:]
			continue
		}
		n := copy(g.prefix[g.nprefix:], p)
		g.nprefix += n
		p = p[n:]
		if g.nprefix < grpcPrefixLen {
			return nil
		}
		g.nprefix = 0
		switch g.prefix[0] {
		case 0:
		case 1:
			return ErrGRPCCompressed
		default:
			return fmt.Errorf("%w: flag byte %#x", ErrGRPCMalformed, g.prefix[0])
		}
		size := uint32(g.prefix[1])<<24 | uint32(g.prefix[2])<<16 | uint32(g.prefix[3])<<8 | uint32(g.prefix[4])
		if g.limit > 0 && int64(size) > g.limit {
			return fmt.Errorf("%w: a gRPC message of %d bytes, more than MaxBodyBytes %d", ErrBodyTooLarge, size, g.limit)
		}
		g.count++
		if g.count == 1 {
			g.firstLen = size
		}
		g.left = size
	}
	return nil
}

// end checks, at the end of the body, that no message was cut short.
func (g *grpcMessages) end() error {
	if g.nprefix > 0 || g.left > 0 {
		return fmt.Errorf("%w: the body ended inside a message", ErrGRPCMalformed)
	}
	return nil
}

// firstWhole reports whether first holds the whole first message.
func (g *grpcMessages) firstWhole() bool {
	return g.count > 0 && uint32(len(g.first)) == g.firstLen
}

// protoVarintField returns the value of the last occurrence of field num,
// of wire type varint, in the protobuf message msg (the last one wins, as
// protobuf merges a repeated scalar). found is false when the field is
// absent: proto3 reads it as 0. ok is false when msg is not a well-formed
// message, a cut one included. Only what it takes to step over the other
// fields is decoded; groups (wire types 3 and 4, deprecated) are refused.
func protoVarintField(msg []byte, num uint64) (v uint64, found, ok bool) {
	for len(msg) > 0 {
		key, n := protoVarint(msg)
		if n <= 0 {
			return 0, false, false
		}
		msg = msg[n:]
		field, wire := key>>3, key&7
		if field == 0 {
			return 0, false, false
		}
		switch wire {
		case 0: // varint
			x, n := protoVarint(msg)
			if n <= 0 {
				return 0, false, false
			}
			msg = msg[n:]
			if field == num {
				v, found = x, true
			}
		case 1: // 64-bit
			if len(msg) < 8 {
				return 0, false, false
			}
			msg = msg[8:]
		case 2: // length-delimited
			l, n := protoVarint(msg)
			if n <= 0 || l > uint64(len(msg)-n) {
				return 0, false, false
			}
			msg = msg[n+int(l):]
		case 5: // 32-bit
			if len(msg) < 4 {
				return 0, false, false
			}
			msg = msg[4:]
		default:
			return 0, false, false
		}
	}
	return v, found, true
}

// protoVarint decodes a base-128 varint at the start of b: its value and
// length, or n 0 when b ends inside it and -1 when it runs past ten bytes
// or 64 bits.
func protoVarint(b []byte) (v uint64, n int) {
	for i := 0; i < len(b); i++ {
		if i == 10 {
			return 0, -1
		}
		c := b[i]
		if i == 9 && c > 1 {
			return 0, -1 // bits past the 64th
		}
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return v, i + 1
		}
	}
	return 0, 0
}
