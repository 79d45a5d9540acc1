package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"time"
)

// JUnit XML as GitLab, Jenkins and the GitHub test-report actions read it:
// the de-facto schema of Ant's JUnit task, one <testcase> per gate.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	Properties []junitProperty `xml:"properties>property,omitempty"`
	Cases      []junitCase     `xml:"testcase"`
	SystemOut  string          `xml:"system-out,omitempty"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

type junitSkipped struct {
	Message string `xml:"message,attr,omitempty"`
}

// WriteJUnit writes the verdict as a JUnit XML report with one test suite,
// "rolltest", and one test case per gate, so that CI systems show each gate
// as a passed, failed or skipped test.
//
// When the verdict fails although no gate did (the run was interrupted, or
// the gates are missing), a test case "verdict" fails with the summary, so
// that the CI view never shows green for a run whose exit code is not 0.
func WriteJUnit(w io.Writer, r *Result) error {
	if r == nil {
		return fmt.Errorf("write junit: no result")
	}
	suite := junitSuite{
		Name: "rolltest",
		Time: junitSeconds(r.Run.DurationS),
	}
	if !r.Run.StartedAt.IsZero() {
		suite.Timestamp = r.Run.StartedAt.UTC().Format(time.RFC3339)
	}
	addProp := func(name, value string) {
		if value != "" {
			suite.Properties = append(suite.Properties, junitProperty{Name: name, Value: value})
		}
	}
	addProp("schema", r.Schema)
	addProp("tool", r.Tool.Name+" "+r.Tool.Version)
	addProp("target", r.Config.Target)
	addProp("exit_code", strconv.Itoa(r.Verdict.ExitCode))
	if r.Rollout != nil {
		addProp("rollout", r.Rollout.Kind+" "+r.Rollout.WorkloadRef())
	}

	anyFailed := false
	for _, g := range r.Verdict.Gates {
		c := junitCase{Name: g.Name, Classname: "rolltest.gates", Time: "0"}
		detail := fmt.Sprintf("%s: value %s, limit %s", g.Name, junitNumber(g.Value), junitNumber(g.Limit))
		switch {
		case g.Skipped:
			c.Skipped = &junitSkipped{Message: g.Message}
			suite.Skipped++
		case !g.Pass:
			c.Failure = &junitFailure{Message: g.Message, Type: g.Name, Text: detail + "\n" + g.Message}
			suite.Failures++
			anyFailed = true
		default:
			c.SystemOut = detail + "\n" + g.Message
		}
		suite.Cases = append(suite.Cases, c)
	}
	if len(r.Verdict.Gates) == 0 || (!r.Verdict.Pass && !anyFailed) {
		c := junitCase{Name: "verdict", Classname: "rolltest", Time: "0"}
		if r.Verdict.Pass {
			c.SystemOut = r.Verdict.Summary
		} else {
			c.Failure = &junitFailure{
				Message: r.Verdict.Summary,
				Type:    "exit_code_" + strconv.Itoa(r.Verdict.ExitCode),
				Text:    r.Verdict.Summary,
			}
			suite.Failures++
		}
		suite.Cases = append(suite.Cases, c)
	}
	suite.Tests = len(suite.Cases)
	suite.SystemOut = r.Verdict.Summary

	doc := junitSuites{
		Name:     "rolltest",
		Tests:    suite.Tests,
		Failures: suite.Failures,
		Skipped:  suite.Skipped,
		Time:     suite.Time,
		Suites:   []junitSuite{suite},
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("write junit: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("write junit: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// junitSeconds formats a duration as JUnit's time attribute: seconds with
// millisecond precision; some parsers reject exponents and negatives.
func junitSeconds(s float64) string {
	if s < 0 || s != s {
		s = 0
	}
	return strconv.FormatFloat(s, 'f', 3, 64)
}

func junitNumber(v float64) string {
	return strconv.FormatFloat(v, 'f', -1, 64)
}
