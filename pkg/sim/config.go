package sim

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/rolltest/rolltest/testapp/app"
)

// RolloutKind selects what Roll changes in the pod template.
type RolloutKind string

const (
	// RolloutRestart is `kubectl rollout restart`: only a template
	// annotation changes, so old and new pods run the same APP_VERSION and
	// timeline events carry the ReplicaSets' pod-template-hash as Version.
	RolloutRestart RolloutKind = "restart"
	// RolloutImage is `kubectl set image`: new pods run ToVersion, and
	// timeline events carry the version as the image tag.
	RolloutImage RolloutKind = "image"
)

// Limits that keep a simulation on one machine; Kubernetes has none of them.
const (
	// MaxReplicas bounds Config.Replicas: every replica is an in-process
	// HTTP server, and pod IP labels come from one /24.
	MaxReplicas = 50
)

// Config describes the simulated Deployment, its Service and the cluster
// timings around them. Start uses it as given: nothing is defaulted behind
// the caller's back, so a zero Config is invalid. Begin from DefaultConfig
// (Kubernetes' defaults and a typical first manifest's values) or Preset and change fields.
type Config struct {
	// Name is the Deployment's name; ReplicaSets are Name-<hash> and pods
	// Name-<hash>-<5 chars>, as the Deployment and ReplicaSet controllers
	// name them. Default "testapp".
	Name string

	// Replicas is spec.replicas. Default 2, a typical first manifest's.
	Replicas int

	// MaxSurge and MaxUnavailable are spec.strategy.rollingUpdate's
	// fields: an int ("1") or a percentage of Replicas ("25%"). Kubernetes
	// rounds a surge percentage up and an unavailable one down, and rejects
	// both being zero. Default "25%" each, Kubernetes' default, which a
	// typical manifest leaves in place (2 or 3 replicas: surge 1, unavailable 0).
	MaxSurge, MaxUnavailable string

	// ReadinessProbe is the container's readinessProbe; nil means none, and
	// then a pod is Ready as soon as its process listens (Kubernetes treats
	// a running container without a readiness probe as ready).
	ReadinessProbe *ProbeConfig

	// EndpointDelay is how long after a pod's readiness changes, or after
	// its deletion, the Service starts or stops sending it new
	// connections: the EndpointSlice controller plus kube-proxy's sync.
	// It races the pod's termination exactly as in a cluster. Default 1s,
	// kube-proxy's --iptables-min-sync-period default; endpoint updates
	// usually land within 0.5–2 s of the pod change.
	EndpointDelay time.Duration

	// PreStopDelay is the preStop hook `sleep N`; zero means no sleep.
	// SIGTERM follows it. Default 10s, the usual `sleep 10`.
	PreStopDelay time.Duration

	// PreStopCallsApp makes the preStop hook first GET the app's
	// /common/preStop — the app's own drain endpoint — and then
	// sleep PreStopDelay, like an exec hook
	// `curl -s localhost:8080/common/preStop; sleep N`. The app starts
	// draining at deletion instead of at SIGTERM. Default false: a typical
	// hook only sleeps.
	PreStopCallsApp bool

	// TerminationGracePeriod is terminationGracePeriodSeconds, counted from
	// deletion: a process still running then is killed (listener and every
	// accepted connection closed with RST). Default 30s, Kubernetes'.
	TerminationGracePeriod time.Duration

	// StartDelay is the time from pod creation to the app listening:
	// scheduling, sandbox, container start. Until then the pod has no
	// listener. Default 500ms, a small static image on a local runtime.
	StartDelay time.Duration

	// ProgressDeadline bounds Start and Roll: a rollout not done by then
	// is reported failed (the simulation keeps going, as Kubernetes does).
	// Kubernetes measures progressDeadlineSeconds from the last progress;
	// the simulation measures it from the trigger. Default 10m, Kubernetes'.
	ProgressDeadline time.Duration

	// App configures every replica's testapp process.
	App AppConfig

	// RolloutKind is what Roll does. Default RolloutRestart.
	RolloutKind RolloutKind

	// FromVersion is APP_VERSION of the pods Start creates; ToVersion that
	// of the new pods of an image rollout. Defaults "v1" and "v2".
	FromVersion, ToVersion string

	// Seed drives every random choice: pod name suffixes and the Service's
	// choice of endpoint per connection. Default 1.
	Seed uint64

	// ServiceAddr is where the Service listens; it must be a loopback
	// address. Default "127.0.0.1:0" (any free port; see Cluster.URL).
	ServiceAddr string

	// Logger receives the simulator's and the replicas' logs; nil discards.
	Logger *slog.Logger
}

// ProbeConfig is a readinessProbe: an HTTP GET of /common/healthy with the
// header "checker: readinessProbe", as manifests/testapp.yaml sends it, to the pod's
// own port (never through the Service).
type ProbeConfig struct {
	// InitialDelay is initialDelaySeconds, counted from the process start.
	InitialDelay time.Duration
	// Period is periodSeconds.
	Period time.Duration
	// Timeout is timeoutSeconds.
	Timeout time.Duration
	// FailureThreshold is how many consecutive failures make a Ready pod
	// not ready.
	FailureThreshold int
	// SuccessThreshold is how many consecutive successes make a pod Ready.
	SuccessThreshold int
}

// AppConfig is the part of testapp's app.Config the simulation exposes;
// see that package for what each setting does to traffic.
type AppConfig struct {
	// PreStopMode is how the app treats traffic once draining. Default
	// app.PreStopDrain.
	PreStopMode app.PreStopMode
	// ExitOnSIGTERM makes the app close its listener and connections at
	// SIGTERM instead of draining. Default false.
	ExitOnSIGTERM bool
	// StartupDelay is the app's slow start (503 "starting" meanwhile),
	// counted from the process start. Default 0.
	StartupDelay time.Duration
	// ShutdownDelay keeps the app accepting for this long after SIGTERM,
	// an in-app alternative to a preStop sleep. Default 0.
	ShutdownDelay time.Duration
	// DrainTimeout bounds the wait for in-flight requests after SIGTERM;
	// zero means app.DefaultDrainTimeout. Default app.DefaultDrainTimeout.
	DrainTimeout time.Duration
}

// DefaultConfig returns the Kubernetes defaults, with a typical first
// manifest's values where it sets them. Its rollout takes about half a minute for 2
// replicas (it probes every 10 s and sleeps 10 s in preStop); the
// presets are tuned for a one-minute demo.
func DefaultConfig() Config {
	return Config{
		Name:           "testapp",
		Replicas:       2,
		MaxSurge:       "25%",
		MaxUnavailable: "25%",
		ReadinessProbe: &ProbeConfig{
			InitialDelay:     5 * time.Second,
			Period:           10 * time.Second,
			Timeout:          1 * time.Second,
			FailureThreshold: 10,
			SuccessThreshold: 1,
		},
		EndpointDelay:          1 * time.Second,
		PreStopDelay:           10 * time.Second,
		TerminationGracePeriod: 30 * time.Second,
		StartDelay:             500 * time.Millisecond,
		ProgressDeadline:       10 * time.Minute,
		App: AppConfig{
			PreStopMode:  app.PreStopDrain,
			DrainTimeout: app.DefaultDrainTimeout,
		},
		RolloutKind: RolloutRestart,
		FromVersion: "v1",
		ToVersion:   "v2",
		Seed:        1,
		ServiceAddr: "127.0.0.1:0",
	}
}

// Preset names.
const (
	// PresetSafe is a Deployment with every safeguard: expect 0 drops.
	PresetSafe = "safe"
	// PresetUnsafe leaves out every safeguard: expect drops.
	PresetUnsafe = "unsafe"
	// PresetPinning shows a keep-alive connection pinned to one pod.
	PresetPinning = "pinning"
	// presetPinningAlias is the pinning preset's first name, still accepted.
	presetPinningAlias = "seed"
)

// PresetNames lists the names Preset accepts.
func PresetNames() []string { return []string{PresetSafe, PresetUnsafe, PresetPinning} }

// CanonicalPreset returns the name under which Preset knows name: the
// pinning preset's first name maps to PresetPinning, anything else is
// returned as is.
func CanonicalPreset(name string) string {
	if name == presetPinningAlias {
		return PresetPinning
	}
	return name
}

// Preset returns a named configuration for `rolltest demo`, all with an
// image rollout v1 → v2 so that the report shows both versions:
//
//   - "safe": the reference Deployment with every safeguard, as
//     manifests/testapp.yaml has it. 2 replicas, maxSurge 1, maxUnavailable 0; readiness probe
//     every 1 s, one success or failure decides; the app starts slowly
//     (1 s) but the probe hides that. The preStop hook sleeps 3 s, longer
//     than the 1 s endpoint delay, so the pod leaves the Service before it
//     stops accepting. On SIGTERM the app keeps accepting for 1 s
//     (testapp's default shutdown delay) and answers with Connection:
//     close, so every keep-alive client still pinned to it makes one more
//     request, is told to leave and reconnects elsewhere; only then does it
//     close what is idle and wait for in-flight requests (up to 5 s),
//     within a 10 s grace period. Expect 0 drops, with or without
//     keep-alive and without client retries.
//   - "unsafe": no readiness probe, no preStop hook, an app that exits at
//     once on SIGTERM and starts slowly (1.5 s, longer than the endpoint
//     delay), same surge settings. Traffic reaches pods that are gone or
//     not started: expect resets/refusals and 503 "starting", attributed
//     to terminating or not-yet-ready pods.
//   - "pinning": the safe setup with 3 replicas and Kubernetes' default
//     rollingUpdate (25%/25%, i.e. surge 1, unavailable 0 for 3
//     replicas). It only configures the cluster side: the CLI pairs it
//     with --connections 1, so that one keep-alive connection shows why
//     only one of several replicas gets traffic at a time — kube-proxy
//     balances connections, not requests, so one pod gets all requests
//     until it terminates, then another does.
func Preset(name string) (Config, error) {
	cfg := DefaultConfig()
	cfg.RolloutKind = RolloutImage
	name = CanonicalPreset(name)
	switch name {
	case PresetSafe, PresetPinning:
		cfg.MaxSurge, cfg.MaxUnavailable = "1", "0"
		cfg.ReadinessProbe = &ProbeConfig{
			Period:           1 * time.Second,
			Timeout:          1 * time.Second,
			FailureThreshold: 1,
			SuccessThreshold: 1,
		}
		cfg.PreStopDelay = 3 * time.Second
		cfg.TerminationGracePeriod = 10 * time.Second
		cfg.App = AppConfig{
			PreStopMode:   app.PreStopDrain,
			StartupDelay:  1 * time.Second,
			ShutdownDelay: app.DefaultShutdownDelay,
			DrainTimeout:  5 * time.Second,
		}
		if name == PresetPinning {
			cfg.Replicas = 3
			cfg.MaxSurge, cfg.MaxUnavailable = "25%", "25%"
		}
	case PresetUnsafe:
		cfg.MaxSurge, cfg.MaxUnavailable = "1", "0"
		cfg.ReadinessProbe = nil
		cfg.PreStopDelay = 0
		cfg.App = AppConfig{
			PreStopMode:   app.PreStopReject,
			ExitOnSIGTERM: true,
			StartupDelay:  1500 * time.Millisecond,
			DrainTimeout:  app.DefaultDrainTimeout,
		}
	default:
		return Config{}, fmt.Errorf("sim: unknown preset %q (valid: %s)", name, strings.Join(PresetNames(), ", "))
	}
	return cfg, nil
}

// Validate reports every problem with c at once, one per line, in
// Kubernetes' words where Kubernetes has a rule.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("sim: config: %s: %s", field, fmt.Sprintf(format, args...)))
	}
	if !isDNSLabel(c.Name) {
		bad("name", "%q is not a DNS label (lower-case letters, digits and '-', at most 40 characters here)", c.Name)
	}
	if c.Replicas < 1 || c.Replicas > MaxReplicas {
		bad("replicas", "must be between 1 and %d, got %d", MaxReplicas, c.Replicas)
	}
	surge, errS := parseIntOrPercent(c.MaxSurge)
	if errS != nil {
		bad("maxSurge", "%v", errS)
	}
	unavail, errU := parseIntOrPercent(c.MaxUnavailable)
	if errU != nil {
		bad("maxUnavailable", "%v", errU)
	} else if unavail.percent && unavail.n > 100 {
		bad("maxUnavailable", "must not be greater than 100%%, got %q", c.MaxUnavailable)
	}
	if errS == nil && errU == nil && surge.n == 0 && unavail.n == 0 {
		bad("maxUnavailable", "may not be 0 when maxSurge is 0 (the rollout could never make progress)")
	}
	if p := c.ReadinessProbe; p != nil {
		if p.InitialDelay < 0 {
			bad("readinessProbe.initialDelay", "must not be negative, got %v", p.InitialDelay)
		}
		if p.Period <= 0 {
			bad("readinessProbe.period", "must be positive, got %v", p.Period)
		}
		if p.Timeout <= 0 {
			bad("readinessProbe.timeout", "must be positive, got %v", p.Timeout)
		}
		if p.FailureThreshold < 1 {
			bad("readinessProbe.failureThreshold", "must be at least 1, got %d", p.FailureThreshold)
		}
		if p.SuccessThreshold < 1 {
			bad("readinessProbe.successThreshold", "must be at least 1, got %d", p.SuccessThreshold)
		}
	}
	for _, d := range []struct {
		field string
		v     time.Duration
	}{
		{"endpointDelay", c.EndpointDelay},
		{"preStopDelay", c.PreStopDelay},
		{"terminationGracePeriod", c.TerminationGracePeriod},
		{"startDelay", c.StartDelay},
		{"app.startupDelay", c.App.StartupDelay},
		{"app.shutdownDelay", c.App.ShutdownDelay},
		{"app.drainTimeout", c.App.DrainTimeout},
	} {
		if d.v < 0 {
			bad(d.field, "must not be negative, got %v", d.v)
		}
	}
	if c.ProgressDeadline <= 0 {
		bad("progressDeadline", "must be positive, got %v", c.ProgressDeadline)
	}
	if _, err := app.ParsePreStopMode(string(c.App.PreStopMode)); err != nil {
		bad("app.preStopMode", "%q is neither %q nor %q", c.App.PreStopMode, app.PreStopDrain, app.PreStopReject)
	}
	switch c.RolloutKind {
	case RolloutRestart:
	case RolloutImage:
		if c.FromVersion == c.ToVersion {
			bad("toVersion", "an image rollout needs a version other than fromVersion %q", c.FromVersion)
		}
	default:
		bad("rolloutKind", "%q is neither %q nor %q", c.RolloutKind, RolloutRestart, RolloutImage)
	}
	if c.FromVersion == "" || strings.ContainsAny(c.FromVersion, " \t\r\n") {
		bad("fromVersion", "must be a non-empty word, got %q", c.FromVersion)
	}
	if c.ToVersion == "" || strings.ContainsAny(c.ToVersion, " \t\r\n") {
		bad("toVersion", "must be a non-empty word, got %q", c.ToVersion)
	}
	if err := checkLoopback(c.ServiceAddr); err != nil {
		bad("serviceAddr", "%v", err)
	}
	return errors.Join(errs...)
}

// checkLoopback keeps every byte of a simulation on the loopback interface.
func checkLoopback(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %w", addr, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("%q: bad port %q", addr, port)
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q: host must be a loopback IP such as 127.0.0.1", addr)
	}
	return nil
}

func isDNSLabel(s string) bool {
	if s == "" || len(s) > 40 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// intOrPercent is Kubernetes' IntOrString as used by rollingUpdate.
type intOrPercent struct {
	n       int
	percent bool
}

func parseIntOrPercent(s string) (intOrPercent, error) {
	num, percent := strings.CutSuffix(s, "%")
	n, err := strconv.Atoi(num)
	if err != nil || num == "" || strings.TrimSpace(num) != num {
		return intOrPercent{}, fmt.Errorf("%q is neither an integer (1) nor a percentage (25%%)", s)
	}
	if n < 0 {
		return intOrPercent{}, fmt.Errorf("must not be negative, got %q", s)
	}
	return intOrPercent{n: n, percent: percent}, nil
}

// scaled resolves v against total like intstr.GetScaledValueFromIntOrPercent.
func (v intOrPercent) scaled(total int, roundUp bool) int {
	if !v.percent {
		return v.n
	}
	if roundUp {
		return (v.n*total + 99) / 100
	}
	return v.n * total / 100
}

// fenceposts resolves maxSurge and maxUnavailable for c.Replicas like the
// Deployment controller (deploymentutil.ResolveFenceposts and
// MaxUnavailable): surge rounds up, unavailable down, and if both come out
// zero unavailable becomes 1 so that the rollout can progress. c must be
// valid.
func (c Config) fenceposts() (surge, unavailable int) {
	s, _ := parseIntOrPercent(c.MaxSurge)
	u, _ := parseIntOrPercent(c.MaxUnavailable)
	surge = s.scaled(c.Replicas, true)
	unavailable = u.scaled(c.Replicas, false)
	if surge == 0 && unavailable == 0 {
		unavailable = 1
	}
	return surge, min(unavailable, c.Replicas)
}

// clone returns c with its own copy of the probe, so that a running Cluster
// does not share memory with the caller's Config.
func (c Config) clone() Config {
	if c.ReadinessProbe != nil {
		p := *c.ReadinessProbe
		c.ReadinessProbe = &p
	}
	return c
}
