//go:build unix

package loadgen

import "syscall"

// peerClosed peeks at the socket without blocking: a readable socket on an
// idle HTTP/1.1 connection means the peer closed it (EOF) or reset it.
func peerClosed(raw syscall.RawConn) bool {
	var buf [1]byte
	closed := false
	err := raw.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == syscall.EAGAIN || err == syscall.EWOULDBLOCK:
			closed = false
		case err != nil, n == 0:
			closed = true // reset, or EOF
		default:
			closed = true // unsolicited bytes: the connection is not usable
		}
		return true // never wait for readiness
	})
	return closed || err != nil
}
