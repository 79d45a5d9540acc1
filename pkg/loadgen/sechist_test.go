package loadgen

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
)

func TestSecHistIndexContinuous(t *testing.T) {
	prev := -1
	for v := int64(0); v < 1<<20; v++ {
		i := secHistIndex(v)
		if i != prev && i != prev+1 {
			t.Fatalf("index jumps from %d to %d at %d", prev, i, v)
		}
		prev = i
	}
	if got := secHistIndex(math.MaxInt64); got != secHistBuckets-1 {
		t.Fatalf("largest value lands in %d, want the last bucket %d", got, secHistBuckets-1)
	}
}

func TestSecHistValueWithinBucketPrecision(t *testing.T) {
	for _, v := range []int64{0, 1, 31, 32, 33, 100, 999, 1000, 12345, 1e6, 59e6, 1 << 35} {
		got := secHistValue(secHistIndex(v))
		if v < secHistExact {
			if got != v {
				t.Errorf("value %d: bucket value %d, want exact", v, got)
			}
			continue
		}
		if rel := math.Abs(float64(got-v)) / float64(v); rel > 0.033 {
			t.Errorf("value %d: bucket value %d is %.1f%% off", v, got, 100*rel)
		}
	}
}

func TestSecHistQuantiles(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h secHist
	vals := make([]int64, 0, 10000)
	for range 10000 {
		v := int64(r.ExpFloat64() * 2000)
		vals = append(vals, v)
		h.record(v)
	}
	sort.Slice(vals, func(i, j int) bool { return vals[i] < vals[j] })
	for _, q := range []float64{0.5, 0.9, 0.99} {
		want := vals[int(q*float64(len(vals)))-1]
		got := h.quantile(q)
		if rel := math.Abs(float64(got-want)) / float64(want); rel > 0.05 {
			t.Errorf("q%.2f = %d, want about %d (%.1f%% off)", q, got, want, 100*rel)
		}
	}
	if h.quantile(1) != vals[len(vals)-1] {
		t.Errorf("max = %d, want exact %d", h.quantile(1), vals[len(vals)-1])
	}
	var merged, empty secHist
	merged.merge(&h)
	merged.merge(&empty)
	if merged.total != h.total || merged.quantile(0.5) != h.quantile(0.5) {
		t.Error("merge into an empty histogram changed it")
	}
}
