package loadgen

import (
	"bytes"
	"errors"
	"testing"
)

// grpcMsg is msg with gRPC's prefix, flag 0.
func grpcMsg(msg []byte) []byte { return grpcFrame(msg) }

// refMessages parses a whole body of gRPC messages at once, the plain
// way: the reference the streaming reader must agree with.
func refMessages(b []byte, limit int64) (count int, first []byte, firstLen uint32, err error) {
	for len(b) > 0 {
		if len(b) < grpcPrefixLen {
			return count, first, firstLen, ErrGRPCMalformed
		}
		switch b[0] {
		case 0:
		case 1:
			return count, first, firstLen, ErrGRPCCompressed
		default:
			return count, first, firstLen, ErrGRPCMalformed
		}
		n := uint32(b[1])<<24 | uint32(b[2])<<16 | uint32(b[3])<<8 | uint32(b[4])
		if limit > 0 && int64(n) > limit {
			return count, first, firstLen, ErrBodyTooLarge
		}
		count++
		b = b[grpcPrefixLen:]
		if count == 1 {
			firstLen = n
			first = b[:min(int(n), len(b), grpcKeep)]
		}
		if uint64(n) > uint64(len(b)) {
			return count, first, firstLen, ErrGRPCMalformed
		}
		b = b[n:]
	}
	return count, first, firstLen, nil
}

// feedMessages streams body through a reader in pieces cut at cuts.
func feedMessages(body []byte, cuts []byte, limit int) (*grpcMessages, error) {
	g := newGRPCMessages(limit)
	g.reset()
	rest := body
	for _, c := range cuts {
		n := min(int(c), len(rest))
		if err := g.write(rest[:n]); err != nil {
			return &g, err
		}
		rest = rest[n:]
	}
	if err := g.write(rest); err != nil {
		return &g, err
	}
	return &g, g.end()
}

func TestGRPCMessages(t *testing.T) {
	big := bytes.Repeat([]byte{7}, 1000)
	for _, tc := range []struct {
		name  string
		body  []byte
		limit int
		count int
		first []byte
		err   error
	}{
		{"none", nil, 0, 0, nil, nil},
		{"empty message", grpcMsg(nil), 0, 1, nil, nil},
		{"health reply", grpcMsg([]byte{8, 1}), 0, 1, []byte{8, 1}, nil},
		{"two", append(grpcMsg([]byte("a")), grpcMsg([]byte("bc"))...), 0, 2, []byte("a"), nil},
		{"kept in part", grpcMsg(big), 0, 1, big[:grpcKeep], nil},
		{"at the limit", grpcMsg(big), 1000, 1, big[:grpcKeep], nil},
		{"over the limit", grpcMsg(big), 999, 0, nil, ErrBodyTooLarge},
		{"compressed", []byte{1, 0, 0, 0, 0}, 0, 0, nil, ErrGRPCCompressed},
		{"bad flag", []byte{2, 0, 0, 0, 0}, 0, 0, nil, ErrGRPCMalformed},
		{"cut prefix", []byte{0, 0, 0}, 0, 0, nil, ErrGRPCMalformed},
		{"cut message", []byte{0, 0, 0, 0, 3, 'a'}, 0, 1, []byte("a"), ErrGRPCMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Whole, byte by byte, and in pieces of 3: the same.
			for _, cuts := range [][]byte{nil, bytes.Repeat([]byte{1}, len(tc.body)), bytes.Repeat([]byte{3}, len(tc.body)/3)} {
				g, err := feedMessages(tc.body, cuts, tc.limit)
				if !errors.Is(err, tc.err) {
					t.Fatalf("cuts %v: error %v, want %v", cuts, err, tc.err)
				}
				if tc.err == nil && (g.count != tc.count || !bytes.Equal(g.first, tc.first)) {
					t.Fatalf("cuts %v: %d messages, first %q; want %d, %q", cuts, g.count, g.first, tc.count, tc.first)
				}
			}
		})
	}
}

// FuzzGRPCMessages: however a body is cut into pieces, the streaming
// reader agrees with the whole-body reference: the same messages, the
// same first bytes kept, the same verdict. It never keeps more than
// grpcKeep bytes.
func FuzzGRPCMessages(f *testing.F) {
	f.Add(grpcMsg([]byte{8, 1}), []byte{2}, 0)
	f.Add(append(grpcMsg([]byte("hello")), grpcMsg(nil)...), []byte{1, 1, 7}, 4)
	f.Add([]byte{0, 0xff, 0xff, 0xff, 0xff, 1}, []byte{}, 0)
	f.Add([]byte{1, 0, 0, 0, 0}, []byte{5}, 0)
	f.Fuzz(func(t *testing.T, body, cuts []byte, limit int) {
		limit = max(limit, 0) % (1 << 20)
		g, err := feedMessages(body, cuts, limit)
		count, first, firstLen, want := refMessages(body, int64(limit))
		if (err == nil) != (want == nil) || err != nil && !errors.Is(err, want) {
			t.Fatalf("error %v, reference %v", err, want)
		}
		if len(g.first) > grpcKeep {
			t.Fatalf("kept %d bytes", len(g.first))
		}
		if err != nil {
			return
		}
		if g.count != count || !bytes.Equal(g.first, first) || g.count > 0 && g.firstLen != firstLen {
			t.Fatalf("%d messages, first %x (%d); reference %d, %x (%d)", g.count, g.first, g.firstLen, count, first, firstLen)
		}
		if g.firstWhole() != (count > 0 && int(firstLen) <= grpcKeep) {
			t.Fatalf("firstWhole %v with a first message of %d bytes", g.firstWhole(), firstLen)
		}
	})
}

// protoField is a field to encode: its number, wire type and value (a
// varint's or a fixed one's value, or a length-delimited one's bytes).
type protoField struct {
	num  uint64
	wire uint64
	v    uint64
	b    []byte
}

func appendVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func encodeProto(fields []protoField) []byte {
	var b []byte
	for _, f := range fields {
		b = appendVarint(b, f.num<<3|f.wire)
		switch f.wire {
		case 0:
			b = appendVarint(b, f.v)
		case 1:
			for i := range 8 {
				b = append(b, byte(f.v>>(8*i)))
			}
		case 2:
			b = append(appendVarint(b, uint64(len(f.b))), f.b...)
		case 5:
			for i := range 4 {
				b = append(b, byte(f.v>>(8*i)))
			}
		}
	}
	return b
}

func TestProtoVarintField(t *testing.T) {
	for _, tc := range []struct {
		name      string
		msg       []byte
		v         uint64
		found, ok bool
	}{
		{"empty: absent, 0", nil, 0, false, true},
		{"SERVING", []byte{0x08, 0x01}, 1, true, true},
		{"NOT_SERVING", []byte{0x08, 0x02}, 2, true, true},
		{"the last one wins", []byte{0x08, 0x01, 0x08, 0x03}, 3, true, true},
		{"after other fields", encodeProto([]protoField{{num: 2, wire: 2, b: []byte("svc")}, {num: 3, wire: 1, v: 9}, {num: 4, wire: 5, v: 9}, {num: 1, wire: 0, v: 1}}), 1, true, true},
		{"field 1 of another wire type", encodeProto([]protoField{{num: 1, wire: 2, b: []byte{1}}}), 0, false, true},
		{"a long varint", []byte{0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 1<<64 - 1, true, true},
		{"a varint past 64 bits", []byte{0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}, 0, false, false},
		{"an eleven-byte varint", []byte{0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, 0, false, false},
		{"cut varint", []byte{0x08, 0x80}, 0, false, false},
		{"cut length", []byte{0x12, 0x05, 'a'}, 0, false, false},
		{"cut fixed64", []byte{0x09, 1, 2}, 0, false, false},
		{"field 0", []byte{0x00, 0x01}, 0, false, false},
		{"group", []byte{0x0b}, 0, false, false},
		{"wire type 7", []byte{0x0f}, 0, false, false},
	} {
		v, found, ok := protoVarintField(tc.msg, 1)
		if v != tc.v || found != tc.found || ok != tc.ok {
			t.Errorf("%s: %d %v %v, want %d %v %v", tc.name, v, found, ok, tc.v, tc.found, tc.ok)
		}
	}
}

// FuzzProtoVarintField: a message built from fields the fuzzer chooses
// decodes to the last varint of field 1 (and a cut one is refused, or
// read as the fields that are whole); arbitrary bytes never panic, and
// what decodes is stable when a whole field is appended.
func FuzzProtoVarintField(f *testing.F) {
	f.Add([]byte{1, 0, 1, 2, 2, 7}, []byte{0x08, 0x01})
	f.Add([]byte{1, 0, 200, 1, 1, 3}, []byte{0xff})
	f.Fuzz(func(t *testing.T, spec, raw []byte) {
		// spec: triples (field number, wire type, value byte).
		var fields []protoField
		var want uint64
		found := false
		for len(spec) >= 3 {
			fl := protoField{num: uint64(spec[0]%20) + 1, wire: []uint64{0, 1, 2, 5}[spec[1]%4], v: uint64(spec[2]) * 0x0102030405}
			if fl.wire == 2 {
				fl.b = bytes.Repeat([]byte{spec[2]}, int(spec[2]%17))
			}
			if fl.wire == 5 {
				fl.v &= 1<<32 - 1
			}
			if fl.num == 1 && fl.wire == 0 {
				want, found = fl.v, true
			}
			fields = append(fields, fl)
			spec = spec[3:]
		}
		msg := encodeProto(fields)
		v, gotFound, ok := protoVarintField(msg, 1)
		if !ok || gotFound != found || found && v != want {
			t.Fatalf("%x: %d %v %v, want %d %v", msg, v, gotFound, ok, want, found)
		}
		// Arbitrary bytes: no panic; if they decode, a valid field
		// appended decodes too, and wins when it is field 1.
		if _, _, ok := protoVarintField(raw, 1); ok {
			v, found, ok := protoVarintField(append(bytes.Clone(raw), 0x08, 0x2a), 1)
			if !ok || !found || v != 42 {
				t.Fatalf("%x + field 1 = 42: %d %v %v", raw, v, found, ok)
			}
		}
	})
}

func TestGRPCStatusAndMessage(t *testing.T) {
	for _, tc := range []struct {
		v    string
		code int
		bad  bool
	}{{"0", 0, false}, {"14", 14, false}, {"17", 17, false}, {"", -1, true}, {"1x", -1, true}, {"-1", -1, true}, {"9999999999", -1, true}} {
		if code, bad := parseGRPCStatus(tc.v); code != tc.code || bad != tc.bad {
			t.Errorf("parseGRPCStatus(%q) = %d %v, want %d %v", tc.v, code, bad, tc.code, tc.bad)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"plain", "plain"}, {"caf%C3%A9 100%25", "café 100%"}, {"%zz%4", "%zz%4"}, {"%", "%"}, {"a%41", "aA"},
	} {
		if got := string(appendGRPCMessage(nil, []byte(tc.in))); got != tc.want {
			t.Errorf("appendGRPCMessage(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	for code := 1; code <= 16; code++ {
		if o := grpcStatusOutcome(code); o.String() != "grpc_"+toSnake(grpcCodeNames[code]) {
			t.Errorf("code %d: %v", code, o)
		}
	}
	if grpcStatusOutcome(17) != GRPCUnknown || grpcStatusOutcome(-1) != GRPCUnknown {
		t.Error("codes outside 1..16 are not UNKNOWN")
	}
}

// toSnake lowercases a status name: DEADLINE_EXCEEDED, deadline_exceeded.
func toSnake(s string) string { return string(bytes.ToLower([]byte(s))) }

// FuzzGRPCMessageText: grpc-message decoding never panics, never grows a
// message, and leaves a message without '%' as it is.
func FuzzGRPCMessageText(f *testing.F) {
	f.Add([]byte("caf%C3%A9"))
	f.Add([]byte("%%%4"))
	f.Fuzz(func(t *testing.T, m []byte) {
		got := appendGRPCMessage(nil, m)
		if len(got) > len(m) {
			t.Fatalf("%q decoded to the longer %q", m, got)
		}
		if !bytes.Contains(m, []byte("%")) && !bytes.Equal(got, m) {
			t.Fatalf("%q became %q", m, got)
		}
		if code, bad := parseGRPCStatus(string(m)); bad != (code < 0) || code > 999_999_999 {
			t.Fatalf("parseGRPCStatus(%q) = %d, %v", m, code, bad)
		}
	})
}
