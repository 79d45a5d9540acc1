// Command testapp is the reference system under test for rolltest: an HTTP
// server with /common/healthy, /common/time and /common/preStop, and on the
// same port h2c (HTTP/2 without TLS) and gRPC (grpc.health.v1.Health/Check,
// testapp.Echo/Echo), that drains instead of dropping requests when its pod
// is replaced. See README.md and package app.
//
// Every flag has an environment variable, which the flag overrides.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	// The image has no zoneinfo of its own to rely on; /common/time is in
	// local time, so TZ must work.
	_ "time/tzdata"

	"github.com/rolltest/rolltest/internal/ctxtime"
	"github.com/rolltest/rolltest/testapp/app"
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stderr))
}

type options struct {
	addr      string
	adminAddr string
	logLevel  slog.Level
	cfg       app.Config
}

// envFlags pairs each flag with the environment variable it overrides.
var envFlags = []struct{ flag, env string }{
	{"addr", "ADDR"},
	{"admin-addr", "ADMIN_ADDR"},
	{"pod-id", "POD_ID"},
	{"pod-ip", "POD_IP"},
	{"app-version", "APP_VERSION"},
	{"prestop-mode", "PRESTOP_MODE"},
	{"exit-on-sigterm", "EXIT_ON_SIGTERM"},
	{"listen-delay", "LISTEN_DELAY"},
	{"startup-delay", "STARTUP_DELAY"},
	{"shutdown-delay", "SHUTDOWN_DELAY"},
	{"drain-timeout", "DRAIN_TIMEOUT"},
	{"log-level", "LOG_LEVEL"},
}

// parseOptions parses args, then fills each flag not given from its
// environment variable through the flag's own parser, so a bad env value is
// reported like a bad flag, and only if the flag does not override it.
func parseOptions(args []string, getenv func(string) string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("testapp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: testapp [flags]\n\nEach flag overrides the environment variable in brackets.\n\n")
		fs.PrintDefaults()
	}

	mode := string(app.PreStopDrain)
	level := "info"
	fs.StringVar(&o.addr, "addr", ":8080", "listen `address` [ADDR; else PORT, as :PORT]")
	fs.StringVar(&o.adminAddr, "admin-addr", "", "serve the app's own request and connection counts as JSON at /counts on this `address`, which load must not reach; empty: no admin port [ADMIN_ADDR]")
	fs.StringVar(&o.cfg.PodID, "pod-id", "", "pod id in the /common/healthy body [POD_ID] (default \"unknown\")")
	fs.StringVar(&o.cfg.PodIP, "pod-ip", "", "pod IP in the /common/healthy body [POD_IP] (default \"unknown\")")
	fs.StringVar(&o.cfg.Version, "app-version", "", "version in the /common/healthy body [APP_VERSION] (default \"V0\")")
	fs.StringVar(&mode, "prestop-mode", mode, "`mode` once draining: drain (serve, close connections) or reject (503, the naive way) [PRESTOP_MODE]")
	fs.BoolVar(&o.cfg.ExitOnSIGTERM, "exit-on-sigterm", false, "misbehave: exit at once on SIGTERM or SIGINT, without draining [EXIT_ON_SIGTERM]")
	fs.DurationVar(&o.cfg.ListenDelay, "listen-delay", 0, "misbehave: open the port only this long after start; connections are refused until then [LISTEN_DELAY]")
	fs.DurationVar(&o.cfg.StartupDelay, "startup-delay", 0, "misbehave: answer 503 starting to everything until this long after start [STARTUP_DELAY]")
	fs.DurationVar(&o.cfg.ShutdownDelay, "shutdown-delay", app.DefaultShutdownDelay, "after SIGTERM, keep accepting and answer with Connection: close this long before closing the port, so keep-alive clients leave cleanly [SHUTDOWN_DELAY]")
	fs.DurationVar(&o.cfg.DrainTimeout, "drain-timeout", app.DefaultDrainTimeout, "after closing the port, wait at most this long for in-flight requests [DRAIN_TIMEOUT]")
	fs.StringVar(&level, "log-level", level, "`level`: debug (logs each probe's checker header), info, warn or error [LOG_LEVEL]")

	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for _, ef := range envFlags {
		v := getenv(ef.env)
		if ef.flag == "addr" && v == "" && getenv("PORT") != "" {
			v = ":" + getenv("PORT")
		}
		if given[ef.flag] || v == "" {
			continue
		}
		if err := fs.Set(ef.flag, v); err != nil {
			return o, fmt.Errorf("%s=%q: %w", ef.env, v, err)
		}
	}

	var err error
	if o.cfg.PreStopMode, err = app.ParsePreStopMode(mode); err != nil {
		return o, err
	}
	if err := o.logLevel.UnmarshalText([]byte(level)); err != nil {
		return o, fmt.Errorf("log level: %w", err)
	}
	if o.cfg.DrainTimeout <= 0 {
		return o, fmt.Errorf("drain timeout must be positive, got %v", o.cfg.DrainTimeout)
	}
	return o, nil
}

// Exit codes of the binary.
const (
	exitOK    = 0 // shut down cleanly, or asked for --help
	exitError = 1 // could not listen, or the drain timed out with requests in flight
	exitUsage = 2 // bad flags or environment
)

func run(args []string, getenv func(string) string, stderr io.Writer) int {
	o, err := parseOptions(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintln(stderr, "testapp:", err)
		return exitUsage
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: o.logLevel}))
	o.cfg.Logger = log
	start := time.Now()
	s := app.New(o.cfg)
	// The final counts, once the server has shut down: however run
	// returns, the last line of the log.
	defer s.WriteCountsLine(stderr)

	if o.adminAddr != "" {
		aln, err := net.Listen("tcp", o.adminAddr)
		if err != nil {
			log.Error("admin listen", "err", err)
			return exitError
		}
		mux := http.NewServeMux()
		mux.Handle("/counts", s.CountsHandler())
		admin := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go admin.Serve(aln)
		defer admin.Close()
		log.Info("admin listening", "addr", aln.Addr().String(), "path", "/counts")
	}

	ctx := context.Background()
	if o.cfg.ExitOnSIGTERM {
		// os.Exit rather than cancelling: the kernel then closes the
		// sockets as for a crash, in-flight requests included, which is
		// the failure this flag exists to show.
		sigc := make(chan os.Signal, 1)
		signal.Notify(sigc, syscall.SIGTERM, os.Interrupt)
		go func() {
			sig := <-sigc
			log.Info("exiting at once, not draining", "signal", sig.String())
			// The counts as the exit leaves them: the kernel closes
			// the open connections; requests in flight stay in_flight.
			s.WriteExitCountsLine(stderr)
			os.Exit(exitOK)
		}()
	} else {
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
		defer stop()
		go func() {
			<-ctx.Done()
			log.Info("shutting down on signal")
			// A second signal gets the default action, so an operator
			// can still kill a server stuck draining.
			stop()
		}()
	}

	// Opening the port late, rather than letting Serve close and reopen
	// it, leaves no moment at which the kernel accepts into the backlog.
	if wait := o.cfg.ListenDelay - time.Since(start); wait > 0 {
		if !ctxtime.Sleep(ctx, wait) {
			return exitOK
		}
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		log.Error("listen", "err", err)
		return exitError
	}
	log.Info("listening", "addr", ln.Addr().String(), "healthy", s.Healthy(),
		"prestopMode", string(o.cfg.PreStopMode), "startupDelay", o.cfg.StartupDelay,
		"shutdownDelay", o.cfg.ShutdownDelay, "drainTimeout", o.cfg.DrainTimeout)
	if err := s.Serve(ctx, ln); err != nil {
		log.Error("serve", "err", err)
		return exitError
	}
	log.Info("exiting")
	return exitOK
}
