package loadgen

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/valyala/fasthttp"
)

// The HTTP/1.1 transport maps fasthttp's own errors before the generic
// classification: a connection that closed under a response is an EOF,
// whichever fasthttp type carries it.
func TestHTTP1ErrorOutcome(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want Outcome
	}{
		{"connection closed", fasthttp.ErrConnectionClosed, EOF},
		{"nothing read", fasthttp.ErrNothingRead{}, EOF},
		{"nothing read, wrapped", fmt.Errorf("read header: %w", fasthttp.ErrNothingRead{}), EOF},
		{"broken chunk", fasthttp.ErrBrokenChunk{}, EOF},
		{"timeout", fasthttp.ErrTimeout, TimeoutResponse},
		{"reset", &net.OpError{Op: "read", Err: &os.SyscallError{Syscall: "read", Err: syscall.ECONNRESET}}, Reset},
		{"eof", io.ErrUnexpectedEOF, EOF},
		{"other", errors.New("unexpected"), Other},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := http1ErrorOutcome(tc.err); got != tc.want {
				t.Errorf("http1ErrorOutcome(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}
