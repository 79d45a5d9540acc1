//go:build unix

package loadgen

import "syscall"

// RaiseFileLimit lifts the process's open-file soft limit to its hard limit,
// as servers and load generators do at start: the open model may need a
// connection for every request in flight. It returns the limit in force.
// It changes process state, so only a program's main should call it.
func RaiseFileLimit() (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, err
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
			return 0, err
		}
	}
	return l.Cur, nil
}

// fileLimit is the open-file soft limit in force (0: unknown).
func fileLimit() uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0
	}
	return l.Cur
}
