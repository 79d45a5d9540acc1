package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rolltest/rolltest/pkg/jtl"
	"github.com/rolltest/rolltest/pkg/report"
)

// readJTL reads a .jtl file back with JMeter's CSV rules.
func readJTL(t *testing.T, path string) []jtl.Row {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := jtl.Read(f)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// TestRunJTL: --jtl writes one row per attempt, and what the rows add up
// to is the result document: attempts, successes, drops by target, and
// requests by pod (each of two pods, told apart by request number).
func TestRunJTL(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pod := fmt.Sprintf("shop-%d", n.Add(1)%2)
		if r.URL.Path == "/broken" {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "%s >> 10.0.0.1 >> v1", pod)
			return
		}
		fmt.Fprintf(w, "%s >> 10.0.0.1 >> v1", pod)
	}))
	defer srv.Close()
	dir := t.TempDir()
	plan := writeFile(t, filepath.Join(dir, "t.txt"), fmt.Sprintf("# weight 3\n# name fine, \"quoted\"\nGET %[1]s/fine\n\nGET %[1]s/broken\n", srv.URL))
	jsonPath, jtlPath := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.jtl")
	code, out, errOut := cli(t, context.Background(), "run", "--targets", plan, "--concurrency", "3", "--requests", "400",
		"--json", jsonPath, "--jtl", jtlPath, "--no-progress")
	if code != report.ExitGateFailed {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
	}
	r := readResult(t, jsonPath)
	rows := readJTL(t, jtlPath)
	if int64(len(rows)) != r.Totals.Requests+r.Totals.Retried {
		t.Fatalf("%d rows, want one per attempt: %d requests + %d retried", len(rows), r.Totals.Requests, r.Totals.Retried)
	}
	ok, byLabel, failedByLabel, byThread := int64(0), map[string]int64{}, map[string]int64{}, map[string]int64{}
	for _, row := range rows {
		if row.Success {
			ok++
		} else {
			failedByLabel[row.Label]++
			if row.ResponseCode != "503" || !strings.HasPrefix(row.FailureMessage, "http_5xx") {
				t.Errorf("failed row %+v", row)
			}
		}
		byLabel[row.Label]++
		byThread[row.ThreadName]++
		if row.GrpThreads != 3 || row.URL != srv.URL+"/fine" && row.URL != srv.URL+"/broken" || row.Bytes <= 0 || row.SentBytes <= 0 {
			t.Errorf("row %+v", row)
		}
	}
	if ok != r.Totals.OK {
		t.Errorf("%d successful rows, the document says %d ok", ok, r.Totals.OK)
	}
	for _, tg := range r.Targets {
		if byLabel[tg.Name] != tg.Requests || failedByLabel[tg.Name] != tg.Failed {
			t.Errorf("target %q: %d rows (%d failed), the document says %d (%d)", tg.Name, byLabel[tg.Name], failedByLabel[tg.Name], tg.Requests, tg.Failed)
		}
	}
	for _, p := range r.Pods {
		if byThread[p.ID] != p.Requests {
			t.Errorf("pod %s: %d rows, the document says %d requests", p.ID, byThread[p.ID], p.Requests)
		}
	}
	if len(byThread) != 2 || byLabel[`fine, "quoted"`] != 300 {
		t.Errorf("rows by thread %v, by label %v", byThread, byLabel)
	}
}

// TestRunJTLInterrupted: an interrupted run still moves its .jtl into
// place, with a row for every attempt the partial document counts.
func TestRunJTLInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 300 {
			cancel()
		}
		fmt.Fprint(w, "shop-1 >> 10.0.0.1 >> v1")
	}))
	defer srv.Close()
	dir := t.TempDir()
	jsonPath, jtlPath := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.jtl")
	code, out, errOut := cli(t, ctx, "run", "--target", srv.URL+"/", "--rate", "500", "--duration", "60s",
		"--json", jsonPath, "--jtl", jtlPath, "--no-progress")
	if code != report.ExitInterrupted {
		t.Fatalf("exit %d, want 130\n%s%s", code, out, errOut)
	}
	r := readResult(t, jsonPath)
	rows := readJTL(t, jtlPath)
	if int64(len(rows)) != r.Totals.Requests || len(rows) < 299 {
		t.Fatalf("%d rows, the partial document counts %d requests", len(rows), r.Totals.Requests)
	}
	if rows[0].Label != "GET /" {
		t.Errorf("label %q, want the method and path", rows[0].Label)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".r.jtl.*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestJTLErrors(t *testing.T) {
	dir := t.TempDir()
	res := filepath.Join(dir, "r.json")
	writeFile(t, res, "{}")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--target", "http://127.0.0.1:1/", "--rate", "1", "--duration", "1s", "--jtl", filepath.Join(dir, "no", "r.jtl")}, "--jtl: directory"},
		{[]string{"run", "--target", "http://127.0.0.1:1/", "--rate", "1", "--duration", "1s", "--jtl", dir}, "is a directory"},
		{[]string{"report", res, "--jtl", filepath.Join(dir, "r.jtl")}, "--jtl: a result document keeps failed attempts only"},
	} {
		code, _, errOut := cli(t, context.Background(), tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
}
