package jmx

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Plan is what rolltest can run of a JMeter test plan.
type Plan struct {
	// Name is the TestPlan's testname.
	Name string
	// Threads is the sum of every thread group's threads: rolltest runs
	// them as one pool, all at once.
	Threads int
	// RampUp is the longest thread group ramp-up; rolltest starts at full
	// load, so it is kept for the user to see, not rendered as a flag.
	RampUp time.Duration
	// Duration is the longest scheduler duration of a thread group, 0 when
	// none sets one.
	Duration time.Duration
	// Loops is the thread groups' iteration count, -1 when any loops
	// forever.
	Loops int
	// Total is how many requests the plan sends in all when every thread
	// group loops a finite number of times without a duration, else 0.
	Total int64
	// Rate is the requests per second the throughput timers ask for, 0
	// when the plan has none (the closed model then runs Threads workers).
	Rate float64
	// Timeout is the longest connect plus response timeout of a sampler, 0
	// when none sets one.
	Timeout time.Duration
	// Requests are the HTTP samplers, flattened out of their controllers;
	// their weights keep the proportions in which JMeter sends them.
	Requests []Request
	// ExpectStatus are the response codes the Response Assertions accept,
	// nil when none checks the code.
	ExpectStatus []int
	// ExpectBody is the text a Response Assertion requires in the body.
	ExpectBody string
	// MaxDurationMs is the strictest Duration Assertion, 0 when none. It
	// is kept apart because a JMeter assertion fails one sample while
	// rolltest's --max-p99 fails the run: the CLI renders it only on request.
	MaxDurationMs int64
	// Unsupported lists every element and setting not carried over
	// exactly: dropped, approximated, or not needed by rolltest.
	Unsupported []Note
}

// Request is one HTTP request of the mix.
type Request struct {
	Name   string // the sampler's testname
	Method string
	URL    string
	Header []Header
	Body   []byte
	// Weight is the request's share of the mix relative to the others.
	Weight int
}

// Header is one request header.
type Header struct {
	Name, Value string
}

// Note says what became of one element (or setting) of the plan.
type Note struct {
	// Path is the testnames from the TestPlan down to the element,
	// joined by " › " as JMeter's tree shows them.
	Path string
	Msg  string
}

func (n Note) String() string { return n.Path + ": " + n.Msg }

// PathSep joins the testnames of a Note's Path.
const PathSep = " › "

// ParseFile reads the .jmx at path; CSV files are found relative to its
// directory.
func ParseFile(path string) (*Plan, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read JMeter plan: %w", err)
	}
	defer f.Close()
	p, err := Parse(f, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("read JMeter plan %s: %w", path, err)
	}
	return p, nil
}

// Parse reads a JMeter 2.x–5.x test plan from r. dir is the directory that
// relative file names in the plan (CSV Data Set Config) are relative to;
// with dir "" a plan that needs a file fails.
func Parse(r io.Reader, dir string) (*Plan, error) {
	root, err := decode(r)
	if err != nil {
		return nil, err
	}
	top, err := planTree(root)
	if err != nil {
		return nil, err
	}
	t := newTranslator(dir)
	if err := t.plan(top); err != nil {
		return nil, err
	}
	return t.result(top)
}

// ArgsOptions choose the flags Args renders beyond the load's shape.
type ArgsOptions struct {
	// Bounded adds --duration or --requests, which a run without a
	// rollout needs to end and a run with one refuses.
	Bounded bool
	// MaxP99 turns MaxDurationMs into the --max-p99 gate.
	MaxP99 bool
}

// Args renders the plan as rolltest run flags: --rate when a throughput
// timer set one (open model), else --concurrency with the threads (closed
// model, as JMeter's threads are), then --timeout and --expect-body. The
// requests themselves are not flags: they go to a targets file.
// ExpectStatus has no flag; rolltest counts every non-2xx as a failure.
func (p *Plan) Args(opt ArgsOptions) []string {
	var a []string
	switch {
	case p.Rate > 0:
		a = append(a, "--rate", strconv.FormatFloat(p.Rate, 'f', -1, 64))
	case p.Threads > 0:
		a = append(a, "--concurrency", strconv.Itoa(p.Threads))
	}
	if opt.Bounded {
		switch {
		case p.Duration > 0:
			a = append(a, "--duration", p.Duration.String())
		case p.Total > 0:
			a = append(a, "--requests", strconv.FormatInt(p.Total, 10))
		}
	}
	if p.Timeout > 0 {
		a = append(a, "--timeout", p.Timeout.String())
	}
	if p.ExpectBody != "" {
		a = append(a, "--expect-body", p.ExpectBody)
	}
	if opt.MaxP99 && p.MaxDurationMs > 0 {
		a = append(a, "--max-p99", (time.Duration(p.MaxDurationMs) * time.Millisecond).String())
	}
	return a
}
