package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rolltest/rolltest/pkg/report"
)

// exitCode is returned by commands that have already said everything they
// have to say (e.g. a written report whose verdict failed).
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// usageError is a problem with the command line or configuration: exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(flag, format string, args ...any) error {
	return &usageError{msg: flag + ": " + fmt.Sprintf(format, args...)}
}

// rolloutError is a failure to set up or carry out the rollout: exit 3.
type rolloutError struct{ err error }

func (e *rolloutError) Error() string { return e.err.Error() }
func (e *rolloutError) Unwrap() error { return e.err }

// exitError is the exit code of any other error, e.g. a report that could
// not be written: non-zero, so CI stops, without claiming a gate failed
// that never ran. It equals report.ExitGateFailed, as shells only tell
// zero from non-zero and the message says which it was.
const exitError = 1

func exitCodeOf(err error) int {
	var ue *usageError
	var re *rolloutError
	switch {
	case errors.As(err, &ue):
		return report.ExitUsage
	case errors.As(err, &re):
		return report.ExitRolloutFailed
	}
	return exitError
}

// usageArgs makes a positional-argument check's complaint a usage error
// (exit 2), as SetFlagErrorFunc does for flags: cobra's own errors carry no
// type to tell them apart later.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if err := check(c, args); err != nil {
			return &usageError{msg: fmt.Sprintf("%v (see '%s --help')", err, c.CommandPath())}
		}
		return nil
	}
}

// oneLine keeps an error message on one line: CI logs and humans read the
// first line only.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
