package report

import (
	"bytes"
	"strings"
	"testing"

	"github.com/rolltest/rolltest/internal/redact"
)

// TestRedact: every renderer writes from the Result, so once Redact has
// run no format may hold a credential, whichever field carried it.
func TestRedact(t *testing.T) {
	rd := redact.New()
	rd.AddHeader("X-Api-Key", "k3y-value")
	for _, tc := range []struct {
		name   string
		plant  func(r *Result)
		secret string
	}{
		{"target userinfo", func(r *Result) { r.Config.Target = "http://user:pa55word@127.0.0.1/" }, "pa55word"},
		{"target token", func(r *Result) { r.Config.Target = "http://127.0.0.1/x?access_token=abc123" }, "abc123"},
		{"header", func(r *Result) { r.Config.Headers = []string{"Authorization: Bearer s3cr3t-token"} }, "s3cr3t-token"},
		{"header by word", func(r *Result) { r.Config.Headers = []string{"X-Vault-Token: hvs.xyz"} }, "hvs.xyz"},
		{"old document", func(r *Result) { r.Config.Headers = []string{"Cookie: [redacted]"} }, "[redacted]"},
		{"target url", func(r *Result) { r.Targets[0].URL = "http://127.0.0.1/o?sig=s1gn4ture" }, "s1gn4ture"},
		{"target name", func(r *Result) { r.Targets[0].Name = "GET /o?token=n4me-token" }, "n4me-token"},
		{"detail bearer", func(r *Result) { r.Failures.Records[0].Detail = `HTTP 500: "echo: Bearer s3cr3t-token"` }, "s3cr3t-token"},
		{"detail echoed key", func(r *Result) { r.Failures.Records[0].Detail = `HTTP 500: "you sent k3y-value"` }, "k3y-value"},
		{"detail json", func(r *Result) { r.Failures.Records[0].Detail = `HTTP 401: "{\"password\": \"hunter22\"}"` }, "hunter22"},
		{"stop reason", func(r *Result) { r.Run.StopReason = "dial http://u:pw0rd@h/: refused" }, "pw0rd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &Result{Schema: Schema, Config: Config{Mode: "rate"}, Targets: []Target{{Name: "t"}}, Failures: Failures{Records: []Failure{{Outcome: "http_5xx"}}}}
			tc.plant(r)
			r.Redact(rd)
			for _, f := range []struct {
				name  string
				write func(*bytes.Buffer, *Result) error
			}{
				{"json", func(b *bytes.Buffer, r *Result) error { return WriteJSON(b, r) }},
				{"text", func(b *bytes.Buffer, r *Result) error { return WriteText(b, r, TextOptions{}) }},
				{"markdown", func(b *bytes.Buffer, r *Result) error { return WriteMarkdown(b, r) }},
				{"junit", func(b *bytes.Buffer, r *Result) error { return WriteJUnit(b, r) }},
			} {
				var b bytes.Buffer
				if err := f.write(&b, r); err != nil {
					t.Fatalf("%s: %v", f.name, err)
				}
				if strings.Contains(b.String(), tc.secret) {
					t.Errorf("%s holds %q", f.name, tc.secret)
				}
			}
		})
	}
}

// TestInsecureNote: a run that did not verify certificates says so in
// every summary a reader sees, and one that did says nothing of it.
func TestInsecureNote(t *testing.T) {
	for _, insecure := range []bool{false, true} {
		r := &Result{Schema: Schema, Config: Config{Mode: "rate", Target: "https://127.0.0.1/", InsecureSkipVerify: insecure}}
		for _, f := range []struct {
			name  string
			write func(*bytes.Buffer) error
		}{
			{"text", func(b *bytes.Buffer) error { return WriteText(b, r, TextOptions{}) }},
			{"markdown", func(b *bytes.Buffer) error { return WriteMarkdown(b, r) }},
			{"json", func(b *bytes.Buffer) error { return WriteJSON(b, r) }},
		} {
			var b bytes.Buffer
			if err := f.write(&b); err != nil {
				t.Fatal(err)
			}
			want := InsecureNote
			if f.name == "json" {
				want = `"insecure_skip_verify": true`
			}
			if got := strings.Contains(b.String(), want); got != insecure {
				t.Errorf("insecure %v: %s has %q: %v\n%s", insecure, f.name, want, got, b.String())
			}
		}
	}
}
