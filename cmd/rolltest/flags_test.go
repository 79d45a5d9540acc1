package main

import (
	"math"
	"strings"
	"testing"
)

func TestParseRate(t *testing.T) {
	tests := []struct {
		in   string
		want float64
		err  bool
	}{
		{"0.001", 0.001, false},
		{"0.1%", 0.001, false},
		{"5%", 0.05, false},
		{" 0 ", 0, false},
		{"1", 1, false},
		{"100%", 1, false},
		{"101%", 0, true},
		{"-1", 0, true},
		{"lots", 0, true},
		{"", 0, true},
		{"NaN", 0, true},
	}
	for _, tt := range tests {
		got, err := parseRate(tt.in)
		if (err != nil) != tt.err || (!tt.err && math.Abs(got-tt.want) > 1e-12) {
			t.Errorf("parseRate(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"0.1%", "1", "-0", "1e-3", "%", "NaN%", "Inf"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := parseRate(s)
		if err == nil && !(v >= 0 && v <= 1) {
			t.Fatalf("parseRate(%q) accepted %v outside [0, 1]", s, v)
		}
	})
}

func FuzzParseHeader(f *testing.F) {
	for _, s := range []string{"Accept: */*", "X-A:b", ":x", "a", "Host: h:8080", " N : v "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := parseHeader(s)
		if err != nil {
			return
		}
		if h.Name == "" || h.Name != strings.TrimSpace(h.Name) || strings.Contains(h.Name, ":") {
			t.Fatalf("parseHeader(%q) gave name %q", s, h.Name)
		}
	})
}
