package targets

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/rolltest/rolltest/pkg/loadgen"
)

// mapBodies serves @path bodies from memory.
func mapBodies(m map[string][]byte) func(string) ([]byte, error) {
	return func(p string) ([]byte, error) {
		if b, ok := m[p]; ok {
			return b, nil
		}
		return nil, os.ErrNotExist
	}
}

func hdr(kv ...string) []loadgen.Header {
	var hs []loadgen.Header
	for i := 0; i < len(kv); i += 2 {
		hs = append(hs, loadgen.Header{Name: kv[i], Value: kv[i+1]})
	}
	return hs
}

func TestParseHTTP(t *testing.T) {
	bodies := map[string][]byte{"b.json": []byte(`{"a":1}`), "dir/x": []byte("x\r\n")}
	for _, tc := range []struct {
		name, in string
		want     []Target
	}{
		{"one line", "GET http://h:8080/a\n", []Target{{Name: "GET /a", Method: "GET", URL: "http://h:8080/a", Weight: 1, Line: 1}}},
		{"vegeta's example", `# a comment
GET http://h:8080/a?x=1
X-Account-ID: 8675309
Content-Type:   text/plain

DELETE http://h:8080/a/b
Confirmation-Token: 90215
Authorization: Token DEADBEEF

POST http://h:8080/c
Content-Type: application/json
@b.json
`, []Target{
			{Name: "GET /a?x=1", Method: "GET", URL: "http://h:8080/a?x=1", Header: hdr("X-Account-ID", "8675309", "Content-Type", "text/plain"), Weight: 1, Line: 2},
			{Name: "DELETE /a/b", Method: "DELETE", URL: "http://h:8080/a/b", Header: hdr("Confirmation-Token", "90215", "Authorization", "Token DEADBEEF"), Weight: 1, Line: 6},
			{Name: "POST /c", Method: "POST", URL: "http://h:8080/c", Header: hdr("Content-Type", "application/json"), Body: []byte(`{"a":1}`), Weight: 1, Line: 10},
		}},
		{"no blank line between targets, CRLF, indentation", "GET http://h/a\r\n  GET http://h/b  \r\nPUT http://h:80/c\r\n@dir/x\r\n", []Target{
			{Name: "GET /a", Method: "GET", URL: "http://h/a", Weight: 1, Line: 1},
			{Name: "GET /b", Method: "GET", URL: "http://h/b", Weight: 1, Line: 2},
			{Name: "PUT /c", Method: "PUT", URL: "http://h:80/c", Body: []byte("x\r\n"), Weight: 1, Line: 3},
		}},
		{"weight and name before, within, and across a blank line", `# weight 3
# name  the home page
GET http://h/

GET http://h/b
# weight 2
X-A: 1
# just a comment
# name b

# name c

POST http://h/c
@b.json
`, []Target{
			{Name: "the home page", Method: "GET", URL: "http://h/", Weight: 3, Line: 3},
			{Name: "b", Method: "GET", URL: "http://h/b", Header: hdr("X-A", "1"), Weight: 2, Line: 5},
			{Name: "c", Method: "POST", URL: "http://h/c", Body: []byte(`{"a":1}`), Weight: 1, Line: 13},
		}},
		{"header values keep colons and case", "GET https://H:443/p\nx-lower: a:b:c\n", []Target{
			{Name: "GET /p", Method: "GET", URL: "https://H:443/p", Header: hdr("x-lower", "a:b:c"), Weight: 1, Line: 1},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseHTTP("t.txt", []byte(tc.in), mapBodies(bodies))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestParseHTTPErrors(t *testing.T) {
	for _, tc := range []struct {
		in   string
		line int
		want string
	}{
		{"", 0, "no targets"},
		{"# only a comment\n\n", 0, "no targets"},
		{"get http://h/\n", 1, "not a 'METHOD URL' line"},
		{"GET http://h/ HTTP/1.1\n", 1, "not a 'METHOD URL' line"},
		{"GET /relative\n", 1, "scheme must be http or https"},
		{"GET ftp://h/\n", 1, "scheme must be http or https"},
		{"GET http://u:p@h/\n", 1, "credentials"},
		{"GET http://h/\nnocolon\n", 2, "not a header line"},
		{"GET http://h/\nX-Empty:\n", 2, "not a header line"},
		{"GET http://h/\nBad Name: v\n", 2, "not a valid header name"},
		{"POST http://h/\n@\n", 2, "names no file"},
		{"POST http://h/\n@missing\n", 2, "body @missing"},
		{"POST http://h/\n@b\nX-Late: 1\n", 3, "follows the target's @body line"},
		{"@b\n", 1, "not a 'METHOD URL' line"},
		{"# weight 0\nGET http://h/\n", 1, "between 1 and 1000"},
		{"# weight many\nGET http://h/\n", 1, "whole number"},
		{"GET http://h/\n# weight 2\n# weight 3\n", 3, "a second # weight"},
		{"GET http://h/\n# name\n", 2, "without a label"},
		{"GET http://h/\n\n# weight 2\n", 3, "no target after it"},
		{"GET http://h:8080/a\n\nGET http://h:8081/b\n", 3, "must share scheme, host and port"},
		{"GET http://h/a\n\nGET https://h/b\n", 3, "must share scheme, host and port"},
		{"GET http://a/x\n\nGET http://b/x\n", 3, "line 1"},
	} {
		_, err := ParseHTTP("t.txt", []byte(tc.in), mapBodies(map[string][]byte{"b": []byte("B")}))
		var te *Error
		if !errors.As(err, &te) || te.Line != tc.line || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error at line %d saying %q", tc.in, err, tc.line, tc.want)
			continue
		}
		if msg := err.Error(); strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "t.txt") {
			t.Errorf("%q: %q is not one line starting with the file", tc.in, msg)
		}
	}
}

func TestParseJSON(t *testing.T) {
	in := `{"method":"GET","url":"http://h:8080/a","header":{"X-B":["2","3"],"X-A":["1"]}}

{"name":"make","method":"POST","url":"http://h:8080/b","body":"aGVsbG8=","weight":3}
`
	got, err := ParseJSON("t.jsonl", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Target{
		{Name: "GET /a", Method: "GET", URL: "http://h:8080/a", Header: hdr("X-A", "1", "X-B", "2", "X-B", "3"), Weight: 1, Line: 1},
		{Name: "make", Method: "POST", URL: "http://h:8080/b", Body: []byte("hello"), Weight: 3, Line: 3},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	for _, tc := range []struct {
		in   string
		line int
		want string
	}{
		{`{"method":"GET"}`, 1, `no "url"`},
		{`{"url":"http://h/"}`, 1, `no "method"`},
		{`{"method":"GET","url":"http://h/","extra":1}`, 1, "unknown field"},
		{`{"method":"GET","url":"http://h/"} {}`, 1, "more than one value"},
		{`{"method":"G T","url":"http://h/"}`, 1, "not an HTTP method"},
		{`{"method":"GET","url":"http://h/","weight":0}`, 1, "between 1 and 1000"},
		{`{"method":"GET","url":"http://h/","body":"!!"}`, 1, "not a target object"},
		{"{\"method\":\"GET\",\"url\":\"http://h/\",\"header\":{\"X\":[\"a\\nb\"]}}", 1, "line break"},
		{"{\"method\":\"GET\",\"url\":\"http://h/\"}\n[1]", 2, "not a target object"},
		{"{\"method\":\"GET\",\"url\":\"http://h/\"}\n{\"method\":\"GET\",\"url\":\"http://h:81/\"}", 2, "must share"},
	} {
		_, err := ParseJSON("t.jsonl", []byte(tc.in))
		var te *Error
		if !errors.As(err, &te) || te.Line != tc.line || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error at line %d saying %q", tc.in, err, tc.line, tc.want)
		}
	}
}

// TestReadFile: the format is detected, bodies are read relative to the
// file, and the bounds hold.
func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("bodies/one.json", []byte(`{"n":1}`))
	httpFile := write("plan/../t.txt", []byte("POST http://127.0.0.1:1/x\n@bodies/one.json\n"))
	ts, err := ReadFile(httpFile, Auto)
	if err != nil || len(ts) != 1 || string(ts[0].Body) != `{"n":1}` {
		t.Fatalf("http file: %+v, %v", ts, err)
	}
	jsonFile := write("t.jsonl", []byte("  \n {\"method\":\"GET\",\"url\":\"http://127.0.0.1:1/\"}\n"))
	if ts, err := ReadFile(jsonFile, Auto); err != nil || len(ts) != 1 || ts[0].Line != 2 {
		t.Fatalf("json file detected: %+v, %v", ts, err)
	}
	if _, err := ReadFile(jsonFile, HTTP); err == nil {
		t.Fatal("a json file read as http must fail")
	}
	if _, err := ReadFile(filepath.Join(dir, "missing"), Auto); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("missing file: %v", err)
	}
	big := write("big.txt", bytes.Repeat([]byte("#\n"), MaxFileBytes/2+1))
	if _, err := ReadFile(big, Auto); err == nil || !strings.Contains(err.Error(), "larger than 16 MiB") || !strings.HasPrefix(err.Error(), big) {
		t.Fatalf("big file: %v", err)
	}
	write("huge.bin", make([]byte, MaxBodyBytes+1))
	hugeRef := write("huge.txt", []byte("POST http://127.0.0.1:1/x\n@huge.bin\n"))
	if _, err := ReadFile(hugeRef, Auto); err == nil || !strings.Contains(err.Error(), "huge.txt line 2: body @huge.bin") || !strings.Contains(err.Error(), "larger than 16 MiB") {
		t.Fatalf("huge body: %v", err)
	}
}

// sortedHeaders is t with its headers in the order the json format keeps:
// by name, each name's values in order.
func sortedHeaders(ts []Target) []Target {
	out := slices.Clone(ts)
	for i := range out {
		out[i].Header = slices.Clone(out[i].Header)
		slices.SortStableFunc(out[i].Header, func(a, b loadgen.Header) int { return strings.Compare(a.Name, b.Name) })
		out[i].Line = 0
		if len(out[i].Body) == 0 {
			out[i].Body = nil
		}
		if len(out[i].Header) == 0 {
			out[i].Header = nil
		}
	}
	return out
}

// roundTrip writes ts as json and reads it back.
func roundTrip(t *testing.T, ts []Target) []Target {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteJSON(&buf, ts); err != nil {
		t.Fatal(err)
	}
	back, err := ParseJSON("rt", buf.Bytes())
	if err != nil {
		t.Fatalf("reading back what WriteJSON wrote: %v\n%s", err, buf.Bytes())
	}
	return back
}

func TestWriteJSONRoundTrip(t *testing.T) {
	ts, err := ParseHTTP("t", []byte("# weight 3\n# name <script>\nPUT http://h/a\nX-B: 1\nX-A: 2\n@b\n\nGET http://h/\n"), mapBodies(map[string][]byte{"b": {0, 1, 2, 0xff}}))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sortedHeaders(roundTrip(t, ts)), sortedHeaders(ts); !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip\n got  %+v\n want %+v", got, want)
	}
}

func FuzzParseHTTP(f *testing.F) {
	f.Add([]byte("GET http://h:8080/a\nX-A: 1\n\n# weight 2\nPOST http://h:8080/b\n@b\n"))
	f.Add([]byte("# name x\n# weight 1000\nDELETE https://h/\n"))
	f.Add([]byte("GET http://h/\n\nGET http://h:81/\n"))
	f.Add([]byte("\ufeffGET http://[::1]:80/%zz\n"))
	bodies := mapBodies(map[string][]byte{"b": []byte("body\x00")})
	f.Fuzz(func(t *testing.T, data []byte) {
		ts, err := ParseHTTP("f", data, bodies)
		if err != nil {
			var te *Error
			if !errors.As(err, &te) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q is not a one-line *Error", err)
			}
			return
		}
		for _, tg := range ts {
			if tg.Weight < 1 || tg.Weight > MaxWeight || tg.Name == "" || tg.Line < 1 || checkURL(tg.URL) != nil || !validToken(tg.Method) {
				t.Fatalf("invalid target %+v", tg)
			}
		}
		// What was read survives the json format unchanged.
		if got, want := sortedHeaders(roundTrip(t, ts)), sortedHeaders(ts); !reflect.DeepEqual(got, want) {
			t.Fatalf("round trip\n got  %+v\n want %+v", got, want)
		}
	})
}

func FuzzParseJSON(f *testing.F) {
	f.Add([]byte(`{"method":"GET","url":"http://h:8080/a","header":{"X":["1","2"]},"body":"aGk=","weight":2,"name":"n"}`))
	f.Add([]byte("{\"method\":\"GET\",\"url\":\"http://h/\"}\n\n{\"method\":\"PUT\",\"url\":\"http://h:80/\"}"))
	f.Add([]byte(`{"method":"GET","url":"http://h/","weight":-1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ts, err := ParseJSON("f", data)
		if err != nil {
			var te *Error
			if !errors.As(err, &te) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q is not a one-line *Error", err)
			}
			return
		}
		if got, want := sortedHeaders(roundTrip(t, ts)), sortedHeaders(ts); !reflect.DeepEqual(got, want) {
			t.Fatalf("round trip\n got  %+v\n want %+v", got, want)
		}
	})
}
