package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rolltest/rolltest/internal/redact"
	"github.com/rolltest/rolltest/pkg/loadgen"
	"github.com/rolltest/rolltest/pkg/report"
	"github.com/rolltest/rolltest/pkg/rollout"
	"github.com/rolltest/rolltest/pkg/runner"
)

func newRunCmd(stdout, stderr io.Writer) *cobra.Command {
	var (
		lf loadFlags
		of outputFlags
		rf rolloutFlags
		af agentsFlags
	)
	cmd := &cobra.Command{
		Use:   "run (--target URL | --targets FILE | --jmx PLAN) (--rate R | --concurrency N) [--duration D | --requests N] [--workload KIND/NAME | --deployment NAME]",
		Short: "Send load, optionally roll a Deployment, StatefulSet or DaemonSet mid-run, report and gate on dropped requests",
		Example: `  # 2000 req/s for 30 s; exit 1 if any request is dropped
  rolltest run --target http://127.0.0.1:8080/common/healthy --rate 2000 --duration 30s

  # roll deployment/web while sending 500 req/s, HTML and JUnit for CI
  rolltest run --target http://127.0.0.1:30080/common/healthy --rate 500 \
      --deployment web -n shop --html report.html --junit junit.xml

  # many requests in one rollout: each line of shop.txt is 'METHOD URL', then headers,
  # @body-file, '# weight N'; exit 1 if any request to any of them is dropped
  rolltest run --targets shop.txt --rate 500 --deployment web -n shop

  # the same for a StatefulSet, with a new image for its container "db"
  rolltest run --target http://127.0.0.1:30091/common/healthy --rate 500 \
      --workload sts/db -n shop --rollout image=db=registry/db:v2`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := lf.loadConfig(cmd)
			if err != nil {
				return err
			}
			thr, err := of.validate()
			if err != nil {
				return err
			}
			job := &job{load: cfg, out: of, thresholds: thr, stdout: stdout, stderr: stderr, targetsFile: lf.targetsFile}
			if rf.deployment != "" && rf.workload != "" {
				return usagef("--workload", "--deployment NAME is shorthand for --workload deployment/NAME: give one of them")
			}
			if (rf.deployment != "" || rf.workload != "") && rf.mode != "none" {
				if cmd.Flags().Changed("duration") && af.n == 0 {
					return usagef("--duration", "a rollout run lasts --rollout-after, the rollout and --settle; bound the rollout with --rollout-timeout instead")
				}
				if cmd.Flags().Changed("requests") {
					return usagef("--requests", "a rollout run lasts --rollout-after, the rollout and --settle; drop --requests")
				}
				if err := rf.validate(); err != nil {
					return err
				}
				job.rollout = &rf
			} else {
				if err := rf.withoutWorkload(cmd, af.n > 0); err != nil {
					return err
				}
				lf.jmx.bound(&job.load)
				if job.load.Duration == 0 && job.load.Requests == 0 {
					return usagef("--duration", "set --duration (e.g. 30s) or --requests N so that the run ends")
				}
			}
			if err := af.validate(cmd, job.rollout != nil, &rf, job.load.Duration); err != nil {
				return err
			}
			lf.jmx.report(stderr, job.load)
			if af.n > 0 {
				return job.runAgents(cmd.Context(), &af, &rf)
			}
			return job.run(cmd.Context())
		},
	}
	lf.register(cmd)
	lf.registerTargets(cmd)
	of.register(cmd)
	rf.register(cmd)
	af.register(cmd)
	return cmd
}

func unwrapPathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// job is one run from flags to report.
type job struct {
	load       loadgen.Config
	out        outputFlags
	thresholds report.Thresholds
	rollout    *rolloutFlags
	// driver, when set, is used instead of building one from rollout
	// (the demo's simulated cluster).
	driver rollout.Driver
	stdout io.Writer
	stderr io.Writer
	// beforeLoad, when set, runs after the preflight request and before
	// the load starts: the demo snapshots its pods' own counts there, as
	// the result document does not count the preflight.
	beforeLoad func()
	// targetsFile is run's --targets, for the report.
	targetsFile string
}

func (j *job) run(ctx context.Context) error {
	ms, err := j.out.metrics.listen(ctx, j.stderr, j.out.quiet)
	if err != nil {
		return err
	}
	defer ms.close(ctx)
	jf, err := openJTL(j.out.jtl, &j.load)
	if err != nil {
		return err
	}
	defer jf.abort()
	eng, err := loadgen.New(ctx, j.load)
	if err != nil {
		return &usageError{msg: fmt.Sprintf("%s: %v", targetFlag(j.load), err)}
	}
	pre, err := j.preflight(ctx, eng)
	if err != nil {
		return err
	}
	if j.beforeLoad != nil {
		j.beforeLoad()
	}
	plan := runner.Plan{Engine: eng, Driver: j.driver}
	if j.rollout != nil && j.driver == nil {
		drv, err := kubeDriver(j.rollout)
		if err != nil {
			return err
		}
		plan.Driver = drv
	}
	if j.rollout != nil {
		plan.RolloutAfter, plan.Settle, plan.RolloutTimeout = j.rollout.after, j.rollout.settle, j.rollout.timeout
	}
	ms.serve(eng, plan.Driver)
	prog := startProgress(j.stderr, eng, j.out.quiet || j.out.noProgress, j.load.Duration)
	plan.OnPhase = prog.phase
	outcome, err := runner.Run(ctx, plan)
	prog.stop()
	if err != nil {
		return setupError(err, j.rollout)
	}
	_, jtlErr := jf.finish()
	res := report.Build(report.Input{
		Redactor:    runRedactor(j.load),
		Tool:        report.Tool{Name: "rolltest", Version: versionString()},
		Config:      j.reportConfig(eng.Config()),
		Stats:       outcome.Stats,
		EndedAt:     outcome.EndedAt,
		Interrupted: outcome.Interrupted,
		StopReason:  outcome.StopReason,
		Preflight:   pre,
		Rollout:     outcome.Rollout,
	})
	report.Diagnose(res)
	report.Judge(res)
	if err := writeReports(res, j.out, j.stdout); err != nil {
		return err
	}
	if jtlErr != nil {
		return jtlErr
	}
	ms.stay(ctx)
	if outcome.Interrupted && !j.out.quiet {
		fmt.Fprintf(j.stderr, "rolltest: interrupted; partial report written (%s requests)\n", strconv.FormatInt(res.Totals.Requests, 10))
	}
	return exitCode(res.Verdict.ExitCode)
}

// preflight checks that the target answers before any load is sent, so a
// wrong URL reads as one clear line instead of a report of refusals.
func (j *job) preflight(ctx context.Context, eng *loadgen.Engine) (*report.Preflight, error) {
	pctx, cancel := context.WithTimeout(ctx, j.load.Timeout+time.Second)
	defer cancel()
	check, err := eng.PreflightCheck(pctx)
	status, id := check.Status, check.Pod
	if err != nil {
		if ctx.Err() != nil {
			return nil, exitCode(report.ExitInterrupted)
		}
		return nil, &usageError{msg: targetFlag(j.load) + ": " + preflightMessage(j.load, err)}
	}
	pre := &report.Preflight{Status: status, Pod: id.Pod, Version: id.Version}
	if j.out.quiet {
		return pre, nil
	}
	switch {
	case status < 200 || status > 299:
		fmt.Fprintf(j.stderr, "rolltest: warning: %s answered HTTP %d before the run; every such response counts as dropped\n", redact.URL(preflightURL(j.load)), status)
	case check.Outcome != loadgen.OK && check.Outcome != loadgen.BodyMismatch:
		// A gRPC status: HTTP 200, and yet a failure.
		fmt.Fprintf(j.stderr, "rolltest: warning: %s answered %s before the run (%s); every such response counts as dropped\n", redact.URL(preflightURL(j.load)), check.Outcome, runRedactor(j.load).Text(check.Detail))
	}
	if j.load.Identity.Enabled() && id.Pod == "" {
		fmt.Fprintf(j.stderr, "rolltest: note: the response carries no pod identity (--identity %s); requests will not be attributed to pods unless later responses name one; set --identity header:NAME or --identity 'regex:(?P<pod>...)' to say where your app names its pod\n", j.load.Identity)
	}
	return pre, nil
}

// preflightMessage says why the preflight got no response, in the words
// that fit: nothing answered, the server answered but not with HTTP/1.1,
// or its response could not be read to the end.
func preflightMessage(cfg loadgen.Config, err error) string {
	cfg.Target = preflightURL(cfg)
	var (
		pe *loadgen.PreflightError
		me *loadgen.MalformedError
	)
	if !errors.As(err, &pe) {
		return fmt.Sprintf("%s is unreachable before the run started: %v; is the service running and the URL right?", cfg.Target, err)
	}
	var (
		cve *tls.CertificateVerificationError
		ue  x509.UnknownAuthorityError
		he  x509.HostnameError
		ce  x509.CertificateInvalidError
	)
	if errors.As(err, &cve) || errors.As(err, &ue) || errors.As(err, &he) || errors.As(err, &ce) {
		// Verification stays on by default: a wrong server must not pass
		// as the service. The way out is named, and the report will say
		// it was taken.
		return fmt.Sprintf("%s presented a TLS certificate that could not be verified (%v); fix the certificate or its CA, or, for a test server, pass --insecure to skip verification", cfg.Target, errors.Unwrap(err))
	}
	switch {
	case errors.Is(err, loadgen.ErrHeadersTooLarge):
		return fmt.Sprintf("%s answered before the run started, but with response headers larger than 16 KiB, which rolltest does not read; check what the server sends for this URL", cfg.Target)
	case errors.As(err, &me):
		return fmt.Sprintf("%s answered before the run started, but not with valid HTTP/1.1 (%s); it sent %s; is this port an HTTP/1.1 service (not TLS — use https:// — HTTP/2 only, or another protocol)?", cfg.Target, me.Reason, me.Start)
	case errors.Is(err, loadgen.ErrNoHTTP2):
		return fmt.Sprintf("%s answered before the run started, but not with HTTP/2: %v", cfg.Target, errors.Unwrap(err))
	case errors.Is(err, loadgen.ErrBodyTooLarge):
		return fmt.Sprintf("%s answered before the run started, but %s", cfg.Target, pe.Detail)
	case pe.Answered && pe.Outcome == loadgen.TimeoutResponse:
		return fmt.Sprintf("%s started to answer before the run, but the response did not end within --timeout %v: %s", cfg.Target, cfg.Timeout, pe.Detail)
	case pe.Answered:
		return fmt.Sprintf("%s started to answer before the run, but the response was cut short: %v", cfg.Target, err)
	case pe.Outcome == loadgen.TimeoutResponse:
		return fmt.Sprintf("%s accepted the connection before the run started but sent nothing back within --timeout %v; is the URL's port the service's HTTP port?", cfg.Target, cfg.Timeout)
	case pe.Outcome == loadgen.TimeoutConnect:
		return fmt.Sprintf("%s did not accept a connection within --timeout %v before the run started; is the host reachable and the port right, or is --timeout too short?", cfg.Target, cfg.Timeout)
	case pe.Outcome == loadgen.EOF || pe.Outcome == loadgen.Reset:
		return fmt.Sprintf("%s accepted the connection before the run started but closed it without a response (%v); is the URL's port the service's HTTP port?", cfg.Target, err)
	}
	return fmt.Sprintf("%s is unreachable before the run started: %v; is the service running and the URL right?", cfg.Target, err)
}

// targetFlag names the flag that gave the URLs: --target, or --targets.
func targetFlag(c loadgen.Config) string {
	if len(c.Targets) > 0 {
		return "--targets"
	}
	return "--target"
}

// preflightURL is the URL the preflight request goes to: the target, or
// the first of --targets.
func preflightURL(c loadgen.Config) string {
	if c.Target == "" && len(c.Targets) > 0 {
		return c.Targets[0].URL
	}
	return c.Target
}

func (j *job) reportConfig(c loadgen.Config) report.Config {
	rc := report.Config{
		Target: c.Target, Method: c.Method, BodyBytes: len(c.Body), Connections: c.Connections, MaxConnections: c.MaxConnections,
		KeepAlive: c.KeepAlive, Protocol: protocolName(c.Protocol), GRPCMethod: c.GRPCMethod, Streams: max(c.Streams, 1), DurationS: c.Duration.Seconds(), Requests: int64(c.Requests),
		TimeoutMs: float64(c.Timeout) / float64(time.Millisecond), Retries: c.Retries,
		Identity: c.Identity.String(), Thresholds: j.thresholds, InsecureSkipVerify: c.InsecureSkipVerify,
	}
	if c.Rate > 0 {
		rc.Mode, rc.Rate = "rate", c.Rate
	} else {
		rc.Mode, rc.Concurrency = "concurrency", c.Concurrency
	}
	for _, h := range c.Headers {
		rc.Headers = append(rc.Headers, h.Name+": "+redact.Header(h.Name, h.Value))
	}
	if len(c.Targets) > 0 {
		rc.TargetsFile = j.targetsFile
		rc.Target, rc.Method = targetsSummary(c.Targets)
	}
	return rc
}

// protocolName is config.protocol: the Config's, "http/1.1" when unset.
func protocolName(p string) string {
	if p == "" {
		return loadgen.ProtoHTTP1
	}
	return p
}

// targetsSummary is what config.target and config.method say of a run of
// many: the scheme, host and port every target shares, and the methods in
// order of first use.
func targetsSummary(ts []loadgen.Target) (base, methods string) {
	if u, err := url.Parse(ts[0].URL); err == nil {
		base = u.Scheme + "://" + u.Host
	}
	var ms []string
	for _, t := range ts {
		if !slices.Contains(ms, t.Method) {
			ms = append(ms, t.Method)
		}
	}
	return base, strings.Join(ms, ",")
}

// runRedactor knows a run's secrets: the values of its credential
// headers and the tokens and passwords in its URLs, from the flags and
// from every target, so that a server echoing one back into a failure
// detail does not put it in a report.
func runRedactor(c loadgen.Config) *redact.Redactor {
	rd := redact.New()
	rd.AddURL(c.Target)
	for _, h := range c.Headers {
		rd.AddHeader(h.Name, h.Value)
	}
	for _, t := range c.Targets {
		rd.AddURL(t.URL)
		for _, h := range t.Headers {
			rd.AddHeader(h.Name, h.Value)
		}
	}
	return rd
}

// writeReports writes every requested file, then the text summary unless
// quiet.
func writeReports(res *report.Result, of outputFlags, stdout io.Writer) error {
	if err := of.files.write(res); err != nil {
		return err
	}
	if of.quiet {
		return nil
	}
	return report.WriteText(stdout, res, report.TextOptions{})
}
