package ctxtime

import (
	"context"
	"testing"
	"time"
)

func TestSleep(t *testing.T) {
	live := context.Background()
	done, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		d    time.Duration
		want bool
	}{
		{"zero, live", live, 0, true},
		{"negative, live", live, -time.Second, true},
		{"zero, cancelled", done, 0, false},
		{"elapses", live, time.Millisecond, true},
		// An hour would hang the test if cancellation were not honoured.
		{"cancelled before", done, time.Hour, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Sleep(tc.ctx, tc.d); got != tc.want {
				t.Errorf("Sleep(%v) = %v, want %v", tc.d, got, tc.want)
			}
		})
	}
}

// A wait in progress ends when its context is cancelled.
func TestSleepCancelledWhileWaiting(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan bool)
	go func() { res <- Sleep(ctx, time.Hour) }()
	cancel()
	if <-res {
		t.Error("Sleep reported that an hour elapsed after its context was cancelled")
	}
}
