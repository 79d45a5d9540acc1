package loadgen

import (
	"bytes"
	"strings"
	"testing"
)

// autoResponse builds a response as the transport hands it to an auto
// identity: the autoHeaders in order, nil where absent.
func autoResponse(status int, body string, headers map[string]string) *Response {
	res := &Response{Status: status, Body: []byte(body)}
	for _, name := range autoHeaders {
		var v []byte
		if s, ok := headers[name]; ok {
			v = []byte(s)
		}
		res.Header = append(res.Header, v)
	}
	return res
}

func TestAutoRules(t *testing.T) {
	whoami := "Hostname: web-5f7c-k2x9p\nIP: 127.0.0.1\nIP: ::1\nIP: 10.244.1.7\nRemoteAddr: 10.244.0.1:51234\nGET / HTTP/1.1\nHost: web\nHostname: not-this-one\n"
	tests := []struct {
		name    string
		body    string
		headers map[string]string
		rule    string // "" when nothing names a pod
		want    PodIdentity
	}{
		{name: "line", body: "testapp-1 >> 10.0.0.1 >> v1\n", rule: "line", want: PodIdentity{"testapp-1", "10.0.0.1", "v1"}},
		{name: "line before a header", body: "testapp-1 >> 10.0.0.1 >> v1", headers: map[string]string{"X-Pod": "other"},
			rule: "line", want: PodIdentity{"testapp-1", "10.0.0.1", "v1"}},
		{name: "X-Pod-Name with X-Version", body: "ok", headers: map[string]string{"X-Pod-Name": " web-1 ", "X-Version": "2.0"},
			rule: "header:X-Pod-Name", want: PodIdentity{Pod: "web-1", Version: "2.0"}},
		{name: "X-Pod-Name before X-Hostname", headers: map[string]string{"X-Hostname": "h", "X-Pod-Name": "p"},
			rule: "header:X-Pod-Name", want: PodIdentity{Pod: "p"}},
		{name: "X-Pod", headers: map[string]string{"X-Pod": "p"}, rule: "header:X-Pod", want: PodIdentity{Pod: "p"}},
		{name: "X-Hostname", headers: map[string]string{"X-Hostname": "h"}, rule: "header:X-Hostname", want: PodIdentity{Pod: "h"}},
		{name: "X-Served-By with X-App-Version", headers: map[string]string{"X-Served-By": "web-2", "X-App-Version": "v9"},
			rule: "header:X-Served-By", want: PodIdentity{Pod: "web-2", Version: "v9"}},
		{name: "X-Version before X-App-Version", headers: map[string]string{"X-Served-By": "web-2", "X-Version": "a", "X-App-Version": "b"},
			rule: "header:X-Served-By", want: PodIdentity{Pod: "web-2", Version: "a"}},
		{name: "X-Backend-Server", headers: map[string]string{"X-Backend-Server": "b"}, rule: "header:X-Backend-Server", want: PodIdentity{Pod: "b"}},
		{name: "X-Server-Hostname", headers: map[string]string{"X-Server-Hostname": "s"}, rule: "header:X-Server-Hostname", want: PodIdentity{Pod: "s"}},
		{name: "blank header is none", headers: map[string]string{"X-Pod": "  "}, rule: ""},
		{name: "header with a control character is none", headers: map[string]string{"X-Pod": "a\x01b"}, rule: ""},
		{name: "header before JSON", body: `{"hostname":"j"}`, headers: map[string]string{"X-Hostname": "h"},
			rule: "header:X-Hostname", want: PodIdentity{Pod: "h"}},
		{name: "json hostname", body: `{"hostname":"web-7d9f-abc","version":"1.2.0"}`,
			rule: "json:hostname", want: PodIdentity{Pod: "web-7d9f-abc", Version: "1.2.0"}},
		{name: "json podName with ip and appVersion", body: `{"podName":"p-1","podIP":"10.1.1.1","appVersion":"3"}`,
			rule: "json:podName", want: PodIdentity{"p-1", "10.1.1.1", "3"}},
		{name: "json hostname before host", body: `{"host":"h","hostname":"hn"}`, rule: "json:hostname", want: PodIdentity{Pod: "hn"}},
		{name: "json pod_name, numeric version", body: `{"pod_name":"p","version":2}`, rule: "json:pod_name", want: PodIdentity{Pod: "p", Version: "2"}},
		{name: "json host", body: `{"host":"h","ip":"1.2.3.4"}`, rule: "json:host", want: PodIdentity{Pod: "h", IP: "1.2.3.4"}},
		{name: "json escaped pod", body: `{"pod":"web-\u0031"}`, rule: "json:pod", want: PodIdentity{Pod: "web-1"}},
		{name: "json pod with a newline is none", body: `{"pod":"a\nb"}`, rule: ""},
		{name: "json nested only", body: `{"meta":{"hostname":"x"}}`, rule: ""},
		{name: "json invalid", body: `{"hostname":"x",}`, rule: ""},
		{name: "json cut at the window", body: `{"hostname":"big","data":"` + strings.Repeat("x", MaxIdentityBytes),
			rule: "json:hostname", want: PodIdentity{Pod: "big"}},
		{name: "json cut short of the window", body: `{"hostname":"x","data":"`, rule: ""},
		{name: "whoami", body: whoami, rule: "text:Hostname", want: PodIdentity{Pod: "web-5f7c-k2x9p", IP: "10.244.1.7"}},
		{name: "whoami CRLF lower case", body: "hostname:  web-1\r\nip: 10.0.0.5\r\n", rule: "text:Hostname", want: PodIdentity{Pod: "web-1", IP: "10.0.0.5"}},
		{name: "hostname mid-line is none", body: "the Hostname: x", rule: ""},
		{name: "nothing", body: "OK", rule: ""},
		{name: "empty", rule: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a autoState
			var s autoScan
			s.reset(autoResponse(200, tt.body, tt.headers))
			r, f := a.detect(&s, 200, false)
			name := ""
			if r >= 0 {
				name = autoRules[r].name
			}
			if name != tt.rule {
				t.Fatalf("rule %q, want %q", name, tt.rule)
			}
			if r >= 0 && f.identity() != tt.want {
				t.Fatalf("identity %+v, want %+v", f.identity(), tt.want)
			}
			// Parse, which has no headers, agrees wherever the body decides.
			if tt.headers == nil {
				id, _ := ParseIdentity("auto")
				got, ok := id.Parse([]byte(tt.body), nil)
				if ok != (tt.rule != "") || got != tt.want {
					t.Fatalf("Parse = %+v, %v; want %+v", got, ok, tt.want)
				}
			}
		})
	}
}

func TestAutoSettles(t *testing.T) {
	type resp struct {
		status  int
		body    string
		headers map[string]string
	}
	ok := func(body string) resp { return resp{status: 200, body: body} }
	hdr := func(name, v string) resp { return resp{status: 200, headers: map[string]string{name: v}} }
	js := ok(`{"hostname":"a"}`)
	tests := []struct {
		name    string
		seq     []resp
		settled string // "" when still detecting
		rule    string // ruleName at the end
	}{
		{name: "three in a row settle", seq: []resp{js, js, js}, settled: "json:hostname", rule: "json:hostname"},
		{name: "two are not enough; ruleName falls back to the most used", seq: []resp{js, js}, rule: "json:hostname"},
		{name: "a response without breaks the streak", seq: []resp{js, js, ok("x"), js, js}, rule: "json:hostname"},
		{name: "error responses neither count nor break",
			seq: []resp{js, {status: 503, body: "starting"}, js, {status: 502}, js}, settled: "json:hostname", rule: "json:hostname"},
		{name: "error responses alone never settle",
			seq: []resp{{status: 500, body: `{"hostname":"a"}`}, {status: 500, body: `{"hostname":"a"}`}, {status: 500, body: `{"hostname":"a"}`}}, rule: "json:hostname"},
		{name: "the earlier rule wins a tie", seq: []resp{
			{status: 200, body: `{"hostname":"a"}`, headers: map[string]string{"X-Served-By": "b"}},
			{status: 200, body: `{"hostname":"a"}`, headers: map[string]string{"X-Served-By": "b"}},
			{status: 200, body: `{"hostname":"a"}`, headers: map[string]string{"X-Served-By": "b"}},
		}, settled: "header:X-Served-By", rule: "header:X-Served-By"},
		{name: "the first to be consistent wins", seq: []resp{
			js, hdr("X-Pod", "p"), // the header comes and goes
			{status: 200, body: `{"hostname":"a"}`, headers: map[string]string{"X-Pod": "p"}},
			js, js,
		}, settled: "json:hostname", rule: "json:hostname"},
		{name: "every rule counts, not only the first that names a pod", seq: []resp{
			{status: 200, body: `{"hostname":"a"}`, headers: map[string]string{"X-Pod": "p"}},
			{status: 200, body: `{"hostname":"a"}`, headers: map[string]string{"X-Pod": "p"}},
			js,
		}, settled: "json:hostname", rule: "json:hostname"},
		{name: "nothing", seq: []resp{ok("a"), ok("b"), ok("c"), ok("d")}, rule: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a autoState
			var s autoScan
			for _, r := range tt.seq {
				res := autoResponse(r.status, r.body, r.headers)
				s.reset(res)
				a.detect(&s, r.status, true)
			}
			settled := ""
			if r := a.settled(); r >= 0 {
				settled = autoRules[r].name
			}
			if settled != tt.settled || a.ruleName() != tt.rule {
				t.Fatalf("settled %q, ruleName %q; want %q, %q", settled, a.ruleName(), tt.settled, tt.rule)
			}
		})
	}
}

func TestScanHostnameLines(t *testing.T) {
	tests := []struct {
		in       string
		host, ip string
		ok       bool
	}{
		{in: "Hostname: a\nIP: 10.0.0.1\n", host: "a", ip: "10.0.0.1", ok: true},
		{in: "IP: 127.0.0.1\nIP: ::1\nIP: 10.0.0.2\nHostname: b", host: "b", ip: "10.0.0.2", ok: true},
		{in: "HOSTNAME:c\r\n", host: "c", ok: true},
		{in: "Hostname: first\nHostname: second\n", host: "first", ok: true},
		{in: "Hostname:\nHostname: late\n", host: "late", ok: true},
		{in: "Hostname: a\x7fb\n", ok: false},
		{in: " Hostname: indented\n", ok: false},
		{in: "Hostnames: x\n", ok: false},
		{in: "IP: 10.0.0.1\n", ip: "10.0.0.1", ok: false},
		{in: "", ok: false},
	}
	for _, tt := range tests {
		host, ip, ok := scanHostnameLines([]byte(tt.in))
		if string(host) != tt.host || string(ip) != tt.ip || ok != tt.ok {
			t.Errorf("scanHostnameLines(%q) = %q, %q, %v; want %q, %q, %v", tt.in, host, ip, ok, tt.host, tt.ip, tt.ok)
		}
	}
}

// hostnameLinesOracle is scanHostnameLines written the plain way, with
// strings and allocations, for FuzzScanHostnameLines to compare against.
func hostnameLinesOracle(s string) (host, ip string, ok bool) {
	if len(s) > MaxIdentityBytes {
		s = s[:MaxIdentityBytes]
	}
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSuffix(line, "\r")
		k, v, found := strings.Cut(line, ":")
		if !found {
			continue
		}
		v = strings.TrimSpace(v)
		valid := v != "" && printable([]byte(v))
		switch strings.ToLower(k) {
		case "hostname":
			if !ok && valid {
				host, ok = v, true
			}
		case "ip":
			if ip == "" && valid && !strings.HasPrefix(v, "127.") && v != "::1" {
				ip = v
			}
		}
	}
	return host, ip, ok
}

func FuzzScanHostnameLines(f *testing.F) {
	for _, s := range []string{"Hostname: a\nIP: 127.0.0.1\nIP: 10.0.0.1\n", "hostname:\r\nHostname: b\r\n", "IP:\nip: ::1\nIP: fe80::1", "HoStNaMe: \t x \t", "\x00Hostname: a", "Hostname: " + strings.Repeat("x", 300)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		host, ip, ok := scanHostnameLines(b)
		wh, wip, wok := hostnameLinesOracle(string(b))
		if string(host) != wh || string(ip) != wip || ok != wok {
			t.Fatalf("scanHostnameLines(%q) = %q, %q, %v; the plain way %q, %q, %v", b, host, ip, ok, wh, wip, wok)
		}
		if ok && (bytes.ContainsAny(host, "\r\n") || len(bytes.TrimSpace(host)) != len(host)) {
			t.Fatalf("host %q of %q is not one trimmed line", host, b)
		}
	})
}
