package loadgen

import "bytes"

// scanHostnameLines reads a plain-text body the way traefik/whoami prints
// one: a line "Hostname: NAME" names the pod, and the first "IP: ADDR"
// line that is not a loopback address is its IP. Keys are matched without
// regard to case at the start of a line; only the first Hostname line
// counts, since whoami echoes the request's headers below its own lines.
func scanHostnameLines(b []byte) (host, ip []byte, ok bool) {
	if len(b) > MaxIdentityBytes {
		b = b[:MaxIdentityBytes]
	}
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if v, found := cutKey(line, "hostname"); found && host == nil {
			if v = bytes.TrimSpace(v); len(v) > 0 && printable(v) {
				host = v
			}
		} else if v, found := cutKey(line, "ip"); found && ip == nil {
			if v = bytes.TrimSpace(v); len(v) > 0 && printable(v) && !loopback(v) {
				ip = v
			}
		}
	}
	return host, ip, host != nil
}

// cutKey returns what follows "KEY:" when line starts with it, KEY in any
// case.
func cutKey(line []byte, key string) ([]byte, bool) {
	if len(line) <= len(key) || line[len(key)] != ':' {
		return nil, false
	}
	for i := 0; i < len(key); i++ {
		if line[i]|0x20 != key[i] {
			return nil, false
		}
	}
	return line[len(key)+1:], true
}

// loopback: whoami lists 127.0.0.1 and ::1 first, which say nothing about
// the pod.
func loopback(ip []byte) bool {
	return bytes.HasPrefix(ip, []byte("127.")) || bytes.Equal(ip, []byte("::1"))
}
