package loadgen

import (
	"bytes"
	"sync/atomic"
)

// AutoSettleAfter is how many consecutive 2xx responses one rule must name
// a pod in before --identity auto settles on it. Three is enough to rule
// out a field that names a pod by accident once (an echoed request, a
// first page of a different shape), and few enough that the detection
// window, during which every rule runs on every response, is over within
// the first requests of a run.
const AutoSettleAfter = 3

// ruleKind is where an auto rule reads the pod from.
type ruleKind uint8

const (
	ruleLine   ruleKind = iota // the POD >> IP >> VERSION body
	ruleHeader                 // a response header; arg indexes autoHeaders
	ruleJSON                   // a field of a JSON body's top-level object; arg indexes jsonPodKeys
	ruleText                   // a "Hostname: NAME" line of a text body
)

// autoHeaders are the response headers auto identity captures: the pod
// headers, in the order their rules are tried, then the version headers.
var autoHeaders = []string{"X-Pod-Name", "X-Pod", "X-Hostname", "X-Served-By", "X-Backend-Server", "X-Server-Hostname", "X-Version", "X-App-Version"}

const autoVersionHeaders = 6 // autoHeaders[6:] hold the version

type autoRule struct {
	name string // as config.identity_rule reports it
	kind ruleKind
	arg  int
}

// autoRules are tried in this order: the reference format first, then
// headers (cheapest, and set deliberately by whoever set them), then a JSON
// body, then whoami's text.
var autoRules = [...]autoRule{
	{"line", ruleLine, 0},
	{"header:X-Pod-Name", ruleHeader, 0},
	{"header:X-Pod", ruleHeader, 1},
	{"header:X-Hostname", ruleHeader, 2},
	{"header:X-Served-By", ruleHeader, 3},
	{"header:X-Backend-Server", ruleHeader, 4},
	{"header:X-Server-Hostname", ruleHeader, 5},
	{"json:hostname", ruleJSON, 0},
	{"json:pod", ruleJSON, 1},
	{"json:podName", ruleJSON, 2},
	{"json:pod_name", ruleJSON, 3},
	{"json:host", ruleJSON, 4},
	{"text:Hostname", ruleText, 0},
}

const numAutoRules = len(autoRules)

// AutoRuleNames are the rules auto identity tries, in order, named as
// Stats.IdentityRule names them.
func AutoRuleNames() []string {
	names := make([]string, numAutoRules)
	for i, r := range autoRules {
		names[i] = r.name
	}
	return names
}

// autoState is one run's detection: which rule auto identity settled on,
// and how far each rule has got. Workers share it; every field is atomic.
type autoState struct {
	chosen atomic.Int32 // index of the rule settled on, plus one; 0 while detecting
	streak [numAutoRules]atomic.Int32
	// named counts the responses each rule attributed while detecting,
	// which names a rule for a run too short to settle.
	named [numAutoRules]atomic.Int64
}

// detect attributes a response while no rule is settled: the first rule
// in order that names a pod does. With count, every rule's streak moves on
// a 2xx response (a rule that names no pod in one starts over) and the
// first rule to reach AutoSettleAfter is settled on; an error response,
// whose body is often the proxy's or the runtime's and not the app's,
// neither counts nor breaks a streak.
func (a *autoState) detect(s *autoScan, status int, count bool) (rule int, f podFields) {
	rule = -1
	ok2xx := count && status >= 200 && status <= 299
	for r := range autoRules {
		g, ok := s.rule(r)
		if ok && rule < 0 {
			rule, f = r, g
			if count {
				a.named[r].Add(1)
			}
		}
		switch {
		case !ok2xx:
			if rule >= 0 {
				return rule, f
			}
		case !ok:
			a.streak[r].Store(0)
		case a.streak[r].Add(1) >= AutoSettleAfter:
			a.chosen.CompareAndSwap(0, int32(r)+1)
		}
	}
	return rule, f
}

// settled returns the rule settled on, or -1.
func (a *autoState) settled() int { return int(a.chosen.Load()) - 1 }

// ruleName is the rule a run read pods with: the one settled on, or for a
// run that ended before any rule settled the one that attributed most
// responses; "" when none named a pod.
func (a *autoState) ruleName() string {
	if r := a.settled(); r >= 0 {
		return autoRules[r].name
	}
	best, most := "", int64(0)
	for r := range autoRules {
		if n := a.named[r].Load(); n > most {
			best, most = autoRules[r].name, n
		}
	}
	return best
}

// podFields are a response's pod identity before interning: slices of the
// response or of the worker's scratch, valid until the next response.
type podFields struct {
	pod, ip, ver []byte
}

func (f podFields) identity() PodIdentity {
	return PodIdentity{Pod: string(f.pod), IP: string(f.ip), Version: string(f.ver)}
}

// autoScan reads one response under the auto rules. A body is scanned as
// JSON or text at most once per response, however many rules ask, and
// nothing is allocated once buf has grown to the largest decoded JSON
// values seen.
type autoScan struct {
	res *Response
	// headersOnly: only the header rules read responses (gRPC, whose
	// body is protobuf, not text or JSON).
	headersOnly bool

	jsonDone, jsonUsable bool
	json                 jsonFields
	jsonVer, jsonIP      []byte

	textDone, textOK bool
	textHost, textIP []byte

	buf []byte // decoded JSON strings
}

func (s *autoScan) reset(res *Response) {
	s.res = res
	s.jsonDone, s.textDone = false, false
	s.buf = s.buf[:0]
}

// rule returns what rule r reads in the response.
func (s *autoScan) rule(r int) (podFields, bool) {
	res := s.res
	body := res.Body
	if len(body) > MaxIdentityBytes {
		body = body[:MaxIdentityBytes]
	}
	rule := autoRules[r]
	if s.headersOnly && rule.kind != ruleHeader {
		return podFields{}, false
	}
	switch rule.kind {
	case ruleLine:
		pod, ip, ver, ok := podLineFields(body)
		return podFields{pod, ip, ver}, ok
	case ruleHeader:
		if rule.arg >= len(res.Header) {
			return podFields{}, false
		}
		pod := bytes.TrimSpace(res.Header[rule.arg])
		if len(pod) == 0 || !printable(pod) {
			return podFields{}, false
		}
		var ver []byte
		for _, v := range res.Header[min(autoVersionHeaders, len(res.Header)):] {
			if v = bytes.TrimSpace(v); len(v) > 0 && printable(v) {
				ver = v
				break
			}
		}
		return podFields{pod: pod, ver: ver}, true
	case ruleJSON:
		s.scanJSON(body)
		if !s.jsonUsable {
			return podFields{}, false
		}
		pod := s.jsonValue(rule.arg)
		if len(pod) == 0 {
			return podFields{}, false
		}
		return podFields{pod: pod, ip: s.jsonIP, ver: s.jsonVer}, true
	case ruleText:
		if !s.textDone {
			s.textDone = true
			s.textHost, s.textIP, s.textOK = scanHostnameLines(body)
		}
		return podFields{pod: s.textHost, ip: s.textIP}, s.textOK
	}
	return podFields{}, false
}

// scanJSON scans the body as JSON once per response. A body cut at
// MaxIdentityBytes that was valid up to there is usable: its first
// members are what a pod name is expected to be among.
func (s *autoScan) scanJSON(body []byte) {
	if s.jsonDone {
		return
	}
	s.jsonDone = true
	s.jsonUsable, s.jsonVer, s.jsonIP = false, nil, nil
	switch scanJSONObject(body, &s.json) {
	case jsonOK:
	case jsonShort:
		if len(body) < MaxIdentityBytes {
			return
		}
	default:
		return
	}
	s.jsonUsable = true
	for k := jsonVersionAt; k < jsonIPAt && s.jsonVer == nil; k++ {
		s.jsonVer = s.jsonValue(k)
	}
	for k := jsonIPAt; k < numJSONKeys && s.jsonIP == nil; k++ {
		s.jsonIP = s.jsonValue(k)
	}
}

// jsonValue is JSON key k's value, decoded and trimmed; nil when absent or
// not a printable line.
func (s *autoScan) jsonValue(k int) []byte {
	if !s.json.set[k] {
		return nil
	}
	v := s.json.val[k]
	if s.json.esc[k] {
		start := len(s.buf)
		s.buf = appendJSONUnquoted(s.buf, v)
		v = s.buf[start:len(s.buf):len(s.buf)]
	}
	if v = bytes.TrimSpace(v); len(v) == 0 || !printable(v) {
		return nil
	}
	return v
}
