package jmx

import (
	"errors"
	"fmt"
	"math"

	"github.com/rolltest/rolltest/pkg/loadgen"
	"github.com/rolltest/rolltest/pkg/targets"
)

// ErrNoRequests is what Targets returns, wrapped, for a plan with no HTTP
// request. Plan.Unsupported then says what the plan held instead, which
// the caller should show: the error alone does not tell the user why.
var ErrNoRequests = errors.New("no HTTP request to carry over (every sampler is disabled, unsupported or absent)")

// Targets turns the plan's requests into the targets of one rolltest run,
// checked as a targets file is (one scheme, host and port; sendable
// methods, URLs and headers). Weights keep their proportions in the
// smallest whole numbers; when those exceed targets.MaxWeight they are
// scaled down and rounded, never below 1, and a note says by how much the
// proportions moved. source names the plan in errors.
func (p *Plan) Targets(source string) ([]targets.Target, []Note, error) {
	if len(p.Requests) == 0 {
		return nil, nil, fmt.Errorf("%s: %w", source, ErrNoRequests)
	}
	weights := make([]int, len(p.Requests))
	for i, r := range p.Requests {
		weights[i] = max(r.Weight, 1)
	}
	weights, drift := fitWeights(weights, targets.MaxWeight)
	var notes []Note
	if drift > 0 {
		notes = append(notes, Note{Path: p.Name, Msg: fmt.Sprintf("request weights rounded to at most %d: a request's share moved by up to %.2f percentage points", targets.MaxWeight, 100*drift)})
	}
	ts := make([]targets.Target, len(p.Requests))
	// A sampler fed by a CSV file becomes one request per row, all with
	// its name; the report's per-target rows must still be told apart.
	seen := map[string]int{}
	for i, r := range p.Requests {
		name := r.Name
		if seen[r.Name]++; seen[r.Name] > 1 {
			name = fmt.Sprintf("%s (%d)", r.Name, seen[r.Name])
		}
		t := targets.Target{Name: name, Method: r.Method, URL: r.URL, Body: r.Body, Weight: weights[i]}
		for _, h := range r.Header {
			t.Header = append(t.Header, loadgen.Header{Name: h.Name, Value: h.Value})
		}
		ts[i] = t
	}
	checked, err := targets.Check(source, ts)
	if err != nil {
		return nil, nil, err
	}
	return checked, notes, nil
}

// fitWeights divides w by its greatest common divisor and, if the largest
// is still above limit, scales all down proportionally (each at least 1).
// drift is the largest change of any weight's share of the total.
func fitWeights(w []int, limit int) (out []int, drift float64) {
	g := 0
	for _, x := range w {
		g = gcd(g, x)
	}
	out = make([]int, len(w))
	top, sum := 0, 0
	for i, x := range w {
		out[i] = x / g
		top = max(top, out[i])
		sum += out[i]
	}
	if top <= limit {
		return out, 0
	}
	scaled := make([]int, len(out))
	newSum := 0
	for i, x := range out {
		scaled[i] = max(1, int(math.Round(float64(x)*float64(limit)/float64(top))))
		newSum += scaled[i]
	}
	for i := range out {
		before := float64(out[i]) / float64(sum)
		after := float64(scaled[i]) / float64(newSum)
		drift = max(drift, math.Abs(after-before))
	}
	return scaled, drift
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
