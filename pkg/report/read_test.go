package report_test

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/rolltest/rolltest/pkg/report"
	"github.com/rolltest/rolltest/pkg/report/internal/reporttest"
)

func TestReadResult(t *testing.T) {
	for _, name := range reporttest.Fixtures() {
		r := reporttest.Fixture(t, name)
		if r.Schema != report.Schema || r.Totals.Requests == 0 {
			t.Errorf("%s: schema %q, %d requests", name, r.Schema, r.Totals.Requests)
		}
	}

	for _, c := range []struct{ in, want string }{
		{`{"schema":"rolltest/v2","totals":{}}`, `unsupported result schema "rolltest/v2": this rolltest reads rolltest/v1; upgrade rolltest to render it`},
		{`{"schema":"rolltest/v17"}`, `unsupported result schema "rolltest/v17"`},
		{`{"totals":{}}`, `no "schema" field`},
		{`{"schema":"k6/summary"}`, `schema is "k6/summary", expected "rolltest/v1"`},
		{`{"schema":42}`, `"schema" is 42, not a string`},
		{`[1,2]`, `expected a JSON object`},
		{``, `empty`},
		{`{"schema":"rolltest/v1","totals":{"requests":"many"}}`, `read result`},
		{`{"schema":"rolltest/v1"`, `expected a JSON object`},
	} {
		_, err := report.ReadResult(strings.NewReader(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ReadResult(%q) = %v, want an error containing %q", c.in, err, c.want)
		}
	}
}

func FuzzReadResult(f *testing.F) {
	f.Add(`{"schema":"rolltest/v1"}`)
	f.Add(`{"schema":"rolltest/v2"}`)
	f.Add(`{"schema":"rolltest/v1","rollout":{"events":[{"kind":"trigger","at_s":1}]},"series":[{"t":0,"requests":1}]}`)
	f.Add(`{"schema":null}`)
	f.Add(`null`)
	f.Fuzz(func(t *testing.T, in string) {
		r, err := report.ReadResult(strings.NewReader(in))
		if err != nil {
			return
		}
		if r.Schema != report.Schema {
			t.Fatalf("accepted schema %q", r.Schema)
		}
		// A document that reads must also render, whatever it holds (the
		// HTML page: FuzzWrite in pkg/report/html).
		var sb strings.Builder
		if err := report.WriteText(&sb, r, report.TextOptions{}); err != nil {
			t.Fatalf("WriteText: %v", err)
		}
		_ = report.WriteJUnit(&sb, r)
		_ = report.WriteHGRM(&sb, r)
		if _, err := json.Marshal(r); err != nil {
			t.Fatal(err)
		}
	})
}

// TestHGRMFixture: a document read from a file keeps a histogram that
// renders.
func TestHGRMFixture(t *testing.T) {
	r := reporttest.Fixture(t, reporttest.FailingRollout)
	var buf bytes.Buffer
	if err := report.WriteHGRM(&buf, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "Total count    = ") {
		t.Error("no footer")
	}
}

// TestReadResultBounded: a reader with no honest size (a pipe, /dev/zero)
// is read one byte past the bound and refused, in a message that says so.
func TestReadResultBounded(t *testing.T) {
	const limit = 1 << 20
	doc := `{"schema":"` + report.Schema + `"}`
	for _, tc := range []struct {
		name    string
		r       io.Reader
		wantErr string
	}{
		{"a document", strings.NewReader(doc), ""},
		{"a document padded to the bound", strings.NewReader(doc + strings.Repeat(" ", limit-len(doc))), ""},
		{"one byte past", strings.NewReader(doc + strings.Repeat(" ", limit-len(doc)+1)), "larger than 1 MiB"},
		{"endless", io.LimitReader(zeros{}, 1<<40), "larger than 1 MiB"},
	} {
		_, err := report.ReadResultLimit(tc.r, limit)
		if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.wantErr)
		}
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }
