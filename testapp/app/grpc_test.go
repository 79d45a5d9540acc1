package app

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// grpcResult is a unary gRPC call's answer as a client sees it.
type grpcResult struct {
	httpStatus   int
	header       http.Header
	msgs         [][]byte // response messages, without their prefixes
	status       int      // grpc-status, from the trailers or, trailers-only, the headers
	message      string   // grpc-message
	trailersOnly bool
}

// grpcCall makes a unary call over c with frame as the whole request body
// (grpcFrame(msg) for a well-formed call). header holds name, value pairs.
func grpcCall(c *http.Client, url, method string, frame []byte, header ...string) (grpcResult, error) {
	var res grpcResult
	req, err := http.NewRequest(http.MethodPost, url+method, bytes.NewReader(frame))
	if err != nil {
		return res, err
	}
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("TE", "trailers")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return res, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return res, err
	}
	res.httpStatus, res.header = resp.StatusCode, resp.Header
	for len(body) > 0 {
		if len(body) < grpcPrefixLen || body[0] != 0 {
			return res, fmt.Errorf("bad response framing % x", body)
		}
		n := int(binary.BigEndian.Uint32(body[1:]))
		if len(body) < grpcPrefixLen+n {
			return res, fmt.Errorf("response message cut short: % x", body)
		}
		res.msgs = append(res.msgs, body[grpcPrefixLen:grpcPrefixLen+n])
		body = body[grpcPrefixLen+n:]
	}
	st, ok := resp.Trailer["Grpc-Status"]
	res.message = resp.Trailer.Get("Grpc-Message")
	if !ok {
		st, ok = resp.Header["Grpc-Status"]
		res.message = resp.Header.Get("Grpc-Message")
		res.trailersOnly = ok
	}
	if !ok || len(st) != 1 {
		return res, fmt.Errorf("HTTP %d without a grpc-status", resp.StatusCode)
	}
	if res.status, err = strconv.Atoi(st[0]); err != nil {
		return res, fmt.Errorf("grpc-status %q", st[0])
	}
	return res, nil
}

func mustGRPC(t *testing.T, c *http.Client, url, method string, frame []byte, header ...string) grpcResult {
	t.Helper()
	r, err := grpcCall(c, url, method, frame, header...)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	return r
}

// healthRequest serializes a grpc.health.v1.HealthCheckRequest.
func healthRequest(service string) []byte {
	if service == "" {
		return nil // proto3 omits a default value
	}
	b := appendVarint([]byte{1<<3 | wireLen}, uint64(len(service)))
	return append(b, service...)
}

// healthStatus returns the status a HealthCheckResponse carries.
func healthStatus(t *testing.T, r grpcResult) int {
	t.Helper()
	if r.status != grpcOK || len(r.msgs) != 1 {
		t.Fatalf("Health/Check: grpc-status %d %q, %d messages; want OK and one", r.status, r.message, len(r.msgs))
	}
	m := r.msgs[0]
	if len(m) != 2 || m[0] != 1<<3|wireVarint {
		t.Fatalf("HealthCheckResponse % x, want field 1 alone", m)
	}
	return int(m[1])
}

// TestGRPCHealth walks the Health/Check table in grpc.go: each service
// name in each state.
func TestGRPCHealth(t *testing.T) {
	const unknown = -1 // NOT_FOUND
	services := []string{"", "readinessProbe", "READINESSPROBE", GRPCEchoService, "livenessProbe", "startupProbe", "nope", "testapp.echo"}
	for _, tc := range []struct {
		state string
		cfg   Config
		want  []int // by service
	}{
		{"serving", Config{}, []int{1, 1, 1, 1, 1, 1, unknown, unknown}},
		{"starting", Config{StartupDelay: time.Hour}, []int{2, 2, 2, 2, 2, 2, unknown, unknown}},
		{"draining", Config{}, []int{1, 2, 2, 2, 1, 1, unknown, unknown}},
		{"draining reject", Config{PreStopMode: PreStopReject}, []int{2, 2, 2, 2, 1, 1, unknown, unknown}},
	} {
		t.Run(tc.state, func(t *testing.T) {
			tc.cfg.PodID, tc.cfg.Version = "pod-h", "v3"
			ts := start(t, tc.cfg, nil)
			if strings.HasPrefix(tc.state, "draining") {
				ts.s.StartDraining()
			}
			c := newH2CClient(t)
			for i, svc := range services {
				r := mustGRPC(t, c, ts.url, GRPCHealthCheckPath, grpcFrame(healthRequest(svc)))
				if r.httpStatus != 200 || r.header.Get("X-Pod-Id") != "pod-h" || r.header.Get("X-App-Version") != "v3" ||
					r.header.Get("Content-Type") != "application/grpc" {
					t.Errorf("service %q: HTTP %d, headers %v", svc, r.httpStatus, r.header)
				}
				if tc.want[i] == unknown {
					if r.status != grpcNotFound || !r.trailersOnly || len(r.msgs) != 0 {
						t.Errorf("service %q: grpc-status %d (trailers-only %v), %d messages; want NOT_FOUND trailers-only", svc, r.status, r.trailersOnly, len(r.msgs))
					}
					continue
				}
				if got := healthStatus(t, r); got != tc.want[i] {
					t.Errorf("service %q: status %d, want %d", svc, got, tc.want[i])
				}
			}
		})
	}
}

// TestGRPCHealthOnSIGTERM: cancelling Serve (SIGTERM) turns the readiness
// answer to NOT_SERVING at once, while the server, in its shutdown delay,
// still answers liveness SERVING and serves Echo.
func TestGRPCHealthOnSIGTERM(t *testing.T) {
	ts := start(t, Config{ShutdownDelay: 3 * time.Second}, nil)
	c := newH2CClient(t)
	probe := func(svc string) int {
		t.Helper()
		return healthStatus(t, mustGRPC(t, c, ts.url, GRPCHealthCheckPath, grpcFrame(healthRequest(svc)), "User-Agent", "kube-probe/1.34"))
	}
	if got := probe("readinessProbe"); got != HealthServing {
		t.Fatalf("before SIGTERM: %d, want SERVING", got)
	}
	ts.cancel()
	waitFor(t, "draining", ts.s.Draining)
	if got := probe("readinessProbe"); got != HealthNotServing {
		t.Errorf("readiness after SIGTERM: %d, want NOT_SERVING", got)
	}
	if got := probe(""); got != HealthServing {
		t.Errorf(`service "" (traffic) after SIGTERM: %d, want SERVING while the app still serves`, got)
	}
	if got := probe("livenessProbe"); got != HealthServing {
		t.Errorf("liveness after SIGTERM: %d, want SERVING", got)
	}
	if r := mustGRPC(t, c, ts.url, GRPCEchoPath, grpcFrame([]byte("still here"))); r.status != grpcOK || len(r.msgs) != 1 || string(r.msgs[0]) != "still here" {
		t.Errorf("Echo after SIGTERM: %d %q %q, want OK and the echo", r.status, r.message, r.msgs)
	}
	if err, ok := ts.wait(); !ok || err != nil {
		t.Errorf("Serve = %v (returned: %v), want nil", err, ok)
	}
}

func TestGRPCEcho(t *testing.T) {
	ts := start(t, Config{PodID: "pod-e", Version: "v2"}, nil)
	c := newH2CClient(t)
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	for _, tc := range []struct {
		name string
		msg  []byte
	}{
		{"empty", nil},
		{"text", []byte("hello")},
		{"every byte value", all},
		{"a HealthCheckRequest", healthRequest("x")},
		{"beyond one flow-control window", bytes.Repeat([]byte("0123456789abcdef"), 100<<10/16)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := mustGRPC(t, c, ts.url, GRPCEchoPath, grpcFrame(tc.msg))
			if r.status != grpcOK || r.trailersOnly || len(r.msgs) != 1 || !bytes.Equal(r.msgs[0], tc.msg) {
				t.Fatalf("grpc-status %d %q (trailers-only %v), messages %d; want OK and the %d bytes back", r.status, r.message, r.trailersOnly, len(r.msgs), len(tc.msg))
			}
			if r.header.Get("X-Pod-Id") != "pod-e" || r.header.Get("X-App-Version") != "v2" {
				t.Errorf("headers %v, want the pod's identity", r.header)
			}
		})
	}
}

// TestGRPCEchoStates: Echo follows the traffic row of the state table.
func TestGRPCEchoStates(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     Config
		drain   bool
		status  int
		message string
	}{
		{"starting", Config{StartupDelay: time.Hour}, false, grpcUnavailable, BodyStarting},
		{"draining", Config{}, true, grpcOK, ""},
		{"draining reject", Config{PreStopMode: PreStopReject}, true, grpcUnavailable, BodyShuttingDown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := start(t, tc.cfg, nil)
			if tc.drain {
				ts.s.StartDraining()
			}
			r := mustGRPC(t, newH2CClient(t), ts.url, GRPCEchoPath, grpcFrame([]byte("m")))
			if r.status != tc.status || r.message != tc.message || r.trailersOnly != (tc.status != grpcOK) {
				t.Errorf("grpc-status %d %q (trailers-only %v), want %d %q", r.status, r.message, r.trailersOnly, tc.status, tc.message)
			}
		})
	}
}

// TestGRPCErrors: malformed or unknown calls get the status a gRPC server
// answers them with, trailers-only; a gRPC call that is not one (HTTP/1.1,
// GET) gets an HTTP error.
func TestGRPCErrors(t *testing.T) {
	ts := start(t, Config{}, nil)
	c := newH2CClient(t)
	twoMessages := append(grpcFrame([]byte("a")), grpcFrame([]byte("b"))...)
	compressed := grpcFrame([]byte("a"))
	compressed[0] = 1
	tooLong := []byte{0, 0xff, 0xff, 0xff, 0xff}
	for _, tc := range []struct {
		name    string
		method  string
		frame   []byte
		status  int
		message string // a substring
	}{
		{"unknown method", "/testapp.Echo/Nope", grpcFrame(nil), grpcUnimplemented, "unknown method /testapp.Echo/Nope"},
		{"unknown service", "/other.Service/Echo", grpcFrame(nil), grpcUnimplemented, "unknown method"},
		{"no message", GRPCEchoPath, nil, grpcInternal, "no request message"},
		{"prefix cut short", GRPCEchoPath, []byte{0, 0, 0}, grpcInternal, "prefix cut short"},
		{"message cut short", GRPCEchoPath, []byte{0, 0, 0, 0, 9, 'a'}, grpcInternal, "cut short"},
		{"two messages", GRPCEchoPath, twoMessages, grpcInternal, "more than one"},
		{"compressed", GRPCEchoPath, compressed, grpcUnimplemented, "compressed"},
		{"too long", GRPCEchoPath, tooLong, grpcResourceExhausted, "exceeds"},
		{"bad health request", GRPCHealthCheckPath, grpcFrame([]byte{0x0a, 5, 'a'}), grpcInternal, "HealthCheckRequest"},
		{"health service with a bad wire type", GRPCHealthCheckPath, grpcFrame([]byte{0x08, 1}), grpcInternal, "wire type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := mustGRPC(t, c, ts.url, tc.method, tc.frame)
			if r.status != tc.status || !strings.Contains(r.message, tc.message) || !r.trailersOnly || len(r.msgs) != 0 || r.httpStatus != 200 {
				t.Errorf("HTTP %d, grpc-status %d %q (trailers-only %v), %d messages; want 200, %d %q trailers-only",
					r.httpStatus, r.status, r.message, r.trailersOnly, len(r.msgs), tc.status, tc.message)
			}
		})
	}

	for _, tc := range []struct {
		name   string
		c      *http.Client
		method string
		ctype  string
		code   int
	}{
		{"HTTP/1.1", newClient(t), "POST", "application/grpc", http.StatusHTTPVersionNotSupported},
		{"GET", c, "GET", "application/grpc", http.StatusMethodNotAllowed},
		{"not gRPC", c, "POST", "application/grpcx", http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, ts.url+GRPCEchoPath, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", tc.ctype)
			resp, err := tc.c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.code || resp.Header.Get("Grpc-Status") != "" || resp.Header.Get(HeaderPodID) == "" {
				t.Errorf("HTTP %d, headers %v; want %d, no grpc-status, the pod id", resp.StatusCode, resp.Header, tc.code)
			}
		})
	}
}

// TestGRPCFraming checks on the wire what net/http's client blurs: an OK
// answer is HEADERS, DATA, then trailers ending the stream; an error
// answer is trailers-only, one HEADERS frame ending the stream.
func TestGRPCFraming(t *testing.T) {
	ts := start(t, Config{PodID: "pod-f"}, nil)
	hc := dialH2(t, ts.addr)
	echo := grpcFrame([]byte("abc"))
	hc.send(1, "POST", GRPCEchoPath, echo, "content-type", "application/grpc", "te", "trailers")
	hc.send(3, "POST", "/testapp.Echo/Missing\u00e9", grpcFrame(nil), "content-type", "application/grpc", "te", "trailers")
	hc.readUntil(hc.ended(1, 3))
	if hc.err != nil {
		t.Fatalf("connection ended: %v", hc.err)
	}

	ok := hc.streams[1]
	if ok.headerFrames != 2 || ok.reset || !bytes.Equal(ok.data, echo) {
		t.Errorf("OK answer: %d HEADERS frames, reset %v, data %q; want headers, the echo, trailers", ok.headerFrames, ok.reset, ok.data)
	}
	for _, f := range ok.header {
		if f.Name == "grpc-status" {
			t.Error("OK answer: grpc-status in the headers, want it in the trailers only")
		}
	}
	trailers := map[string]string{}
	for _, f := range ok.trailer {
		trailers[f.Name] = f.Value
	}
	if st, msg, hasMsg := trailers["grpc-status"], trailers["grpc-message"], len(trailers) == 2; st != "0" || msg != "" || !hasMsg {
		t.Errorf("OK answer: trailers %v, want grpc-status 0 and an empty grpc-message", trailers)
	}

	fail := hc.streams[3]
	if fail.headerFrames != 1 || fail.dataFrames != 0 || !fail.ended {
		t.Errorf("error answer: %d HEADERS frames, %d DATA frames; want one HEADERS frame ending the stream", fail.headerFrames, fail.dataFrames)
	}
	want := map[string]string{
		":status": "200", "content-type": "application/grpc", "x-pod-id": "pod-f",
		"grpc-status": "12", "grpc-message": "unknown method /testapp.Echo/Missing%C3%A9",
	}
	for name, v := range want {
		if got, _ := fail.field(name); got != v {
			t.Errorf("error answer: %s %q, want %q", name, got, v)
		}
	}
}

// TestCountsHTTP2: h2c requests and gRPC calls, multiplexed on one
// connection, are each accounted for; the kubelet's Health/Check is a
// probe, anyone else's is traffic; a gRPC status is filed under its HTTP
// equivalent's class.
func TestCountsHTTP2(t *testing.T) {
	ts := start(t, Config{PreStopMode: PreStopReject}, nil)
	c := newH2CClient(t)
	get := func(path, checker string) {
		t.Helper()
		if r := do(t, c, "GET", ts.url+path, checker); r.code == 0 {
			t.Fatal("no answer")
		}
	}
	kube := []string{"User-Agent", "kube-probe/1.34"}
	get(PathHealthy, "")                                                                   // traffic 2xx
	get("/nope", "")                                                                       // traffic 4xx
	get(PathHealthy, "livenessProbe")                                                      // probe 2xx
	mustGRPC(t, c, ts.url, GRPCEchoPath, grpcFrame([]byte("x")))                           // traffic OK
	mustGRPC(t, c, ts.url, "/testapp.Echo/Nope", grpcFrame(nil))                           // traffic UNIMPLEMENTED: 5xx
	mustGRPC(t, c, ts.url, GRPCHealthCheckPath, grpcFrame(nil))                            // traffic OK
	mustGRPC(t, c, ts.url, GRPCHealthCheckPath, grpcFrame(healthRequest("nope")), kube...) // probe NOT_FOUND: 4xx
	mustGRPC(t, c, ts.url, GRPCHealthCheckPath, grpcFrame(healthRequest("readinessProbe")), kube...)
	ts.s.StartDraining()
	mustGRPC(t, c, ts.url, GRPCEchoPath, grpcFrame([]byte("x"))) // traffic UNAVAILABLE: 5xx
	mustGRPC(t, c, ts.url, GRPCHealthCheckPath, grpcFrame(nil), kube...)

	got := ts.s.Counts()
	wantTraffic := RequestCounts{Received: 6, Written: StatusCounts{S2xx: 3, S4xx: 1, S5xx: 2}}
	wantProbes := RequestCounts{Received: 4, Written: StatusCounts{S2xx: 3, S4xx: 1}}
	if got.Traffic != wantTraffic || got.Probes != wantProbes {
		t.Errorf("traffic %+v\n   want %+v\nprobes  %+v\n   want %+v", got.Traffic, wantTraffic, got.Probes, wantProbes)
	}
	if got.Connections.Accepted != 1 {
		t.Errorf("%d connections, want the one multiplexed h2c connection", got.Connections.Accepted)
	}
}
