package loadgen

import (
	"bytes"
	"fmt"
	"net/textproto"
	"regexp"
	"strings"
)

// MaxIdentityBytes bounds how much of a response body identity parsing looks
// at: a pod's identity is expected near the start, and a huge body must not
// cost a huge scan.
const MaxIdentityBytes = 4096

// PodIdentity is who answered a response.
type PodIdentity struct {
	Pod     string // pod name or ID, e.g. metadata.uid from the downward API
	IP      string // pod IP, when the payload carries it
	Version string // application version
}

// Identity extracts a PodIdentity from responses.
//
// The zero Identity extracts nothing. Identity values are immutable and
// safe for concurrent use.
type Identity struct {
	spec          string
	header        string // canonical header name holding the pod, for header identities
	versionHeader string
	re            *regexp.Regexp // for regex identities
	pod, ip, ver  int            // submatch indexes in re, -1 when absent
	line          bool           // the POD >> IP >> VERSION line
	auto          bool           // the first of autoRules that names pods; see autoState
}

// ParseIdentity parses an --identity value:
//
//	auto                      the first rule that names a pod on AutoSettleAfter
//	                          consecutive 2xx responses: the line below, then the
//	                          headers X-Pod-Name, X-Pod, X-Hostname, X-Served-By,
//	                          X-Backend-Server, X-Server-Hostname, then a JSON
//	                          body's hostname, pod, podName, pod_name or host, then
//	                          a "Hostname: NAME" text line (see autoRules)
//	line                      a body that is the line "POD >> IP >> VERSION" (the
//	                          default of Config); "seed", its first name, is still
//	                          accepted
//	header:NAME               the pod is the value of response header NAME
//	header:NAME,VERSIONNAME   ... and the version the value of header VERSIONNAME
//	regex:EXPR                a regular expression over the body's first 4 KiB with
//	                          named groups pod (required), version and ip (optional)
//	none                      do not attribute responses to pods
func ParseIdentity(spec string) (*Identity, error) {
	kind, arg, hasArg := strings.Cut(spec, ":")
	switch {
	case spec == "" || spec == "line" || spec == "seed":
		return &Identity{spec: "line", line: true}, nil
	case spec == "none":
		return &Identity{spec: "none"}, nil
	case spec == "auto":
		return &Identity{spec: "auto", auto: true}, nil
	case kind == "header" && hasArg:
		pod, ver, _ := strings.Cut(arg, ",")
		pod, ver = strings.TrimSpace(pod), strings.TrimSpace(ver)
		if !validHeaderName(pod) || (ver != "" && !validHeaderName(ver)) {
			return nil, fmt.Errorf("header identity %q: want header:NAME or header:NAME,VERSIONNAME with valid header names", spec)
		}
		id := &Identity{spec: spec, header: textproto.CanonicalMIMEHeaderKey(pod)}
		if ver != "" {
			id.versionHeader = textproto.CanonicalMIMEHeaderKey(ver)
		}
		return id, nil
	case kind == "regex" && hasArg:
		re, err := regexp.Compile(arg)
		if err != nil {
			return nil, fmt.Errorf("regex identity: %w", err)
		}
		id := &Identity{spec: spec, re: re, pod: re.SubexpIndex("pod"), ip: re.SubexpIndex("ip"), ver: re.SubexpIndex("version")}
		if id.pod < 0 {
			return nil, fmt.Errorf("regex identity %q has no named group for the pod: add (?P<pod>...)", arg)
		}
		return id, nil
	}
	return nil, fmt.Errorf("unknown identity %q: use auto, line, header:NAME, regex:EXPR or none", spec)
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?={}", c) >= 0 {
			return false
		}
	}
	return true
}

// String returns the spec the Identity was parsed from.
func (id *Identity) String() string {
	if id == nil || id.spec == "" {
		return "none"
	}
	return id.spec
}

// FromHeaders reports whether the identity is read from response headers
// rather than from the body.
func (id *Identity) FromHeaders() bool { return id != nil && id.header != "" }

// Enabled reports whether the identity extracts anything at all.
func (id *Identity) Enabled() bool {
	return id != nil && (id.line || id.re != nil || id.header != "" || id.auto)
}

// Auto reports whether the identity is auto: which rule reads a run's pods
// is found during the run (Stats.IdentityRule).
func (id *Identity) Auto() bool { return id != nil && id.auto }

// rule is the rule a fixed identity reads pods with, as
// Stats.IdentityRule reports it; "" for none.
func (id *Identity) rule() string {
	if !id.Enabled() {
		return ""
	}
	return id.spec
}

// Parse extracts the identity from b: the body (at most its first
// MaxIdentityBytes are looked at), or for header identities the pod header's
// value. versionHeader is the version header's value, if any. An auto
// identity tries its body rules in order, with nothing to settle on: a run
// reads headers too, and settles (autoState).
func (id *Identity) Parse(b, versionHeader []byte) (PodIdentity, bool) {
	if len(b) > MaxIdentityBytes {
		b = b[:MaxIdentityBytes]
	}
	switch {
	case id == nil:
		return PodIdentity{}, false
	case id.auto:
		s := autoScan{}
		s.reset(&Response{Body: b})
		for r := range autoRules {
			if f, ok := s.rule(r); ok {
				return f.identity(), true
			}
		}
		return PodIdentity{}, false
	case id.line:
		return parsePodLine(b)
	case id.header != "":
		pod := bytes.TrimSpace(b)
		if len(pod) == 0 {
			return PodIdentity{}, false
		}
		return PodIdentity{Pod: string(pod), Version: string(bytes.TrimSpace(versionHeader))}, true
	case id.re != nil:
		m := id.re.FindSubmatch(b)
		if m == nil || len(m[id.pod]) == 0 {
			return PodIdentity{}, false
		}
		p := PodIdentity{Pod: string(m[id.pod])}
		if id.ip >= 0 {
			p.IP = string(m[id.ip])
		}
		if id.ver >= 0 {
			p.Version = string(m[id.ver])
		}
		return p, true
	}
	return PodIdentity{}, false
}

var lineSep = []byte(">>")

// parsePodLine parses "POD >> IP >> VERSION". The pod must be non-empty;
// anything but exactly three fields is not such a line.
func parsePodLine(b []byte) (PodIdentity, bool) {
	pod, ip, ver, ok := podLineFields(b)
	if !ok {
		return PodIdentity{}, false
	}
	return PodIdentity{Pod: string(pod), IP: string(ip), Version: string(ver)}, true
}

// podLineFields is parsePodLine without allocating: the fields are
// slices of b.
func podLineFields(b []byte) (pod, ip, ver []byte, ok bool) {
	b = bytes.TrimSpace(b)
	first := bytes.Index(b, lineSep)
	if first < 0 {
		return nil, nil, nil, false
	}
	rest := b[first+len(lineSep):]
	second := bytes.Index(rest, lineSep)
	if second < 0 {
		return nil, nil, nil, false
	}
	pod = bytes.TrimSpace(b[:first])
	ip = bytes.TrimSpace(rest[:second])
	ver = bytes.TrimSpace(rest[second+len(lineSep):])
	if len(pod) == 0 || bytes.Contains(ver, lineSep) || !printable(pod) || !printable(ip) || !printable(ver) {
		return nil, nil, nil, false
	}
	return pod, ip, ver, true
}

// printable rejects control characters and newlines, so that a body that
// merely contains ">>" somewhere in a page is not taken for an identity.
func printable(b []byte) bool {
	if len(b) > 253 {
		return false
	}
	for _, c := range b {
		if c < ' ' || c == 0x7f {
			return false
		}
	}
	return true
}
