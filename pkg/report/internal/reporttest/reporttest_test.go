package reporttest

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/rolltest/rolltest/pkg/report"
)

// updateFixtures is a flag of its own, not the golden files' -update, so
// that regenerating golden files never overwrites fixtures recorded from
// real runs.
var updateFixtures = flag.Bool("update-fixtures", false, "rewrite testdata's simulated Result fixtures")

// TestGenerateFixtures rewrites testdata's Result fixtures:
// go test ./pkg/report/internal/reporttest -run GenerateFixtures -update-fixtures
func TestGenerateFixtures(t *testing.T) {
	if !*updateFixtures {
		t.Skip("run with -update-fixtures to regenerate the simulated fixtures")
	}
	for name, gen := range simFixtures {
		b, err := json.MarshalIndent(gen(), "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("testdata", name), append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFixturesConsistent checks the invariants every Result holds, on the
// fixtures (also once real recordings replace them) and on the simulated
// 10-minute run.
func TestFixturesConsistent(t *testing.T) {
	cases := map[string]*report.Result{"ten-minutes": simTenMinutes()}
	for name := range simFixtures {
		cases[name] = Fixture(t, name)
	}
	for name, r := range cases {
		t.Run(name, func(t *testing.T) { checkResultConsistent(t, r) })
	}
}

func checkResultConsistent(t *testing.T, r *report.Result) {
	t.Helper()
	sum := func(m map[string]int64) (n int64) {
		for _, c := range m {
			n += c
		}
		return n
	}
	tot := r.Totals
	if got := sum(tot.Outcomes); got != tot.Requests {
		t.Errorf("sum(outcomes) = %d, requests = %d", got, tot.Requests)
	}
	if tot.Failed != tot.Requests-tot.OK || tot.Outcomes["ok"] != tot.OK {
		t.Errorf("failed %d, requests %d, ok %d, outcomes[ok] %d", tot.Failed, tot.Requests, tot.OK, tot.Outcomes["ok"])
	}
	if got := sum(tot.RetriedOutcomes); got < tot.Retried {
		t.Errorf("sum(retried_outcomes) = %d < retried = %d: every retried request has a failed attempt", got, tot.Retried)
	}
	var sr, sok, sf, srt int64
	for i, s := range r.Series {
		if s.T != i {
			t.Errorf("series[%d].t = %d", i, s.T)
		}
		sr += s.Requests
		sok += s.OK
		sf += s.Failed
		srt += s.Retried
		if s.Failed != sum(s.Outcomes) {
			t.Errorf("second %d: failed %d, failure outcomes %d", s.T, s.Failed, sum(s.Outcomes))
		}
		if sum(s.ByVersion) > s.Requests || sum(s.ByPod) > s.Requests {
			t.Errorf("second %d: by_version %d / by_pod %d exceed requests %d", s.T, sum(s.ByVersion), sum(s.ByPod), s.Requests)
		}
	}
	if sr != tot.Requests || sok != tot.OK || sf != tot.Failed || srt != tot.Retried {
		t.Errorf("series sums %d/%d/%d/%d, totals %d/%d/%d/%d", sr, sok, sf, srt, tot.Requests, tot.OK, tot.Failed, tot.Retried)
	}
	var pr, pok, pf, prt int64
	for _, p := range r.Phases {
		pr += p.Requests
		pok += p.OK
		pf += p.Failed
		prt += p.Retried
		if sum(p.Outcomes) != p.Requests {
			t.Errorf("phase %s: outcomes %d, requests %d", p.Name, sum(p.Outcomes), p.Requests)
		}
	}
	if pr != tot.Requests || pok != tot.OK || pf != tot.Failed || prt != tot.Retried {
		t.Errorf("phase sums %d/%d/%d/%d, totals %d/%d/%d/%d", pr, pok, pf, prt, tot.Requests, tot.OK, tot.Failed, tot.Retried)
	}
	// Requests no pod could be named for are exactly the final failures
	// attributed to none.
	var unattributed int64
	for _, f := range r.Failures.Records {
		if !f.Retried && f.AttributedBy == "none" {
			unattributed++
		}
	}
	var podReq, podOK int64
	for _, p := range r.Pods {
		podReq += p.Requests
		podOK += p.OK
		if p.OK+p.Failed != p.Requests {
			t.Errorf("pod %s: ok %d + failed %d != requests %d", p.ID, p.OK, p.Failed, p.Requests)
		}
	}
	if podOK != tot.OK {
		t.Errorf("sum(pods.ok) = %d, ok = %d", podOK, tot.OK)
	}
	if r.Failures.Omitted == 0 && podReq+unattributed != tot.Requests {
		t.Errorf("sum(pods.requests) %d + unattributed %d != requests %d", podReq, unattributed, tot.Requests)
	}
	if len(r.Targets) > 0 {
		var tr, tok, tf, trt int64
		for _, tg := range r.Targets {
			tr += tg.Requests
			tok += tg.OK
			tf += tg.Failed
			trt += tg.Retried
		}
		if tr != tot.Requests || tok != tot.OK || tf != tot.Failed || trt != tot.Retried {
			t.Errorf("target sums %d/%d/%d/%d, totals %d/%d/%d/%d", tr, tok, tf, trt, tot.Requests, tot.OK, tot.Failed, tot.Retried)
		}
		names := map[string]bool{}
		for _, tg := range r.Targets {
			names[tg.Name] = true
		}
		for _, f := range r.Failures.Records {
			if !names[f.Target] {
				t.Errorf("failure of request %d names target %q, not one of the run's", f.Seq, f.Target)
			}
		}
	}
	var verReq int64
	for _, v := range r.Versions {
		verReq += v.Requests
	}
	if verReq != podReq {
		t.Errorf("sum(versions.requests) = %d, sum(pods.requests) = %d", verReq, podReq)
	}
	var winReq int64
	for _, w := range r.Windows {
		winReq += w.Requests
		if w.ToS <= w.FromS {
			t.Errorf("window %d–%d is empty", w.FromS, w.ToS)
		}
	}
	if winReq != tot.OK {
		t.Errorf("sum(windows) = %d, ok = %d", winReq, tot.OK)
	}
	if int64(len(r.Failures.Records))+r.Failures.Omitted != r.Failures.Total {
		t.Errorf("failure records %d + omitted %d != total %d", len(r.Failures.Records), r.Failures.Omitted, r.Failures.Total)
	}
	if r.Failures.Total != tot.Failed+sum(tot.RetriedOutcomes) {
		t.Errorf("failures.total %d != failed %d + retried attempts %d", r.Failures.Total, tot.Failed, sum(tot.RetriedOutcomes))
	}
	h, err := report.DecodeHistogram(r.Latency.Histogram)
	if err != nil {
		t.Fatal(err)
	}
	if h.TotalCount() != r.Latency.Count {
		t.Errorf("histogram count %d, latency.count %d", h.TotalCount(), r.Latency.Count)
	}
	if (r.Rollout == nil) != (len(r.Phases) == 1 && r.Phases[0].Name == "load") {
		t.Errorf("rollout %v with phases %v", r.Rollout != nil, r.Phases)
	}
}
