package loadgen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func allJSONKeys() []string {
	var keys []string
	keys = append(keys, jsonPodKeys[:]...)
	keys = append(keys, jsonVersionKeys[:]...)
	return append(keys, jsonIPKeys[:]...)
}

// decodedFields is what scanJSONObject found, decoded: key → value.
func decodedFields(f *jsonFields) map[string]string {
	out := map[string]string{}
	for k, name := range allJSONKeys() {
		if !f.set[k] {
			continue
		}
		v := f.val[k]
		if f.esc[k] {
			v = appendJSONUnquoted(nil, v)
		}
		out[name] = string(v)
	}
	return out
}

func TestScanJSONObject(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want jsonStatus
		got  map[string]string
	}{
		{name: "podinfo-like", in: `{"hostname":"web-7d9f-abc","version":"1.2.0","revision":"x"}`,
			want: jsonOK, got: map[string]string{"hostname": "web-7d9f-abc", "version": "1.2.0"}},
		{name: "whitespace and every key", in: " \n{ \"pod\" : \"p\" ,\t\"podName\":\"pn\",\"pod_name\":\"pn2\",\"host\":\"h\",\"appVersion\":\"2\",\"app_version\":\"3\",\"ip\":\"10.0.0.1\",\"podIP\":\"10.0.0.2\",\"pod_ip\":\"10.0.0.3\"}\r\n",
			want: jsonOK, got: map[string]string{"pod": "p", "podName": "pn", "pod_name": "pn2", "host": "h", "appVersion": "2", "app_version": "3", "ip": "10.0.0.1", "podIP": "10.0.0.2", "pod_ip": "10.0.0.3"}},
		{name: "escapes in value", in: `{"hostname":"web-\"a\"\\b\u0031\/\ud83d\ude00"}`,
			want: jsonOK, got: map[string]string{"hostname": "web-\"a\"\\b1/\U0001F600"}},
		{name: "escaped key", in: `{"host\u006eame":"web-1"}`, want: jsonOK, got: map[string]string{"hostname": "web-1"}},
		{name: "key case matters", in: `{"Hostname":"web-1"}`, want: jsonOK, got: map[string]string{}},
		{name: "nested fields are not the pod's", in: `{"data":{"hostname":"inner","a":[1,{"pod":"x"}]},"pod":"outer"}`,
			want: jsonOK, got: map[string]string{"pod": "outer"}},
		{name: "last duplicate wins", in: `{"hostname":"a","hostname":"b"}`, want: jsonOK, got: map[string]string{"hostname": "b"}},
		{name: "a later non-string clears", in: `{"hostname":"a","hostname":5}`, want: jsonOK, got: map[string]string{}},
		{name: "numeric version", in: `{"hostname":"a","version":2.1e3}`, want: jsonOK, got: map[string]string{"hostname": "a", "version": "2.1e3"}},
		{name: "numeric pod is no pod", in: `{"pod":12}`, want: jsonOK, got: map[string]string{}},
		{name: "literals and empty containers", in: `{"a":true,"b":false,"c":null,"d":{},"e":[],"pod":"p"}`, want: jsonOK, got: map[string]string{"pod": "p"}},
		{name: "empty object", in: `{}`, want: jsonOK, got: map[string]string{}},
		{name: "array at the top", in: `[{"hostname":"a"}]`, want: jsonBad},
		{name: "string at the top", in: `"hostname"`, want: jsonBad},
		{name: "text", in: "Hostname: web-1\n", want: jsonBad},
		{name: "trailing garbage", in: `{"pod":"a"}x`, want: jsonBad},
		{name: "trailing comma", in: `{"pod":"a",}`, want: jsonBad},
		{name: "single quotes", in: `{'pod':'a'}`, want: jsonBad},
		{name: "bad escape", in: `{"pod":"a\x"}`, want: jsonBad},
		{name: "short unicode escape", in: `{"pod":"\u12G4"}`, want: jsonBad},
		{name: "control character in string", in: "{\"pod\":\"a\nb\"}", want: jsonBad},
		{name: "leading zero", in: `{"v":01}`, want: jsonBad},
		{name: "bare minus", in: `{"v":-}`, want: jsonBad},
		{name: "mismatched close", in: `{"a":[1}`, want: jsonBad},
		{name: "cut inside", in: `{"hostname":"web-1","versi`, want: jsonShort, got: map[string]string{"hostname": "web-1"}},
		{name: "cut inside a value", in: `{"hostname":"web-1","version":"1.`, want: jsonShort, got: map[string]string{"hostname": "web-1"}},
		{name: "cut inside a number", in: `{"hostname":"web-1","version":12`, want: jsonShort, got: map[string]string{"hostname": "web-1"}},
		{name: "empty", in: "", want: jsonShort, got: map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f jsonFields
			st := scanJSONObject([]byte(tt.in), &f)
			if st != tt.want {
				t.Fatalf("status %d, want %d", st, tt.want)
			}
			if tt.got == nil {
				return
			}
			got := decodedFields(&f)
			if len(got) != len(tt.got) {
				t.Fatalf("fields %q, want %q", got, tt.got)
			}
			for k, v := range tt.got {
				if got[k] != v {
					t.Fatalf("fields %q, want %q", got, tt.got)
				}
			}
		})
	}
}

// FuzzScanJSONObject holds the scanner to encoding/json: it accepts
// exactly the texts json.Valid accepts whose top level is an object, and
// every field it reports is what json.Unmarshal decodes for that key (the
// last duplicate winning).
func FuzzScanJSONObject(f *testing.F) {
	for _, s := range []string{
		`{"hostname":"web-7d9f-abc","version":"1.2.0"}`,
		`{"host\u006eame":"a\ud83d\ude00\ud800x","pod":"\"","version":1e5,"ip":"\/"}`,
		`{"a":[{"pod":"x"},[],{}],"pod_name":"p","podIP":null}`,
		`{"hostname":"a","hostname":{"x":1}}`,
		"{\"pod\":\"\xff\xfe\"}",
		`{"v":-0.5E+2}`, `[1]`, `{"a":01}`, ` {} `, `{"a":"b"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) >= MaxIdentityBytes {
			return // the scanner looks at a prefix; the oracle would not
		}
		var fields jsonFields
		st := scanJSONObject(b, &fields)
		var m map[string]any
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		err := d.Decode(&m)
		valid := json.Valid(b)
		isObject := valid && err == nil && m != nil
		if (st == jsonOK) != isObject {
			t.Fatalf("scan of %q: status %d; json.Valid %v, decode into an object: %v", b, st, valid, err)
		}
		if st != jsonOK {
			return
		}
		got := decodedFields(&fields)
		for k, name := range allJSONKeys() {
			want, isString := "", false
			switch v := m[name].(type) {
			case string:
				want, isString = v, true
			case json.Number:
				if k >= jsonVersionAt && k < jsonIPAt {
					want, isString = string(v), true
				}
			}
			g, ok := got[name]
			if ok != isString || g != want {
				t.Fatalf("scan of %q: %s = %q (set %v); encoding/json: %#v", b, name, g, ok, m[name])
			}
		}
	})
}

// FuzzJSONUnquote: decoding a string's contents agrees with encoding/json
// for every string json accepts, escapes, surrogates and invalid UTF-8
// included.
func FuzzJSONUnquote(f *testing.F) {
	for _, s := range []string{`a`, `\"\\\/\b\f\n\r\t`, `\u0041\u00e9\u4e16`, `\ud83d\ude00`, `\ud800`, `\ud800\u0041`, `\udc00\ud800`, "\xff", "\xed\xa0\x80", `é`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		quoted := []byte(`"` + raw + `"`)
		end, _, st := scanString(quoted, 0)
		var want string
		err := json.Unmarshal(quoted, &want)
		if (st == jsonOK && end == len(quoted)) != (err == nil) {
			t.Fatalf("scanString(%q) = %d, %d; encoding/json: %v", quoted, end, st, err)
		}
		if err != nil {
			return
		}
		if got := string(appendJSONUnquoted(nil, []byte(raw))); got != want {
			t.Fatalf("unquote %q = %q, encoding/json %q", raw, got, want)
		}
	})
}

func TestJSONKeyIndexEscapedLongKey(t *testing.T) {
	// Every byte of "app_version" escaped is 66 bytes: still found.
	var esc strings.Builder
	for _, c := range "app_version" {
		fmt.Fprintf(&esc, `\u%04x`, c)
	}
	if i := jsonKeyIndex([]byte(esc.String()), true); i != jsonVersionAt+2 {
		t.Fatalf("jsonKeyIndex(%s) = %d, want %d", esc.String(), i, jsonVersionAt+2)
	}
}
