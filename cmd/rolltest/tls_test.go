package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rolltest/rolltest/pkg/report"
)

// TestTLSVerification: certificates are verified unless --insecure; a
// server whose certificate is not trusted stops the run before any load
// with one line naming --insecure, and a run with --insecure says in
// every report that it did not verify.
func TestTLSVerification(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "web-1 >> 10.0.0.1 >> v1")
	}))
	defer srv.Close()
	for _, tc := range []struct {
		name     string
		insecure bool
	}{
		{"verified", false},
		{"insecure", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			jsonPath, htmlPath := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.html")
			args := []string{"run", "--target", srv.URL + "/", "--concurrency", "1", "--requests", "5", "--json", jsonPath, "--html", htmlPath, "--no-progress"}
			if tc.insecure {
				args = append(args, "--insecure")
			}
			code, out, errOut := cli(t, context.Background(), args...)
			if !tc.insecure {
				if code != report.ExitUsage || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || !strings.Contains(errOut, "--insecure") || !strings.Contains(errOut, "certificate") {
					t.Fatalf("exit %d, stderr %q; want 2 and one line on the certificate naming --insecure", code, errOut)
				}
				if _, err := os.Stat(jsonPath); err == nil {
					t.Error("a report was written for a run that never started")
				}
				return
			}
			if code != report.ExitPass {
				t.Fatalf("exit %d\n%s%s", code, out, errOut)
			}
			if r := readResult(t, jsonPath); !r.Config.InsecureSkipVerify || r.Totals.OK != 5 {
				t.Errorf("insecure_skip_verify %v, %d ok", r.Config.InsecureSkipVerify, r.Totals.OK)
			}
			page, err := os.ReadFile(htmlPath)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out, "TLS: "+report.InsecureNote) || !strings.Contains(string(page), report.InsecureNote) {
				t.Errorf("the text or HTML report does not say %q:\n%s", report.InsecureNote, out)
			}
		})
	}
}
