package loadgen

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/net/http2/hpack"
)

// BenchmarkRecord measures the recording path alone: one finished request
// into a worker's histograms, per-second slot and pod table.
func BenchmarkRecord(b *testing.B) {
	out := make(chan *secSlot, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for s := range out {
			s.owner <- s
		}
	}()
	var budget atomic.Int64
	budget.Store(1 << 40)
	rec := newRecorder(out, &budget, &liveCounters{}, 30_000_000)
	s := sample{outcome: OK, status: 200, pod: 3, attr: AttrResponse, hasLatency: true, latency: 850 * time.Microsecond}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.seq = uint64(i)
		s.intended = time.Duration(i) * 10 * time.Microsecond
		rec.sent(s.intended, s.intended)
		rec.finish(&s, s.intended+s.latency)
	}
	b.StopTimer()
	rec.flush()
	close(out)
	<-done
}

// BenchmarkIdentify measures identity extraction from a seed payload,
// which a warm worker answers from its cache.
func BenchmarkIdentify(b *testing.B) {
	e, err := New(context.Background(), Config{Target: "http://127.0.0.1:1/", Concurrency: 1})
	if err != nil {
		b.Fatal(err)
	}
	var conns atomic.Uint64
	w := newWorker(e, nil, newPodRegistry(), &conns)
	w.res.Body = []byte("testapp-7d9f8b6c5-x2k4q >> 10.244.0.17 >> v1")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if w.identify() == 0 {
			b.Fatal("no identity")
		}
	}
}

// BenchmarkRoundTrip measures whole requests through the engine against an
// in-process fasthttp server on loopback (both share the CPU, so the
// absolute rate is meaningless; allocations per request are the point).
func BenchmarkRoundTrip(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	payload := []byte("testapp-7d9f8b6c5-x2k4q >> 10.244.0.17 >> v1")
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBody(payload) }}
	go srv.Serve(ln) //nolint:errcheck // ends with the listener
	defer srv.Shutdown()
	url := "http://" + ln.Addr().String() + "/common/healthy"
	for _, tc := range []struct {
		name    string
		ka      bool
		targets []Target
	}{
		{"keepalive", true, nil},
		{"no-keepalive", false, nil},
		{"keepalive-5-targets", true, fiveTargets(url)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			cfg := Config{Target: url, Concurrency: 4, Requests: uint64(b.N), KeepAlive: tc.ka, Targets: tc.targets}
			if tc.targets != nil {
				cfg.Target = ""
			}
			benchRun(b, cfg)
		})
	}
}

// BenchmarkIdentifyAuto measures auto identity on a warm worker: settled
// on each kind of rule, and while detecting on a 4 KiB body that names no
// pod, the worst case, in which every rule reads every response.
func BenchmarkIdentifyAuto(b *testing.B) {
	id, err := ParseIdentity("auto")
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name string
		res  *Response
		want string // the rule settled on, "" for none
	}{
		{"line", autoResponse(200, "testapp-7d9f8b6c5-x2k4q >> 10.244.0.17 >> v1", nil), "line"},
		{"header", autoResponse(200, "ok", map[string]string{"X-Served-By": "web-2", "X-Version": "v3"}), "header:X-Served-By"},
		{"json", autoResponse(200, `{"status":"ok","hostname":"web-7d9f-abc","version":"1.2.0","time":"2025-01-01T00:00:00Z"}`, nil), "json:hostname"},
		{"whoami", autoResponse(200, "Hostname: web-5f7c-k2x9p\nIP: 127.0.0.1\nIP: 10.244.1.7\nRemoteAddr: 10.244.0.1:51234\nGET / HTTP/1.1\n", nil), "text:Hostname"},
		{"detecting-4KiB-none", autoResponse(200, strings.Repeat("no pod here\n", MaxIdentityBytes/12), nil), ""},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			e, err := New(context.Background(), Config{Target: "http://127.0.0.1:1/", Concurrency: 1, Identity: id})
			if err != nil {
				b.Fatal(err)
			}
			var conns atomic.Uint64
			w := newWorker(e, nil, newPodRegistry(), &conns)
			w.res = *c.res
			for range AutoSettleAfter {
				w.identify()
			}
			if got := e.auto.ruleName(); got != c.want {
				b.Fatalf("rule %q, want %q", got, c.want)
			}
			b.ReportAllocs()
			for b.Loop() {
				if (w.identify() == 0) != (c.want == "") {
					b.Fatal("identity found or lost")
				}
			}
		})
	}
}

// BenchmarkRoundTripH2C is BenchmarkRoundTrip/keepalive over h2c, one
// stream at a time per connection, against a server that allocates
// nothing per request (allocH2Server): compare the two for the cost of
// HTTP/2 framing and HPACK over HTTP/1.1's.
func BenchmarkRoundTripH2C(b *testing.B) {
	url := allocH2Server(b)
	for _, tc := range []struct {
		name    string
		targets []Target
		streams int
	}{
		{"keepalive", nil, 1},
		{"keepalive-5-targets", fiveTargets(url), 1},
		// The 4 workers' requests on one connection, 4 streams at once.
		{"keepalive-streams-4", nil, 4},
	} {
		b.Run(tc.name, func(b *testing.B) {
			cfg := Config{Target: url, Concurrency: 4, Requests: uint64(b.N), KeepAlive: true, Targets: tc.targets, Protocol: ProtoH2C, Streams: tc.streams}
			if tc.targets != nil {
				cfg.Target = ""
			}
			benchRun(b, cfg)
		})
	}
}

// BenchmarkRoundTripGRPC is BenchmarkRoundTripH2C for health checks:
// the reply read and decoded, grpc-status taken from the trailers.
func BenchmarkRoundTripGRPC(b *testing.B) {
	url := allocH2ServerWith(b, grpcFrame([]byte{0x08, 0x01}), []hpack.HeaderField{{Name: "grpc-status", Value: "0"}})
	target := "grpc://" + strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/common/healthy")
	for _, streams := range []int{1, 4} {
		b.Run(fmt.Sprintf("streams-%d", streams), func(b *testing.B) {
			benchRun(b, Config{Target: target, Concurrency: 4, Requests: uint64(b.N), KeepAlive: true, Streams: streams})
		})
	}
}

// benchRun runs an engine of b.N requests, timed from its start; a failed
// request fails the benchmark, which must measure only successes.
func benchRun(b *testing.B, cfg Config) {
	b.Helper()
	e, err := New(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	st, err := e.Run(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	if st.Failed() != 0 {
		b.Fatalf("%d failures", st.Failed())
	}
}
