package main

import (
	"bytes"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/rolltest/rolltest/internal/atomicfile"
	"github.com/rolltest/rolltest/pkg/loadgen"
	"github.com/rolltest/rolltest/pkg/targets"
)

func newImportCmd(stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Translate another tool's test plan into rolltest's targets and flags",
		Args:  usageArgs(cobra.NoArgs),
		RunE:  func(c *cobra.Command, _ []string) error { return c.Help() },
	}
	cmd.AddCommand(newImportJMXCmd(stdout, stderr))
	return cmd
}

func newImportJMXCmd(stdout, stderr io.Writer) *cobra.Command {
	var (
		out    string
		maxP99 bool
	)
	cmd := &cobra.Command{
		Use:   "jmx PLAN.jmx",
		Short: "Translate a JMeter test plan into a targets file and the equivalent rolltest run command",
		Long: `Reads a JMeter test plan (.jmx, JMeter 2.x to 5.x) and writes its HTTP requests
as a targets file (one JSON object per line: method, url, header, base64 body,
name, weight), then the rolltest run command that sends them as the plan
would: a throughput timer becomes --rate, else the threads --concurrency.

Every element that could not be carried over exactly is listed on stderr by
its path in the plan tree; nothing is dropped silently. 'rolltest run --jmx
PLAN.jmx' runs a plan directly with the same translation.`,
		Example: `  # write shop.jsonl and print the command that runs it
  rolltest import jmx shop.jmx -o shop.jsonl

  # the targets on stdout, the command and the notes on stderr
  rolltest import jmx shop.jmx > shop.jsonl`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			plan, ts, notes, err := translateJMX(stderr, args[0])
			if err != nil {
				return &usageError{msg: err.Error()}
			}
			var buf bytes.Buffer
			if err := targets.WriteJSON(&buf, ts); err != nil {
				return err
			}
			file, cmdOut := "TARGETS.jsonl", stderr
			if out != "" {
				if err := atomicfile.Write(out, func(w io.Writer) error { _, err := w.Write(buf.Bytes()); return err }); err != nil {
					return &usageError{msg: fmt.Sprintf("-o %s: %v", out, unwrapPathErr(err))}
				}
				file, cmdOut = out, stdout
			} else if _, err := stdout.Write(buf.Bytes()); err != nil {
				return err
			}
			fmt.Fprintln(cmdOut, plan.RunCommand(file, maxP99))
			if plan.MaxDurationMs > 0 && !maxP99 {
				fmt.Fprintf(stderr, "# its Duration Assertion (%d ms) fails single samples in JMeter; --max-p99 gates the run instead: add --max-p99 to the import to render it\n", plan.MaxDurationMs)
			}
			writeNotes(stderr, notes, runRedactor(loadgen.Config{Targets: targets.Engine(ts)}))
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "write the targets file here (the command then goes to stdout) instead of to stdout")
	cmd.Flags().BoolVar(&maxP99, "max-p99", false, "turn the plan's Duration Assertion into the run's --max-p99 gate")
	return cmd
}
