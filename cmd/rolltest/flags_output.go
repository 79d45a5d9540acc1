package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rolltest/rolltest/pkg/loadgen"
	"github.com/rolltest/rolltest/pkg/report"
)

// outputFlags are where the report goes and what the gate demands.
type outputFlags struct {
	files             reportFiles
	quiet, noProgress bool
	maxErrors         int64
	maxErrorRate      string
	maxLate           string
	maxP99            time.Duration
	maxP99Ratio       float64
	metrics           metricsFlags
	jtl               string
}

func (f *outputFlags) register(cmd *cobra.Command) {
	f.files = registerReportFiles(cmd, reportFormats())
	fs := cmd.Flags()
	fs.BoolVarP(&f.quiet, "quiet", "q", false, "print nothing but errors (files are still written)")
	fs.BoolVar(&f.noProgress, "no-progress", false, "do not show progress while running")
	fs.Int64Var(&f.maxErrors, "max-errors", 0, "gate: most dropped requests allowed (-1: no limit)")
	fs.StringVar(&f.maxErrorRate, "max-error-rate", "", "gate: most dropped requests allowed as a fraction or percentage, e.g. 0.001 or 0.1%")
	fs.StringVar(&f.maxLate, "max-late", strconv.FormatFloat(100*loadgen.ScheduleMaxBehind, 'g', -1, 64)+"%",
		"gate (open model): most requests allowed to leave more than "+loadgen.ScheduleTolerance.String()+" after they were due, as a fraction or percentage; beyond it the generator, not the service, shaped the load (-1: no limit)")
	fs.DurationVar(&f.maxP99, "max-p99", 0, "gate: highest p99 latency allowed, e.g. 250ms")
	fs.Float64Var(&f.maxP99Ratio, "max-p99-ratio", 0, "gate: highest rollout p99 ÷ baseline p99 allowed, e.g. 2")
	f.metrics.register(cmd)
	fs.StringVar(&f.jtl, "jtl", "", jtlFlagHelp)
}

// validate checks the gate and report flags before anything runs and
// returns the gate's thresholds.
func (f *outputFlags) validate() (report.Thresholds, error) {
	th, err := f.thresholds()
	if err != nil {
		return th, err
	}
	if err := f.metrics.validate(); err != nil {
		return th, err
	}
	if err := checkOutputPath("--jtl", f.jtl); err != nil {
		return th, err
	}
	if f.jtl != "" {
		if err := f.files.notWrittenTwice("--jtl", f.jtl); err != nil {
			return th, err
		}
	}
	return th, f.files.checkPaths()
}

func (f *outputFlags) thresholds() (report.Thresholds, error) {
	th := report.Thresholds{MaxErrors: f.maxErrors, MaxErrorRate: -1, MaxP99Ms: -1, MaxP99Ratio: -1}
	if f.maxErrors < -1 {
		return th, usagef("--max-errors", "must be 0 or more, or -1 for no limit")
	}
	if f.maxErrorRate != "" {
		v, err := parseRate(f.maxErrorRate)
		if err != nil {
			return th, usagef("--max-error-rate", "%v", err)
		}
		th.MaxErrorRate = v
	}
	lateShare := -1.0
	if f.maxLate != "-1" {
		v, err := parseRate(f.maxLate)
		if err != nil {
			return th, usagef("--max-late", "%v", err)
		}
		lateShare = v
	}
	th.MaxLateShare = &lateShare
	switch {
	case f.maxP99 < 0:
		return th, usagef("--max-p99", "must be positive, e.g. 250ms")
	case f.maxP99 > 0:
		th.MaxP99Ms = float64(f.maxP99) / float64(time.Millisecond)
	}
	switch {
	case !(f.maxP99Ratio >= 0): // also NaN
		return th, usagef("--max-p99-ratio", "must be positive, e.g. 2 for twice the baseline p99")
	case f.maxP99Ratio > 0:
		th.MaxP99Ratio = f.maxP99Ratio
	}
	return th, nil
}

// parseRate reads a fraction ("0.001") or a percentage ("0.1%").
func parseRate(s string) (float64, error) {
	s = strings.TrimSpace(s)
	pct := strings.HasSuffix(s, "%")
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number: write a fraction like 0.001 or a percentage like 0.1%%", s)
	}
	if pct {
		v /= 100
	}
	if !(v >= 0 && v <= 1) { // also rejects NaN
		return 0, fmt.Errorf("%q is outside 0–100%%", s)
	}
	return v, nil
}
