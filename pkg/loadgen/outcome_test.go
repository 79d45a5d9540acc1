package loadgen

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
)

func TestErrorOutcome(t *testing.T) {
	opErr := func(op string, errno syscall.Errno) error {
		return &net.OpError{Op: op, Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: errno}}
	}
	tests := []struct {
		name       string
		err        error
		connecting bool
		want       Outcome
	}{
		{"nil", nil, false, OK},
		{"refused", opErr("dial", syscall.ECONNREFUSED), true, Refused},
		{"host unreachable", opErr("dial", syscall.EHOSTUNREACH), true, Unreachable},
		{"network unreachable", opErr("dial", syscall.ENETUNREACH), true, Unreachable},
		{"unreachable wrapped twice", fmt.Errorf("connect: %w", opErr("dial", syscall.EHOSTUNREACH)), true, Unreachable},
		{"unreachable on read", opErr("read", syscall.EHOSTUNREACH), false, Unreachable},
		{"reset", opErr("read", syscall.ECONNRESET), false, Reset},
		{"broken pipe", opErr("write", syscall.EPIPE), false, Reset},
		{"eof", io.EOF, false, EOF},
		{"unexpected eof wrapped", fmt.Errorf("response body: %w", io.ErrUnexpectedEOF), false, EOF},
		{"deadline connecting", &net.OpError{Op: "dial", Err: os.ErrDeadlineExceeded}, true, TimeoutConnect},
		{"deadline reading", fmt.Errorf("body: %w", os.ErrDeadlineExceeded), false, TimeoutResponse},
		{"dns", &net.DNSError{Err: "no such host", Name: "x.invalid"}, true, DNS},
		{"unknown errno", opErr("dial", syscall.EACCES), true, Other},
		{"plain error", errors.New("boom"), false, Other},
	}
	for _, tt := range tests {
		if got := ErrorOutcome(tt.err, tt.connecting); got != tt.want {
			t.Errorf("%s: ErrorOutcome(%v) = %s, want %s", tt.name, tt.err, got, tt.want)
		}
	}
}

// TestOutcomeNames pins the schema: earlier outcomes keep their values and
// names, the newest is last, and every outcome has a distinct name.
func TestOutcomeNames(t *testing.T) {
	seen := map[string]bool{}
	for _, o := range Outcomes() {
		name := o.String()
		if name == "" || name == "invalid" || seen[name] {
			t.Fatalf("outcome %d has name %q", o, name)
		}
		seen[name] = true
	}
	if Other.String() != "other" || Other != 11 || Unreachable.String() != "unreachable" || Unreachable != 12 {
		t.Fatalf("other=%d %q unreachable=%d %q", Other, Other, Unreachable, Unreachable)
	}
}

// schemaDoc is the document whose outcome table must equal outcomeTable.
const schemaDoc = "../../docs/result-schema.md"

// TestSchemaDocOutcomes fails when the outcome table in the schema doc and
// the one in outcome.go differ in a name, a meaning, a dropped flag or the
// order.
func TestSchemaDocOutcomes(t *testing.T) {
	doc, err := os.ReadFile(schemaDoc)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range outcomeDocDiff(string(doc)) {
		t.Errorf("%s: %s", schemaDoc, d)
	}
}

// TestOutcomeDocDiffCatches: the comparison finds each kind of drift.
func TestOutcomeDocDiffCatches(t *testing.T) {
	const lastRow = "| `grpc_not_serving` | yes | gRPC health check: status OK, but the service is not SERVING (NOT_SERVING, UNKNOWN or SERVICE_UNKNOWN) |\n"
	b, err := os.ReadFile(schemaDoc)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for name, c := range map[string]struct{ old, new, want string }{
		"meaning": {"| `refused` | yes | the connection was refused |", "| `refused` | yes | refused |", `refused: meaning "refused"`},
		"dropped": {"| `ok` | no |", "| `ok` | yes |", "ok: dropped yes"},
		"name":    {"| `eof` |", "| `http_other` |", "row 6 is http_other, want eof"},
		// missing and extra change the table's last row.
		"missing":  {lastRow, "", "no row for grpc_not_serving"},
		"extra":    {lastRow, lastRow + "| `http_other` | yes | 1xx/3xx |\n", "row 35 (http_other) is no outcome"},
		"no table": {"| outcome | dropped | meaning |", "| outcome | meaning |", "no outcome table"},
	} {
		if !strings.Contains(doc, c.old) {
			t.Fatalf("%s: the doc has no %q to change", name, c.old)
		}
		diff := strings.Join(outcomeDocDiff(strings.Replace(doc, c.old, c.new, 1)), "\n")
		if !strings.Contains(diff, c.want) {
			t.Errorf("%s: diff %q, want it to say %q", name, diff, c.want)
		}
	}
}

// outcomeDocDiff lists how the first table under "## Outcomes" in doc
// differs from outcomeTable. The table's columns are outcome, dropped
// (yes/no) and meaning; code spans (backticks) are markup, not text.
func outcomeDocDiff(doc string) []string {
	_, section, ok := strings.Cut(doc, "\n## Outcomes\n")
	if !ok {
		return []string{`no "## Outcomes" section`}
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var rows [][]string
	inTable := false
	for _, line := range strings.Split(section, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			if inTable {
				break
			}
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(strings.ReplaceAll(cells[i], "`", ""))
		}
		switch {
		case !inTable:
			if strings.Join(cells, ",") != "outcome,dropped,meaning" {
				return []string{fmt.Sprintf("no outcome table with the columns outcome, dropped, meaning (found %q)", line)}
			}
			inTable = true
		case strings.Trim(strings.Join(cells, ""), "-: ") == "":
			// the header's rule
		default:
			rows = append(rows, cells)
		}
	}
	if !inTable {
		return []string{"no outcome table"}
	}
	var diffs []string
	all := Outcomes()
	for i, cells := range rows {
		if len(cells) != 3 {
			diffs = append(diffs, fmt.Sprintf("row %d has %d cells, want 3", i+1, len(cells)))
			continue
		}
		if i >= len(all) {
			diffs = append(diffs, fmt.Sprintf("row %d (%s) is no outcome", i+1, cells[0]))
			continue
		}
		o := all[i]
		if cells[0] != o.String() {
			diffs = append(diffs, fmt.Sprintf("row %d is %s, want %s", i+1, cells[0], o))
			continue
		}
		if dropped := map[bool]string{true: "yes", false: "no"}[o.Failed()]; cells[1] != dropped {
			diffs = append(diffs, fmt.Sprintf("%s: dropped %s, want %s", o, cells[1], dropped))
		}
		if cells[2] != o.Meaning() {
			diffs = append(diffs, fmt.Sprintf("%s: meaning %q, want %q", o, cells[2], o.Meaning()))
		}
	}
	for _, o := range all[min(len(rows), len(all)):] {
		diffs = append(diffs, "no row for "+o.String())
	}
	return diffs
}

// TestOutcomeTable: every outcome has a meaning, only ok is a success,
// and names parse back; an unknown name is a failure without meaning.
func TestOutcomeTable(t *testing.T) {
	for _, o := range Outcomes() {
		if o.Meaning() == "" {
			t.Errorf("%s has no meaning", o)
		}
		if o.Failed() != (o != OK) {
			t.Errorf("%s: failed %v", o, o.Failed())
		}
		if back, ok := ParseOutcome(o.String()); !ok || back != o {
			t.Errorf("ParseOutcome(%q) = %v, %v", o, back, ok)
		}
	}
	if o, ok := ParseOutcome("http_other"); ok || !o.Failed() || o.Meaning() != "" || o.String() != "invalid" {
		t.Errorf(`ParseOutcome("http_other") = %v (failed %v, meaning %q), %v`, o, o.Failed(), o.Meaning(), ok)
	}
}
