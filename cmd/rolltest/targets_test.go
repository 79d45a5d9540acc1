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
	"sync"
	"testing"

	"github.com/rolltest/rolltest/pkg/report"
)

// seenRequest is what the recording server kept of one request.
type seenRequest struct {
	method, path, body string
	header             http.Header
}

// recordingServer answers every request as one pod and keeps each request
// it received, whole.
func recordingServer(t *testing.T) (base string, seen func() []seenRequest) {
	t.Helper()
	var (
		mu   sync.Mutex
		reqs []seenRequest
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		reqs = append(reqs, seenRequest{method: r.Method, path: r.URL.RequestURI(), body: string(b), header: r.Header.Clone()})
		mu.Unlock()
		fmt.Fprint(w, "shop-1 >> 10.244.0.5 >> v1")
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() []seenRequest {
		mu.Lock()
		defer mu.Unlock()
		return append([]seenRequest(nil), reqs...)
	}
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRunTargets drives a --targets run through the CLI against a server
// that records every request: each (method, path) receives exactly its
// weighted share, bodies and headers arrive byte for byte, and the
// report's per-target counts are the server's.
func TestRunTargets(t *testing.T) {
	const (
		order = "{\"sku\": \"A-1\", \"qty\": 2}\n"
		stock = "42\r\nbinary\x00tail"
	)
	for _, format := range []string{"http", "json"} {
		t.Run(format, func(t *testing.T) {
			base, seen := recordingServer(t)
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "bodies", "order.json"), order)
			writeFile(t, filepath.Join(dir, "stock.txt"), stock)
			var plan string
			if format == "http" {
				plan = fmt.Sprintf(`# the shop's three calls
# weight 3
# name home
GET %[1]s/home?x=1

# name create order
POST %[1]s/orders
Content-Type: application/json
@bodies/order.json

PUT %[1]s/stock/42
X-Stock-Token: s3cr3t
X-Common: own
@stock.txt
`, base)
			} else {
				plan = fmt.Sprintf(`{"name":"home","method":"GET","url":"%[1]s/home?x=1","weight":3}
{"name":"create order","method":"POST","url":"%[1]s/orders","header":{"Content-Type":["application/json"]},"body":"eyJza3UiOiAiQS0xIiwgInF0eSI6IDJ9Cg=="}
{"method":"PUT","url":"%[1]s/stock/42","header":{"X-Stock-Token":["s3cr3t"],"X-Common":["own"]},"body":"NDINCmJpbmFyeQB0YWls"}
`, base)
			}
			plan = writeFile(t, filepath.Join(dir, "plan", "..", "targets."+format), plan)
			jsonPath := filepath.Join(dir, "r.json")
			code, out, errOut := cli(t, context.Background(), "run", "--targets", plan, "-H", "X-Common: all",
				"--concurrency", "2", "--requests", "100", "--json", jsonPath, "--no-progress")
			if code != 0 {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
			}

			// The preflight is one more GET of the first target, in no count.
			want := map[string]int{"GET /home?x=1": 61, "POST /orders": 20, "PUT /stock/42": 20}
			got := map[string]int{}
			for _, r := range seen() {
				key := r.method + " " + r.path
				got[key]++
				switch key {
				case "POST /orders":
					if r.body != order || r.header.Get("Content-Type") != "application/json" {
						t.Errorf("POST body %q content type %q", r.body, r.header.Get("Content-Type"))
					}
				case "PUT /stock/42":
					if r.body != stock || r.header.Get("X-Stock-Token") != "s3cr3t" {
						t.Errorf("PUT body %q token %q", r.body, r.header.Get("X-Stock-Token"))
					}
				case "GET /home?x=1":
					if r.body != "" {
						t.Errorf("GET with body %q", r.body)
					}
				}
				// -H reaches every target, unless the target sets the header.
				wantCommon := "all"
				if r.method == "PUT" {
					wantCommon = "own"
				}
				if v := r.header.Values("X-Common"); len(v) != 1 || v[0] != wantCommon {
					t.Errorf("%s: X-Common %q, want %q alone", key, v, wantCommon)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("server saw %v, want %v", got, want)
			}

			r := readResult(t, jsonPath)
			if len(r.Targets) != 3 {
				t.Fatalf("targets %+v", r.Targets)
			}
			for i, w := range []struct {
				name, method, key string
				weight            int
			}{
				{"home", "GET", "GET /home?x=1", 3},
				{"create order", "POST", "POST /orders", 1},
				{"PUT /stock/42", "PUT", "PUT /stock/42", 1},
			} {
				tg := r.Targets[i]
				served := int64(got[w.key])
				if i == 0 {
					served-- // the preflight
				}
				if tg.Name != w.name || tg.Method != w.method || tg.Weight != w.weight || tg.Requests != served || tg.OK != served || tg.Failed != 0 || tg.P99Ms <= 0 {
					t.Errorf("target %d: %+v, want %s %s weight %d with the server's %d requests", i, tg, w.name, w.method, w.weight, served)
				}
			}
			if r.Config.TargetsFile != plan || r.Config.Target != base || r.Config.Method != "GET,POST,PUT" {
				t.Errorf("config: targets_file %q target %q method %q", r.Config.TargetsFile, r.Config.Target, r.Config.Method)
			}
			for _, want := range []string{"3 targets from " + plan, "TARGET", "create order", "PUT /stock/42"} {
				if !strings.Contains(out, want) {
					t.Errorf("summary lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

// TestRunTargetsFailuresNameTheTarget: a dropped request's record says
// which target it was.
func TestRunTargetsFailuresNameTheTarget(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/broken" {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "shop-1 >> 10.244.0.5 >> v1")
	}))
	defer srv.Close()
	dir := t.TempDir()
	plan := writeFile(t, filepath.Join(dir, "t.txt"), fmt.Sprintf("GET %[1]s/fine\n\n# name broken page\nGET %[1]s/broken\n", srv.URL))
	jsonPath := filepath.Join(dir, "r.json")
	code, out, errOut := cli(t, context.Background(), "run", "--targets", plan, "--concurrency", "1", "--requests", "10", "--json", jsonPath, "--no-progress")
	if code != report.ExitGateFailed {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
	}
	r := readResult(t, jsonPath)
	if r.Totals.Failed != 5 || len(r.Failures.Records) != 5 || r.Targets[1].Failed != 5 || r.Targets[0].Failed != 0 {
		t.Fatalf("totals %+v targets %+v", r.Totals, r.Targets)
	}
	for _, f := range r.Failures.Records {
		if f.Target != "broken page" {
			t.Errorf("failure %d names target %q", f.Seq, f.Target)
		}
	}
	if !strings.Contains(out, "→ broken page") {
		t.Errorf("the failures table does not name the target:\n%s", out)
	}
}

func TestTargetsUsageErrors(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, filepath.Join(dir, "good.txt"), "GET http://127.0.0.1:1/a\n")
	mixed := writeFile(t, filepath.Join(dir, "mixed.txt"), "GET http://127.0.0.1:1/a\n\nGET http://127.0.0.1:2/b\n")
	bad := writeFile(t, filepath.Join(dir, "bad.txt"), "GET http://127.0.0.1:1/a\nno header here\n")
	for _, tc := range []struct {
		args []string
		want string // the start of the one-line message, after "rolltest: "
	}{
		{[]string{"--targets", good, "--target", "http://127.0.0.1:1/"}, "--targets: use --target URL or --targets FILE, not both"},
		{[]string{"--targets", good, "-X", "POST"}, "--method: "},
		{[]string{"--targets", good, "--body", "x"}, "--body: "},
		{[]string{"--targets", good, "--targets-format", "xml"}, "--targets-format: "},
		{[]string{"--target", "http://127.0.0.1:1/", "--targets-format", "json"}, "--targets-format: "},
		{[]string{"--targets", bad}, "--targets " + bad + " line 2: "},
		{[]string{"--targets", mixed}, "--targets " + mixed + " line 3: "},
		{[]string{"--targets", filepath.Join(dir, "missing.txt")}, "--targets " + filepath.Join(dir, "missing.txt") + ": "},
		{[]string{"--targets", good, "--targets-format", "json"}, "--targets " + good + " line 1: "},
	} {
		args := append([]string{"run", "--rate", "10", "--duration", "1s"}, tc.args...)
		code, out, errOut := cli(t, context.Background(), args...)
		lines := strings.Split(strings.TrimSpace(errOut), "\n")
		if code != report.ExitUsage || out != "" || len(lines) != 1 || !strings.HasPrefix(lines[0], "rolltest: "+tc.want) {
			t.Errorf("%v: exit %d stdout %q stderr %q: want exit 2 and one line starting %q", tc.args, code, out, errOut, tc.want)
		}
	}
}
