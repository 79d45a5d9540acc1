package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "rolltest",
		Short: "Prove that a rolling update drops zero requests under load",
		Long: `rolltest sends steady HTTP load at a service, rolls its Kubernetes Deployment,
StatefulSet or DaemonSet in the middle of the run, and proves per pod, per
version and per second whether any request was dropped, why, and what to
change. It exits non-zero when requests were dropped, so it can gate a
release in CI.

Exit codes: 0 pass, 1 requests dropped or a threshold exceeded, 2 usage or
configuration error, 3 rollout failed or never completed, 130 interrupted
(the partial report is still written).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		// Without Args, cobra reports an unknown subcommand with an untyped
		// error; NoArgs says the same ("unknown command") as a usage error.
		Args: usageArgs(cobra.NoArgs),
		// Runnable, so that the Args check above applies to the root too.
		RunE:    func(c *cobra.Command, _ []string) error { return c.Help() },
		Version: versionString(),
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetVersionTemplate("rolltest {{.Version}}\n")
	root.PersistentPreRunE = func(c *cobra.Command, _ []string) error { return refuseEmptyValues(c) }
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &usageError{msg: fmt.Sprintf("%v (see '%s --help')", err, c.CommandPath())}
	})
	root.AddCommand(newDemoCmd(stdout, stderr), newRunCmd(stdout, stderr), newReportCmd(stdout, stderr), newImportCmd(stdout, stderr), newVersionCmd(stdout), newAgentCmd(stdout, stderr))
	return root
}

// refuseEmptyValues refuses a text flag given an empty value. Every such
// flag's empty value is its default, so an empty one is almost always an
// unset shell variable ("--deployment $DEPLOY", "--json $OUT"), and taking
// it silently would run without the rollout or the report the user asked
// for and still pass. --body is the exception: an empty body is a body.
func refuseEmptyValues(c *cobra.Command) error {
	var err error
	c.Flags().Visit(func(f *pflag.Flag) {
		if err == nil && f.Value.Type() == "string" && f.Value.String() == "" && f.Name != "body" {
			err = usagef("--"+f.Name, "given an empty value (an unset variable?); give a value, or leave --%s out", f.Name)
		}
	})
	return err
}

func newVersionCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintf(stdout, "rolltest %s\n", versionString())
			return err
		},
	}
}
