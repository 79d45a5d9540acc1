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

// TestReadResultAgents: a document from before config.agents and
// config.load_from reads as one local process; a newer one as written.
func TestReadResultAgents(t *testing.T) {
	old, err := report.ReadResult(strings.NewReader(`{"schema":"rolltest/v1","config":{"mode":"rate"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if old.Config.Agents != 1 || old.Config.LoadFrom != "local" {
		t.Errorf("an older document: agents %d, load_from %q; want 1, local", old.Config.Agents, old.Config.LoadFrom)
	}
	agents := []report.Agent{{Index: 0, Host: "a", Requests: 1, LateSends: 1, MaxSendDelayMs: 1.5}, {Index: 1, Requests: 2, Failed: 1, Interrupted: true}}
	res := report.Build(report.Input{Stats: reporttest.DownSampledStats(), Config: report.Config{Mode: "rate"}, Agents: agents, LoadFrom: "in-cluster"})
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(res); err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"agents":2`, `"load_from":"in-cluster"`, `"agents":[{"index":0,"host":"a","requests":1,"failed":0,"late_sends":1,"max_send_delay_ms":1.5}`, `"interrupted":true`} {
		if !strings.Contains(buf.String(), field) {
			t.Errorf("the document lacks %s", field)
		}
	}
	back, err := report.ReadResult(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if back.Config.Agents != 2 || back.Config.LoadFrom != "in-cluster" || len(back.Agents) != 2 || back.Agents[1] != agents[1] {
		t.Errorf("read back: agents %d from %q, %+v", back.Config.Agents, back.Config.LoadFrom, back.Agents)
	}
}
