package report_test

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/rolltest/rolltest/pkg/report"
	"github.com/rolltest/rolltest/pkg/report/internal/reporttest"
)

// TestMarkdownGolden pins the Markdown summary of each fixture; regenerate
// with go test ./pkg/report -run MarkdownGolden -update after an intended
// change.
func TestMarkdownGolden(t *testing.T) {
	for _, name := range reporttest.Fixtures() {
		t.Run(name, func(t *testing.T) {
			r := reporttest.Fixture(t, name)
			var buf bytes.Buffer
			if err := report.WriteMarkdown(&buf, r); err != nil {
				t.Fatal(err)
			}
			report.GoldenCompare(t, "markdown-"+strings.TrimSuffix(name, ".json")+".md.golden", buf.Bytes())
		})
	}
}

// The strings a hostile or broken service could put in a result: in its
// identity line (pod, version), in error details and bodies.
var hostile = []string{
	"evil|pod\n# Heading\n| a | b |",
	"<script>alert(1)</script><img src=x onerror=alert(1)>",
	"[click](javascript:alert(1)) ![img](http://evil.example/x.png)",
	"`code` ``` **bold** _em_ ~~strike~~ @here #1 $x^2$ :smile:",
	"www.evil.example https://evil.example/phish &amp; &#60;",
	"line\r\nbreak\u2028sep\u202eoverride\ttab\x00nul\\",
}

// TestMarkdownHostileData puts every hostile string where outside data
// lands and checks the document keeps its shape: no raw HTML, no line or
// cell a value added, no link, mention or reference it created.
func TestMarkdownHostileData(t *testing.T) {
	render := func(s string) string {
		r := reporttest.Fixture(t, reporttest.FailingRollout)
		r.Config.Target = "http://127.0.0.1:8080/" + s
		r.Config.Method = s
		r.Tool.Version = s
		r.Verdict.Summary = s
		for i := range r.Pods {
			r.Pods[i].ID, r.Pods[i].Name, r.Pods[i].Version = s, s, s
		}
		for i := range r.Failures.Records {
			r.Failures.Records[i].Pod, r.Failures.Records[i].Detail, r.Failures.Records[i].Outcome = s, s, s
		}
		for i := range r.Diagnosis {
			r.Diagnosis[i].Title, r.Diagnosis[i].Fix, r.Diagnosis[i].Severity = s, s, s
		}
		r.Rollout.Failed, r.Rollout.Reason, r.Rollout.Namespace, r.Rollout.Kind = true, s, s, s
		for i := range r.Verdict.Gates {
			r.Verdict.Gates[i].Message = s
		}
		var buf bytes.Buffer
		if err := report.WriteMarkdown(&buf, r); err != nil {
			t.Fatal(err)
		}
		return buf.String()
	}
	benign := render("x")
	for _, s := range hostile {
		out := render(s)
		if got, want := strings.Count(out, "\n"), strings.Count(benign, "\n"); got != want {
			t.Errorf("%q: %d lines, %d with a benign value: a value broke a line\n%s", s, got, want, out)
		}
		// What is left once every backslash escape is taken out is what
		// a Markdown reader sees as markup.
		bare, bareBenign := escapes.ReplaceAllString(out, ""), escapes.ReplaceAllString(benign, "")
		for _, raw := range []string{"<", "\r", "\u2028", "\u202e", "\t", "\x00", "](", "@here", " #1", "www.evil", "https://evil", ":smile:", "**bold", "`code"} {
			if strings.Contains(bare, raw) && !strings.Contains(bareBenign, raw) {
				t.Errorf("%q: output holds %q unescaped", s, raw)
			}
		}
		for i, line := range strings.Split(out, "\n") {
			benignLine := strings.Split(benign, "\n")[i]
			if strings.HasPrefix(line, "|") != strings.HasPrefix(benignLine, "|") || cells(line) != cells(benignLine) {
				t.Errorf("%q: line %d has %d cells, %d with a benign value:\n%s", s, i+1, cells(line), cells(benignLine), line)
			}
		}
	}
}

var escapes = regexp.MustCompile(`\\.`)

// cells counts the table cells of a line: the "|" that no backslash
// escapes, less one.
func cells(line string) int {
	if !strings.HasPrefix(line, "|") {
		return 0
	}
	n := 0
	for i := 0; i < len(line); i++ {
		switch line[i] {
		case '\\':
			i++
		case '|':
			n++
		}
	}
	return n - 1
}

// TestMarkdownCaps: a thousand failure records and a huge detail give a
// summary of bounded size.
func TestMarkdownCaps(t *testing.T) {
	r := reporttest.TenMinutes()
	r.Failures.Records[0].Detail = strings.Repeat("x", 1<<20)
	var buf bytes.Buffer
	if err := report.WriteMarkdown(&buf, r); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(buf.String(), "\n| "); n > 2*10+2*20+6 {
		t.Errorf("%d table rows: the caps do not hold", n)
	}
	if buf.Len() > 64<<10 {
		t.Errorf("%d bytes for a ten-minute run", buf.Len())
	}
	if !strings.Contains(buf.String(), "first 10 shown") {
		t.Errorf("the failure table does not say it is cut:\n%s", buf.String())
	}
}

// unescape reads mdText's output back as CommonMark would render it.
func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s):
			i++
			b.WriteByte(s[i])
		case strings.HasPrefix(s[i:], "&amp;"):
			b.WriteByte('&')
			i += 4
		case strings.HasPrefix(s[i:], "&lt;"):
			b.WriteByte('<')
			i += 3
		case strings.HasPrefix(s[i:], "&gt;"):
			b.WriteByte('>')
			i += 3
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

func FuzzMarkdownText(f *testing.F) {
	for _, s := range hostile {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := report.MDEscape(s, 160)
		want := strings.Map(func(r rune) rune {
			if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029' || r == utf8.RuneError {
				return ' '
			}
			return r
		}, s)
		if rs := []rune(want); len(rs) > 160 {
			want = string(rs[:160]) + "…"
		}
		if got := unescape(out); got != want {
			t.Fatalf("MDEscape(%q) = %q reads as %q, want %q", s, out, got, want)
		}
		for i := 0; i < len(out); i++ {
			c := out[i]
			switch {
			case c == '\\':
				i++ // an escape and the character it escapes
			case c == '<' || c == '>' || c == '\n' || c == '\r':
				t.Fatalf("MDEscape(%q) = %q holds %q", s, out, c)
			case strings.IndexByte("`*_[]|~!#@$:.", c) >= 0:
				t.Fatalf("MDEscape(%q) = %q holds an unescaped %q", s, out, c)
			case c == '&' && !strings.HasPrefix(out[i:], "&amp;") && !strings.HasPrefix(out[i:], "&lt;") && !strings.HasPrefix(out[i:], "&gt;"):
				t.Fatalf("MDEscape(%q) = %q holds a bare &", s, out)
			}
		}

	})
}
