package loadgen

import "math/bits"

// secHist is a fixed-size log-linear histogram of latencies in microseconds,
// used for the per-second latency series. With 16 sub-buckets per power of
// two its values are within ±3.2% (exact below 32 µs); that is plenty for a
// chart, and at 2.4 KiB it is small enough to keep one per second of the run.
// Headline and per-phase percentiles come from full HdrHistograms instead.
type secHist struct {
	counts [secHistBuckets]uint32
	total  uint64
	max    int64
}

const (
	secHistSubBits = 4
	secHistExact   = 2 << secHistSubBits // values below this get a bucket each
	secHistBuckets = secHistExact + 36<<secHistSubBits
)

func secHistIndex(v int64) int {
	if v < secHistExact {
		if v < 0 {
			return 0
		}
		return int(v)
	}
	e := bits.Len64(uint64(v)) - (secHistSubBits + 1)
	i := e<<secHistSubBits + int(v>>e)
	if i >= secHistBuckets {
		return secHistBuckets - 1
	}
	return i
}

// secHistValue returns the midpoint of bucket i's range.
func secHistValue(i int) int64 {
	if i < secHistExact {
		return int64(i)
	}
	e := i>>secHistSubBits - 1
	m := int64(i&(1<<secHistSubBits-1) + 1<<secHistSubBits)
	lo := m << e
	hi := (m+1)<<e - 1
	return lo + (hi-lo)/2
}

func (h *secHist) record(v int64) {
	h.counts[secHistIndex(v)]++
	h.total++
	if v > h.max {
		h.max = v
	}
}

func (h *secHist) merge(o *secHist) {
	if o.total == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
	if o.max > h.max {
		h.max = o.max
	}
}

func (h *secHist) reset() { *h = secHist{} }

// quantile returns the value at quantile q in [0, 1]; the top quantile is
// the exact maximum.
func (h *secHist) quantile(q float64) int64 {
	if h.total == 0 {
		return 0
	}
	if q >= 1 {
		return h.max
	}
	rank := uint64(q*float64(h.total) + 0.5)
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i, c := range h.counts {
		seen += uint64(c)
		if seen >= rank {
			if v := secHistValue(i); v < h.max {
				return v
			}
			return h.max
		}
	}
	return h.max
}
