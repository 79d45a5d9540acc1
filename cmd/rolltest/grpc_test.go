package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rolltest/rolltest/internal/nettest"
	"github.com/rolltest/rolltest/pkg/loadgen"
)

// grpcPods is a gRPC server built with net/http alone, HTTP/2 without TLS:
// two pods in turn, each naming itself in the x-pod-name trailer. It
// answers the health check SERVING and /test.Echo/Echo with the request
// message, except that every call whose number fails(n) says is answered
// UNAVAILABLE, trailers-only. It counts the calls, the preflight's
// included, and keeps the last request message.
func grpcPods(t *testing.T, served *atomic.Int64, fails func(n int64) bool, lastBody *atomic.Value) string {
	t.Helper()
	url := nettest.ServeH2C(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := served.Add(1)
		body, _ := io.ReadAll(r.Body)
		if lastBody != nil {
			lastBody.Store(string(body))
		}
		pod := "grpc-a"
		if n%2 == 0 {
			pod = "grpc-b"
		}
		h := w.Header()
		h.Set("Content-Type", "application/grpc")
		if r.ProtoMajor != 2 || r.Header.Get("Content-Type") != "application/grpc" {
			w.WriteHeader(http.StatusUnsupportedMediaType)
			return
		}
		if fails != nil && fails(n) {
			h.Set("Grpc-Status", "14")
			h.Set("Grpc-Message", "draining")
			h.Set("X-Pod-Name", pod)
			w.WriteHeader(200)
			return
		}
		reply := []byte{0, 0, 0, 0, 2, 0x08, 0x01} // SERVING
		switch r.URL.Path {
		case loadgen.DefaultGRPCMethod:
		case "/test.Echo/Echo":
			reply = body
		default:
			h.Set("Grpc-Status", "12")
			w.WriteHeader(200)
			return
		}
		_, _ = w.Write(reply)
		h.Set(http.TrailerPrefix+"Grpc-Status", "0")
		h.Set(http.TrailerPrefix+"X-Pod-Name", pod)
	}))
	return "grpc://" + strings.TrimPrefix(url, "http://")
}

// TestRunGRPC: run --target grpc://... calls the health check on every
// request, over HTTP/2 without TLS, reads the pods from the trailers
// (auto identity) and reports config.protocol "grpc" and the method.
func TestRunGRPC(t *testing.T) {
	var served atomic.Int64
	target := grpcPods(t, &served, nil, nil)
	jsonPath := filepath.Join(t.TempDir(), "r.json")
	// --max-late 50%: the protocol is under test, not the sender's
	// schedule, which a loaded machine running -race can delay.
	code, out, errOut := cli(t, context.Background(), "run", "--target", target, "--rate", "200", "--requests", "100",
		"--max-late", "50%", "--json", jsonPath, "--no-progress")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	r := readResult(t, jsonPath)
	if r.Config.Protocol != "grpc" || r.Config.GRPCMethod != loadgen.DefaultGRPCMethod || r.Config.Method != "POST" || r.Config.Target != target {
		t.Errorf("config %+v", r.Config)
	}
	if r.Totals.Requests != 100 || r.Totals.Failed != 0 || served.Load() != 101 { // 101: the preflight
		t.Fatalf("requests %d failed %d, server served %d", r.Totals.Requests, r.Totals.Failed, served.Load())
	}
	if len(r.Pods) != 2 || r.Pods[0].Requests+r.Pods[1].Requests != 100 || r.Config.IdentityRule != "header:X-Pod-Name" {
		t.Fatalf("pods %+v, identity rule %q", r.Pods, r.Config.IdentityRule)
	}
}

// TestRunGRPCUnavailable: UNAVAILABLE answers are dropped requests of
// their own outcome, named in the failure records, never re-sent by
// --retries; a preflight answered so warns.
func TestRunGRPCUnavailable(t *testing.T) {
	var served atomic.Int64
	target := grpcPods(t, &served, func(n int64) bool { return n%5 == 1 }, nil)
	jsonPath := filepath.Join(t.TempDir(), "r.json")
	code, out, errOut := cli(t, context.Background(), "run", "--target", target, "--concurrency", "2", "--requests", "50",
		"--retries", "1", "--json", jsonPath, "--no-progress")
	if code != 1 {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "answered grpc_unavailable before the run (gRPC UNAVAILABLE (14): draining)") {
		t.Errorf("no preflight warning: %q", errOut)
	}
	r := readResult(t, jsonPath)
	// Calls 2 to 51 are the run's: 6, 11, ..., 51 fail.
	if r.Totals.Requests != 50 || r.Totals.Outcomes["grpc_unavailable"] != 10 || r.Totals.Failed != 10 || r.Totals.Retried != 0 {
		t.Fatalf("totals %+v", r.Totals)
	}
	if len(r.Failures.Records) != 10 || r.Failures.Records[0].Detail != "gRPC UNAVAILABLE (14): draining" || r.Failures.Records[0].Pod == "" {
		t.Fatalf("failure records %+v", r.Failures.Records)
	}
}

// TestRunGRPCMethodAndBody: --grpc-method calls another method with the
// message of --body-file, framed as gRPC frames it.
func TestRunGRPCMethodAndBody(t *testing.T) {
	var served atomic.Int64
	var last atomic.Value
	target := grpcPods(t, &served, nil, &last)
	dir := t.TempDir()
	msg := "\x0a\x05hello"
	if err := os.WriteFile(filepath.Join(dir, "msg.bin"), []byte(msg), 0o644); err != nil {
		t.Fatal(err)
	}
	jsonPath := filepath.Join(dir, "r.json")
	code, out, errOut := cli(t, context.Background(), "run", "--target", target, "--grpc-method", "/test.Echo/Echo",
		"--body-file", filepath.Join(dir, "msg.bin"), "--concurrency", "1", "--requests", "5", "--json", jsonPath, "--no-progress")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	r := readResult(t, jsonPath)
	if r.Config.GRPCMethod != "/test.Echo/Echo" || r.Config.BodyBytes != len(msg) || r.Totals.OK != 5 {
		t.Fatalf("config %+v totals %+v", r.Config, r.Totals)
	}
	if got := last.Load().(string); got != "\x00\x00\x00\x00\x07"+msg {
		t.Fatalf("the server got %q", got)
	}
	// A method the server does not have: UNIMPLEMENTED, counted as such.
	code, _, _ = cli(t, context.Background(), "run", "--target", target, "--grpc-method", "/test.Echo/Nope",
		"--concurrency", "1", "--requests", "3", "--json", jsonPath, "-q")
	if r := readResult(t, jsonPath); code != 1 || r.Totals.Outcomes["grpc_unimplemented"] != 3 {
		t.Fatalf("exit %d, outcomes %v", code, r.Totals.Outcomes)
	}
}

// TestRunStreams: --streams 50 carries the calls of 100 workers on two
// connections, and the report says so.
func TestRunStreams(t *testing.T) {
	var served atomic.Int64
	target := grpcPods(t, &served, nil, nil)
	jsonPath := filepath.Join(t.TempDir(), "r.json")
	code, out, errOut := cli(t, context.Background(), "run", "--target", target, "--streams", "50", "--concurrency", "100",
		"--requests", "1000", "--json", jsonPath, "--no-progress")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	r := readResult(t, jsonPath)
	if r.Config.Streams != 50 || r.Config.Connections != 2 || r.Totals.Connections != 2 || r.Totals.ConnectionsPeak != 2 || r.Totals.OK != 1000 {
		t.Fatalf("config streams %d connections %d; totals %+v", r.Config.Streams, r.Config.Connections, r.Totals)
	}
}
