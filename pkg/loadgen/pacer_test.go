package loadgen

import (
	"testing"
	"time"
)

func TestConstantPacerDue(t *testing.T) {
	tests := []struct {
		rate float64
		seq  uint64
		want time.Duration
	}{
		{rate: 1, seq: 0, want: 0},
		{rate: 1, seq: 1, want: time.Second},
		{rate: 2000, seq: 1, want: 500 * time.Microsecond},
		{rate: 2000, seq: 2000, want: time.Second},
		{rate: 3, seq: 1, want: 333333333},
		// Far into a long run the schedule must not drift: 10 minutes at
		// 50k/s is 30M requests.
		{rate: 50000, seq: 30_000_000, want: 10 * time.Minute},
		{rate: 0.5, seq: 3, want: 6 * time.Second},
	}
	for _, tt := range tests {
		p := ConstantPacer{Rate: tt.rate}
		if got := p.Due(tt.seq); got != tt.want {
			t.Errorf("ConstantPacer{%v}.Due(%d) = %v, want %v", tt.rate, tt.seq, got, tt.want)
		}
	}
}

func TestConstantPacerCount(t *testing.T) {
	tests := []struct {
		rate float64
		d    time.Duration
		want uint64
	}{
		{rate: 2000, d: 30 * time.Second, want: 60000},
		{rate: 2000, d: 0, want: 0},
		{rate: 1, d: 1500 * time.Millisecond, want: 2}, // due at 0 s and 1 s
		{rate: 1, d: time.Second, want: 1},             // only the one due at 0 s
		{rate: 3, d: time.Second, want: 3},
		{rate: 0.5, d: 10 * time.Second, want: 5},
	}
	for _, tt := range tests {
		p := ConstantPacer{Rate: tt.rate}
		got := p.Count(tt.d)
		if got != tt.want {
			t.Errorf("ConstantPacer{%v}.Count(%v) = %d, want %d", tt.rate, tt.d, got, tt.want)
		}
		// Count and Due must agree: the last counted request is due before d,
		// the next one is not.
		if got > 0 && p.Due(got-1) >= tt.d {
			t.Errorf("rate %v: request %d due at %v, not before %v", tt.rate, got-1, p.Due(got-1), tt.d)
		}
		if p.Due(got) < tt.d {
			t.Errorf("rate %v: request %d due at %v, before %v but not counted", tt.rate, got, p.Due(got), tt.d)
		}
	}
}

func TestConstantPacerMonotonic(t *testing.T) {
	for _, rate := range []float64{0.3, 1, 7, 1000, 123456.7} {
		p := ConstantPacer{Rate: rate}
		prev := p.Due(0)
		for seq := uint64(1); seq < 100000; seq++ {
			d := p.Due(seq)
			if d < prev {
				t.Fatalf("rate %v: Due(%d)=%v < Due(%d)=%v", rate, seq, d, seq-1, prev)
			}
			prev = d
		}
	}
}
