// Package ctxtime owns the one way rolltest waits for a duration: a timer
// that a context can cut short. Every "sleep unless cancelled" in the
// repository goes through Sleep, so that cancellation is honoured the same
// way everywhere and no timer outlives its wait.
package ctxtime

import (
	"context"
	"time"
)

// Sleep waits for d or until ctx is done, whichever comes first, and
// reports whether d elapsed. A d of zero or less does not wait: it reports
// whether ctx is still live, so a loop that sleeps between steps stops on
// cancellation even when its pauses are zero.
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
