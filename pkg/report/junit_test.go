package report_test

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"github.com/rolltest/rolltest/pkg/report"
	"github.com/rolltest/rolltest/pkg/report/internal/reporttest"
)

func junitTestResult() *report.Result {
	return &report.Result{
		Schema:  report.Schema,
		Tool:    report.Tool{Name: "rolltest", Version: "v1.0.0"},
		Config:  report.Config{Target: "http://example.test/?a=1&b=<2>"},
		Run:     report.Run{StartedAt: time.Date(2026, 11, 26, 14, 3, 12, 0, time.UTC), DurationS: 61.2345},
		Rollout: &report.Rollout{Kind: "restart", Namespace: "default", Deployment: "testapp"},
		Verdict: report.Verdict{
			Pass: false, ExitCode: 1, Summary: "37 of 3000 requests failed during the rolling update",
			Gates: []report.Gate{
				{Name: "dropped_requests", Limit: 0, Value: 37, Message: `37 requests failed; at most 0 may ("reset" <12>, "refused" 25)`},
				{Name: "error_rate", Limit: 0.001, Value: 0.012333, Message: "error rate 1.23 %; the limit is 0.1 %"},
				{Name: "p99", Limit: 250, Value: 41.5, Pass: true, Message: "p99 41.5 ms; the limit is 250 ms"},
				{Name: "p99_ratio", Limit: -1, Skipped: true, Pass: true, Message: "no limit set"},
				{Name: "rollout_completed", Limit: 1, Value: 1, Pass: true, Message: "the rollout completed"},
			},
		},
	}
}

func TestJUnitGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := report.WriteJUnit(&buf, junitTestResult()); err != nil {
		t.Fatal(err)
	}
	report.GoldenCompare(t, "junit-failing.xml.golden", buf.Bytes())

	r := reporttest.Fixture(t, reporttest.PassingNoRollout)
	buf.Reset()
	if err := report.WriteJUnit(&buf, r); err != nil {
		t.Fatal(err)
	}
	report.GoldenCompare(t, "junit-passing.xml.golden", buf.Bytes())
}

type junitCheck struct {
	Tests    int `xml:"tests,attr"`
	Failures int `xml:"failures,attr"`
	Skipped  int `xml:"skipped,attr"`
	Suites   []struct {
		Name     string `xml:"name,attr"`
		Tests    int    `xml:"tests,attr"`
		Failures int    `xml:"failures,attr"`
		Skipped  int    `xml:"skipped,attr"`
		Cases    []struct {
			Name    string `xml:"name,attr"`
			Failure *struct {
				Message string `xml:"message,attr"`
			} `xml:"failure"`
			Skipped *struct{} `xml:"skipped"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func junitParse(t *testing.T, r *report.Result) junitCheck {
	t.Helper()
	var buf bytes.Buffer
	if err := report.WriteJUnit(&buf, r); err != nil {
		t.Fatal(err)
	}
	var doc junitCheck
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("not XML: %v\n%s", err, buf.String())
	}
	return doc
}

func TestJUnitStructure(t *testing.T) {
	doc := junitParse(t, junitTestResult())
	if len(doc.Suites) != 1 || doc.Suites[0].Name != "rolltest" {
		t.Fatalf("suites: %+v", doc.Suites)
	}
	s := doc.Suites[0]
	if s.Tests != 5 || s.Failures != 2 || s.Skipped != 1 || doc.Failures != 2 {
		t.Errorf("counts: tests %d failures %d skipped %d", s.Tests, s.Failures, s.Skipped)
	}
	want := map[string]string{"dropped_requests": "fail", "error_rate": "fail", "p99": "pass", "p99_ratio": "skip", "rollout_completed": "pass"}
	for _, c := range s.Cases {
		got := "pass"
		if c.Failure != nil {
			got = "fail"
		} else if c.Skipped != nil {
			got = "skip"
		}
		if want[c.Name] != got {
			t.Errorf("%s: %s, want %s", c.Name, got, want[c.Name])
		}
		if c.Name == "dropped_requests" && !strings.Contains(c.Failure.Message, `"reset" <12>`) {
			t.Errorf("failure message lost: %q", c.Failure.Message)
		}
	}

	// A failed verdict with no failed gate (interrupted) still fails in CI.
	r := junitTestResult()
	r.Verdict = report.Verdict{Pass: false, ExitCode: 130, Summary: "interrupted\x00 after 3 s", Gates: []report.Gate{{Name: "p99", Pass: true}}}
	doc = junitParse(t, r)
	if doc.Failures != 1 || doc.Suites[0].Cases[1].Name != "verdict" {
		t.Errorf("interrupted run: %+v", doc)
	}
	// No gates at all: one test case for the verdict.
	r.Verdict = report.Verdict{Pass: true, Summary: "ok"}
	doc = junitParse(t, r)
	if doc.Tests != 1 || doc.Failures != 0 {
		t.Errorf("no gates: %+v", doc)
	}
	if err := report.WriteJUnit(&bytes.Buffer{}, nil); err == nil {
		t.Error("nil result accepted")
	}
}
