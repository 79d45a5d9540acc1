package loadgen

import (
	"unicode/utf16"
	"unicode/utf8"
)

// The JSON fields auto identity reads from a top-level object, in the
// order their rules are tried. Matching is exact (case-sensitive) on the
// decoded key, as encoding/json decodes into a map.
var (
	jsonPodKeys     = [...]string{"hostname", "pod", "podName", "pod_name", "host"}
	jsonVersionKeys = [...]string{"version", "appVersion", "app_version"}
	jsonIPKeys      = [...]string{"ip", "podIP", "pod_ip"}
)

const (
	numJSONPodKeys = len(jsonPodKeys)
	jsonVersionAt  = numJSONPodKeys
	jsonIPAt       = jsonVersionAt + len(jsonVersionKeys)
	numJSONKeys    = jsonIPAt + len(jsonIPKeys)
)

// jsonFields are the raw values of the keys above in one JSON object:
// string contents as they are in the text (esc says whether they must be
// decoded: an escape or a non-ASCII byte, which encoding/json coerces to
// valid UTF-8, is in them), or a number's literal for the version keys. A key whose last
// occurrence has any other value is not set, as in encoding/json where
// the last duplicate wins.
type jsonFields struct {
	val [numJSONKeys][]byte
	set [numJSONKeys]bool
	esc [numJSONKeys]bool
}

// jsonStatus is how a scan ended.
type jsonStatus uint8

const (
	jsonOK    jsonStatus = iota // a complete JSON text whose top level is an object
	jsonBad                     // not JSON, or not an object at the top level
	jsonShort                   // valid so far, but the input ended inside the object
)

// scanJSONObject reads the top-level object of b for the keys above. It
// validates b as encoding/json does (json.Valid) without allocating, so
// that a body that merely looks like JSON names no pod. Members are only
// recorded once their value is complete: after jsonShort, f holds what
// the input's complete members said.
func scanJSONObject(b []byte, f *jsonFields) jsonStatus {
	*f = jsonFields{}
	if len(b) > MaxIdentityBytes {
		b = b[:MaxIdentityBytes]
	}
	// One bit per open container, set for objects. A container takes at
	// least one byte, so MaxIdentityBytes bits bound the depth.
	var stack [MaxIdentityBytes/64 + 1]uint64
	depth := 0
	i := skipWS(b, 0)
	if i == len(b) {
		return jsonShort
	}
	if b[i] != '{' {
		return jsonBad
	}
	member := -1 // the key of the top-level member whose value is next; -1: not one of ours
	for {
		// A value starts at b[i] (after whitespace).
		i = skipWS(b, i)
		if i == len(b) {
			return jsonShort
		}
		c := b[i]
		top := depth == 1
		switch {
		case c == '{' || c == '[':
			if top && member >= 0 {
				f.set[member] = false
			}
			if c == '{' {
				stack[depth/64] |= 1 << (depth % 64)
			} else {
				stack[depth/64] &^= 1 << (depth % 64)
			}
			depth++
			i = skipWS(b, i+1)
			if i == len(b) {
				return jsonShort
			}
			if (c == '{' && b[i] == '}') || (c == '[' && b[i] == ']') {
				depth--
				i++
				break // the empty container is a complete value
			}
			if c == '{' {
				var st jsonStatus
				if i, member, st = scanKey(b, i, depth == 1); st != jsonOK {
					return st
				}
			}
			continue
		case c == '"':
			end, esc, st := scanString(b, i)
			if st != jsonOK {
				return st
			}
			if top && member >= 0 {
				f.val[member], f.set[member], f.esc[member] = b[i+1:end-1], true, esc
			}
			i = end
		default:
			end, num, st := scanLiteral(b, i)
			if st != jsonOK {
				return st
			}
			if top && member >= 0 {
				// A version may be a number (1, 2.1); nothing else may.
				f.set[member] = num && member >= jsonVersionAt && member < jsonIPAt
				f.val[member], f.esc[member] = b[i:end], false
			}
			i = end
		}
		// A value ended: close containers until one goes on.
		for {
			if depth == 0 {
				if skipWS(b, i) != len(b) {
					return jsonBad // something after the top-level object
				}
				return jsonOK
			}
			i = skipWS(b, i)
			if i == len(b) {
				return jsonShort
			}
			obj := stack[(depth-1)/64]&(1<<((depth-1)%64)) != 0
			switch c := b[i]; {
			case c == ',' && obj:
				var st jsonStatus
				if i, member, st = scanKey(b, skipWS(b, i+1), depth == 1); st != jsonOK {
					return st
				}
			case c == ',':
				i++
			case (c == '}' && obj) || (c == ']' && !obj):
				depth--
				i++
				continue
			default:
				return jsonBad
			}
			break
		}
	}
}

// scanKey reads an object's key and its colon from b[i]. When top, it
// returns which of our keys it is (or -1).
func scanKey(b []byte, i int, top bool) (next, member int, st jsonStatus) {
	if i == len(b) {
		return i, -1, jsonShort
	}
	if b[i] != '"' {
		return i, -1, jsonBad
	}
	end, esc, st := scanString(b, i)
	if st != jsonOK {
		return i, -1, st
	}
	member = -1
	if top {
		member = jsonKeyIndex(b[i+1:end-1], esc)
	}
	i = skipWS(b, end)
	if i == len(b) {
		return i, -1, jsonShort
	}
	if b[i] != ':' {
		return i, -1, jsonBad
	}
	return i + 1, member, jsonOK
}

// jsonKeyIndex returns the index of raw, a key's contents, among the keys
// auto identity reads, or -1.
func jsonKeyIndex(raw []byte, esc bool) int {
	key := raw
	var buf [64]byte
	if esc {
		// The longest key we read is 11 bytes; every byte of it escaped
		// takes 6, and a key with any other byte is not ours.
		if len(raw) > 6*11 {
			return -1
		}
		key = appendJSONUnquoted(buf[:0], raw)
	}
	for i, k := range jsonPodKeys {
		if string(key) == k {
			return i
		}
	}
	for i, k := range jsonVersionKeys {
		if string(key) == k {
			return jsonVersionAt + i
		}
	}
	for i, k := range jsonIPKeys {
		if string(key) == k {
			return jsonIPAt + i
		}
	}
	return -1
}

func skipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// scanString reads the string starting at b[i] (a quote) and returns the
// index after its closing quote, and whether its contents must be decoded
// (appendJSONUnquoted) to be what encoding/json makes of them.
func scanString(b []byte, i int) (end int, esc bool, st jsonStatus) {
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1, esc, jsonOK
		case c < 0x20:
			return i, esc, jsonBad
		case c >= utf8.RuneSelf:
			esc = true
		case c == '\\':
			esc = true
			if i+1 == len(b) {
				return i, esc, jsonShort
			}
			i++
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				for k := 1; k <= 4; k++ {
					if i+k == len(b) {
						return i, esc, jsonShort
					}
					if !isHex(b[i+k]) {
						return i, esc, jsonBad
					}
				}
				i += 4
			default:
				return i, esc, jsonBad
			}
		}
	}
	return i, esc, jsonShort
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// scanLiteral reads a number, true, false or null at b[i]. A number cut
// short by the end of b is short, not bad: the input may be a prefix.
func scanLiteral(b []byte, i int) (end int, num bool, st jsonStatus) {
	for _, lit := range [...]string{"true", "false", "null"} {
		if b[i] != lit[0] {
			continue
		}
		for k := 1; k < len(lit); k++ {
			if i+k == len(b) {
				return i, false, jsonShort
			}
			if b[i+k] != lit[k] {
				return i, false, jsonBad
			}
		}
		return i + len(lit), false, jsonOK
	}
	// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
	j := i
	if b[j] == '-' {
		j++
	}
	digits := func(j int) (int, bool) {
		k := j
		for k < len(b) && b[k] >= '0' && b[k] <= '9' {
			k++
		}
		return k, k > j
	}
	switch {
	case j == len(b):
		return j, true, jsonShort
	case b[j] == '0':
		j++
	case b[j] >= '1' && b[j] <= '9':
		j, _ = digits(j)
	default:
		return j, false, jsonBad
	}
	if j < len(b) && b[j] == '.' {
		var ok bool
		if j, ok = digits(j + 1); !ok {
			if j == len(b) {
				return j, true, jsonShort
			}
			return j, false, jsonBad
		}
	}
	if j < len(b) && (b[j] == 'e' || b[j] == 'E') {
		j++
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		var ok bool
		if j, ok = digits(j); !ok {
			if j == len(b) {
				return j, true, jsonShort
			}
			return j, false, jsonBad
		}
	}
	if j == len(b) {
		// The number may go on past the end of a cut input.
		return j, true, jsonShort
	}
	return j, true, jsonOK
}

// appendJSONUnquoted appends the decoded contents of a JSON string (raw,
// without its quotes, already validated by scanString) to dst, exactly as
// encoding/json decodes it: a lone surrogate escape and every byte of
// invalid UTF-8 become U+FFFD.
func appendJSONUnquoted(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c == '\\':
			if i+1 >= len(raw) {
				return dst
			}
			switch e := raw[i+1]; e {
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				r := hex4(raw[i+2:])
				if r < 0 {
					return dst
				}
				i += 6
				if utf16.IsSurrogate(r) {
					if i+1 < len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
						if r2 := hex4(raw[i+2:]); r2 >= 0 {
							if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
								dst = utf8.AppendRune(dst, d)
								i += 6
								continue
							}
						}
					}
					r = utf8.RuneError
				}
				dst = utf8.AppendRune(dst, r)
				continue
			default: // '"', '\\', '/'
				dst = append(dst, e)
			}
			i += 2
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			i++
		default:
			r, size := utf8.DecodeRune(raw[i:])
			dst = utf8.AppendRune(dst, r)
			i += size
		}
	}
	return dst
}

// hex4 reads four hex digits at the start of b, or returns -1.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}
