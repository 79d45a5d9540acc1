package loadgen

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
)

func TestErrorOutcome(t *testing.T) {
	opErr := func(op string, errno syscall.Errno) error {
		return &net.OpError{Op: op, Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: errno}}
	}
	tests := []struct {
		name       string
		err        error
		connecting bool
		want       Outcome
	}{
		{"nil", nil, false, OK},
		{"refused", opErr("dial", syscall.ECONNREFUSED), true, Refused},
		{"host unreachable", opErr("dial", syscall.EHOSTUNREACH), true, Unreachable},
		{"network unreachable", opErr("dial", syscall.ENETUNREACH), true, Unreachable},
		{"unreachable wrapped twice", fmt.Errorf("connect: %w", opErr("dial", syscall.EHOSTUNREACH)), true, Unreachable},
		{"unreachable on read", opErr("read", syscall.EHOSTUNREACH), false, Unreachable},
		{"reset", opErr("read", syscall.ECONNRESET), false, Reset},
		{"broken pipe", opErr("write", syscall.EPIPE), false, Reset},
		{"eof", io.EOF, false, EOF},
		{"unexpected eof wrapped", fmt.Errorf("response body: %w", io.ErrUnexpectedEOF), false, EOF},
		{"deadline connecting", &net.OpError{Op: "dial", Err: os.ErrDeadlineExceeded}, true, TimeoutConnect},
		{"deadline reading", fmt.Errorf("body: %w", os.ErrDeadlineExceeded), false, TimeoutResponse},
		{"dns", &net.DNSError{Err: "no such host", Name: "x.invalid"}, true, DNS},
		{"unknown errno", opErr("dial", syscall.EACCES), true, Other},
		{"plain error", errors.New("boom"), false, Other},
	}
	for _, tt := range tests {
		if got := ErrorOutcome(tt.err, tt.connecting); got != tt.want {
			t.Errorf("%s: ErrorOutcome(%v) = %s, want %s", tt.name, tt.err, got, tt.want)
		}
	}
}

// TestOutcomeNames pins the schema: earlier outcomes keep their values and
// names, the newest is last, and every outcome has a distinct name.
func TestOutcomeNames(t *testing.T) {
	seen := map[string]bool{}
	for _, o := range Outcomes() {
		name := o.String()
		if name == "" || name == "invalid" || seen[name] {
			t.Fatalf("outcome %d has name %q", o, name)
		}
		seen[name] = true
	}
	if Other.String() != "other" || Other != 11 || Unreachable.String() != "unreachable" || Unreachable != 12 {
		t.Fatalf("other=%d %q unreachable=%d %q", Other, Other, Unreachable, Unreachable)
	}
}
