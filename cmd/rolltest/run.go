package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rolltest/rolltest/pkg/loadgen"
	"github.com/rolltest/rolltest/pkg/report"
	"github.com/rolltest/rolltest/pkg/rollout"
	"github.com/rolltest/rolltest/pkg/runner"
)

// loadFlags are the flags that describe the load; run and demo share them.
type loadFlags struct {
	target, method, body, bodyFile string
	headers                        []string
	rate                           float64
	concurrency, connections       int
	maxConnections                 int
	duration, timeout              time.Duration
	requests                       uint64
	keepAlive                      bool
	retries                        int
	identity, expectBody, reqID    string
	insecure                       bool
	maxFailureRecords              int
}

// outputFlags are where the report goes and what the gate demands.
type outputFlags struct {
	files             reportFiles
	quiet, noProgress bool
	maxErrors         int64
	maxErrorRate      string
	maxLate           string
	maxP99            time.Duration
	maxP99Ratio       float64
}

// rolloutFlags select and pace the rollout.
type rolloutFlags struct {
	deployment, workload, namespace, kubeconfig, kubeContext, service, mode string
	after, settle, timeout                                                  time.Duration

	// Parsed once by validate: what to roll (kind and name), named by
	// workloadFlag (--workload or --deployment), and how.
	target       rollout.Workload
	workloadFlag string
	action       rollout.Action
}

func (f *loadFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.target, "target", "", "URL to load, e.g. http://127.0.0.1:30080/common/healthy (required)")
	fs.StringVarP(&f.method, "method", "X", "GET", "HTTP method")
	fs.StringArrayVarP(&f.headers, "header", "H", nil, "request header 'Name: value' (repeatable)")
	fs.StringVar(&f.body, "body", "", "request body")
	fs.StringVar(&f.bodyFile, "body-file", "", "read the request body from this file")
	fs.Float64Var(&f.rate, "rate", 0, "open model: requests per second, whatever the server does (latency from the intended send time)")
	fs.IntVar(&f.concurrency, "concurrency", 0, "closed model: workers that each send the next request when the last one completes")
	fs.IntVar(&f.connections, "connections", 0, "open model: the steady pool of connections, each carrying one request at a time, used in turn (default 64)")
	fs.IntVar(&f.maxConnections, "max-connections", 0, "open model: when every connection is busy at a request's due time another is opened, up to this many, so a stalled service cannot delay the schedule (default: enough for --rate × --timeout in flight; equal to --connections pins the pool)")
	fs.DurationVar(&f.duration, "duration", 0, "how long to send (e.g. 30s)")
	fs.Uint64Var(&f.requests, "requests", 0, "how many requests to send")
	fs.DurationVar(&f.timeout, "timeout", loadgen.DefaultTimeout, "per attempt, from dialling to the last response byte")
	fs.BoolVar(&f.keepAlive, "keepalive", true, "reuse connections, as browsers and JMeter do; --keepalive=false opens one per request")
	fs.IntVar(&f.retries, "retries", 0, "re-send a request whose reused connection failed before any response byte, as Go and browsers do (each re-send is counted as retried)")
	fs.StringVar(&f.identity, "identity", "line", "how to tell which pod answered: line (a body that is the line 'POD >> IP >> VERSION'), header:NAME[,VERSIONHEADER], regex:EXPR with (?P<pod>) and (?P<version>) groups, or none")
	fs.StringVar(&f.expectBody, "expect-body", "", "count a 2xx whose body lacks this text as body_mismatch")
	fs.StringVar(&f.reqID, "request-id-header", "", "send each request's number in this header, to match server logs with failures")
	fs.BoolVar(&f.insecure, "insecure", false, "skip TLS certificate verification")
	fs.IntVar(&f.maxFailureRecords, "max-failure-records", loadgen.DefaultMaxFailures, "failed attempts recorded one by one (counts are never capped)")
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
}

func (f *rolloutFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.workload, "workload", "", "the workload to roll during the run (needs a cluster), as kubectl names it: deployment/NAME, statefulset/NAME or daemonset/NAME (or deploy/, sts/, ds/); without it or --deployment, rolltest only sends load")
	fs.StringVar(&f.deployment, "deployment", "", "shorthand for --workload deployment/NAME")
	fs.StringVarP(&f.namespace, "namespace", "n", "", "the workload's namespace (default: the kubeconfig context's)")
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "path to the kubeconfig (default: $KUBECONFIG, ~/.kube/config, or in-cluster)")
	fs.StringVar(&f.kubeContext, "context", "", "kubeconfig context to use")
	fs.StringVar(&f.service, "service", "", "the Service in front of the workload (default: the one whose selector matches its pods)")
	fs.StringVar(&f.mode, "rollout", "restart", "restart (like kubectl rollout restart), image=CONTAINER=IMAGE, watch (a rollout started elsewhere), or none")
	fs.DurationVar(&f.after, "rollout-after", 10*time.Second, "baseline: load alone before the rollout starts")
	fs.DurationVar(&f.settle, "settle", 10*time.Second, "load alone after the last old pod is gone")
	fs.DurationVar(&f.timeout, "rollout-timeout", 5*time.Minute, "fail (exit 3) when the rollout takes longer")
}

func newRunCmd(stdout, stderr io.Writer) *cobra.Command {
	var (
		lf loadFlags
		of outputFlags
		rf rolloutFlags
	)
	cmd := &cobra.Command{
		Use:   "run --target URL (--rate R | --concurrency N) [--duration D | --requests N] [--workload KIND/NAME | --deployment NAME]",
		Short: "Send load, optionally roll a Deployment, StatefulSet or DaemonSet mid-run, report and gate on dropped requests",
		Example: `  # 2000 req/s for 30 s; exit 1 if any request is dropped
  rolltest run --target http://127.0.0.1:8080/common/healthy --rate 2000 --duration 30s

  # roll deployment/web while sending 500 req/s, HTML and JUnit for CI
  rolltest run --target http://127.0.0.1:30080/common/healthy --rate 500 \
      --deployment web -n shop --html report.html --junit junit.xml

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
			job := &job{load: cfg, out: of, thresholds: thr, stdout: stdout, stderr: stderr}
			if rf.deployment != "" && rf.workload != "" {
				return usagef("--workload", "--deployment NAME is shorthand for --workload deployment/NAME: give one of them")
			}
			if (rf.deployment != "" || rf.workload != "") && rf.mode != "none" {
				if cmd.Flags().Changed("duration") {
					return usagef("--duration", "a rollout run lasts --rollout-after, the rollout and --settle; bound the rollout with --rollout-timeout instead")
				}
				if cmd.Flags().Changed("requests") {
					return usagef("--requests", "a rollout run lasts --rollout-after, the rollout and --settle; drop --requests")
				}
				if err := rf.validate(); err != nil {
					return err
				}
				job.rollout = &rf
			} else if cfg.Duration == 0 && cfg.Requests == 0 {
				return usagef("--duration", "set --duration (e.g. 30s) or --requests N so that the run ends")
			}
			return job.run(cmd.Context())
		},
	}
	lf.register(cmd)
	of.register(cmd)
	rf.register(cmd)
	return cmd
}

// loadConfig turns the flags into an engine configuration, naming the
// flag at fault when something is wrong.
func (f *loadFlags) loadConfig(cmd *cobra.Command) (loadgen.Config, error) {
	cfg := loadgen.Config{
		Target: f.target, Method: strings.ToUpper(f.method), Rate: f.rate, Concurrency: f.concurrency,
		Connections: f.connections, MaxConnections: f.maxConnections, Duration: f.duration, Requests: f.requests, Timeout: f.timeout,
		KeepAlive: f.keepAlive, Retries: f.retries, RequestIDHeader: f.reqID, InsecureSkipVerify: f.insecure,
		MaxFailureRecords: f.maxFailureRecords, UserAgent: "rolltest/" + versionString(),
	}
	if cmd.Flags().Changed("timeout") && f.timeout <= 0 {
		return cfg, usagef("--timeout", "must be positive, e.g. 5s")
	}
	if f.maxFailureRecords < 0 {
		cfg.MaxFailureRecords = -1
	}
	for _, h := range f.headers {
		hdr, err := parseHeader(h)
		if err != nil {
			return cfg, usagef("--header", "%v", err)
		}
		cfg.Headers = append(cfg.Headers, hdr)
	}
	switch {
	case f.body != "" && f.bodyFile != "":
		return cfg, usagef("--body", "use --body or --body-file, not both")
	case f.body != "":
		cfg.Body = []byte(f.body)
	case f.bodyFile != "":
		b, err := os.ReadFile(f.bodyFile)
		if err != nil {
			return cfg, usagef("--body-file", "cannot read %s: %v", f.bodyFile, unwrapPathErr(err))
		}
		cfg.Body = b
	}
	if f.expectBody != "" {
		cfg.ExpectBody = []byte(f.expectBody)
	}
	id, err := loadgen.ParseIdentity(f.identity)
	if err != nil {
		return cfg, usagef("--identity", "%v", err)
	}
	cfg.Identity = id
	if err := cfg.Validate(); err != nil {
		return cfg, &usageError{msg: err.Error()}
	}
	return cfg, nil
}

// parseHeader reads -H 'Name: value' the way curl does.
func parseHeader(s string) (loadgen.Header, error) {
	name, value, ok := strings.Cut(s, ":")
	name, value = strings.TrimSpace(name), strings.TrimSpace(value)
	if !ok || name == "" {
		return loadgen.Header{}, fmt.Errorf("%q is not 'Name: value'", s)
	}
	return loadgen.Header{Name: name, Value: value}, nil
}

func unwrapPathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// validate checks the gate and report flags before anything runs and
// returns the gate's thresholds.
func (f *outputFlags) validate() (report.Thresholds, error) {
	th, err := f.thresholds()
	if err != nil {
		return th, err
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
	case f.maxP99Ratio < 0:
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

// validate parses the workload and the action, once, and checks the
// timing flags.
func (f *rolloutFlags) validate() error {
	if f.deployment != "" {
		f.target = rollout.Workload{Kind: rollout.KindDeployment, Name: f.deployment}
		f.workloadFlag = "--deployment"
	} else {
		kind, name, err := rollout.ParseWorkloadRef(f.workload)
		if err != nil {
			return usagef("--workload", "%v", err)
		}
		f.target = rollout.Workload{Kind: kind, Name: name}
		f.workloadFlag = "--workload"
	}
	action, err := rollout.ParseAction(f.mode)
	if err != nil {
		if strings.HasPrefix(f.mode, string(rollout.ActionImage)+"=") {
			return usagef("--rollout", "%v", err)
		}
		// none is the command line's: no rollout at all.
		return usagef("--rollout", "%v, or none", err)
	}
	f.action = action
	return f.validateTiming()
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
}

func (j *job) run(ctx context.Context) error {
	eng, err := loadgen.New(ctx, j.load)
	if err != nil {
		return &usageError{msg: fmt.Sprintf("--target: %v", err)}
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
	prog := startProgress(j.stderr, eng, j.out.quiet || j.out.noProgress, j.load.Duration)
	plan.OnPhase = prog.phase
	outcome, err := runner.Run(ctx, plan)
	prog.stop()
	if err != nil {
		return setupError(err, j.rollout)
	}
	res := report.Build(report.Input{
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
	status, id, err := eng.Preflight(pctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, exitCode(report.ExitInterrupted)
		}
		return nil, &usageError{msg: "--target: " + preflightMessage(j.load, err)}
	}
	pre := &report.Preflight{Status: status, Pod: id.Pod, Version: id.Version}
	if j.out.quiet {
		return pre, nil
	}
	if status < 200 || status > 299 {
		fmt.Fprintf(j.stderr, "rolltest: warning: %s answered HTTP %d before the run; every such response counts as dropped\n", j.load.Target, status)
	}
	if j.load.Identity.Enabled() && id.Pod == "" {
		fmt.Fprintf(j.stderr, "rolltest: note: the response carries no pod identity (--identity %s); requests will not be attributed to pods\n", j.load.Identity)
	}
	return pre, nil
}

// preflightMessage says why the preflight got no response, in the words
// that fit: nothing answered, the server answered but not with HTTP/1.1,
// or its response could not be read to the end.
func preflightMessage(cfg loadgen.Config, err error) string {
	var (
		pe *loadgen.PreflightError
		me *loadgen.MalformedError
	)
	if !errors.As(err, &pe) {
		return fmt.Sprintf("%s is unreachable before the run started: %v; is the service running and the URL right?", cfg.Target, err)
	}
	switch {
	case errors.Is(err, loadgen.ErrHeadersTooLarge):
		return fmt.Sprintf("%s answered before the run started, but with response headers larger than 16 KiB, which rolltest does not read; check what the server sends for this URL", cfg.Target)
	case errors.As(err, &me):
		return fmt.Sprintf("%s answered before the run started, but not with valid HTTP/1.1 (%s); it sent %s; is this port an HTTP/1.1 service (not TLS — use https:// — HTTP/2 only, or another protocol)?", cfg.Target, me.Reason, me.Start)
	case errors.Is(err, loadgen.ErrBodyTooLarge):
		return fmt.Sprintf("%s answered before the run started, but %s", cfg.Target, pe.Detail)
	case pe.Answered && pe.Outcome == loadgen.TimeoutResponse:
		return fmt.Sprintf("%s started to answer before the run, but the response did not end within --timeout %v: %s", cfg.Target, cfg.Timeout, pe.Detail)
	case pe.Answered:
		return fmt.Sprintf("%s started to answer before the run, but the response was cut short: %v", cfg.Target, err)
	case pe.Outcome == loadgen.TimeoutResponse:
		return fmt.Sprintf("%s accepted the connection before the run started but sent nothing back within --timeout %v; is the URL's port the service's HTTP port?", cfg.Target, cfg.Timeout)
	case pe.Outcome == loadgen.EOF || pe.Outcome == loadgen.Reset:
		return fmt.Sprintf("%s accepted the connection before the run started but closed it without a response (%v); is the URL's port the service's HTTP port?", cfg.Target, err)
	}
	return fmt.Sprintf("%s is unreachable before the run started: %v; is the service running and the URL right?", cfg.Target, err)
}

func (j *job) reportConfig(c loadgen.Config) report.Config {
	rc := report.Config{
		Target: c.Target, Method: c.Method, BodyBytes: len(c.Body), Connections: c.Connections, MaxConnections: c.MaxConnections,
		KeepAlive: c.KeepAlive, DurationS: c.Duration.Seconds(), Requests: int64(c.Requests),
		TimeoutMs: float64(c.Timeout) / float64(time.Millisecond), Retries: c.Retries,
		Identity: c.Identity.String(), Thresholds: j.thresholds,
	}
	if c.Rate > 0 {
		rc.Mode, rc.Rate = "rate", c.Rate
	} else {
		rc.Mode, rc.Concurrency = "concurrency", c.Concurrency
	}
	for _, h := range c.Headers {
		rc.Headers = append(rc.Headers, h.Name+": "+redact(h.Name, h.Value))
	}
	return rc
}

// redact hides credentials: the report is an artifact that many people read.
func redact(name, value string) string {
	switch strings.ToLower(name) {
	case "authorization", "proxy-authorization", "cookie", "x-api-key", "api-key", "x-auth-token":
		return "[redacted]"
	}
	return value
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
