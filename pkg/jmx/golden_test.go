package jmx

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// updateGolden rewrites the golden files in testdata instead of comparing:
// go test ./pkg/jmx -run Golden -update
var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata")

// dump renders a Plan as stable text, every field in a fixed order.
func dump(p *Plan) string {
	var b strings.Builder
	fmt.Fprintf(&b, "plan %q\n", p.Name)
	fmt.Fprintf(&b, "threads %d  ramp-up %v  duration %v  loops %d  total %d\n", p.Threads, p.RampUp, p.Duration, p.Loops, p.Total)
	fmt.Fprintf(&b, "rate %s/s  timeout %v\n", strconv.FormatFloat(p.Rate, 'f', -1, 64), p.Timeout)
	fmt.Fprintf(&b, "expect status %v  body %q  max duration %dms\n", p.ExpectStatus, p.ExpectBody, p.MaxDurationMs)
	fmt.Fprintf(&b, "args %q\n", p.Args(ArgsOptions{}))
	fmt.Fprintf(&b, "args bounded, max-p99 %q\n", p.Args(ArgsOptions{Bounded: true, MaxP99: true}))
	for _, r := range p.Requests {
		fmt.Fprintf(&b, "\nrequest %q weight %d\n  %s %s\n", r.Name, r.Weight, r.Method, r.URL)
		for _, h := range r.Header {
			fmt.Fprintf(&b, "  %s: %s\n", h.Name, h.Value)
		}
		if r.Body != nil {
			fmt.Fprintf(&b, "  body %q\n", r.Body)
		}
	}
	b.WriteString("\nnotes\n")
	for _, n := range p.Unsupported {
		fmt.Fprintf(&b, "  %s\n", n)
	}
	return b.String()
}

func TestGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.jmx"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 4 {
		t.Fatalf("found %d fixtures in testdata, want the 4 plans", len(files))
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".jmx")
		t.Run(name, func(t *testing.T) {
			p, err := ParseFile(file)
			if err != nil {
				t.Fatal(err)
			}
			got := []byte(dump(p))
			golden := filepath.Join("testdata", name+".golden")
			if *updateGolden {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (go test ./pkg/jmx -run Golden -update creates it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from %s (go test ./pkg/jmx -run Golden -update rewrites it):\n--- got\n%s\n--- want\n%s", file, golden, got, want)
			}
		})
	}
}

// importDump renders what `rolltest import jmx` makes of a plan: its
// targets (name, method, URL, weight), the run command it prints for a
// targets file called TARGETS.jsonl, and every note; or, for a plan with
// nothing to carry over, the error and the notes that say why.
func importDump(file string) string {
	var b strings.Builder
	p, err := ParseFile(file)
	if err != nil {
		fmt.Fprintf(&b, "error: %v\n", err)
		return b.String()
	}
	ts, notes, err := p.Targets(file)
	if err != nil {
		fmt.Fprintf(&b, "error: %v\n", err)
	} else {
		b.WriteString("targets\n")
		for _, t := range ts {
			fmt.Fprintf(&b, "  %q %s %s weight %d\n", t.Name, t.Method, t.URL, t.Weight)
		}
		fmt.Fprintf(&b, "\ncommand\n%s\n", p.RunCommand("TARGETS.jsonl", false))
	}
	b.WriteString("\nnotes\n")
	for _, n := range append(notes, p.Unsupported...) {
		fmt.Fprintf(&b, "  %s\n", n)
	}
	return b.String()
}

// TestJMeterTemplates: plans JMeter's own authors wrote (Apache JMeter
// 2.13's templates, unmodified; see testdata/jmeter-templates/NOTICE)
// import to the targets, command and notes in their .golden files.
func TestJMeterTemplates(t *testing.T) {
	dir := filepath.Join("testdata", "jmeter-templates")
	files, err := filepath.Glob(filepath.Join(dir, "*.jmx"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 4 {
		t.Fatalf("found %d templates in %s, want the 4 listed in its NOTICE", len(files), dir)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".jmx")
		t.Run(name, func(t *testing.T) {
			got := []byte(importDump(file))
			golden := filepath.Join(dir, name+".golden")
			if *updateGolden {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (go test ./pkg/jmx -run JMeterTemplates -update creates it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from %s (go test ./pkg/jmx -run JMeterTemplates -update rewrites it):\n--- got\n%s\n--- want\n%s", file, golden, got, want)
			}
		})
	}
}
