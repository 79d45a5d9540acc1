package html

import (
	"encoding/json"
	"math"
	"sort"
	"strconv"
)

// How the page writes numbers. Values are written as the JSON has them
// (jsonFloat), so that a reader can find each number of the page in the
// document.

// jsonFloat prints a number exactly as encoding/json wrote it into the
// result, so that a reader can match the report with the JSON.
func jsonFloat(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "–"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "–"
	}
	return string(b)
}

func secs(p *float64) string {
	if p == nil {
		return ""
	}
	return jsonFloat(*p)
}

func kvs(m map[string]int64) []kv {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	out := make([]kv, len(keys))
	for i, k := range keys {
		out[i] = kv{k, strconv.FormatInt(m[k], 10)}
	}
	return out
}

// formatMs writes a latency with its unit, as the charts and the facts
// show it: 2.35 ms, 41.5 ms, 250 ms.
func formatMs(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(math.Round(v), 'f', -1, 64) + " ms"
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64) + " ms"
	default:
		return strconv.FormatFloat(v, 'f', 2, 64) + " ms"
	}
}
