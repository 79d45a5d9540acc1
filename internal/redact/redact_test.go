package redact

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestHeader(t *testing.T) {
	for _, tc := range []struct {
		name, value, want string
	}{
		{"Authorization", "Bearer s3cr3t", Mask},
		{"proxy-authorization", "Basic dXNlcjpwYXNz", Mask},
		{"Cookie", "session=1", Mask},
		{"Set-Cookie", "session=1", Mask},
		{"X-Api-Key", "k3y", Mask},
		{"X-Auth-Token", "t", Mask},
		{"X-GitLab-Token", "t", Mask},
		{"Client-Secret", "s", Mask},
		{"X-Password", "p", Mask},
		{"api_key", "k", Mask},
		{"X-APIKEY", "k", Mask},
		{"Accept", "application/json", "application/json"},
		{"X-Request-Id", "42", "42"},
		{"Keep-Alive", "timeout=5", "timeout=5"},
	} {
		if got := Header(tc.name, tc.value); got != tc.want {
			t.Errorf("Header(%q, %q) = %q, want %q", tc.name, tc.value, got, tc.want)
		}
	}
}

func TestURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"http://127.0.0.1:8080/x?token=abc", "http://127.0.0.1:8080/x?token=REDACTED"},
		{"https://u:p4ss@host/x", "https://u:REDACTED@host/x"},
		{"https://ghp_abc@host/x", "https://REDACTED@host/x"},
		{"http://h/x?a=1&access_token=t&b=2", "http://h/x?a=1&access_token=REDACTED&b=2"},
		{"http://h/x?X-Amz-Signature=ab&X-Amz-Credential=c&X-Amz-Date=d", "http://h/x?X-Amz-Signature=REDACTED&X-Amz-Credential=REDACTED&X-Amz-Date=d"},
		{"http://h/x?sv=1&sig=zz", "http://h/x?sv=1&sig=REDACTED"},
		{"http://h/x?api-key=k&key=k2&password", "http://h/x?api-key=REDACTED&key=REDACTED&password=REDACTED"},
		{"http://h/x?page=2&q=token", "http://h/x?page=2&q=token"},
		{"http://h/plain", "http://h/plain"},
		{"", ""},
	} {
		if got := URL(tc.in); got != tc.want {
			t.Errorf("URL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`HTTP 500: "Bearer s3cr3t-token"`, `HTTP 500: "Bearer REDACTED"`},
		{`HTTP 500: "got Authorization: Bearer s3cr3t-token"`, `HTTP 500: "got Authorization: Bearer REDACTED"`},
		{`{"headers":{"X-Api-Key": "k3y","Accept":"*/*"}}`, `{"headers":{"X-Api-Key": "REDACTED","Accept":"*/*"}}`},
		{`HTTP 401: "{\"password\": \"hunter22\"}"`, `HTTP 401: "{\"password\": \"REDACTED\"}"`},
		{`Authorization=Basic dXNlcjpwYXNz`, `Authorization=Basic REDACTED`},
		{`sent Basic dXNlcjpwYXNz`, `sent Basic REDACTED`},
		{`basic checks passed`, `basic checks passed`},
		{`a token was missing`, `a token was missing`},
		{`GET /orders?token=abc&page=2`, `GET /orders?token=REDACTED&page=2`},
		{`dial http://u:pw@127.0.0.1:1/x?sig=zz: refused.`, `dial http://u:REDACTED@127.0.0.1:1/x?sig=REDACTED: refused.`},
		{`Hostname: web-1`, `Hostname: web-1`},
		{`send them with -H 'Authorization: ...' or Bearer …`, `send them with -H 'Authorization: ...' or Bearer …`},
		{`connection reset by peer`, `connection reset by peer`},
	} {
		if got := Text(tc.in); got != tc.want {
			t.Errorf("Text(%q)\n = %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

func TestRedactor(t *testing.T) {
	r := New()
	r.AddHeader("X-Api-Key", "k3y")
	r.AddHeader("Authorization", "Bearer s3cr3t-token")
	r.AddHeader("Accept", "text/plain") // not a secret: stays
	r.AddURL("http://u:pw1@127.0.0.1/x?token=abcd&page=22")
	r.AddHeader("X-Auth-Token", "ab") // too short to hide by value
	in := "echo k3y s3cr3t-token pw1 abcd text/plain page=22 ab"
	want := "echo REDACTED REDACTED REDACTED REDACTED text/plain page=22 ab"
	if got := r.Text(in); got != want {
		t.Errorf("Text = %q, want %q", got, want)
	}
	if got := r.URL("http://h/k3y?q=1"); got != "http://h/REDACTED?q=1" {
		t.Errorf("URL = %q", got)
	}
	var none *Redactor
	if got := none.Text("Bearer x1"); got != "Bearer REDACTED" {
		t.Errorf("nil Redactor: %q", got)
	}
}

var token68 = regexp.MustCompile(`^[A-Za-z0-9._~+/-]+=*$`)

// FuzzText: free text comes from servers (bodies quoted in failure
// details) and users; whatever it holds, redaction must not panic, break
// UTF-8, or leave a recorded secret in place.
func FuzzText(f *testing.F) {
	for _, s := range []string{`HTTP 500: "Bearer abc"`, "X-Api-Key: k3y", "http://u:p@h/?token=1", "Basic dXNlcjpwYXNz", "é\xff", `"a"="b"`} {
		f.Add(s, "s3cr3t")
	}
	f.Fuzz(func(t *testing.T, s, secret string) {
		r := New()
		r.AddHeader("Authorization", "Bearer "+secret)
		out := r.Text(s)
		if utf8.ValidString(s) && !utf8.ValidString(out) {
			t.Fatalf("Text(%q) = %q: not UTF-8", s, out)
		}
		sec := strings.TrimSpace(secret)
		// A secret made of the mask's own letters can reappear next to
		// a mask; any other must be gone.
		if len(sec) >= minSecret && !strings.ContainsAny(sec, "REDACT") && strings.Contains(out, sec) {
			t.Fatalf("secret %q left in %q (from %q)", sec, out, s)
		}
		// A credential as RFC 6750 spells it is always hidden.
		if token68.MatchString(s) && !strings.HasPrefix(s, Mask) {
			if out := Text("Authorization: Bearer " + s); out != "Authorization: Bearer "+Mask {
				t.Fatalf("bearer credential %q left in %q", s, out)
			}
		}
	})
}
