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
		Use:   "report RESULT.json [--html FILE] [--junit FILE] [--hgrm FILE]",
		Short: "Re-render a saved result as text, HTML, JUnit or .hgrm",
		Example: `  rolltest report result.json --html report.html --junit junit.xml
  rolltest report result.json --quiet --hgrm latency.hgrm`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(_ *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return &usageError{msg: fmt.Sprintf("cannot open %s: %v", args[0], unwrapPathErr(err))}
			}
			defer f.Close()
			res, err := report.ReadResult(f)
			if err != nil {
				return &usageError{msg: fmt.Sprintf("%s: %v", args[0], err)}
			}
			if err := of.checkPaths(); err != nil {
				return err
			}
			of.jsonFile = ""
			return writeReports(res, of, stdout)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&of.htmlFile, "html", "", "write the self-contained HTML report to this file")
	fs.StringVar(&of.junitFile, "junit", "", "write JUnit XML, one test case per gate, to this file")
	fs.StringVar(&of.hgrmFile, "hgrm", "", "write the latency histogram in HdrHistogram's .hgrm format to this file")
	fs.BoolVarP(&of.quiet, "quiet", "q", false, "do not print the text summary")
	return cmd
}
