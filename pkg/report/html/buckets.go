package html

import (
	"slices"

	"github.com/rolltest/rolltest/pkg/report"
)

// maxPoints bounds the points per series so that a long run's report
// stays small; a 10-minute run is drawn at full resolution.
const maxPoints = 600

// bucket is a stretch of the series drawn as one point: one second
// unless the run is longer than maxPoints seconds.
type bucket struct {
	T0, T1    float64
	Requests  int64
	Failed    int64
	Retried   int64
	ByVersion map[string]int64
	ByPod     map[string]int64
	// The latency fields are the maximum over the bucket's seconds: a
	// spike must survive downsampling.
	P50, P99, Max float64
	HasLatency    bool
}

func (b bucket) width() float64 { return b.T1 - b.T0 }

// downsample cuts the series into at most n buckets of equal width:
// counts are summed and latencies take the maximum, so that no failure and
// no spike is lost. An entry of the series that covers several
// seconds (width_s) goes whole into the bucket of its first second; the
// bucket width is a multiple of the widest entry's, so that the document's
// buckets (aligned to their width) each fit in one, and the rates (count /
// bucket width) stay true.
func downsample(series []report.Second, n int) []bucket {
	// A second outside [0, report.MaxRunSeconds) cannot come from a run; such a
	// file is damaged, and the chart shows what is plausible.
	series = slices.DeleteFunc(slices.Clone(series), func(s report.Second) bool {
		return s.T < 0 || s.T >= report.MaxRunSeconds || s.Width() > report.MaxRunSeconds-s.T
	})
	if len(series) == 0 {
		return nil
	}
	lo, hi, widest := 0, 0, 1
	for _, s := range series {
		hi = max(hi, s.T+s.Width()-1)
		widest = max(widest, s.Width())
	}
	span := hi - lo + 1
	k := max(1, (span+n-1)/n)
	if widest > 1 {
		k = (k + widest - 1) / widest * widest
	}
	out := make([]bucket, (span+k-1)/k)
	for i := range out {
		out[i].T0 = float64(lo + i*k)
		out[i].T1 = float64(min(lo+(i+1)*k, hi+1))
	}
	for _, s := range series {
		b := &out[(s.T-lo)/k]
		b.Requests += s.Requests
		b.Failed += s.Failed
		b.Retried += s.Retried
		for v, c := range s.ByVersion {
			if b.ByVersion == nil {
				b.ByVersion = map[string]int64{}
			}
			b.ByVersion[v] += c
		}
		for p, c := range s.ByPod {
			if b.ByPod == nil {
				b.ByPod = map[string]int64{}
			}
			b.ByPod[p] += c
		}
		if s.P50Ms > 0 || s.P99Ms > 0 || s.MaxMs > 0 {
			b.HasLatency = true
			b.P50 = max(b.P50, s.P50Ms)
			b.P99 = max(b.P99, s.P99Ms)
			b.Max = max(b.Max, s.MaxMs)
		}
	}
	return out
}
