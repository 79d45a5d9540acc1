package report

import (
	"errors"
	"fmt"
	"math"
	"math/bits"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// maxHistogramText bounds the encoded histogram accepted by DecodeHistogram.
// A real run's histogram is a few kilobytes; the bound keeps a hostile or
// corrupt result file from making the renderer allocate without limit.
const maxHistogramText = 16 << 20

// DecodeHistogram decodes Latency.Histogram: an HdrHistogram in the V2
// compressed encoding, base64 text, values in microseconds.
//
// The input comes from a file that may have been edited or truncated, so the
// decoder must not take the renderer down: a panic inside the library is
// turned into an error.
func DecodeHistogram(s string) (h *hdrhistogram.Histogram, err error) {
	if s == "" {
		return nil, errors.New("decode latency histogram: empty")
	}
	if len(s) > maxHistogramText {
		return nil, fmt.Errorf("decode latency histogram: %d bytes is more than the %d a result can hold", len(s), maxHistogramText)
	}
	defer func() {
		if p := recover(); p != nil {
			h, err = nil, fmt.Errorf("decode latency histogram: corrupt data (%v)", p)
		}
	}()
	h, err = hdrhistogram.Decode([]byte(s))
	if err != nil {
		return nil, fmt.Errorf("decode latency histogram: %w", err)
	}
	if h == nil {
		return nil, errors.New("decode latency histogram: no histogram in the data")
	}
	return h, nil
}

// EncodeHistogram is DecodeHistogram's counterpart: the form in which a run
// stores its latency histogram in Latency.Histogram.
func EncodeHistogram(h *hdrhistogram.Histogram) (string, error) {
	if h == nil {
		return "", errors.New("encode latency histogram: nil histogram")
	}
	b, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return "", fmt.Errorf("encode latency histogram: %w", err)
	}
	return string(b), nil
}

// histogramGeometry returns the bucket and sub-bucket counts that HdrHistogram
// prints in the footer of a percentile distribution. The Go library keeps them
// unexported, so they are derived from the public parameters with the same
// arithmetic as its constructor (a test checks the two agree).
func histogramGeometry(h *hdrhistogram.Histogram) (buckets, subBuckets int64) {
	digits := h.SignificantFigures()
	largest := 2 * math.Pow10(int(digits))
	subBucketCountMagnitude := int(math.Ceil(math.Log2(largest)))
	if subBucketCountMagnitude < 1 {
		subBucketCountMagnitude = 1
	}
	subBucketCount := int64(1) << subBucketCountMagnitude

	lowest := h.LowestTrackableValue()
	if lowest < 1 {
		lowest = 1
	}
	unitMagnitude := 63 - bits.LeadingZeros64(uint64(lowest))

	smallestUntrackable := subBucketCount << unitMagnitude
	highest := h.HighestTrackableValue()
	needed := int64(1)
	for smallestUntrackable <= highest {
		if smallestUntrackable > math.MaxInt64/2 {
			needed++
			break
		}
		smallestUntrackable <<= 1
		needed++
	}
	return needed, subBucketCount
}
