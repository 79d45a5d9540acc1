package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/rolltest/rolltest/pkg/report"
)

func newReportCmd(stdout, _ io.Writer) *cobra.Command {
	var of outputFlags
	cmd := &cobra.Command{
		Example: `  rolltest report result.json --html report.html --junit junit.xml
  rolltest report result.json --quiet --hgrm latency.hgrm`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := refuseJTL(cmd); err != nil {
				return err
			}
			f, err := os.Open(args[0])
			if err != nil {
				return &usageError{msg: fmt.Sprintf("cannot open %s: %v", args[0], unwrapPathErr(err))}
			}
			defer f.Close()
			// Refused by its size before a byte is read when the size is
			// known; ReadResult bounds what it reads from anything else.
			if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Size() > report.MaxResultBytes {
				return &usageError{msg: fmt.Sprintf("%s is larger than %d MiB: not a rolltest result; give the file written by rolltest run --json", args[0], report.MaxResultBytes>>20)}
			}
			res, err := report.ReadResult(f)
			if err != nil {
				return &usageError{msg: fmt.Sprintf("%s: %v; give the file written by rolltest run --json", args[0], err)}
			}
			// A document from an older rolltest (or edited by hand) may
			// hold credentials that this one would have hidden.
			res.Redact(nil)
			if err := of.files.checkPaths(); err != nil {
				return err
			}
			return writeReports(res, of, stdout)
		},
	}
	of.files = registerReportFiles(cmd, rerenderFormats())
	cmd.Use = "report RESULT.json " + of.files.usage()
	cmd.Short = "Re-render a saved result as text, " + of.files.names()
	cmd.Flags().BoolVarP(&of.quiet, "quiet", "q", false, "do not print the text summary")
	cmd.Flags().StringVar(&of.jtl, "jtl", "", "not available: a result keeps failed attempts only; write the .jtl during the run (rolltest run --jtl FILE)")
	return cmd
}
