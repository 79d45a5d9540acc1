package report

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strconv"
)

// hgrmTicksPerHalfDistance is the resolution of the percentile rows: the
// value HdrHistogram's own tools use, so that files from rolltest line up
// with files from wrk2, HdrHistogram's Java tools and others in the same
// plot.
const hgrmTicksPerHalfDistance = 5

// hgrmUnitScale turns the histogram's microseconds into the milliseconds the
// .hgrm file is written in (HdrHistogram's outputValueUnitScalingRatio).
const hgrmUnitScale = 1000.0

// WriteHGRM writes the run's latency distribution in HdrHistogram's
// percentile distribution text format (".hgrm"), values in milliseconds,
// byte for byte as Java's Histogram.outputPercentileDistribution prints it,
// because the existing plotters (plotFiles.html, hdr-plot) parse that layout.
func WriteHGRM(w io.Writer, r *Result) error {
	if r == nil {
		return fmt.Errorf("write .hgrm: no result")
	}
	if r.Latency.Histogram == "" {
		return fmt.Errorf("write .hgrm: the result holds no latency histogram")
	}
	h, err := DecodeHistogram(r.Latency.Histogram)
	if err != nil {
		return fmt.Errorf("write .hgrm: %w", err)
	}

	bw := bufio.NewWriter(w)
	digits := int(h.SignificantFigures())
	fmt.Fprintf(bw, "%12s %14s %10s %14s\n\n", "Value", "Percentile", "TotalCount", "1/(1-Percentile)")

	// Java iterates nothing for an empty histogram, while the Go iterator
	// still yields a 100% row; follow Java.
	if h.TotalCount() > 0 {
		for _, b := range h.CumulativeDistributionWithTicks(hgrmTicksPerHalfDistance) {
			q := b.Quantile / 100
			value := strconv.FormatFloat(float64(b.ValueAt)/hgrmUnitScale, 'f', digits, 64)
			if b.Quantile == 100 {
				fmt.Fprintf(bw, "%12s %2.12f %10d\n", value, q, b.Count)
				continue
			}
			fmt.Fprintf(bw, "%12s %2.12f %10d %14.2f\n", value, q, b.Count, 1/(1-q))
		}
	}

	buckets, subBuckets := histogramGeometry(h)
	fmt.Fprintf(bw, "#[Mean    = %12s, StdDeviation   = %12s]\n",
		hgrmFixed(h.Mean()/hgrmUnitScale, digits), hgrmFixed(h.StdDev()/hgrmUnitScale, digits))
	fmt.Fprintf(bw, "#[Max     = %12s, Total count    = %12d]\n",
		hgrmFixed(float64(h.Max())/hgrmUnitScale, digits), h.TotalCount())
	fmt.Fprintf(bw, "#[Buckets = %12d, SubBuckets     = %12d]\n", buckets, subBuckets)
	return bw.Flush()
}

// hgrmFixed prints like Java's %.Nf; a NaN (from a corrupt histogram) is
// printed as 0 so that plotters still parse the footer.
func hgrmFixed(v float64, digits int) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		v = 0
	}
	return strconv.FormatFloat(v, 'f', digits, 64)
}
