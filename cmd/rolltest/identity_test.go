package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rolltest/rolltest/pkg/report"
)

// TestAutoIdentityNamesDemoAppsPods runs the CLI with its default
// identity (auto) against loopback servers that answer the way common demo
// apps do. Each server plays two pods, chosen by the parity of the request
// id rolltest sends, so every pod's count is known exactly whatever the
// scheduling: requests 1..40 are 20 odd ones and 20 even ones.
func TestAutoIdentityNamesDemoAppsPods(t *testing.T) {
	type pod struct{ id, ip, version string }
	tests := []struct {
		name string
		// answer writes the response of pod p (0 or 1).
		answer func(w http.ResponseWriter, p int, n uint64)
		rule   string
		pods   [2]pod // the pods of odd and of even request ids; empty: none found
	}{
		{
			name: "json body",
			answer: func(w http.ResponseWriter, p int, n uint64) {
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprintf(w, `{"hostname":"web-7d9f-%s","version":"1.2.0","requests":%d}`, []string{"abc", "def"}[p], n)
			},
			rule: "json:hostname",
			pods: [2]pod{{"web-7d9f-abc", "", "1.2.0"}, {"web-7d9f-def", "", "1.2.0"}},
		},
		{
			name: "whoami text",
			answer: func(w http.ResponseWriter, p int, n uint64) {
				fmt.Fprintf(w, "Hostname: web-5f7c-%s\nIP: 127.0.0.1\nIP: ::1\nIP: 10.244.1.%d\nRemoteAddr: 10.244.0.1:%d\nGET / HTTP/1.1\n",
					[]string{"k2x9p", "q8w3e"}[p], 7+p, 40000+n)
			},
			rule: "text:Hostname",
			pods: [2]pod{{"web-5f7c-k2x9p", "10.244.1.7", ""}, {"web-5f7c-q8w3e", "10.244.1.8", ""}},
		},
		{
			name: "X-Served-By header",
			answer: func(w http.ResponseWriter, p int, _ uint64) {
				w.Header().Set("X-Served-By", []string{"web-a", "web-b"}[p])
				w.Header().Set("X-App-Version", "v7")
				fmt.Fprint(w, "hello")
			},
			rule: "header:X-Served-By",
			pods: [2]pod{{"web-a", "", "v7"}, {"web-b", "", "v7"}},
		},
		{
			name: "line",
			answer: func(w http.ResponseWriter, p int, _ uint64) {
				fmt.Fprintf(w, "testapp-%d >> 10.0.0.%d >> v2", p, p)
			},
			rule: "line",
			pods: [2]pod{{"testapp-0", "10.0.0.0", "v2"}, {"testapp-1", "10.0.0.1", "v2"}},
		},
		{
			name:   "nothing",
			answer: func(w http.ResponseWriter, _ int, _ uint64) { fmt.Fprint(w, "OK") },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n, err := strconv.ParseUint(r.Header.Get("X-Request-Id"), 10, 64)
				if err != nil {
					http.Error(w, "no request id", http.StatusBadRequest)
					return
				}
				tt.answer(w, int(1-n%2), n) // odd ids: pod 0
			}))
			defer srv.Close()
			dir := t.TempDir()
			jsonPath, htmlPath := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.html")
			code, out, errOut := cli(t, context.Background(), "run", "--target", srv.URL+"/",
				"--concurrency", "2", "--requests", "40", "--request-id-header", "X-Request-Id",
				"--json", jsonPath, "--html", htmlPath, "--no-progress")
			if code != 0 {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
			}
			r := readResult(t, jsonPath)
			if r.Config.Identity != "auto" || r.Config.IdentityRule != tt.rule {
				t.Fatalf("config.identity %q, identity_rule %q; want auto, %q", r.Config.Identity, r.Config.IdentityRule, tt.rule)
			}
			if r.Totals.Requests != 40 || r.Totals.Failed != 0 {
				t.Fatalf("totals %+v", r.Totals)
			}
			shown := "identity auto → " + tt.rule
			if tt.rule == "" {
				shown = "identity auto → no rule named a pod"
			}
			if first := strings.SplitN(out, "\n", 3)[1]; !strings.HasPrefix(first, "load: ") || !strings.HasSuffix(first, shown) {
				t.Errorf("the load line %q does not end in %q", first, shown)
			}
			html, err := os.ReadFile(htmlPath)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(html), `<span id="identity">`+shown+`</span>`) {
				t.Errorf("the HTML header does not say %q", shown)
			}

			if tt.rule == "" {
				if !strings.Contains(errOut, "carries no pod identity (--identity auto)") || !strings.Contains(errOut, "--identity header:NAME") {
					t.Errorf("stderr lacks the note and its suggestion:\n%s", errOut)
				}
				if len(r.Pods) != 1 || r.Pods[0].ID != report.UnknownPod || r.Pods[0].Requests != 40 {
					t.Errorf("pods %+v, want only the unattributed one with 40", r.Pods)
				}
				if !hasHint(r, report.HintNoIdentity) {
					t.Errorf("diagnosis %+v lacks %s", r.Diagnosis, report.HintNoIdentity)
				}
				return
			}
			if strings.Contains(errOut, "no pod identity") || hasHint(r, report.HintNoIdentity) {
				t.Errorf("a pod identity was found, yet rolltest says there is none:\n%s", errOut)
			}
			if len(r.Pods) != 2 {
				t.Fatalf("pods %+v, want 2", r.Pods)
			}
			for _, want := range tt.pods {
				found := false
				for _, p := range r.Pods {
					if p.ID == want.id {
						found = true
						if p.IP != want.ip || p.Version != want.version || p.Requests != 20 || p.OK != 20 {
							t.Errorf("pod %s: ip %q version %q requests %d ok %d; want %q %q 20 20", p.ID, p.IP, p.Version, p.Requests, p.OK, want.ip, want.version)
						}
					}
				}
				if !found {
					t.Errorf("pod %s missing from %+v", want.id, r.Pods)
				}
			}
		})
	}
}

func hasHint(r *report.Result, code string) bool {
	for _, h := range r.Diagnosis {
		if h.Code == code {
			return true
		}
	}
	return false
}
