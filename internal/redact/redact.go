// Package redact hides credentials in what rolltest writes: reports are
// artifacts that CI keeps and many people read, /metrics is scraped by
// whoever can reach it, and a log line is copied into tickets. A request
// still carries the real header and URL; only what is written is redacted.
//
// Three kinds of input reach an output: header values (-H, a targets file,
// a JMeter plan), URLs (with userinfo or a token in the query) and free text
// (failure details quoting a response body, error messages). Header and URL
// hide by name; Text hides by pattern, and a Redactor also hides the exact
// secrets the run was given wherever they turn up (a server that echoes its
// X-Api-Key into an error body).
package redact

import (
	"encoding/base64"
	"net/url"
	"regexp"
	"sort"
	"strings"
)

// Mask replaces every hidden value.
const Mask = "REDACTED"

// credentialHeaders are the header names that carry a credential whatever
// they are called; SensitiveName catches the rest by their words.
var credentialHeaders = map[string]bool{
	"authorization": true, "proxy-authorization": true, "cookie": true, "set-cookie": true,
	"x-api-key": true, "x-auth-token": true,
}

// SensitiveHeader reports whether a header's value is a credential.
func SensitiveHeader(name string) bool {
	n := strings.ToLower(strings.TrimSpace(name))
	return credentialHeaders[n] || sensitiveWords(n)
}

// sensitiveWords holds for a lower-case name that contains a word only
// credentials are named by. "-" and "_" are dropped first so that api-key,
// api_key and apikey read the same.
func sensitiveWords(n string) bool {
	n = strings.NewReplacer("-", "", "_", "").Replace(n)
	for _, w := range []string{"token", "secret", "password", "passwd", "apikey", "credential"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// sensitiveParam reports whether a URL query parameter carries a
// credential: the header words, plus the names signed URLs use (AWS's
// X-Amz-Signature, Azure's sig, Google's key).
func sensitiveParam(name string) bool {
	n := strings.ToLower(name)
	if sensitiveWords(n) {
		return true
	}
	n = strings.NewReplacer("-", "", "_", "").Replace(n)
	// "key" also ends apikey, accesskey, subscriptionkey; hiding a
	// harmless parameter that ends like them costs nothing.
	return n == "sig" || n == "auth" || strings.HasSuffix(n, "signature") || strings.HasSuffix(n, "key")
}

// Header is the value to write for a header: its own, or Mask for a
// credential.
func Header(name, value string) string {
	if SensitiveHeader(name) {
		return Mask
	}
	return value
}

// URL hides a URL's credentials: the password of its userinfo (the user
// too when it stands alone, as a token often does: https://TOKEN@host), and
// the values of query parameters named like credentials. Anything that
// does not parse as a URL is treated as text.
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" {
		// Not Text: it finds URLs in text and would come back here.
		return credentials(raw)
	}
	changed := false
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), Mask)
		} else {
			u.User = url.User(Mask)
		}
		changed = true
	}
	if u.RawQuery != "" {
		if q, ok := redactQuery(u.RawQuery); ok {
			u.RawQuery, changed = q, true
		}
	}
	if !changed {
		return raw
	}
	// url.URL.String escapes the mask's userinfo as it should; the rest
	// is as parsed.
	return u.String()
}

// redactQuery rewrites the values of credential parameters in a raw query,
// keeping the order and encoding of the others; ok is false when there
// was nothing to hide.
func redactQuery(raw string) (string, bool) {
	parts := strings.Split(raw, "&")
	changed := false
	for i, p := range parts {
		name, _, _ := strings.Cut(p, "=")
		if dec, err := url.QueryUnescape(name); err == nil {
			name = dec
		}
		if sensitiveParam(name) {
			parts[i] = strings.SplitN(p, "=", 2)[0] + "=" + Mask
			changed = true
		}
	}
	return strings.Join(parts, "&"), changed
}

var (
	// schemeRE finds an authorization scheme and its credentials in free
	// text: "Bearer abc", "Basic dXNlcjpwYXNz".
	schemeRE = regexp.MustCompile(`(?i)\b(bearer|basic|token|digest)(\s+)([A-Za-z0-9._~+/=:-]+)`)
	// pairRE finds "name: value" and "name=value" (with optional quotes,
	// as JSON and query strings write them, escaped \" too, as a failure
	// detail quotes a body); the name decides.
	pairRE = regexp.MustCompile(`([A-Za-z0-9_.-]+)(\\?"?\s*[:=]\s*\\?"?)((?:(?i:bearer|basic|token|digest)\s+)?)([^\s"'\\,;&<>\]}]+)`)
	// urlRE finds a URL with a scheme in free text.
	urlRE = regexp.MustCompile(`\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s"'<>]+`)
)

// Text hides credentials in free text: URLs in it (as URL does),
// "Authorization: Bearer …", "token=…", "\"api_key\": \"…\"", a bare
// "Bearer …" and a "Basic …" whose credentials decode to user:password.
func Text(s string) string {
	if s == "" {
		return s
	}
	s = urlRE.ReplaceAllStringFunc(s, func(m string) string {
		if u := URL(trimURL(m)); u != trimURL(m) {
			return u + m[len(trimURL(m)):]
		}
		return m
	})
	return credentials(s)
}

// credentials is Text's search for credentials in words, URLs aside.
func credentials(s string) string {
	s = schemeRE.ReplaceAllStringFunc(s, func(m string) string {
		sub := schemeRE.FindStringSubmatch(m)
		if sub[3] == Mask || placeholder(sub[3]) {
			return m
		}
		switch strings.ToLower(sub[1]) {
		case "basic":
			// "basic checks passed" is prose; a Basic credential decodes.
			dec, err := base64.StdEncoding.DecodeString(sub[3])
			if err != nil || !strings.Contains(string(dec), ":") {
				return m
			}
		case "token", "digest":
			// Only as a header's value (pairRE) are these schemes
			// unambiguous; in prose they are words.
			return m
		}
		return sub[1] + sub[2] + Mask
	})
	return pairRE.ReplaceAllStringFunc(s, func(m string) string {
		sub := pairRE.FindStringSubmatch(m)
		if sub[4] == Mask || placeholder(sub[4]) || !(SensitiveHeader(sub[1]) || strings.Contains(sub[2], "=") && sensitiveParam(sub[1])) {
			return m
		}
		return sub[1] + sub[2] + sub[3] + Mask
	})
}

// placeholder holds for the "..." of a hint ("-H 'Authorization: ...'"):
// no credential, and hiding it would garble the hint.
func placeholder(v string) bool {
	return strings.Trim(v, ".…") == ""
}

// trimURL leaves out the punctuation that ends a sentence rather than the
// URL ("see http://host/x.").
func trimURL(m string) string {
	return strings.TrimRight(m, ".,;:)]}")
}

// Redactor is Text plus the exact secrets of one run: the values of its
// credential headers and of the credential parts of its URLs, hidden
// wherever they appear, whatever surrounds them. The zero value and nil
// hide by pattern alone. It is read-only once built, so safe for
// concurrent use.
type Redactor struct {
	secrets []string
}

// minSecret is the shortest secret hidden by its value: a shorter one
// would blank out ordinary text (and is no secret).
const minSecret = 3

// New returns a Redactor for the given secrets.
func New(secrets ...string) *Redactor {
	r := &Redactor{}
	for _, s := range secrets {
		r.add(s)
	}
	return r
}

func (r *Redactor) add(s string) {
	s = strings.TrimSpace(s)
	if len(s) < minSecret || s == Mask {
		return
	}
	for _, have := range r.secrets {
		if have == s {
			return
		}
	}
	r.secrets = append(r.secrets, s)
	// Longest first, so that "Bearer abc" goes whole before "abc".
	sort.Slice(r.secrets, func(i, j int) bool { return len(r.secrets[i]) > len(r.secrets[j]) })
}

// AddHeader records a header's value as a secret when its name says it is
// one, and the credentials after its scheme ("Bearer abc": "abc") too.
func (r *Redactor) AddHeader(name, value string) {
	if !SensitiveHeader(name) {
		return
	}
	r.add(value)
	if _, cred, ok := strings.Cut(strings.TrimSpace(value), " "); ok {
		r.add(cred)
	}
}

// AddURL records a URL's password and credential query values as secrets.
func (r *Redactor) AddURL(raw string) {
	u, err := url.Parse(raw)
	if err != nil {
		return
	}
	if u.User != nil {
		if p, ok := u.User.Password(); ok {
			r.add(p)
		} else {
			r.add(u.User.Username())
		}
	}
	for name, vs := range u.Query() {
		if sensitiveParam(name) {
			for _, v := range vs {
				r.add(v)
			}
		}
	}
}

// Text hides the run's secrets and what Text finds in s.
func (r *Redactor) Text(s string) string { return r.secretsIn(Text(s)) }

// URL hides u's credentials by name, then any of the run's secrets left.
func (r *Redactor) URL(u string) string { return r.secretsIn(URL(u)) }

// secretsIn hides every one of the run's own secrets in s.
func (r *Redactor) secretsIn(s string) string {
	if r == nil {
		return s
	}
	for _, sec := range r.secrets {
		if strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, Mask)
		}
	}
	return s
}
