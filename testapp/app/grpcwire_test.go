package app

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestParseHealthCheckRequest(t *testing.T) {
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	for _, tc := range []struct {
		name    string
		msg     []byte
		want    string
		wantErr string // a substring; "" for none
	}{
		{"empty: service \"\"", nil, "", ""},
		{"service", healthRequest("readinessProbe"), "readinessProbe", ""},
		{"empty string, explicit", []byte{0x0a, 0}, "", ""},
		{"last one wins", cat(healthRequest("a"), healthRequest("b")), "b", ""},
		{"unknown fields of every wire type skipped", cat(
			[]byte{2<<3 | wireVarint, 0x96, 0x01},
			[]byte{3<<3 | wireI64, 1, 2, 3, 4, 5, 6, 7, 8},
			healthRequest("s"),
			[]byte{4<<3 | wireLen, 2, 'x', 'y'},
			[]byte{5<<3 | wireI32, 1, 2, 3, 4},
		), "s", ""},
		{"a long service", healthRequest(strings.Repeat("s", 300)), strings.Repeat("s", 300), ""},
		{"field number 0", []byte{0<<3 | wireVarint, 1}, "", "field number 0"},
		{"group", []byte{2<<3 | 3}, "", "wire type 3"},
		{"wire type 7", []byte{2<<3 | 7}, "", "wire type 7"},
		{"service as a varint", []byte{1<<3 | wireVarint, 1}, "", "wire type 0"},
		{"length past the end", []byte{0x0a, 5, 'a'}, "", "bad length"},
		{"huge length", []byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 'a'}, "", "bad length"},
		{"tag cut short", []byte{0x80}, "", "bad field tag"},
		{"varint cut short", []byte{2<<3 | wireVarint, 0x80}, "", "bad varint"},
		{"varint of 11 bytes", cat([]byte{2<<3 | wireVarint}, bytes.Repeat([]byte{0x80}, 10), []byte{1}), "", "bad varint"},
		{"fixed64 cut short", []byte{3<<3 | wireI64, 1, 2}, "", "cut short"},
		{"invalid UTF-8", []byte{0x0a, 2, 0xc3, 0x28}, "", "UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseHealthCheckRequest(tc.msg)
			if tc.wantErr == "" {
				if err != nil || got != tc.want {
					t.Errorf("= %q, %v; want %q", got, err, tc.want)
				}
				return
			}
			var re *rpcError
			if !errors.As(err, &re) || re.code != grpcInternal || !strings.Contains(re.msg, tc.wantErr) {
				t.Errorf("= %q, %v; want INTERNAL %q", got, err, tc.wantErr)
			}
		})
	}
}

func TestConsumeVarint(t *testing.T) {
	for _, v := range []uint64{0, 1, 127, 128, 300, 1<<32 - 1, 1<<63 - 1, 1<<64 - 1} {
		b := appendVarint(nil, v)
		got, n := consumeVarint(append(b, 0xff))
		if got != v || n != len(b) {
			t.Errorf("%d: decoded %d from %d of %d bytes", v, got, n, len(b))
		}
	}
	// 2^64 does not fit: the tenth byte may only hold one bit.
	if _, n := consumeVarint(append(bytes.Repeat([]byte{0xff}, 9), 0x02)); n > 0 {
		t.Errorf("a varint beyond 64 bits decoded (%d bytes)", n)
	}
}

func TestReadUnaryFrame(t *testing.T) {
	for _, tc := range []struct {
		name string
		body io.Reader
		code int // grpcOK for success
	}{
		{"one message", bytes.NewReader(grpcFrame([]byte("abc"))), grpcOK},
		{"empty message", bytes.NewReader(grpcFrame(nil)), grpcOK},
		{"one byte at a time", iotest.OneByteReader(bytes.NewReader(grpcFrame([]byte("abc")))), grpcOK},
		{"at the limit", bytes.NewReader(grpcFrame(make([]byte, 16))), grpcOK},
		{"over the limit", bytes.NewReader(grpcFrame(make([]byte, 17))), grpcResourceExhausted},
		{"no message", bytes.NewReader(nil), grpcInternal},
		{"compressed", bytes.NewReader([]byte{1, 0, 0, 0, 0}), grpcUnimplemented},
		{"bad flag", bytes.NewReader([]byte{2, 0, 0, 0, 0}), grpcInternal},
		{"trailing byte", bytes.NewReader(append(grpcFrame(nil), 0)), grpcInternal},
		{"read error", iotest.ErrReader(errors.New("stream reset")), grpcInternal},
		{"read error in the message", io.MultiReader(bytes.NewReader([]byte{0, 0, 0, 0, 3, 'a'}), iotest.ErrReader(errors.New("stream reset"))), grpcInternal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			frame, err := readUnaryFrame(tc.body, 16)
			if tc.code == grpcOK {
				if err != nil || len(frame) < grpcPrefixLen || frame[0] != 0 {
					t.Errorf("= % x, %v", frame, err)
				}
				return
			}
			var re *rpcError
			if !errors.As(err, &re) || re.code != tc.code {
				t.Errorf("= % x, %v; want status %d", frame, err, tc.code)
			}
		})
	}
}

func TestGRPCHTTPStatus(t *testing.T) {
	for code, want := range map[int]int{0: 200, 1: 499, 3: 400, 4: 504, 5: 404, 8: 429, 12: 501, 13: 500, 14: 503, 16: 401, 2: 500, 99: 500} {
		if got := grpcHTTPStatus(code); got != want {
			t.Errorf("grpcHTTPStatus(%d) = %d, want %d", code, got, want)
		}
	}
}

func TestPercentEncode(t *testing.T) {
	for in, want := range map[string]string{
		"":                  "",
		"unknown method /a": "unknown method /a",
		"100%":              "100%25",
		"a\nb\x7f":          "a%0Ab%7F",
		"é":                 "%C3%A9",
	} {
		if got := percentEncode(in); got != want {
			t.Errorf("percentEncode(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzParseHealthCheckRequest: any bytes either parse, to a service that
// re-serializes to a request parsing the same, or fail with INTERNAL;
// never a panic.
func FuzzParseHealthCheckRequest(f *testing.F) {
	for _, seed := range [][]byte{nil, healthRequest("readinessProbe"), {0x0a, 5, 'a'}, {0x08, 1}, {0x80}, {0x11, 1, 2, 3, 4, 5, 6, 7, 8, 0x0a, 1, 's'}} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		svc, err := parseHealthCheckRequest(msg)
		if err != nil {
			var re *rpcError
			if !errors.As(err, &re) || re.code != grpcInternal {
				t.Fatalf("error %v, want an INTERNAL *rpcError", err)
			}
			return
		}
		again, err := parseHealthCheckRequest(healthRequest(svc))
		if err != nil || again != svc {
			t.Fatalf("service %q re-serialized parses as %q, %v", svc, again, err)
		}
	})
}

// FuzzReadUnaryFrame: a body is accepted only if it is exactly one
// uncompressed message within the limit, and the frame returned is then
// the body itself; anything else is an *rpcError.
func FuzzReadUnaryFrame(f *testing.F) {
	for _, seed := range [][]byte{nil, grpcFrame(nil), grpcFrame([]byte("abc")), {1, 0, 0, 0, 0}, {0, 0, 0, 0, 9, 'a'}, append(grpcFrame(nil), 0), {0, 0xff, 0xff, 0xff, 0xff}} {
		f.Add(seed)
	}
	const limit = 64
	f.Fuzz(func(t *testing.T, body []byte) {
		frame, err := readUnaryFrame(bytes.NewReader(body), limit)
		if err != nil {
			var re *rpcError
			if !errors.As(err, &re) {
				t.Fatalf("error %v, want an *rpcError", err)
			}
			return
		}
		if !bytes.Equal(frame, body) || body[0] != 0 || len(body)-grpcPrefixLen > limit {
			t.Fatalf("accepted % x as % x", body, frame)
		}
	})
}
