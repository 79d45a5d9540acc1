package loadgen

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rolltest/rolltest/internal/faultserver"
)

func TestStreamMatcher(t *testing.T) {
	tests := []struct {
		pat    string
		pieces []string
		want   bool
	}{
		{"needle", []string{"hayneedlehay"}, true},
		{"needle", []string{"hayneed", "lehay"}, true},                  // split in two
		{"needle", []string{"hay", "n", "e", "e", "d", "l", "e"}, true}, // one byte at a time
		{"needle", []string{"ne", "ed", "le"}, true},                    // spans three pieces
		{"needle", []string{"xxxnee", "", "dle"}, true},                 // an empty piece between
		{"needle", []string{"needl", "x", "needl", "e"}, true},          // a false start first
		{"needle", []string{"needl", "xe"}, false},
		{"needle", []string{"eedle", "n"}, false}, // the pieces in the wrong order
		{"needle", nil, false},
		{"n", []string{"abc", "xn"}, true},
		{"n", []string{"abc", "x"}, false},
		{"", []string{"anything"}, true},
		{"", nil, true},
		{"abab", []string{"aba", "bab"}, true},
		{"abcabd", []string{"abcab", "cabd"}, true},
		{"abcabd", []string{"abcabcab", "d"}, true},
		{"aaa", []string{"aa"}, false},
		{"aaa", []string{"a", "a", "a"}, true},
	}
	for _, tt := range tests {
		m := newStreamMatcher([]byte(tt.pat))
		for range 2 { // a reset matcher forgets the previous stream
			m.reset(true)
			for _, p := range tt.pieces {
				m.write([]byte(p))
			}
			if m.found != tt.want {
				t.Errorf("%q in %q: found = %v, want %v", tt.pat, tt.pieces, m.found, tt.want)
			}
		}
		m.reset(false)
		m.write([]byte(tt.pat))
		if m.found != (tt.pat == "") {
			t.Errorf("%q: an inactive matcher found it", tt.pat)
		}
	}
}

// TestStreamMatcherEverySplit splits one body at every pair of points.
func TestStreamMatcherEverySplit(t *testing.T) {
	body := "0123456789-expect-me-0123456789"
	for _, pat := range []string{"expect-me", "-", "0123456789-e", "me-0123456789", "not-there"} {
		want := strings.Contains(body, pat)
		m := newStreamMatcher([]byte(pat))
		for i := 0; i <= len(body); i++ {
			for j := i; j <= len(body); j++ {
				m.reset(true)
				m.write([]byte(body[:i]))
				m.write([]byte(body[i:j]))
				m.write([]byte(body[j:]))
				if m.found != want {
					t.Fatalf("%q split at %d,%d: found = %v", pat, i, j, m.found)
				}
			}
		}
	}
}

func TestParseChunkSize(t *testing.T) {
	for line, want := range map[string]int64{
		"0\r\n": 0, "1a\r\n": 26, "FF\n": 255, "10;ext=1\r\n": 16, "10 \r\n": 16, "7fffffffffffffff\r\n": -1,
		"\r\n": -1, "x1\r\n": -1, "-1\r\n": -1, " 1\r\n": -1,
	} {
		got, ok := parseChunkSize([]byte(line))
		if (want < 0) != !ok || (ok && got != want) {
			t.Errorf("parseChunkSize(%q) = %d, %v; want %d", line, got, ok, want)
		}
	}
}

func TestQuoteStart(t *testing.T) {
	long := strings.Repeat("\x00", 50)
	for _, tt := range []struct{ in, want string }{
		{"abc", `"abc"`},
		{"SSH-2.0\r\n", `"SSH-2.0\r\n"`},
		{long, `"` + strings.Repeat(`\x00`, 14) + `"…`},
	} {
		got := quoteStart([]byte(tt.in), 60)
		if got != tt.want || len([]rune(got)) > 60 {
			t.Errorf("quoteStart(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// bodyPodRegex finds the fault server's pod line at the start of a body
// that goes on (the seed identity wants the payload alone).
const bodyPodRegex = `regex:^(?P<pod>\S+) >> (?P<ip>\S+) >> (?P<version>\S+)\n`

func TestHugeBodyStreams(t *testing.T) {
	const size, requests = 8 << 20, 6
	srv, err := faultserver.StartOptions(faultserver.Options{HugeBodyBytes: size, HugeBodyTail: "END-OF-BODY"},
		func(uint64) faultserver.Action { return faultserver.HugeBody }, "pod-a", "pod-b")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	id, err := ParseIdentity(bodyPodRegex)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		expect string
		want   Outcome
	}{{"END-OF-BODY", OK}, {"not-in-the-body", BodyMismatch}} {
		t.Run(tc.want.String(), func(t *testing.T) {
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			st := runEngine(t, Config{
				Target: srv.URL("/big"), Concurrency: 2, Requests: requests, KeepAlive: true,
				Timeout: 30 * time.Second, Identity: id, ExpectBody: []byte(tc.expect),
			}, 90*time.Second)
			runtime.ReadMemStats(&m1)
			if st.Outcomes[tc.want] != requests {
				t.Fatalf("outcomes %v, want %d %s; failures %+v", st.Outcomes, requests, tc.want, st.Failures)
			}
			if st.BytesIn < requests*size {
				t.Errorf("bytes in = %d, want at least %d", st.BytesIn, requests*size)
			}
			pods := map[string]bool{}
			for _, p := range st.Pods[1:] {
				if p.Requests() > 0 {
					pods[p.Pod] = true
				}
			}
			if !pods["pod-a"] || !pods["pod-b"] || st.Pods[0].Requests() != 0 {
				t.Errorf("pods %+v: want pod-a and pod-b identified from the start of the body", st.Pods)
			}
			if st.ConnsOpened != 2 {
				t.Errorf("%d connections for 2 keep-alive workers", st.ConnsOpened)
			}
			// The server and client here share the heap; reading the
			// bodies into memory would allocate requests*size.
			if alloc := m1.TotalAlloc - m0.TotalAlloc; alloc > size {
				t.Errorf("allocated %d bytes to read %d bytes of bodies", alloc, requests*size)
			}
		})
	}
}

func TestEndlessChunkedBodyTimesOut(t *testing.T) {
	srv, err := faultserver.Start(func(uint64) faultserver.Action { return faultserver.EndlessChunked }, "pod-a")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	const timeout = 400 * time.Millisecond
	id, _ := ParseIdentity(bodyPodRegex)
	st := runEngine(t, Config{Target: srv.URL("/"), Concurrency: 1, Requests: 2, KeepAlive: true, Timeout: timeout, Identity: id}, 30*time.Second)
	if st.Outcomes[TimeoutResponse] != 2 {
		t.Fatalf("outcomes %v, want 2 timeout_response; failures %+v", st.Outcomes, st.Failures)
	}
	for _, f := range st.Failures {
		if !strings.HasPrefix(f.Detail, "HTTP 200, body: ") || f.Latency < timeout {
			t.Errorf("failure %+v: want a body timeout after %v", f, timeout)
		}
	}
	if st.BytesIn < 64<<10 {
		t.Errorf("bytes in = %d: the body was not read as it came", st.BytesIn)
	}
}

func TestMalformedResponses(t *testing.T) {
	for _, tc := range []struct {
		action  faultserver.Action
		outcome Outcome
		detail  string
		err     error
	}{
		{faultserver.Garbage, Other, `not a valid HTTP/1.1 response (it does not start with HTTP/); the server sent "SSH-2.0-OpenSSH_9.6 \x00\x01 this is not HTTP\r\n\x7f\xfe"`, ErrMalformedResponse},
		{faultserver.HugeHeaders, Other, "response headers larger than 16 KiB", ErrHeadersTooLarge},
		{faultserver.Truncate, EOF, "HTTP 200, body: unexpected EOF", nil},
	} {
		t.Run(tc.action.String(), func(t *testing.T) {
			srv, err := faultserver.Start(func(uint64) faultserver.Action { return tc.action }, "pod-a")
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			cfg := Config{Target: srv.URL("/"), Concurrency: 1, Requests: 3, KeepAlive: true, Timeout: 10 * time.Second}
			st := runEngine(t, cfg, 30*time.Second)
			if st.Outcomes[tc.outcome] != 3 || len(st.Failures) != 3 {
				t.Fatalf("outcomes %v, want 3 %s", st.Outcomes, tc.outcome)
			}
			for _, f := range st.Failures {
				if f.Detail != tc.detail {
					t.Errorf("detail %q, want %q", f.Detail, tc.detail)
				}
			}
			e, err := New(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = e.Preflight(context.Background())
			var pe *PreflightError
			if !errors.As(err, &pe) || !pe.Answered || pe.Outcome != tc.outcome || (tc.err != nil && !errors.Is(err, tc.err)) {
				t.Fatalf("preflight: %#v", err)
			}
		})
	}
}

func TestMaxBodyBytesCaps(t *testing.T) {
	srv, err := faultserver.StartOptions(faultserver.Options{HugeBodyBytes: 1 << 20},
		func(uint64) faultserver.Action { return faultserver.HugeBody })
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	st := runEngine(t, Config{Target: srv.URL("/"), Concurrency: 1, Requests: 2, KeepAlive: true, MaxBodyBytes: 1000}, 30*time.Second)
	if st.Outcomes[Other] != 2 || st.ConnsOpened != 2 {
		t.Fatalf("outcomes %v conns %d: want 2 other on 2 connections", st.Outcomes, st.ConnsOpened)
	}
	if d := st.Failures[0].Detail; !strings.Contains(d, "response body larger than the maximum") {
		t.Fatalf("detail %q", d)
	}
}

// TestChunkedKeepAlive reads chunked bodies with trailers off a net/http
// server, matches text split across chunks, and keeps the connection: a
// byte left unread would desynchronise the next response.
func TestChunkedKeepAlive(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Checksum")
		fl := w.(http.Flusher)
		for _, piece := range []string{"pod-c >> 10.0.0.3 >> v2\n", "the answer is fort", "y-two", strings.Repeat("z", 9000)} {
			fmt.Fprint(w, piece)
			fl.Flush()
		}
		w.Header().Set("X-Checksum", "abc")
	}))
	defer srv.Close()
	id, _ := ParseIdentity(bodyPodRegex)
	st := runEngine(t, Config{Target: srv.URL + "/", Concurrency: 1, Requests: 30, KeepAlive: true, Identity: id,
		ExpectBody: []byte("forty-two"), Timeout: 10 * time.Second}, 30*time.Second)
	if st.Outcomes[OK] != 30 || st.ConnsOpened != 1 {
		t.Fatalf("outcomes %v conns %d failures %+v", st.Outcomes, st.ConnsOpened, st.Failures)
	}
	if len(st.Pods) != 2 || st.Pods[1].Pod != "pod-c" || st.Pods[1].Version != "v2" {
		t.Fatalf("pods %+v", st.Pods)
	}
}

// TestNoBodyResponses: HEAD and 204 answers announce or imply a length but
// carry no body; waiting for one would time out.
func TestNoBodyResponses(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/204" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Content-Length", "5")
		_, _ = w.Write([]byte("hello"))
	}))
	defer srv.Close()
	for _, tc := range []struct{ method, path string }{{"HEAD", "/"}, {"GET", "/204"}} {
		st := runEngine(t, Config{Target: srv.URL + tc.path, Method: tc.method, Concurrency: 1, Requests: 20, KeepAlive: true,
			Timeout: 2 * time.Second}, 30*time.Second)
		if st.Outcomes[OK] != 20 || st.ConnsOpened != 1 {
			t.Fatalf("%s %s: outcomes %v conns %d failures %+v", tc.method, tc.path, st.Outcomes, st.ConnsOpened, st.Failures)
		}
	}
}

// rawServer answers every request on loopback with reply, byte for byte,
// and closes the connection after it when closeAfter is set.
func rawServer(t *testing.T, reply string, closeAfter bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					if _, err := http.ReadRequest(br); err != nil {
						return
					}
					if _, err := io.WriteString(c, reply); err != nil || closeAfter {
						return
					}
				}
			})
		}
	})
	return "http://" + ln.Addr().String() + "/"
}

func TestRawResponses(t *testing.T) {
	id, _ := ParseIdentity(bodyPodRegex)
	for _, tc := range []struct {
		name       string
		reply      string
		closeAfter bool
		conns      int64 // connections for 5 requests
	}{
		{"interim 100 and 103 skipped", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 29\r\n\r\npod-r >> 10.0.0.9 >> v3\nok-ok", false, 1},
		{"body until close", "HTTP/1.1 200 OK\r\n\r\npod-r >> 10.0.0.9 >> v3\nok-ok and more", true, 5},
		{"chunk extensions, upper-case hex", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1D;name=value\r\npod-r >> 10.0.0.9 >> v3\nok-ok\r\n0\r\nX-Trailer: 1\r\n\r\n", false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := rawServer(t, tc.reply, tc.closeAfter)
			st := runEngine(t, Config{Target: url, Concurrency: 1, Requests: 5, KeepAlive: true, Identity: id,
				ExpectBody: []byte("ok-ok"), Timeout: 5 * time.Second}, 30*time.Second)
			if st.Outcomes[OK] != 5 || st.ConnsOpened != tc.conns {
				t.Fatalf("outcomes %v conns %d (want %d) failures %+v", st.Outcomes, st.ConnsOpened, tc.conns, st.Failures)
			}
			if len(st.Pods) != 2 || st.Pods[1].Pod != "pod-r" || st.Pods[1].Version != "v3" {
				t.Fatalf("pods %+v", st.Pods)
			}
		})
	}
}

// TestFailureAfterResponseNoStaleStatus: a drop on a connection that
// answered before is not described with the earlier response's status.
func TestFailureAfterResponseNoStaleStatus(t *testing.T) {
	srv, err := faultserver.Start(func(n uint64) faultserver.Action {
		if n%2 == 0 {
			return faultserver.Close
		}
		return faultserver.Serve
	}, "pod-a")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	st := runEngine(t, Config{Target: srv.URL("/"), Concurrency: 1, Requests: 6, KeepAlive: true, Timeout: 5 * time.Second}, 30*time.Second)
	if st.Outcomes[EOF] != 3 {
		t.Fatalf("outcomes %v", st.Outcomes)
	}
	for _, f := range st.Failures {
		if strings.HasPrefix(f.Detail, "HTTP ") {
			t.Errorf("detail %q names a status for a response that never came", f.Detail)
		}
	}
}
