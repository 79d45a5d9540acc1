package targets

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/rolltest/rolltest/pkg/loadgen"
)

// jsonTarget is one line of the json format: vegeta's target object
// (body base64, as encoding/json writes []byte) plus weight and name.
type jsonTarget struct {
	Name   string              `json:"name,omitempty"`
	Method string              `json:"method"`
	URL    string              `json:"url"`
	Header map[string][]string `json:"header,omitempty"`
	Body   []byte              `json:"body,omitempty"`
	Weight *int                `json:"weight,omitempty"`
}

// ParseJSON reads targets in the json format: one object per line, blank
// lines allowed; file names the source in errors. An object's headers are
// sent sorted by name (a JSON object has no order), each name's values in
// their order.
func ParseJSON(file string, data []byte) ([]Target, error) {
	var ts []Target
	for i, raw := range bytes.Split(data, []byte("\n")) {
		n := i + 1
		line := bytes.TrimSpace(raw)
		if i == 0 {
			line = bytes.TrimPrefix(line, []byte("\ufeff"))
		}
		if len(line) == 0 {
			continue
		}
		t, err := parseJSONLine(line)
		if err != nil {
			return nil, &Error{File: file, Line: n, Msg: err.Error()}
		}
		t.Line = n
		ts = append(ts, t)
	}
	return finish(file, ts)
}

func parseJSONLine(line []byte) (Target, error) {
	var jt jsonTarget
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&jt); err != nil {
		return Target{}, fmt.Errorf("not a target object: %v; want {\"method\":\"GET\",\"url\":\"http://...\"}", err)
	}
	if dec.More() {
		return Target{}, fmt.Errorf("more than one value on the line; write one JSON object per line")
	}
	switch {
	case jt.Method == "":
		return Target{}, fmt.Errorf(`no "method"; every target needs "method" and "url"`)
	case jt.URL == "":
		return Target{}, fmt.Errorf(`no "url"; every target needs "method" and "url"`)
	}
	if !validToken(jt.Method) {
		return Target{}, fmt.Errorf("method %q is not an HTTP method", jt.Method)
	}
	if err := checkURL(jt.URL); err != nil {
		return Target{}, err
	}
	if len(jt.Body) > MaxBodyBytes {
		return Target{}, fmt.Errorf("the body is larger than %d MiB", MaxBodyBytes>>20)
	}
	t := Target{Name: strings.TrimSpace(jt.Name), Method: jt.Method, URL: jt.URL, Body: jt.Body}
	if jt.Weight != nil {
		if err := checkWeight(*jt.Weight); err != nil {
			return Target{}, err
		}
		t.Weight = *jt.Weight
	}
	names := make([]string, 0, len(jt.Header))
	for k := range jt.Header {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		for _, v := range jt.Header[k] {
			h := loadgen.Header{Name: k, Value: v}
			if err := checkHeader(h); err != nil {
				return Target{}, err
			}
			t.Header = append(t.Header, h)
		}
	}
	return t, nil
}

// WriteJSON writes ts as a targets file of the json format, one object
// per line, name and weight included; ParseJSON reads it back.
func WriteJSON(w io.Writer, ts []Target) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for i := range ts {
		t := &ts[i]
		jt := jsonTarget{Name: t.Name, Method: t.Method, URL: t.URL, Body: t.Body}
		if t.Weight != 0 {
			jt.Weight = &t.Weight
		}
		if len(t.Header) > 0 {
			jt.Header = map[string][]string{}
			for _, h := range t.Header {
				jt.Header[h.Name] = append(jt.Header[h.Name], h.Value)
			}
		}
		if err := enc.Encode(&jt); err != nil {
			return fmt.Errorf("writing target %d (%s): %w", i+1, t.Name, err)
		}
	}
	return bw.Flush()
}
