package loadgen

import (
	"math"
	"time"
)

// A Pacer decides when each request of an open-model run is due.
//
// Due returns the intended send time of request seq (0-based), as an offset
// from the start of the run. Implementations must be pure and monotonic
// (Due(n+1) >= Due(n)) so that any number of workers can claim sequence
// numbers concurrently and each compute its own schedule without talking
// to the others.
type Pacer interface {
	Due(seq uint64) time.Duration
	// Count returns how many requests fall due before d: the number a run
	// of duration d sends.
	Count(d time.Duration) uint64
}

// ConstantPacer sends Rate requests per second, evenly spaced.
type ConstantPacer struct {
	Rate float64 // requests per second, > 0
}

// Due implements Pacer. Request n is due at n/Rate seconds; computing it
// from n rather than by adding intervals keeps the schedule free of
// accumulated rounding error over long runs.
func (p ConstantPacer) Due(seq uint64) time.Duration {
	return time.Duration(float64(seq) * float64(time.Second) / p.Rate)
}

// Count implements Pacer.
func (p ConstantPacer) Count(d time.Duration) uint64 {
	if d <= 0 {
		return 0
	}
	n := math.Ceil(d.Seconds()*p.Rate - 1e-9)
	if n < 0 {
		return 0
	}
	return uint64(n)
}
