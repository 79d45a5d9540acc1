package targets

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/rolltest/rolltest/pkg/loadgen"
)

// ParseHTTP reads targets in vegeta's http format (see the package
// comment); file names the source in errors. body reads the file an
// "@path" line names; nil refuses such lines.
//
// It follows vegeta's reader: lines are trimmed; a request line is an
// upper-case method, a space and an absolute URL; header lines follow it
// until a blank line, an "@path" line (which ends the target) or the next
// request line; a header's name and value are both non-empty and keep
// their case. Unlike vegeta it refuses what vegeta would send malformed or
// silently drop (a header without a colon, a line after a body, a URL
// followed by more words), naming the line.
func ParseHTTP(file string, data []byte, body func(path string) ([]byte, error)) ([]Target, error) {
	p := httpParser{file: file, body: body, cur: -1}
	for i, raw := range bytes.Split(data, []byte("\n")) {
		if err := p.line(i+1, strings.TrimSpace(string(raw))); err != nil {
			return nil, err
		}
	}
	if p.pending.line > 0 {
		return nil, p.errf(p.pending.line, "this # %s has no target after it", p.pending.what)
	}
	return finish(file, p.ts)
}

// httpParser is ParseHTTP's state between lines.
type httpParser struct {
	file string
	body func(string) ([]byte, error)
	ts   []Target
	// cur indexes the target whose header lines are being read; -1
	// between targets.
	cur     int
	curBody bool // cur's @body line was read: only a new target may follow
	set     []directives
	// pending are directives read between targets, for the next one.
	pending directives
}

// directives records which of a target's # lines were given, and where
// the first pending one was.
type directives struct {
	name, weight bool
	line         int    // of the first pending directive; 0: none
	what         string // its keyword
	nameV        string
	weightV      int
}

func (p *httpParser) errf(line int, format string, args ...any) error {
	return &Error{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...)}
}

func (p *httpParser) line(n int, line string) error {
	switch {
	case line == "":
		p.cur = -1
		return nil
	case line[0] == '#':
		return p.comment(n, line)
	case !utf8.ValidString(line):
		// Names, URLs and headers go into JSON reports and the json
		// format, which cannot carry invalid UTF-8 unchanged.
		return p.errf(n, "the line is not valid UTF-8")
	case p.cur >= 0 && !p.curBody && line[0] == '@':
		return p.bodyLine(n, line[1:])
	case p.cur >= 0 && !p.curBody && !startsWithMethod(line):
		return p.header(n, line)
	}
	return p.request(n, line)
}

// startsWithMethod is vegeta's test for a request line: an upper-case
// word and a space.
func startsWithMethod(line string) bool {
	i := 0
	for i < len(line) && line[i] >= 'A' && line[i] <= 'Z' {
		i++
	}
	return i > 0 && i < len(line) && (line[i] == ' ' || line[i] == '\t')
}

func (p *httpParser) request(n int, line string) error {
	if p.cur >= 0 && p.curBody {
		if !startsWithMethod(line) {
			return p.errf(n, "%q follows the target's @body line, which ends it; put headers before the @body line", clip(line))
		}
	}
	f := strings.Fields(line)
	if !startsWithMethod(line) || len(f) != 2 {
		return p.errf(n, "%q is not a 'METHOD URL' line (e.g. GET http://127.0.0.1:8080/path)", clip(line))
	}
	if err := checkURL(f[1]); err != nil {
		return p.errf(n, "%v", err)
	}
	p.ts = append(p.ts, Target{Method: f[0], URL: f[1], Line: n})
	d := p.pending
	p.set = append(p.set, d)
	t := &p.ts[len(p.ts)-1]
	t.Name, t.Weight = d.nameV, d.weightV
	p.pending = directives{}
	p.cur, p.curBody = len(p.ts)-1, false
	return nil
}

func (p *httpParser) header(n int, line string) error {
	name, value, ok := strings.Cut(line, ":")
	name, value = strings.TrimSpace(name), strings.TrimSpace(value)
	if !ok || name == "" || value == "" {
		return p.errf(n, "%q is not a header line 'Name: value' (nor 'METHOD URL': a new target starts after a blank line)", clip(line))
	}
	h := loadgen.Header{Name: name, Value: value}
	if err := checkHeader(h); err != nil {
		return p.errf(n, "%v", err)
	}
	t := &p.ts[p.cur]
	t.Header = append(t.Header, h)
	return nil
}

func (p *httpParser) bodyLine(n int, path string) error {
	path = strings.TrimSpace(path)
	if path == "" {
		return p.errf(n, "'@' names no file; write @path/to/body, relative to the targets file")
	}
	if p.body == nil {
		return p.errf(n, "@%s: bodies cannot be read from files here", path)
	}
	b, err := p.body(path)
	if err != nil {
		return p.errf(n, "body @%s: %v", path, err)
	}
	p.ts[p.cur].Body = b
	p.curBody = true
	return nil
}

// comment reads a # line: "# weight N" and "# name LABEL" set the current
// target's (or, between targets, the next one's); any other is a comment.
func (p *httpParser) comment(n int, line string) error {
	rest := strings.TrimSpace(line[1:])
	f := strings.Fields(rest)
	if len(f) == 0 || f[0] != "weight" && f[0] != "name" {
		return nil
	}
	word, value := f[0], rest[len(f[0]):]
	value = strings.TrimSpace(value)
	d := &p.pending
	if p.cur >= 0 {
		d = &p.set[p.cur]
	}
	switch word {
	case "weight":
		if d.weight {
			return p.errf(n, "a second # weight for one target")
		}
		w, err := strconv.Atoi(value)
		if err != nil {
			return p.errf(n, "# weight %q: want a whole number, e.g. # weight 3", value)
		}
		if err := checkWeight(w); err != nil {
			return p.errf(n, "%v", err)
		}
		d.weight, d.weightV = true, w
	case "name":
		if d.name {
			return p.errf(n, "a second # name for one target")
		}
		if value == "" {
			return p.errf(n, "# name without a label; write # name LABEL")
		}
		d.name, d.nameV = true, value
	}
	if p.cur >= 0 {
		t := &p.ts[p.cur]
		t.Name, t.Weight = d.nameV, d.weightV
	} else if d.line == 0 {
		d.line, d.what = n, word
	}
	return nil
}

// clip shortens a quoted line in a message: errors stay one readable line.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
