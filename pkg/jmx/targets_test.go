package jmx

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestFitWeights(t *testing.T) {
	for _, tc := range []struct {
		in, want []int
		drift    bool
	}{
		{[]int{1, 1, 1}, []int{1, 1, 1}, false},
		{[]int{300, 100, 100}, []int{3, 1, 1}, false},
		{[]int{5000, 10}, []int{500, 1}, false}, // the common divisor alone makes it fit
		{[]int{100000, 1}, []int{1000, 1}, true},
		{[]int{3000, 1500, 1}, []int{1000, 500, 1}, true},
	} {
		got, drift := fitWeights(tc.in, 1000)
		if !slices.Equal(got, tc.want) || (drift > 0) != tc.drift {
			t.Errorf("fitWeights(%v) = %v drift %v, want %v, drift>0 %v", tc.in, got, drift, tc.want, tc.drift)
		}
	}
}

// TestPlanTargets: a plan's requests become checked targets with their
// proportions, and the rows a CSV file made of one sampler get names a
// report can tell apart.
func TestPlanTargets(t *testing.T) {
	plan, err := ParseFile(filepath.Join("testdata", "post_csv.jmx"))
	if err != nil {
		t.Fatal(err)
	}
	ts, _, err := plan.Targets("post_csv.jmx")
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != len(plan.Requests) {
		t.Fatalf("%d targets from %d requests", len(ts), len(plan.Requests))
	}
	names := map[string]bool{}
	for i, tg := range ts {
		r := plan.Requests[i]
		if names[tg.Name] {
			t.Errorf("target name %q twice", tg.Name)
		}
		names[tg.Name] = true
		if !strings.HasPrefix(tg.Name, r.Name) || tg.Method != r.Method || tg.URL != r.URL || string(tg.Body) != string(r.Body) || len(tg.Header) != len(r.Header) {
			t.Errorf("target %d = %+v, from request %+v", i, tg, r)
		}
	}
	if !names["Create order (2)"] {
		t.Errorf("names %v: want the CSV rows of Create order numbered", names)
	}
}

func TestPlanTargetsErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		reqs []Request
		want string
	}{
		{"none", nil, "no HTTP request to carry over"},
		{"two hosts", []Request{{Name: "a", Method: "GET", URL: "http://a.example:80/"}, {Name: "b", Method: "GET", URL: "http://b.example:80/"}}, "must share scheme, host and port"},
		{"bad header", []Request{{Name: "a", Method: "GET", URL: "http://a.example/", Header: []Header{{"X-A", "1\r\n2"}}}}, "line break"},
		{"bad method", []Request{{Name: "a", Method: "GE T", URL: "http://a.example/"}}, "not an HTTP method"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := (&Plan{Name: "p", Requests: tc.reqs}).Targets("p.jmx")
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %v, want one line containing %q", err, tc.want)
			}
		})
	}
}
