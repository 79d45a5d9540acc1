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

// TestTextProtocolLine: the header names the protocol of an HTTP/2 run,
// and says nothing of it for HTTP/1.1, the default.
func TestTextProtocolLine(t *testing.T) {
	for _, tc := range []struct {
		protocol string
		streams  int
		want     string // "" : no protocol line
	}{
		{"http/1.1", 1, ""},
		{"", 1, ""},
		{"h2c", 10, "protocol: HTTP/2 without TLS (h2c), 10 streams per connection\n"},
		{"grpc", 1, "protocol: gRPC /grpc.health.v1.Health/Check\n"},
	} {
		r := reporttest.Fixture(t, reporttest.PassingNoRollout)
		r.Config.Protocol, r.Config.Streams, r.Config.GRPCMethod = tc.protocol, tc.streams, "/grpc.health.v1.Health/Check"
		var buf bytes.Buffer
		if err := report.WriteText(&buf, r, report.TextOptions{}); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		if tc.want == "" && strings.Contains(out, "protocol:") || tc.want != "" && !strings.Contains(out, tc.want) {
			t.Errorf("protocol %q: want line %q in:\n%s", tc.protocol, tc.want, out)
		}
	}
}
