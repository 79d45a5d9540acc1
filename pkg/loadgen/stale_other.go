//go:build !unix

package loadgen

import "syscall"

// peerClosed cannot peek without blocking here; idle connections are
// reused unchecked.
func peerClosed(syscall.RawConn) bool { return false }
