package main

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rolltest/rolltest/internal/nettest"
	"github.com/rolltest/rolltest/pkg/loadgen"
	"github.com/rolltest/rolltest/pkg/report"
)

// h2cPods serves HTTP/2 with prior knowledge only (an HTTP/1.1 request
// fails), answering as two pods in turn with a seed line body, and counts
// the requests it served, the preflight's included.
func h2cPods(t *testing.T, served *atomic.Int64) string {
	t.Helper()
	return nettest.ServeH2C(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pod := "web-a >> 10.0.0.1 >> v1\n"
		if served.Add(1)%2 == 0 {
			pod = "web-b >> 10.0.0.2 >> v1\n"
		}
		if r.ProtoMajor != 2 {
			w.WriteHeader(http.StatusHTTPVersionNotSupported)
		}
		_, _ = io.WriteString(w, pod)
	}))
}

// TestRunH2C: a run with --h2c against an h2c-only server sends every
// request over HTTP/2, attributes them to the two pods and says
// config.protocol "h2c".
func TestRunH2C(t *testing.T) {
	var served atomic.Int64
	base := h2cPods(t, &served)
	jsonPath := filepath.Join(t.TempDir(), "r.json")
	// --max-late 50%: the protocol is under test, not the sender's
	// schedule, which a loaded machine running -race can delay.
	code, out, errOut := cli(t, context.Background(), "run", "--target", base+"/", "--h2c",
		"--rate", "200", "--duration", "1s", "--max-late", "50%", "--json", jsonPath, "--no-progress")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	r := readResult(t, jsonPath)
	if r.Config.Protocol != "h2c" || r.Config.Streams != 1 {
		t.Errorf("config.protocol %q streams %d, want h2c and 1", r.Config.Protocol, r.Config.Streams)
	}
	if r.Totals.Requests != 200 || r.Totals.Failed != 0 || served.Load() != 201 { // 201: the preflight
		t.Fatalf("requests %d failed %d, server served %d", r.Totals.Requests, r.Totals.Failed, served.Load())
	}
	if len(r.Pods) != 2 || r.Pods[0].Requests+r.Pods[1].Requests != 200 {
		t.Fatalf("pods %+v", r.Pods)
	}
}

// TestHTTP2FlagErrors: the HTTP/2 flags are checked against the target's
// scheme, and --streams against its bounds.
func TestHTTP2FlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--target", "http://127.0.0.1:1/", "--http2"}, "use --h2c"},
		{[]string{"--target", "https://127.0.0.1:1/", "--h2c"}, "use --http2"},
		{[]string{"--target", "http://127.0.0.1:1/", "--h2c", "--http2"}, "not both"},
		{[]string{"--target", "http://127.0.0.1:1/", "--h2c", "--streams", "0"}, "between 1 and 1000"},
		{[]string{"--target", "http://127.0.0.1:1/", "--streams", "1"}, "add --http2"},
	} {
		args := append([]string{"run", "--rate", "1", "--requests", "1", "--no-progress"}, tc.args...)
		code, out, errOut := cli(t, context.Background(), args...)
		if code != report.ExitUsage || !strings.Contains(errOut+out, tc.want) {
			t.Errorf("%v: exit %d, output %q, want exit 2 saying %q", tc.args, code, errOut+out, tc.want)
		}
	}
}

// TestRunReportsHTTP1Protocol: a run without the HTTP/2 flags reports
// config.protocol "http/1.1".
func TestRunReportsHTTP1Protocol(t *testing.T) {
	var j job
	if got := j.reportConfig(loadgen.Config{Target: "http://127.0.0.1:1/", Rate: 1}).Protocol; got != "http/1.1" {
		t.Errorf("config.protocol %q, want http/1.1", got)
	}
}
