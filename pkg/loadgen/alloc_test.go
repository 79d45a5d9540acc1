package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/net/http2/hpack"
)

// allocServer is an in-process fasthttp server on loopback that answers
// with the seed payload and the pod in headers; it allocates nothing per
// request once warm, so the counts below are the client's.
func allocServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte("testapp-7d9f8b6c5-x2k4q >> 10.244.0.17 >> v1")
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("X-Pod", "testapp-7d9f8b6c5-x2k4q")
		ctx.Response.Header.Set("X-Version", "v1")
		ctx.SetBody(payload)
	}}
	go srv.Serve(ln) //nolint:errcheck // ends with the listener
	t.Cleanup(func() { _ = srv.Shutdown() })
	return "http://" + ln.Addr().String() + "/common/healthy"
}

// TestHTTP1RoundTripDoesNotAllocate: a request on a kept-alive HTTP/1.1
// connection, with a request id, captured identity headers and an
// expected body, allocates nothing.
func TestHTTP1RoundTripDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	url := allocServer(t)
	id, err := ParseIdentity("header:X-Pod,X-Version")
	if err != nil {
		t.Fatal(err)
	}
	for _, targets := range []int{1, 5} {
		t.Run(fmt.Sprintf("%d targets", targets), func(t *testing.T) {
			cfg := Config{Target: url, Concurrency: 1, KeepAlive: true, Identity: id,
				RequestIDHeader: "X-Request-Id", ExpectBody: []byte(">> v1")}
			if targets > 1 {
				cfg.Target, cfg.Targets = "", fiveTargets(url)
			}
			roundTripDoesNotAllocate(t, cfg)
		})
	}
}

// fiveTargets are five requests of different methods, headers and bodies
// on base's host.
func fiveTargets(base string) []Target {
	return []Target{
		{Name: "a", Method: "GET", URL: base, Weight: 3},
		{Name: "b", Method: "POST", URL: base + "?b", Body: []byte(`{"order":1}`), Headers: []Header{{Name: "Content-Type", Value: "application/json"}}},
		{Name: "c", Method: "PUT", URL: base + "/c", Body: []byte("c"), Headers: []Header{{Name: "Idempotency-Key", Value: "k"}}},
		{Name: "d", Method: "DELETE", URL: base + "/d"},
		{Name: "e", Method: "GET", URL: base + "/e", Headers: []Header{{Name: "X-E", Value: "e"}}, Weight: 2},
	}
}

func roundTripDoesNotAllocate(t *testing.T, cfg Config) {
	e, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.transport.Dial(context.Background(), time.Now().Add(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var res Response
	req := Request{Seq: 1}
	ctx := context.Background()
	roundTrip := func() {
		req.Seq++
		req.Target = e.TargetOf(req.Seq)
		req.Deadline = time.Now().Add(10 * time.Second)
		if err := c.RoundTrip(ctx, &req, &res); err != nil {
			t.Fatal(err)
		}
		if res.Status != 200 || !res.Matched || res.Close || len(res.Header) != 2 || string(res.Header[0]) != "testapp-7d9f8b6c5-x2k4q" {
			t.Fatalf("response %+v", res)
		}
	}
	roundTrip() // grow the header slice once
	if n := testing.AllocsPerRun(500, roundTrip); n != 0 {
		t.Errorf("%v allocations per round trip, want 0", n)
	}
}

// TestWorkerRequestDoesNotAllocate: the whole path of a request through a
// worker (send, identify from the body, record) allocates nothing once
// the worker is warm.
func TestWorkerRequestDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	url := allocServer(t)
	for _, targets := range []int{1, 5} {
		t.Run(fmt.Sprintf("%d targets", targets), func(t *testing.T) {
			cfg := Config{Target: url, Concurrency: 1, KeepAlive: true, RequestIDHeader: "X-Request-Id"}
			if targets > 1 {
				cfg.Target, cfg.Targets = "", fiveTargets(url)
			}
			workerRequestDoesNotAllocate(t, cfg)
		})
	}
	// Handing each attempt to Config.Attempts costs nothing either.
	t.Run("attempt sink", func(t *testing.T) {
		var sink countingSink
		workerRequestDoesNotAllocate(t, Config{Target: url, Concurrency: 1, KeepAlive: true, Attempts: &sink})
		if sink.n < 501 || sink.pod != "testapp-7d9f8b6c5-x2k4q" {
			t.Fatalf("the sink saw %d attempts, the last from %q", sink.n, sink.pod)
		}
	})
}

// countingSink counts attempts and keeps the last pod's name.
type countingSink struct {
	n   int
	pod string
}

func (c *countingSink) Attempt(a *Attempt) { c.n++; c.pod = a.Pod.Pod }

func workerRequestDoesNotAllocate(t *testing.T, cfg Config) {
	e, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.start = time.Now()
	out := make(chan *secSlot, 4)
	var budget atomic.Int64
	rec := newRecorder(out, &budget, &liveCounters{}, 30_000_000)
	rec.initTargets(len(cfg.Targets))
	w := newWorker(e, rec, newPodRegistry(), &e.conns)
	defer w.closeConn()
	var seq uint64
	do := func() {
		seq++
		w.do(job{seq: seq}) // due at 0: every request in second 0, nothing handed over
	}
	do()
	if n := testing.AllocsPerRun(500, do); n != 0 {
		t.Errorf("%v allocations per request, want 0", n)
	}
	// 1 + AllocsPerRun's warm-up + 500
	if rec.pods[1].Outcomes[OK] != 502 || w.c.id != 1 {
		t.Fatalf("pod 1 answered %d requests on connection %d: want 502 on connection 1", rec.pods[1].Outcomes[OK], w.c.id)
	}
	if len(cfg.Targets) > 0 {
		var sum int64
		for i := range rec.targets {
			sum += rec.targets[i].Outcomes[OK]
			if rec.targets[i].Outcomes[OK] == 0 {
				t.Errorf("target %d got no request", i)
			}
		}
		if sum != 502 {
			t.Errorf("targets counted %d requests, want 502", sum)
		}
	}
}

// autoAllocServers answer like the demo apps auto identity reads, each
// with something that changes on every response (a counter standing for a
// time or the client's port), so that only a cache keyed by the fields
// found, not by the bytes, spares the worker a parse.
func autoAllocServers() []struct {
	name, rule string
	pod        PodIdentity
	handler    fasthttp.RequestHandler
} {
	var n atomic.Int64
	counter := func(ctx *fasthttp.RequestCtx) {
		var buf [20]byte
		ctx.Response.AppendBody(strconv.AppendInt(buf[:0], n.Add(1), 10))
	}
	return []struct {
		name, rule string
		pod        PodIdentity
		handler    fasthttp.RequestHandler
	}{
		{"json", "json:hostname", PodIdentity{Pod: "web-7d9f-abc", IP: "10.244.0.17", Version: "1.2.0"}, func(ctx *fasthttp.RequestCtx) {
			ctx.SetBodyString(`{"hostname":"web-7d9f-\u0061bc","version":"1.2.0","podIP":"10.244.0.17","n":`)
			counter(ctx)
			ctx.Response.AppendBodyString("}")
		}},
		{"whoami", "text:Hostname", PodIdentity{Pod: "web-5f7c-k2x9p", IP: "10.244.1.7"}, func(ctx *fasthttp.RequestCtx) {
			ctx.SetBodyString("Hostname: web-5f7c-k2x9p\nIP: 127.0.0.1\nIP: 10.244.1.7\nRemoteAddr: 10.244.0.1:")
			counter(ctx)
		}},
		{"header", "header:X-Served-By", PodIdentity{Pod: "web-2", Version: "v3"}, func(ctx *fasthttp.RequestCtx) {
			ctx.Response.Header.Set("X-Served-By", "web-2")
			ctx.Response.Header.Set("X-App-Version", "v3")
			ctx.SetBodyString("hello ")
			counter(ctx)
		}},
		{"line", "line", PodIdentity{Pod: "testapp-1", IP: "10.0.0.1", Version: "v1"}, func(ctx *fasthttp.RequestCtx) {
			ctx.SetBodyString("testapp-1 >> 10.0.0.1 >> v1")
		}},
	}
}

// TestAutoIdentityDoesNotAllocate: once auto identity has settled on a
// rule, a request through a worker allocates nothing, whichever rule it is.
func TestAutoIdentityDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	for _, srv := range autoAllocServers() {
		t.Run(srv.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			s := &fasthttp.Server{Handler: srv.handler}
			go s.Serve(ln) //nolint:errcheck // ends with the listener
			t.Cleanup(func() { _ = s.Shutdown() })
			id, err := ParseIdentity("auto")
			if err != nil {
				t.Fatal(err)
			}
			e, err := New(context.Background(), Config{Target: "http://" + ln.Addr().String() + "/", Concurrency: 1, KeepAlive: true, Identity: id})
			if err != nil {
				t.Fatal(err)
			}
			e.start = time.Now()
			out := make(chan *secSlot, 4)
			var budget atomic.Int64
			rec := newRecorder(out, &budget, &liveCounters{}, 30_000_000)
			pods := newPodRegistry()
			w := newWorker(e, rec, pods, &e.conns)
			defer w.closeConn()
			var seq uint64
			do := func() {
				seq++
				w.do(job{seq: seq})
			}
			for range AutoSettleAfter {
				do()
			}
			if r := e.auto.settled(); r < 0 || autoRules[r].name != srv.rule {
				t.Fatalf("settled on rule %d (%q), want %q", r, e.auto.ruleName(), srv.rule)
			}
			if n := testing.AllocsPerRun(200, do); n != 0 {
				t.Errorf("%v allocations per request, want 0", n)
			}
			want := int64(AutoSettleAfter + 201)
			if got := pods.snapshot(); len(got) != 2 || got[1] != srv.pod || rec.pods[1].Outcomes[OK] != want {
				t.Fatalf("pods %+v, pod 1 answered %d; want [unknown %+v], %d", got, rec.pods[1].Outcomes[OK], srv.pod, want)
			}
		})
	}
}

// allocH2Server is an h2c server on loopback that allocates nothing per
// request once a connection is up: it parses frame headers by hand and
// answers every HEADERS with pre-rendered bytes (the seed payload, the
// pod in x-pod and x-version), so the counts below are the client's. Like
// a real server's encoder, it indexes its fields on a connection's first
// response and refers to them by index afterwards.
func allocH2Server(t testing.TB) string {
	payload := []byte("testapp-7d9f8b6c5-x2k4q >> 10.244.0.17 >> v1")
	return allocH2ServerWith(t, payload, nil)
}

// allocH2ServerWith is allocH2Server answering with body and, when set,
// trailers (a gRPC call's grpc-status) ending the stream.
func allocH2ServerWith(t testing.TB, body []byte, trailers []hpack.HeaderField) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	fields := []hpack.HeaderField{{Name: ":status", Value: "200"}, {Name: "x-pod", Value: "testapp-7d9f8b6c5-x2k4q"}, {Name: "x-version", Value: "v1"}}
	encode := func(fs []hpack.HeaderField) []byte {
		buf.Reset()
		for _, f := range fs {
			if err := enc.WriteField(f); err != nil {
				t.Fatal(err)
			}
		}
		return bytes.Clone(buf.Bytes())
	}
	frame := func(typ, flags byte, block []byte) []byte {
		n := len(block)
		return append([]byte{byte(n >> 16), byte(n >> 8), byte(n), typ, flags, 0, 0, 0, 0}, block...)
	}
	var resp [2][]byte // first response, and every later one
	for i := range resp {
		if trailers == nil {
			resp[i] = append(frame(0x1, 0x4, encode(fields)), frame(0x0, 0x1, body)...) // HEADERS END_HEADERS, DATA END_STREAM
			continue
		}
		resp[i] = append(frame(0x1, 0x4, encode(fields)), frame(0x0, 0x0, body)...)
		resp[i] = append(resp[i], frame(0x1, 0x5, encode(trailers))...) // HEADERS END_HEADERS|END_STREAM
	}
	go func() {
		for range 1000 {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go serveAllocH2(nc, [2][]byte{bytes.Clone(resp[0]), bytes.Clone(resp[1])})
		}
	}()
	return "http://" + ln.Addr().String() + "/common/healthy"
}

func serveAllocH2(nc net.Conn, resp [2][]byte) {
	defer nc.Close()
	var hdr [9]byte
	payload := make([]byte, 1<<16)
	if _, err := io.ReadFull(nc, payload[:24]); err != nil { // the client preface
		return
	}
	if _, err := nc.Write([]byte{0, 0, 0, 0x4, 0, 0, 0, 0, 0}); err != nil { // empty SETTINGS
		return
	}
	settingsAck := []byte{0, 0, 0, 0x4, 0x1, 0, 0, 0, 0}
	windowUpdate := [13]byte{0, 0, 4, 0x8, 0, 0, 0, 0, 0} // on stream 0; the increment follows
	first := true
	for range 1 << 24 {
		if _, err := io.ReadFull(nc, hdr[:]); err != nil {
			return
		}
		n := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
		if n > len(payload) {
			return
		}
		if _, err := io.ReadFull(nc, payload[:n]); err != nil {
			return
		}
		var out []byte
		switch {
		case hdr[3] == 0x0 && n > 0:
			// A request body (a gRPC call's): its flow-control credit
			// back, as a server gives it.
			windowUpdate[9], windowUpdate[10], windowUpdate[11], windowUpdate[12] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
			out = windowUpdate[:]
		case hdr[3] == 0x4 && hdr[4]&0x1 == 0:
			out = settingsAck
		case hdr[3] == 0x1:
			out = resp[1]
			if first {
				out, first = resp[0], false
			}
			// Every frame carries the request's stream id.
			for k := 0; k+9 <= len(out); k += 9 + (int(out[k])<<16 | int(out[k+1])<<8 | int(out[k+2])) {
				copy(out[k+5:k+9], hdr[5:9])
			}
		default:
			continue
		}
		if _, err := nc.Write(out); err != nil {
			return
		}
	}
}

// TestHTTP2RoundTripDoesNotAllocate: a request on a kept-alive h2c
// connection, with a request id, captured identity headers and an
// expected body, allocates nothing, as on HTTP/1.1; on a stream slot of a
// multiplexed connection too.
func TestHTTP2RoundTripDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	url := allocH2Server(t)
	id, err := ParseIdentity("header:X-Pod,X-Version")
	if err != nil {
		t.Fatal(err)
	}
	for _, streams := range []int{1, 4} {
		for _, targets := range []int{1, 5} {
			t.Run(fmt.Sprintf("%d targets, %d streams", targets, streams), func(t *testing.T) {
				cfg := Config{Target: url, Concurrency: 1, KeepAlive: true, Identity: id, Protocol: ProtoH2C,
					RequestIDHeader: "X-Request-Id", ExpectBody: []byte(">> v1"), Streams: streams}
				if targets > 1 {
					cfg.Target, cfg.Targets = "", fiveTargets(url)
				}
				roundTripDoesNotAllocate(t, cfg)
			})
		}
	}
}

// TestGRPCRoundTripDoesNotAllocate: a health check on a kept-alive gRPC
// connection, its reply read and its trailers' grpc-status and pod
// header taken in, allocates nothing, as an HTTP/2 request does.
func TestGRPCRoundTripDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	url := allocH2ServerWith(t, grpcFrame([]byte{0x08, 0x01}), []hpack.HeaderField{{Name: "grpc-status", Value: "0"}, {Name: "x-served-by", Value: "web-1"}})
	target := "grpc://" + strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/common/healthy")
	for _, tc := range []struct {
		id      string
		streams int
	}{{"header:X-Pod,X-Version", 1}, {"header:X-Served-By", 1}, {"header:X-Served-By", 4}} {
		id := tc.id
		e, err := New(context.Background(), Config{Target: target, Concurrency: 1, KeepAlive: true, Identity: mustIdentity(t, id), RequestIDHeader: "X-Request-Id", Streams: tc.streams})
		if err != nil {
			t.Fatal(err)
		}
		c, err := e.transport.Dial(context.Background(), time.Now().Add(10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		var res Response
		req := Request{Seq: 1}
		roundTrip := func() {
			req.Seq++
			req.Deadline = time.Now().Add(10 * time.Second)
			if err := c.RoundTrip(context.Background(), &req, &res); err != nil {
				t.Fatal(err)
			}
			if res.Status != 200 || responseOutcome(&res) != OK || len(res.Header[0]) == 0 {
				t.Fatalf("response %+v", res)
			}
		}
		roundTrip()
		if n := testing.AllocsPerRun(500, roundTrip); n != 0 {
			t.Errorf("%s, %d streams: %v allocations per call, want 0", id, tc.streams, n)
		}
		_ = c.Close()
	}
}
