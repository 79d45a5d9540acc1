package report

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestReadResult(t *testing.T) {
	for _, name := range []string{"failing-rollout.json", "passing-norollout.json"} {
		r := reportFixture(t, name)
		if r.Schema != Schema || r.Totals.Requests == 0 {
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
		_, err := ReadResult(strings.NewReader(c.in))
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
		r, err := ReadResult(strings.NewReader(in))
		if err != nil {
			return
		}
		if r.Schema != Schema {
			t.Fatalf("accepted schema %q", r.Schema)
		}
		// A document that reads must also render, whatever it holds.
		var sb strings.Builder
		if err := WriteHTML(&sb, r); err != nil {
			t.Fatalf("WriteHTML: %v", err)
		}
		_ = WriteJUnit(&sb, r)
		_ = WriteHGRM(&sb, r)
		if _, err := json.Marshal(r); err != nil {
			t.Fatal(err)
		}
	})
}
