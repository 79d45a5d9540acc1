package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rolltest/rolltest/internal/redact"
	"github.com/rolltest/rolltest/pkg/jmx"
	"github.com/rolltest/rolltest/pkg/loadgen"
	"github.com/rolltest/rolltest/pkg/targets"
)

// jmxPlan is a JMeter plan translated for one run: its targets, and what
// the flags the user left unset take from it.
type jmxPlan struct {
	file  string
	plan  *jmx.Plan
	notes []jmx.Note
}

// translateJMX reads the plan at path and turns its requests into
// targets, with the notes of what it did not carry over. A plan with no
// HTTP request gets its notes written to stderr first: what the plan held
// instead is the answer to "why none?".
func translateJMX(stderr io.Writer, path string) (*jmx.Plan, []targets.Target, []jmx.Note, error) {
	plan, err := jmx.ParseFile(path)
	if err != nil {
		return nil, nil, nil, err
	}
	ts, notes, err := plan.Targets(path)
	if err != nil {
		if errors.Is(err, jmx.ErrNoRequests) {
			writeNotes(stderr, plan.Unsupported, redact.New())
		}
		return nil, nil, nil, err
	}
	return plan, ts, append(notes, plan.Unsupported...), nil
}

// loadJMX reads --jmx into cfg in place of --target and --targets. The
// plan's pacing (a throughput timer's rate, else its threads), timeout
// and body assertion fill the flags the user did not set; flags given
// win.
func (f *loadFlags) loadJMX(cmd *cobra.Command, cfg *loadgen.Config) error {
	if f.jmxFile == "" {
		return nil
	}
	switch {
	case f.target != "":
		return usagef("--jmx", "the plan names its own requests: drop --target")
	case f.targetsFile != "":
		return usagef("--jmx", "use --targets FILE or --jmx PLAN, not both")
	}
	if err := f.ownRequests(cmd, "each request of the --jmx plan", ""); err != nil {
		return err
	}
	plan, ts, notes, err := translateJMX(cmd.ErrOrStderr(), f.jmxFile)
	if err != nil {
		return usagef("--jmx", "%v", err)
	}
	p := &jmxPlan{file: f.jmxFile, plan: plan, notes: notes}
	f.jmx = p
	cfg.Target, cfg.Method, cfg.Targets = "", "", targets.Engine(ts)
	changed := cmd.Flags().Changed
	if !changed("rate") && !changed("concurrency") {
		// Each model clears the other: the demo defaults --rate, which a
		// plan's threads must replace, not join.
		switch {
		case p.plan.Rate > 0:
			cfg.Rate, cfg.Concurrency = p.plan.Rate, 0
		case p.plan.Threads > 0:
			cfg.Rate, cfg.Concurrency = 0, p.plan.Threads
			if !changed("connections") {
				cfg.Connections = p.plan.Threads
			}
		}
	}
	if !changed("timeout") && p.plan.Timeout > 0 {
		cfg.Timeout = p.plan.Timeout
	}
	if f.expectBody == "" && p.plan.ExpectBody != "" {
		cfg.ExpectBody = []byte(p.plan.ExpectBody)
	}
	return nil
}

// bound gives a run without a rollout the plan's length (its duration,
// or its finite number of requests) when neither --duration nor
// --requests was given.
func (p *jmxPlan) bound(cfg *loadgen.Config) {
	if p == nil || cfg.Duration != 0 || cfg.Requests != 0 {
		return
	}
	switch {
	case p.plan.Duration > 0:
		cfg.Duration = p.plan.Duration
	case p.plan.Total > 0:
		cfg.Requests = uint64(p.plan.Total)
	}
}

// report writes, before the load, what the plan became and what of it
// was not carried over: a translation that drops an element silently
// would pass a run JMeter fails.
func (p *jmxPlan) report(w io.Writer, cfg loadgen.Config) {
	if p == nil {
		return
	}
	pace := fmt.Sprintf("%g req/s", cfg.Rate)
	if cfg.Concurrency > 0 {
		pace = fmt.Sprintf("%d workers", cfg.Concurrency)
	}
	fmt.Fprintf(w, "rolltest: --jmx %s: %d requests, %s\n", p.file, len(cfg.Targets), pace)
	if p.plan.MaxDurationMs > 0 {
		fmt.Fprintf(w, "rolltest: --jmx %s: its Duration Assertion (%d ms) fails single samples in JMeter; rolltest gates the run only if you ask: --max-p99 %dms\n", p.file, p.plan.MaxDurationMs, p.plan.MaxDurationMs)
	}
	writeNotes(w, p.notes, runRedactor(cfg))
}

// writeNotes prints the notes through rd: a note may quote a value of the
// plan (an assertion's text, a header), and a plan may carry credentials.
func writeNotes(w io.Writer, notes []jmx.Note, rd *redact.Redactor) {
	if len(notes) == 0 {
		return
	}
	fmt.Fprintf(w, "not carried over exactly (%d):\n", len(notes))
	for _, n := range notes {
		fmt.Fprintf(w, "  %s\n", rd.Text(strings.ReplaceAll(n.String(), "\n", " ")))
	}
}
