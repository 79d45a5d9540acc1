package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rolltest/rolltest/pkg/report"
)

// The secrets of TestRunRedactsEverywhere, long enough that no histogram's
// base64 or timestamp holds one by chance.
const (
	secretBearer = "s3cr3t-token-Zq81"
	secretAPIKey = "k3y-Vw52x"
	secretQuery  = "abc-Tt93r"
)

// TestRunRedactsEverywhere runs the CLI against a loopback server that
// answers every fourth request 500 with the credentials it received in its
// body, and greps every output — each report format, the .jtl, a /metrics
// scrape, stdout and stderr — for them. The server asserts that the
// requests themselves carried the real ones.
func TestRunRedactsEverywhere(t *testing.T) {
	var n, real atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "Bearer "+secretBearer && r.Header.Get("X-Api-Key") == secretAPIKey && r.URL.Query().Get("token") == secretQuery {
			real.Add(1)
		}
		if n.Add(1)%4 == 0 {
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprintf(w, "denied: Authorization: %s; key %s", r.Header.Get("Authorization"), r.Header.Get("X-Api-Key"))
			return
		}
		fmt.Fprint(w, "web-1 >> 10.0.0.1 >> v1")
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	files := map[string]string{}
	args := []string{"run", "--target", srv.URL + "/x?token=" + secretQuery, "--concurrency", "2", "--requests", "40",
		"-H", "Authorization: Bearer " + secretBearer, "-H", "X-Api-Key: " + secretAPIKey,
		"--metrics-addr", "127.0.0.1:0", "--metrics-linger", "1m"}
	for _, f := range []string{"json", "html", "junit", "markdown", "hgrm", "jtl"} {
		files[f] = filepath.Join(dir, "r."+f)
		args = append(args, "--"+f, files[f])
	}
	stderr := &lineWatch{}
	urlCh := stderr.await(`serving metrics on (http://\S+)`)
	overCh := stderr.await(`(run over); serving its final metrics`)
	var stdout strings.Builder
	done := make(chan int, 1)
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	go func() { done <- execute(runCtx, args, &stdout, stderr) }()
	var metricsURL string
	for _, ch := range []<-chan string{urlCh, overCh} {
		select {
		case v := <-ch:
			if metricsURL == "" {
				metricsURL = v
			}
		case code := <-done:
			t.Fatalf("exit %d before the metrics were served:\n%s", code, stderr)
		case <-ctx.Done():
			t.Fatalf("timed out:\n%s", stderr)
		}
	}
	resp, err := http.Get(metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	scrape, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	stopRun() // ends the linger
	if code := <-done; code != report.ExitGateFailed {
		t.Fatalf("exit %d, want 1 (the 500s)\n%s", code, stderr)
	}

	if got := real.Load(); got != n.Load() || got < 40 {
		t.Errorf("%d of %d requests carried the real credentials", got, n.Load())
	}
	outputs := map[string]string{"stdout": stdout.String(), "stderr": stderr.String(), "/metrics": string(scrape)}
	for f, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		outputs[f] = string(b)
		// Written through a temporary file, which CreateTemp makes 0600:
		// 0644 shows the chmod before the rename.
		if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o644 {
			t.Errorf("--%s: mode %v, want 0644 (%v)", f, st.Mode().Perm(), err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != len(files) {
		t.Errorf("%d files in the report directory, want the %d reports and no temporary one", len(entries), len(files))
	}
	for name, out := range outputs {
		for _, secret := range []string{secretBearer, secretAPIKey, secretQuery} {
			if strings.Contains(out, secret) {
				t.Errorf("%s holds %q", name, secret)
			}
		}
	}
	// The echo was recorded, redacted: the test saw the path a leak takes.
	res := readResult(t, files["json"])
	if len(res.Failures.Records) == 0 || !strings.Contains(res.Failures.Records[0].Detail, "Bearer REDACTED") {
		t.Errorf("failure records %+v, want the echoed body with Bearer REDACTED", res.Failures.Records)
	}
	if !strings.Contains(outputs["jtl"], "Bearer REDACTED") || !strings.Contains(outputs["/metrics"], "token=REDACTED") {
		t.Errorf("the .jtl or the scrape lacks the redacted forms")
	}
	if want := []string{"Authorization: REDACTED", "X-Api-Key: REDACTED"}; strings.Join(res.Config.Headers, "|") != strings.Join(want, "|") {
		t.Errorf("config.headers %q, want %q", res.Config.Headers, want)
	}
}

// TestErrorLinesRedacted: an error that quotes what the user gave —
// a URL, a header line — goes to a CI log without its credentials.
func TestErrorLinesRedacted(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	for _, tc := range []struct {
		name string
		args []string
		want string // in the error line
	}{
		{"unreachable", []string{"--target", closedURL + "/?access_token=" + secretBearer}, "/?access_token=REDACTED is unreachable"},
		{"userinfo", []string{"--target", strings.Replace(closedURL, "http://", "http://user:"+secretQuery+"@", 1)}, "send them with -H 'Authorization: ...'"},
		{"malformed header", []string{"--target", closedURL, "-H", "Authorization Bearer " + secretBearer}, "--header: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := cli(t, context.Background(), append([]string{"run", "--requests", "1", "--concurrency", "1"}, tc.args...)...)
			if code != report.ExitUsage || !strings.Contains(errOut, tc.want) || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
				t.Fatalf("exit %d, stderr %q; want 2 and one line with %q", code, errOut, tc.want)
			}
			for _, secret := range []string{secretBearer, secretQuery} {
				if strings.Contains(errOut, secret) {
					t.Errorf("stderr holds %q: %s", secret, errOut)
				}
			}
		})
	}
}
