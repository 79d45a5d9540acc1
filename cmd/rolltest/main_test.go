package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rolltest/rolltest/internal/faultserver"
	"github.com/rolltest/rolltest/pkg/report"
	"github.com/rolltest/rolltest/testapp/app"
)

// cli runs rolltest in-process and returns its exit code and output.
func cli(t *testing.T, ctx context.Context, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := execute(ctx, args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// startTestapp serves the reference app on loopback until the test ends.
func startTestapp(t *testing.T, cfg app.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = app.New(cfg).Serve(ctx, ln)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return "http://" + ln.Addr().String()
}

func readResult(t *testing.T, path string) *report.Result {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := report.ReadResult(f)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRunAgainstTestappPasses(t *testing.T) {
	base := startTestapp(t, app.Config{PodID: "testapp-1", PodIP: "10.244.0.9", Version: "v1"})
	dir := t.TempDir()
	jsonPath := filepath.Join(dir, "r.json")
	// --max-late 10%, as in fastDemo: under -race beside other packages'
	// tests the sender's thread is sometimes not scheduled for tens of ms.
	code, out, errOut := cli(t, context.Background(), "run", "--target", base+"/common/healthy",
		"--rate", "400", "--duration", "2s", "--max-late", "10%", "--json", jsonPath, "--no-progress")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	r := readResult(t, jsonPath)
	if r.Totals.Requests != 800 || r.Totals.Failed != 0 || !r.Verdict.Pass {
		t.Fatalf("requests %d failed %d pass %v", r.Totals.Requests, r.Totals.Failed, r.Verdict.Pass)
	}
	if len(r.Pods) != 1 || r.Pods[0].ID != "testapp-1" || r.Pods[0].Version != "v1" || r.Pods[0].Requests != 800 {
		t.Fatalf("pods = %+v", r.Pods)
	}
	for _, want := range []string{"PASS: 0 of 800 requests dropped", "testapp-1", "Who answered when"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}

func TestRunAgainstFaultyServerFails(t *testing.T) {
	srv, err := faultserver.Start(func(n uint64) faultserver.Action {
		switch n {
		case 40:
			return faultserver.Reset
		case 90:
			return faultserver.Fail503
		}
		return faultserver.Serve
	}, "pod-a")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	jsonPath := filepath.Join(t.TempDir(), "r.json")
	code, out, _ := cli(t, context.Background(), "run", "--target", srv.URL("/common/healthy"),
		"--concurrency", "1", "--requests", "200", "--json", jsonPath, "--no-progress")
	if code != report.ExitGateFailed {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	r := readResult(t, jsonPath)
	// The preflight request is number 1 at the server and is not counted.
	if r.Totals.Failed != 2 || r.Totals.Outcomes["reset"] != 1 || r.Totals.Outcomes["http_5xx"] != 1 {
		t.Fatalf("totals = %+v", r.Totals)
	}
	for _, f := range r.Failures.Records {
		if f.Pod != "pod-a" || f.AttributedBy != "connection" {
			t.Errorf("failure %+v not attributed to pod-a by connection", f)
		}
	}
	for _, want := range []string{"FAIL: 2 of 200 requests dropped", "reset", "http_5xx", "pod-a", "connection", "#39", "#89"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}

func TestUnreachableTarget(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	jsonPath := filepath.Join(t.TempDir(), "r.json")
	code, out, errOut := cli(t, context.Background(), "run", "--target", "http://"+addr+"/", "--rate", "10", "--duration", "1s", "--json", jsonPath)
	if code != report.ExitUsage || !strings.Contains(errOut, "unreachable") || !strings.Contains(errOut, "refused") {
		t.Fatalf("exit %d stderr %q stdout %q", code, errOut, out)
	}
	if _, err := os.Stat(jsonPath); err == nil {
		t.Fatal("a report was written for a run that never started")
	}
}

func TestInterruptWritesPartialReport(t *testing.T) {
	base := startTestapp(t, app.Config{PodID: "testapp-1", PodIP: "10.244.0.9", Version: "v1"})
	jsonPath := filepath.Join(t.TempDir(), "r.json")
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(1500*time.Millisecond, cancel)
	code, out, _ := cli(t, ctx, "run", "--target", base+"/common/healthy", "--rate", "200", "--duration", "60s",
		"--json", jsonPath, "--no-progress")
	if code != report.ExitInterrupted {
		t.Fatalf("exit %d, want 130\n%s", code, out)
	}
	r := readResult(t, jsonPath)
	if !r.Run.Interrupted || r.Totals.Requests == 0 || r.Totals.Requests >= 12000 || r.Totals.Failed != 0 {
		t.Fatalf("run %+v totals %+v", r.Run, r.Totals)
	}
	if r.Verdict.ExitCode != report.ExitInterrupted || !strings.Contains(out, "INTERRUPTED") {
		t.Fatalf("verdict %+v\n%s", r.Verdict, out)
	}
}

func TestReportRerenders(t *testing.T) {
	base := startTestapp(t, app.Config{PodID: "testapp-1", PodIP: "10.244.0.9", Version: "v1"})
	dir := t.TempDir()
	jsonPath := filepath.Join(dir, "r.json")
	if code, out, errOut := cli(t, context.Background(), "run", "--target", base+"/common/healthy", "--concurrency", "2",
		"--requests", "300", "--json", jsonPath, "--quiet"); code != 0 || out != "" {
		t.Fatalf("run: exit %d\n%s%s", code, out, errOut)
	}
	html, junit, hgrm, md := filepath.Join(dir, "r.html"), filepath.Join(dir, "j.xml"), filepath.Join(dir, "l.hgrm"), filepath.Join(dir, "s.md")
	code, out, errOut := cli(t, context.Background(), "report", jsonPath, "--html", html, "--junit", junit, "--hgrm", hgrm, "--markdown", md)
	if code != 0 || !strings.Contains(out, "PASS: 0 of 300 requests dropped") {
		t.Fatalf("report: exit %d\n%s%s", code, out, errOut)
	}
	if b, _ := os.ReadFile(md); !strings.HasPrefix(string(b), "## ✅ rolltest: PASS\n") || !strings.Contains(string(b), "| 300 | 0 | 0% |") {
		t.Errorf("Markdown summary:\n%s", b)
	}
	for _, p := range []string{html, junit, hgrm, md} {
		if st, err := os.Stat(p); err != nil || st.Size() == 0 {
			t.Errorf("%s not written: %v", p, err)
		} else if st.Mode().Perm()&0o044 != 0o044 {
			t.Errorf("%s has mode %v: a report must be readable by others", p, st.Mode().Perm())
		}
	}
	// A document of another schema version is refused by name.
	var doc map[string]any
	b, _ := os.ReadFile(jsonPath)
	_ = json.Unmarshal(b, &doc)
	doc["schema"] = "rolltest/v9"
	b, _ = json.Marshal(doc)
	v9 := filepath.Join(dir, "v9.json")
	_ = os.WriteFile(v9, b, 0o644)
	code, _, errOut = cli(t, context.Background(), "report", v9)
	if code != report.ExitUsage || !strings.Contains(errOut, "rolltest/v9") {
		t.Fatalf("v9: exit %d stderr %q", code, errOut)
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := cli(t, context.Background(), "version")
	if code != 0 || !strings.HasPrefix(out, "rolltest ") {
		t.Fatalf("exit %d out %q", code, out)
	}
}

// TestPreflightWording: a server that answers, but not usably, is not
// called unreachable; the message says what came back.
func TestPreflightWording(t *testing.T) {
	for _, tc := range []struct {
		action faultserver.Action
		want   []string
	}{
		{faultserver.Garbage, []string{"answered before the run started, but not with valid HTTP/1.1", `"SSH-2.0-OpenSSH_9.6 \x00\x01 this is not HTTP\r\n\x7f\xfe"`}},
		{faultserver.HugeHeaders, []string{"answered before the run started, but with response headers larger than 16 KiB"}},
		{faultserver.Truncate, []string{"started to answer before the run, but the response was cut short", "unexpected EOF"}},
		{faultserver.Close, []string{"accepted the connection before the run started but closed it without a response"}},
	} {
		t.Run(tc.action.String(), func(t *testing.T) {
			srv, err := faultserver.Start(func(uint64) faultserver.Action { return tc.action })
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			code, out, errOut := cli(t, context.Background(), "run", "--target", srv.URL("/"), "--rate", "10", "--duration", "1s")
			if code != report.ExitUsage || strings.Contains(errOut, "unreachable") || strings.Count(errOut, "\n") != 1 {
				t.Fatalf("exit %d stderr %q stdout %q", code, errOut, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr %q lacks %q", errOut, w)
				}
			}
		})
	}
}
