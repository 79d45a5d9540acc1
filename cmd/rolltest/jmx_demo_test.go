package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rolltest/rolltest/pkg/report"
)

// demoRun runs the demo with the fast timings, --rate left to the caller,
// and returns its exit code, result document and stderr.
func demoRun(t *testing.T, args ...string) (int, *report.Result, string) {
	t.Helper()
	fast := slices.Clone(fastDemo)
	if i := slices.Index(fast, "--rate"); i >= 0 {
		// The plan's throughput timer is what sets the rate of the --jmx
		// run: a --rate flag would override it and prove nothing.
		fast = slices.Delete(fast, i, i+2)
	}
	jsonPath := filepath.Join(t.TempDir(), "r.json")
	all := slices.Concat([]string{"demo", "--json", jsonPath}, fast, args)
	code, out, errOut := cli(t, context.Background(), all...)
	if code == report.ExitUsage {
		t.Fatalf("demo %v: usage error: %s%s", args, out, errOut)
	}
	r := readResult(t, jsonPath)
	checkSums(t, r)
	return code, r, errOut
}

// podsAnswering is the set of pods (by name, with their version) that
// answered at least one request.
func podsAnswering(r *report.Result) []string {
	var out []string
	for _, p := range r.Pods {
		if p.ID != report.UnknownPod && p.OK > 0 {
			out = append(out, p.Name+"@"+p.Version)
		}
	}
	slices.Sort(out)
	return out
}

// TestDemoJMXMatchesFlags: the classic rollout experiment written as a
// JMeter plan (testdata/healthy.jmx: 8 threads on GET /common/healthy, a
// Constant Throughput Timer of 12000/min for all threads) and written as
// flags (--target /common/healthy --rate 200) measure the same rollout of
// the demo's simulated Deployment: the same exit code, 200 req/s both,
// and on the safe preset nothing dropped and the same pods and versions
// answering; on the unsafe one both catch drops.
//
// The request counts cannot be equal: a rollout run lasts --rollout-after,
// the rollout and --settle, and the rollout's length varies by scheduling.
// What is equal is the rate: each run's count is 200 × its own length,
// within the --max-late share fastDemo allows.
func TestDemoJMXMatchesFlags(t *testing.T) {
	if testing.Short() {
		t.Skip("runs simulated rollouts")
	}
	plan := filepath.Join("testdata", "healthy.jmx")
	for _, tc := range []struct {
		preset string
		args   []string
		code   int
	}{
		{"safe", slices.Concat(fastProbe, []string{"--prestop", "900ms"}), 0},
		{"unsafe", nil, report.ExitGateFailed},
	} {
		t.Run(tc.preset, func(t *testing.T) {
			common := slices.Concat([]string{"--preset", tc.preset, "--connections", "8"}, tc.args)
			codeJ, rj, errJ := demoRun(t, slices.Concat([]string{"--jmx", plan}, common)...)
			codeF, rf, _ := demoRun(t, slices.Concat([]string{"--target", "/common/healthy", "--rate", "200"}, common)...)
			if want := "--jmx " + plan + ": 1 requests, 200 req/s"; !strings.Contains(errJ, want) {
				t.Errorf("--jmx run's stderr lacks %q:\n%s", want, errJ)
			}
			for _, run := range []struct {
				name string
				code int
				r    *report.Result
			}{{"--jmx", codeJ, rj}, {"flags", codeF, rf}} {
				r := run.r
				t.Logf("%s: exit %d, %d requests in %.2fs (%.1f/s), failed %d, pods %v", run.name, run.code, r.Totals.Requests, r.Run.DurationS,
					float64(r.Totals.Requests)/r.Run.DurationS, r.Totals.Failed, podsAnswering(r))
				if run.code != tc.code {
					t.Errorf("%s: exit %d, want %d; failed %d, outcomes %v", run.name, run.code, tc.code, r.Totals.Failed, r.Totals.Outcomes)
				}
				if r.Config.Mode != "rate" || r.Config.Rate != 200 {
					t.Errorf("%s: mode %s rate %g, want rate 200", run.name, r.Config.Mode, r.Config.Rate)
				}
				if want := 200 * r.Run.DurationS; math.Abs(float64(r.Totals.Requests)-want) > 0.1*want {
					t.Errorf("%s: %d requests in %.2fs, want 200/s (%.0f) within 10%%", run.name, r.Totals.Requests, r.Run.DurationS, want)
				}
				if r.Rollout == nil || !r.Rollout.Done || len(r.Versions) != 2 {
					t.Errorf("%s: rollout %+v versions %+v, want a finished rollout seen in 2 versions", run.name, r.Rollout, r.Versions)
				}
				switch tc.preset {
				case "safe":
					if r.Totals.Failed != 0 || r.Totals.Retried != 0 {
						t.Errorf("%s: failed %d retried %d, want 0: %v", run.name, r.Totals.Failed, r.Totals.Retried, r.Totals.Outcomes)
					}
				default:
					if r.Totals.Failed == 0 {
						t.Errorf("%s: no drop caught on the unsafe preset", run.name)
					}
				}
			}
			// The plan's one sampler is the one target, sent to the local
			// Service whatever host the plan names; a --target run has none.
			if len(rj.Targets) != 1 || rj.Targets[0].Name != "healthy" || rj.Targets[0].Requests != rj.Totals.Requests ||
				!strings.HasPrefix(rj.Targets[0].URL, "http://127.0.0.1:") || !strings.HasSuffix(rj.Targets[0].URL, "/common/healthy") ||
				strings.Contains(rj.Targets[0].URL, ":30080/") {
				t.Errorf("--jmx targets %+v, want the one sampler on the local Service", rj.Targets)
			}
			if len(rf.Targets) != 0 {
				t.Errorf("flags run: targets %+v, want none", rf.Targets)
			}
			if tc.preset == "safe" {
				pj, pf := podsAnswering(rj), podsAnswering(rf)
				if len(pj) < 2 || fmt.Sprint(pj) != fmt.Sprint(pf) {
					t.Errorf("pods answering: --jmx %v, flags %v, want the same, old and new", pj, pf)
				}
			}
		})
	}
}

// TestDemoJMXThreads: a plan without a throughput timer runs its threads
// as a closed model on the demo too, whose own --rate default would
// otherwise make it an open one at 500 req/s.
func TestDemoJMXThreads(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a simulated rollout")
	}
	b, err := os.ReadFile(filepath.Join("testdata", "healthy.jmx"))
	if err != nil {
		t.Fatal(err)
	}
	start, end := strings.Index(string(b), "<ConstantThroughputTimer"), strings.Index(string(b), "</ConstantThroughputTimer>")
	if start < 0 || end < 0 {
		t.Fatal("testdata/healthy.jmx has no Constant Throughput Timer to remove")
	}
	noTimer := writeFile(t, filepath.Join(t.TempDir(), "threads.jmx"), string(b[:start])+string(b[end+len("</ConstantThroughputTimer>"):]))
	_, r, errOut := demoRun(t, "--jmx", noTimer, "--preset", "unsafe")
	if r.Config.Mode != "concurrency" || r.Config.Concurrency != 8 || r.Config.Rate != 0 {
		t.Errorf("config %+v, want the plan's 8 threads as --concurrency 8", r.Config)
	}
	if !strings.Contains(errOut, ": 1 requests, 8 workers") {
		t.Errorf("stderr lacks the plan's 8 workers:\n%s", errOut)
	}
}
