// Package targets reads targets files: the list of requests one run sends
// (rolltest run --targets FILE). Two formats are read, both vegeta's so
// that files move between the tools, each extended with a weight and a
// name per target:
//
//   - "http": a "METHOD URL" line, then "Name: value" header lines, then
//     optionally an "@path" line naming a file that holds the body (relative
//     to the targets file's directory); a blank line or the next
//     "METHOD URL" line starts the next target. Lines starting with # are
//     comments, except "# weight N" and "# name LABEL", which set the
//     weight and the name of the target they precede or sit in.
//   - "json": one object per line, {"method", "url", "header": {"K":
//     ["v"]}, "body": base64, "weight", "name"}.
//
// The parsed form, []Target, is the public shape any other source of
// requests (a translated JMeter plan, say) produces; WriteJSON writes it
// back as a file of the json format.
package targets

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/rolltest/rolltest/pkg/loadgen"
)

// Bounds on what is read: a targets file describes requests, not data
// sets, and every body is held in memory for the whole run.
const (
	MaxFileBytes = 16 << 20
	MaxBodyBytes = 16 << 20
	// MaxWeight bounds a weight so that the schedule, one entry per unit of
	// weight, stays small.
	MaxWeight = 1000
)

// Target is one request of a run.
type Target struct {
	// Name labels the target in reports; by default "METHOD path?query".
	Name   string
	Method string
	// URL is absolute; every target of a file shares its scheme, host and
	// port, the one connection target a rollout test loads.
	URL string
	// Header is sent in order, names as written.
	Header []loadgen.Header
	Body   []byte
	// Weight is the target's share of the requests, relative to the other
	// targets' (default 1).
	Weight int
	// Line is where the target begins in its file (1-based); 0 when it did
	// not come from a file.
	Line int
}

// Format names a targets file's format.
type Format string

// Formats. Auto reads "json" when the file's first non-space byte is '{',
// "http" otherwise.
const (
	Auto Format = ""
	HTTP Format = "http"
	JSON Format = "json"
)

// ParseFormat reads a format's name; "" and "auto" mean Auto.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(s) {
	case "", "auto":
		return Auto, nil
	case "http":
		return HTTP, nil
	case "json":
		return JSON, nil
	}
	return Auto, fmt.Errorf("unknown targets format %q: use http, json or auto", s)
}

// Error is a problem with a targets file, at a line when Line > 0. Its
// message is one line: "FILE line N: what is wrong".
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s line %d: %s", e.File, e.Line, e.Msg)
	}
	return e.File + ": " + e.Msg
}

// ReadFile reads the targets file at path in format f. Bodies named by
// "@path" lines are read relative to the file's directory.
func ReadFile(path string, f Format) ([]Target, error) {
	data, err := readBounded(path, MaxFileBytes)
	if err != nil {
		return nil, &Error{File: path, Msg: err.Error()}
	}
	dir := filepath.Dir(path)
	body := func(p string) ([]byte, error) {
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		return readBounded(p, MaxBodyBytes)
	}
	if f == Auto {
		f = detect(data)
	}
	if f == JSON {
		return ParseJSON(path, data)
	}
	return ParseHTTP(path, data, body)
}

// readBounded reads a regular file of at most limit bytes.
func readBounded(path string, limit int64) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, unwrapPath(err)
	}
	defer fh.Close()
	// Read one byte past the limit rather than trust Stat: a pipe or a
	// file still growing has no honest size.
	data, err := io.ReadAll(io.LimitReader(fh, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, unwrapPath(err))
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d MiB", path, limit>>20)
	}
	return data, nil
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func detect(data []byte) Format {
	if t := bytes.TrimLeft(data, " \t\r\n\ufeff"); len(t) > 0 && t[0] == '{' {
		return JSON
	}
	return HTTP
}

// finish checks what every format shares (a target list that is not
// empty, on one scheme, host and port) and fills in default names and
// weights.
func finish(file string, ts []Target) ([]Target, error) {
	if len(ts) == 0 {
		return nil, &Error{File: file, Msg: "no targets in the file; write one 'METHOD URL' line per target (or one JSON object per line)"}
	}
	first := ts[0]
	firstHost, _ := hostKey(first.URL)
	// Targets that come from no file's lines (a JMeter plan's samplers)
	// are told apart by name: "line 0" would point nowhere.
	firstAt := fmt.Sprintf("line %d", first.Line)
	if first.Line == 0 {
		firstAt = strconv.Quote(first.Name)
		if first.Name == "" {
			firstAt = strconv.Quote(defaultName(first.Method, first.URL))
		}
	}
	for i := range ts {
		t := &ts[i]
		if t.Weight == 0 {
			t.Weight = 1
		}
		if t.Name == "" {
			t.Name = defaultName(t.Method, t.URL)
		}
		key, _ := hostKey(t.URL)
		if key != firstHost {
			return nil, &Error{File: file, Line: t.Line, Msg: fmt.Sprintf(
				"%s is not on %s like the first target (%s): every target must share scheme, host and port, as a rollout test loads one Service; give each service its own run",
				t.URL, firstHost, firstAt)}
		}
	}
	return ts, nil
}

// checkURL accepts an absolute http or https URL with a host and no
// credentials, as the engine does.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("%q is not a URL: %v", raw, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%q: scheme must be http or https", raw)
	case u.Host == "":
		return fmt.Errorf("%q has no host; write it as http://HOST:PORT/PATH", raw)
	case u.User != nil:
		return fmt.Errorf("%q: credentials in the URL are not supported; send an Authorization header", raw)
	}
	return nil
}

// hostKey is the connection a URL names: scheme://host:port, default port
// filled in.
func hostKey(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return u.Scheme + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port), nil
}

func defaultName(method, raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return method + " " + raw
	}
	return method + " " + u.RequestURI()
}

// validToken reports whether s is an HTTP token (RFC 9110 §5.6.2): what a
// method and a header name must be.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// checkHeader accepts a header the engine can send as written.
func checkHeader(h loadgen.Header) error {
	if !validToken(h.Name) {
		return fmt.Errorf("%q is not a valid header name", h.Name)
	}
	if strings.ContainsAny(h.Value, "\r\n\x00") {
		return fmt.Errorf("the value of %s contains a line break or NUL", h.Name)
	}
	return nil
}

func checkWeight(w int) error {
	if w < 1 || w > MaxWeight {
		return fmt.Errorf("weight %d: must be between 1 and %d", w, MaxWeight)
	}
	return nil
}

// Check validates targets made by a program rather than read from a file
// (a translated JMeter plan): each must be a request the engine can send,
// and all must share one scheme, host and port. source names where they
// came from in errors; Line, when set, is a line or element number there.
// It fills in default names and weights as ReadFile does.
func Check(source string, ts []Target) ([]Target, error) {
	for i := range ts {
		t := &ts[i]
		what := func(err error) error {
			return &Error{File: source, Line: t.Line, Msg: fmt.Sprintf("request %d (%s): %v", i+1, t.Name, err)}
		}
		if !validToken(t.Method) {
			return nil, what(fmt.Errorf("method %q is not an HTTP method", t.Method))
		}
		if err := checkURL(t.URL); err != nil {
			return nil, what(err)
		}
		if len(t.Body) > MaxBodyBytes {
			return nil, what(fmt.Errorf("the body is larger than %d MiB", MaxBodyBytes>>20))
		}
		for _, h := range t.Header {
			if err := checkHeader(h); err != nil {
				return nil, what(err)
			}
		}
		if t.Weight != 0 {
			if err := checkWeight(t.Weight); err != nil {
				return nil, what(err)
			}
		}
	}
	return finish(source, ts)
}

// Engine returns ts as the engine's targets (loadgen.Config.Targets).
func Engine(ts []Target) []loadgen.Target {
	out := make([]loadgen.Target, len(ts))
	for i, t := range ts {
		out[i] = loadgen.Target{Name: t.Name, URL: t.URL, Method: t.Method, Headers: t.Header, Body: t.Body, Weight: t.Weight}
	}
	return out
}
