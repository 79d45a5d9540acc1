package report_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/rolltest/rolltest/pkg/report"
	"github.com/rolltest/rolltest/pkg/report/internal/reporttest"
)

// TestTextGolden pins the text summary of each fixture; regenerate with
// go test ./pkg/report -run TextGolden -update after an intended change.
func TestTextGolden(t *testing.T) {
	for _, name := range reporttest.Fixtures() {
		t.Run(name, func(t *testing.T) {
			r := reporttest.Fixture(t, name)
			var buf bytes.Buffer
			if err := report.WriteText(&buf, r, report.TextOptions{}); err != nil {
				t.Fatal(err)
			}
			report.GoldenCompare(t, "text-"+strings.TrimSuffix(name, ".json")+".golden", buf.Bytes())
		})
	}
}

// TestTextKeepsRowsOnOneLine feeds cell values with tabs and newlines, as a
// hostile pod name or error message could carry.
func TestTextKeepsRowsOnOneLine(t *testing.T) {
	r := reporttest.Fixture(t, reporttest.FailingRollout)
	r.Failures.Records[0].Detail = "line one\nline two\tand a tab"
	r.Pods[0].ID, r.Pods[0].Name = "evil\npod", ""
	var buf bytes.Buffer
	if err := report.WriteText(&buf, r, report.TextOptions{}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if strings.Contains(out, "line one\nline two") || strings.Contains(out, "evil\npod") {
		t.Fatalf("a cell broke its row:\n%s", out)
	}
}
