package loadgen

import (
	"strings"
	"testing"
)

func TestParseIdentitySpec(t *testing.T) {
	tests := []struct {
		spec    string
		wantErr string
		str     string
		headers bool
	}{
		{spec: "", str: "line"},
		{spec: "line", str: "line"},
		{spec: "seed", str: "line"},
		{spec: "none", str: "none"},
		{spec: "auto", str: "auto"},
		{spec: "header:X-Pod", str: "header:X-Pod", headers: true},
		{spec: "header:x-pod,x-version", str: "header:x-pod,x-version", headers: true},
		{spec: "header:", wantErr: "valid header names"},
		{spec: "header:bad name", wantErr: "valid header names"},
		{spec: "regex:(?P<pod>\\w+)", str: "regex:(?P<pod>\\w+)"},
		{spec: "regex:(\\w+)", wantErr: "no named group for the pod"},
		{spec: "regex:(?P<pod>", wantErr: "regex identity"},
		{spec: "json:pod", wantErr: "unknown identity"},
	}
	for _, tt := range tests {
		id, err := ParseIdentity(tt.spec)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseIdentity(%q) error = %v, want it to contain %q", tt.spec, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseIdentity(%q): %v", tt.spec, err)
			continue
		}
		if id.String() != tt.str || id.FromHeaders() != tt.headers {
			t.Errorf("ParseIdentity(%q) = %q headers=%v, want %q headers=%v", tt.spec, id, id.FromHeaders(), tt.str, tt.headers)
		}
	}
}

func TestIdentityParse(t *testing.T) {
	line, _ := ParseIdentity("line")
	hdr, _ := ParseIdentity("header:X-Pod,X-Version")
	re, _ := ParseIdentity(`regex:pod=(?P<pod>[a-z0-9-]+) v=(?P<version>\S+)`)
	none, _ := ParseIdentity("none")
	tests := []struct {
		name string
		id   *Identity
		in   string
		ver  string
		want PodIdentity
		ok   bool
	}{
		{name: "line payload", id: line, in: "testapp-6d4f-x2 >> 10.244.0.7 >> v1", want: PodIdentity{"testapp-6d4f-x2", "10.244.0.7", "v1"}, ok: true},
		{name: "line uid and spaces", id: line, in: "  0f9c1e2a-1b2c >>10.1.2.3>>   V5\n", want: PodIdentity{"0f9c1e2a-1b2c", "10.1.2.3", "V5"}, ok: true},
		{name: "line null env like the Java app", id: line, in: "null >> null >> V0", want: PodIdentity{"null", "null", "V0"}, ok: true},
		{name: "line empty pod", id: line, in: " >> 10.0.0.1 >> v1", ok: false},
		{name: "line two fields", id: line, in: "a >> b", ok: false},
		{name: "line four fields", id: line, in: "a >> b >> c >> d", ok: false},
		{name: "line html page", id: line, in: "<html>\n a >> b >> c</html>", ok: false},
		{name: "line empty", id: line, in: "", ok: false},
		{name: "header", id: hdr, in: " pod-1 ", ver: "v2", want: PodIdentity{Pod: "pod-1", Version: "v2"}, ok: true},
		{name: "header missing", id: hdr, in: "", ok: false},
		{name: "regex", id: re, in: "hello pod=web-1 v=2.0.1 bye", want: PodIdentity{Pod: "web-1", Version: "2.0.1"}, ok: true},
		{name: "regex no match", id: re, in: "nothing", ok: false},
		{name: "none", id: none, in: "a >> b >> c", ok: false},
	}
	for _, tt := range tests {
		got, ok := tt.id.Parse([]byte(tt.in), []byte(tt.ver))
		if ok != tt.ok || got != tt.want {
			t.Errorf("%s: Parse(%q) = %+v, %v; want %+v, %v", tt.name, tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestIdentityParseBoundedPrefix(t *testing.T) {
	re, _ := ParseIdentity(`regex:pod=(?P<pod>\w+)`)
	body := strings.Repeat("x", MaxIdentityBytes) + "pod=late"
	if got, ok := re.Parse([]byte(body), nil); ok {
		t.Fatalf("identity beyond the first %d bytes was read: %+v", MaxIdentityBytes, got)
	}
}

func FuzzPodLine(f *testing.F) {
	for _, s := range []string{"a >> b >> c", "testapp-1 >> 10.0.0.1 >> v1", ">>>>", " >> >> ", "a>>b>>c>>d", "\x00 >> \n >> x"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, ok := parsePodLine(b)
		if !ok {
			return
		}
		if p.Pod == "" {
			t.Fatalf("accepted an empty pod from %q", b)
		}
		for _, field := range []string{p.Pod, p.IP, p.Version} {
			if strings.ContainsAny(field, "\r\n\x00") || strings.Contains(field, ">>") && field != p.IP {
				t.Fatalf("field %q of %q holds a separator or control character", field, b)
			}
		}
		// Re-rendering the identity as a POD >> IP >> VERSION line must parse back to itself.
		again, ok := parsePodLine([]byte(p.Pod + " >> " + p.IP + " >> " + p.Version))
		if !ok || again != p {
			t.Fatalf("round trip of %+v gave %+v, %v", p, again, ok)
		}
	})
}

func FuzzParseIdentitySpec(f *testing.F) {
	for _, s := range []string{"auto", "line", "seed", "none", "header:X-Pod", "header:a,b", "regex:(?P<pod>.*)", "regex:(", "x:y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		id, err := ParseIdentity(spec)
		if err != nil {
			if id != nil {
				t.Fatalf("ParseIdentity(%q) returned both an identity and an error", spec)
			}
			return
		}
		// Whatever was accepted must parse any input without panicking.
		id.Parse([]byte(spec), []byte(spec))
		_ = id.String()
	})
}
