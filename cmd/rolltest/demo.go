package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rolltest/rolltest/internal/groundtruth"
	"github.com/rolltest/rolltest/pkg/loadgen"
	"github.com/rolltest/rolltest/pkg/report"
	"github.com/rolltest/rolltest/pkg/sim"
	"github.com/rolltest/rolltest/testapp/app"
)

// demoFlags are the simulated cluster's knobs; zero values keep the
// preset's setting.
type demoFlags struct {
	preset, kind, maxSurge, maxUnavailable, prestopMode string
	// protocol is how the demo's load speaks to its Service.
	protocol                                  string
	replicas                                  int
	endpointDelay, preStop, grace, startDelay time.Duration
	readinessPeriod, appStartup               time.Duration
	noReadiness, exitOnSIGTERM                bool
	seed                                      uint64
}

func newDemoCmd(stdout, stderr io.Writer) *cobra.Command {
	var (
		lf loadFlags
		of outputFlags
		rf rolloutFlags
		df demoFlags
		// groundTruth is where to write the pods' own counts.
		groundTruth string
	)
	cmd := &cobra.Command{
		Use:   "demo [--preset safe|unsafe|pinning]",
		Short: "Roll a local stand-in for a Deployment under load: no cluster needed",
		Long: `demo runs replicas of the reference app (testapp) on loopback behind a local
Service that balances connections like kube-proxy, rolls them with Kubernetes'
rolling-update rules (maxSurge, maxUnavailable, readiness probe, endpoint
propagation racing the preStop hook and SIGTERM, grace period then kill) while
rolltest's engine loads the Service, and writes the same report a real run
writes, with the same gate and exit code.

Presets:
  safe     a Deployment done right (readiness probe, preStop sleep longer
           than endpoint propagation, draining app): expect 0 dropped requests
  unsafe   no readiness probe, no preStop, an app that exits at once on SIGTERM
           and starts slowly: expect drops, attributed, with the hints that fix them
  pinning  the safe setup with 3 replicas and ONE keep-alive connection: one pod
           at a time receives all requests, because kube-proxy balances
           connections, not requests

What it does not model: real iptables/conntrack timing, kubelet probe jitter,
network latency, CPU contention between pods, DNS, multiple nodes.`,
		Example: `  rolltest demo
  rolltest demo --preset unsafe --html report.html
  rolltest demo --preset pinning`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := df.simConfig(cmd)
			if err != nil {
				return err
			}
			if err := df.applyLoadDefaults(cmd, &lf); err != nil {
				return err
			}
			if err := rf.validateTiming(); err != nil {
				return err
			}
			thr, err := of.validate()
			if err != nil {
				return err
			}
			if lf.jmxFile != "" && cmd.Flags().Changed("target") {
				return usagef("--jmx", "the plan names its own requests: drop --target")
			}
			if strings.Contains(lf.target, "://") {
				// It would be appended to the Service's URL and 404.
				return usagef("--target", "%s is a URL; the demo loads its own local Service, so give a path on it, e.g. %s", lf.target, app.PathHealthy)
			}
			if err := checkOutputPath("--ground-truth", groundTruth); err != nil {
				return err
			}
			if err := df.applyProtocol(cmd, &lf); err != nil {
				return err
			}
			ctx := cmd.Context()
			startCtx, cancel := context.WithTimeout(ctx, time.Minute)
			cluster, err := sim.Start(startCtx, cfg)
			cancel()
			if err != nil {
				if ctx.Err() != nil {
					return exitCode(report.ExitInterrupted)
				}
				return fmt.Errorf("start the local cluster: %w", err)
			}
			defer cluster.Close()

			switch {
			case lf.jmxFile != "":
				lf.target = ""
			case df.protocol == protoGRPC:
				lf.target = "grpc://" + cluster.Addr()
			default:
				lf.target = cluster.URL(lf.target)
			}
			load, err := lf.loadConfig(cmd)
			if err != nil {
				return err
			}
			if err := toService(load.Targets, cluster.Addr()); err != nil {
				return usagef("--jmx", "%v", err)
			}
			if !of.quiet {
				fmt.Fprintf(stderr, "rolltest demo: preset %s — %d replicas behind %s; rolling after %v\n",
					df.preset, cfg.Replicas, cluster.URL(""), rf.after)
			}
			lf.jmx.report(stderr, load)
			j := &job{
				load: load, out: of, thresholds: thr, rollout: &rf,
				driver: cluster.Driver(), stdout: stdout, stderr: stderr,
			}
			var (
				before    []app.Counts
				svcBefore sim.ServiceCounts
			)
			if groundTruth != "" {
				j.beforeLoad = func() {
					before = settledCounts(cluster)
					svcBefore = cluster.ServiceCounts()
				}
			}
			runErr := j.run(ctx)
			if groundTruth != "" {
				// Close first: it stops every pod, so their counts are
				// final.
				cluster.Close()
				svc := groundtruth.Service(cluster.ServiceCounts()).Sub(groundtruth.Service(svcBefore))
				f := groundtruth.File{Source: "sim", BeforeLoad: before, Pods: groundtruth.Since(before, cluster.PodCounts()), Service: &svc}
				if err := groundtruth.Write(groundTruth, f); err != nil {
					// The run's reports are written; this file is not.
					return fmt.Errorf("--ground-truth: %w", err)
				}
			}
			return runErr
		},
	}
	lf.register(cmd)
	of.register(cmd)
	fs := cmd.Flags()
	// The target is the simulated Service; the flag only chooses the path.
	fs.Lookup("target").Usage = "path to load on the local Service"
	setDefault(cmd, "target", app.PathHealthy)
	setDefault(cmd, "rate", "500")
	setDefault(cmd, "connections", "16")
	setDefault(cmd, "timeout", "2s")
	fs.DurationVar(&rf.after, "rollout-after", 5*time.Second, "baseline: load alone before the rollout starts")
	fs.DurationVar(&rf.settle, "settle", 4*time.Second, "load alone after the last old pod is gone")
	fs.DurationVar(&rf.timeout, "rollout-timeout", 2*time.Minute, "fail (exit 3) when the rollout takes longer")

	fs.StringVar(&lf.jmxFile, "jmx", "", "send a JMeter test plan's HTTP requests (.jmx) instead of --target: their paths go to the local Service, whatever host the plan names; its throughput timer sets --rate (else its threads --concurrency) unless given")

	fs.StringVar(&df.preset, "preset", sim.PresetSafe, "safe, unsafe or pinning (see above)")
	fs.StringVar(&df.protocol, "protocol", protoHTTP1, "how the load speaks to the Service: http1, h2c (HTTP/2 without TLS; with --streams N, N requests per connection) or grpc (grpc.health.v1.Health/Check, or --grpc-method); the pods speak all three on one port, drain HTTP/2 with GOAWAY, and name themselves in the X-Pod-Id header and metadata")
	fs.StringVar(&df.kind, "rollout", "image", "restart (same version) or image (v1 → v2)")
	fs.IntVar(&df.replicas, "replicas", 0, "replicas (default: the preset's)")
	fs.StringVar(&df.maxSurge, "max-surge", "", "maxSurge, e.g. 1 or 25% (default: the preset's)")
	fs.StringVar(&df.maxUnavailable, "max-unavailable", "", "maxUnavailable, e.g. 0 or 25% (default: the preset's)")
	fs.DurationVar(&df.endpointDelay, "endpoint-delay", 0, "time for an endpoint change to reach the Service (default: the preset's)")
	fs.DurationVar(&df.preStop, "prestop", 0, "preStop sleep (default: the preset's)")
	fs.DurationVar(&df.grace, "grace-period", 0, "terminationGracePeriod (default: the preset's)")
	fs.DurationVar(&df.startDelay, "start-delay", 0, "pod creation to the app listening (default: the preset's)")
	fs.DurationVar(&df.readinessPeriod, "readiness-period", 0, "readiness probe period (default: the preset's)")
	fs.BoolVar(&df.noReadiness, "no-readiness-probe", false, "run without a readiness probe")
	fs.StringVar(&df.prestopMode, "app-prestop-mode", "", "drain or reject: what the app does with traffic once stopping (default: the preset's)")
	fs.BoolVar(&df.exitOnSIGTERM, "app-exit-on-sigterm", false, "the app exits at once on SIGTERM instead of draining")
	fs.DurationVar(&df.appStartup, "app-startup-delay", 0, "the app answers 503 this long after starting")
	fs.StringVar(&groundTruth, "ground-truth", "", "after the run, write each simulated pod's own count of what it did during the load (requests received, responses written by status, connections) as JSON to `FILE`, to audit rolltest's numbers against the app's")
	fs.Uint64Var(&df.seed, "seed", 0, "seed for pod names and the Service's choices (default: the preset's)")
	return cmd
}

func setDefault(cmd *cobra.Command, name, value string) {
	f := cmd.Flags().Lookup(name)
	_ = f.Value.Set(value)
	f.DefValue = value
}

// simConfig is the preset with the flags that were set applied on top.
func (f *demoFlags) simConfig(cmd *cobra.Command) (sim.Config, error) {
	f.preset = sim.CanonicalPreset(f.preset)
	cfg, err := sim.Preset(f.preset)
	if err != nil {
		return cfg, usagef("--preset", "%q is not one of %s", f.preset, strings.Join(sim.PresetNames(), ", "))
	}
	set := cmd.Flags().Changed
	switch f.kind {
	case "restart":
		cfg.RolloutKind = sim.RolloutRestart
	case "image":
		cfg.RolloutKind = sim.RolloutImage
	default:
		return cfg, usagef("--rollout", "%q is not restart or image", f.kind)
	}
	if set("replicas") {
		cfg.Replicas = f.replicas
	}
	if set("max-surge") {
		cfg.MaxSurge = f.maxSurge
	}
	if set("max-unavailable") {
		cfg.MaxUnavailable = f.maxUnavailable
	}
	if set("endpoint-delay") {
		cfg.EndpointDelay = f.endpointDelay
	}
	if set("prestop") {
		cfg.PreStopDelay = f.preStop
	}
	if set("grace-period") {
		cfg.TerminationGracePeriod = f.grace
	}
	if set("start-delay") {
		cfg.StartDelay = f.startDelay
	}
	if set("no-readiness-probe") && f.noReadiness {
		cfg.ReadinessProbe = nil
	}
	if set("readiness-period") {
		if cfg.ReadinessProbe == nil {
			return cfg, usagef("--readiness-period", "the %s preset has no readiness probe", f.preset)
		}
		p := *cfg.ReadinessProbe
		p.Period = f.readinessPeriod
		cfg.ReadinessProbe = &p
	}
	if set("app-prestop-mode") {
		m, err := app.ParsePreStopMode(f.prestopMode)
		if err != nil {
			return cfg, usagef("--app-prestop-mode", "%v", err)
		}
		cfg.App.PreStopMode = m
	}
	if set("app-exit-on-sigterm") {
		cfg.App.ExitOnSIGTERM = f.exitOnSIGTERM
	}
	if set("app-startup-delay") {
		cfg.App.StartupDelay = f.appStartup
	}
	if set("seed") {
		cfg.Seed = f.seed
	}
	if err := cfg.Validate(); err != nil {
		return cfg, simConfigError(err)
	}
	return cfg, nil
}

// simConfigError turns the first of sim's "sim: config: FIELD: what"
// lines into a usage error naming the flag that set FIELD, as every
// other bad flag is named.
func simConfigError(err error) error {
	// The demo flag that sets each field sim.Config.Validate checks.
	flags := map[string]string{
		"replicas": "--replicas", "maxSurge": "--max-surge", "maxUnavailable": "--max-unavailable",
		"readinessProbe.period": "--readiness-period", "endpointDelay": "--endpoint-delay", "preStopDelay": "--prestop",
		"terminationGracePeriod": "--grace-period", "startDelay": "--start-delay", "app.startupDelay": "--app-startup-delay",
	}
	msg := oneLine(err.Error())
	field, what, ok := strings.Cut(strings.TrimPrefix(msg, "sim: config: "), ": ")
	if flag, known := flags[field]; ok && known {
		return usagef(flag, "%s", what)
	}
	return &usageError{msg: msg}
}

// applyLoadDefaults pairs the pinning preset with one keep-alive connection,
// pinned (no connection is opened beside it), unless the user chose
// otherwise: that is what reproduces the puzzle.
func (f *demoFlags) applyLoadDefaults(cmd *cobra.Command, lf *loadFlags) error {
	if f.preset == sim.PresetPinning && !cmd.Flags().Changed("connections") {
		lf.connections = 1
	}
	if f.preset == sim.PresetPinning && !cmd.Flags().Changed("max-connections") {
		lf.maxConnections = lf.connections
	}
	if lf.connections <= 0 && lf.concurrency == 0 {
		return usagef("--connections", "must be positive")
	}
	if lf.concurrency > 0 && !cmd.Flags().Changed("rate") {
		lf.rate = 0
	}
	if lf.concurrency > 0 && !cmd.Flags().Changed("connections") {
		lf.connections = 0
	}
	return nil
}

// settledCounts returns the pods' counts once no request is in flight (the
// preflight's response may be read before its pod has settled it),
// waiting at most a second.
func settledCounts(c *sim.Cluster) []app.Counts {
	deadline := time.Now().Add(time.Second)
	for {
		counts := c.PodCounts()
		busy := false
		for _, pc := range counts {
			busy = busy || pc.Traffic.InFlight != 0
		}
		if !busy || time.Now().After(deadline) {
			return counts
		}
		time.Sleep(time.Millisecond)
	}
}

// toService points each of a plan's targets at the local Service, keeping
// path and query: the demo makes its Service's address up, so no plan can
// name it, and a plan's own host must never be dialled from a demo.
func toService(ts []loadgen.Target, addr string) error {
	for i := range ts {
		u, err := url.Parse(ts[i].URL)
		if err != nil {
			return fmt.Errorf("target %q: %w", ts[i].Name, err)
		}
		u.Scheme, u.Host, u.User = "http", addr, nil
		ts[i].URL = u.String()
	}
	return nil
}

// The demo's protocols (--protocol).
const (
	protoHTTP1 = "http1"
	protoH2C   = "h2c"
	protoGRPC  = "grpc"
)

// applyProtocol sets the load flags --protocol implies. The pods name
// themselves in a header (and gRPC metadata) as well as in the body; a
// gRPC response has no such body, so the identity is the header unless
// given.
func (f *demoFlags) applyProtocol(cmd *cobra.Command, lf *loadFlags) error {
	set := cmd.Flags().Changed
	switch f.protocol {
	case protoHTTP1:
		return nil
	case protoH2C:
		if set("http2") {
			return usagef("--http2", "the demo's Service speaks h2c (no TLS): drop --http2")
		}
		lf.h2c = true
		return nil
	case protoGRPC:
		for _, name := range []string{"http2", "h2c", "target", "jmx"} {
			if set(name) {
				return usagef("--"+name, "--protocol grpc calls --grpc-method (default grpc.health.v1.Health/Check) on the demo's Service: drop --%s", name)
			}
		}
		if !set("identity") {
			lf.identity = "header:X-Pod-Id,X-App-Version"
		}
		return nil
	}
	return usagef("--protocol", "%q is not one of http1, h2c or grpc", f.protocol)
}
