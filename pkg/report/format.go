package report

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/rolltest/rolltest/pkg/loadgen"
)

// How the plain renderers, the verdict and the diagnosis write numbers and
// outcome counts: in one place, so that they read alike.

// FormatCount writes n with thousands separators: 1,234,567. The text
// summary and the HTML report both use it, so their numbers read alike.
func FormatCount(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// percent writes a share with more decimals the smaller it is, so that one
// failure in a million does not read as 0%.
func percent(f float64) string {
	switch {
	case f == 0:
		return "0%"
	case f < 0.0001:
		return fmt.Sprintf("%.4f%%", 100*f)
	case f < 0.01:
		return fmt.Sprintf("%.3f%%", 100*f)
	}
	return fmt.Sprintf("%.2f%%", 100*f)
}

// msText writes a latency with three significant digits: 2.35ms, 41.5ms,
// 250ms, 1.20s.
func msText(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.2fs", v/1000)
	case v >= 100:
		return fmt.Sprintf("%.0fms", v)
	case v >= 10:
		return fmt.Sprintf("%.1fms", v)
	}
	return fmt.Sprintf("%.2fms", v)
}

// trimFloat writes a rate with one decimal, none when it is whole.
func trimFloat(f float64) string {
	s := fmt.Sprintf("%.1f", f)
	return strings.TrimSuffix(s, ".0")
}

// dash stands in for a value that is absent, so that a table cell is never
// empty.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func share(part, whole int64) float64 {
	if whole == 0 {
		return 0
	}
	return float64(part) / float64(whole)
}

// dropped says whether the outcome named name counts as a dropped request,
// as loadgen's outcome table says; a name the table lacks (a newer
// rolltest's) does.
func dropped(name string) bool {
	o, _ := loadgen.ParseOutcome(name)
	return o.Failed()
}

// rankedOutcomes lists the outcomes with a non-zero count: the dropped
// ones largest count first, ties by name; withOK puts the others (ok)
// before them.
func rankedOutcomes(m map[string]int64, withOK bool) []string {
	var keys []string
	for k, v := range m {
		if v > 0 && (withOK || dropped(k)) {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b string) int {
		if da, db := dropped(a), dropped(b); da != db {
			if db {
				return -1
			}
			return 1
		}
		if c := cmp.Compare(m[b], m[a]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	return keys
}

// outcomeSentence lists failure outcomes, largest first: "3 reset, 1 eof".
func outcomeSentence(m map[string]int64) string {
	keys := rankedOutcomes(m, false)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d %s", m[k], k)
	}
	return strings.Join(parts, ", ")
}

// FormatPercent is part/whole as a percentage with three significant
// digits, as the HTML page writes shares, so that one failure in a million
// still shows as non-zero.
func FormatPercent(part, whole int64) string {
	if whole <= 0 {
		return "–"
	}
	if part == 0 {
		return "0 %"
	}
	p := 100 * float64(part) / float64(whole)
	decimals := max(0, 2-int(math.Floor(math.Log10(p))))
	s := strconv.FormatFloat(p, 'f', decimals, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s + " %"
}
