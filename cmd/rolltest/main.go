// Command rolltest proves that a Kubernetes rolling update drops zero
// requests under load: it sends steady HTTP load, rolls the Deployment in
// the middle of the run, attributes every failed request to a pod and a
// cause, and exits non-zero in CI when anything was dropped.
//
//	rolltest demo                                    # a local rolling update, no cluster needed
//	rolltest run --target URL --rate 2000 --duration 30s
//	rolltest run --target URL --deployment web --rate 500
//	rolltest report result.json --html report.html
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"k8s.io/klog/v2"

	"github.com/rolltest/rolltest/internal/redact"
	"github.com/rolltest/rolltest/pkg/loadgen"
	"github.com/rolltest/rolltest/pkg/report"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3";
// go install stamps the module version instead, which versionString reads.
var version = ""

func main() {
	// client-go reports transient watch errors (and retries) through klog
	// on stderr; the driver returns every error that matters, so keep the
	// CLI's output to its own lines.
	klog.SetOutput(io.Discard)
	klog.LogToStderr(false)
	// The open model may hold a connection for every request in flight.
	_, _ = loadgen.RaiseFileLimit()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, restore the default so that a second
		// Ctrl-C kills a run that is taking too long to drain.
		<-ctx.Done()
		stop()
	}()
	os.Exit(executeAs(ctx, os.Args[0], os.Args[1:], os.Stdout, os.Stderr))
}

// execute runs the command line and returns the process exit code.
func execute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return executeAs(ctx, "rolltest", args, stdout, stderr)
}

// executeAs is execute for a process started as arg0: as kubectl-rolltest,
// rolltest speaks as the kubectl plugin.
func executeAs(ctx context.Context, arg0 string, args []string, stdout, stderr io.Writer) int {
	cmd := newRootCmd(stdout, stderr)
	if isKubectlPlugin(arg0) {
		asKubectlPlugin(cmd)
	}
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return report.ExitPass
	}
	if code, ok := err.(exitCode); ok {
		return int(code)
	}
	// An error may quote a URL or a header line the user gave: a CI log
	// is an output like any report.
	fmt.Fprintln(stderr, "rolltest: "+redact.Text(oneLine(err.Error())))
	return exitCodeOf(err)
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
