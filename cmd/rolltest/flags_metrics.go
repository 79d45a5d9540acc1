package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/rolltest/rolltest/internal/ctxtime"
	"github.com/rolltest/rolltest/internal/redact"
	"github.com/rolltest/rolltest/pkg/loadgen"
	"github.com/rolltest/rolltest/pkg/metrics"
	"github.com/rolltest/rolltest/pkg/rollout"
)

// metricsFlags serve the run's live counts to Prometheus.
type metricsFlags struct {
	addr   string
	linger time.Duration
}

func (f *metricsFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.addr, "metrics-addr", "", "serve the run's live counts to Prometheus at http://HOST:PORT/metrics while it runs, e.g. 127.0.0.1:9464 (port 0 picks a free one; the URL is printed)")
	fs.DurationVar(&f.linger, "metrics-linger", 0, "keep serving /metrics this long after the report is written, so that a last scrape sees the final counts (Ctrl-C ends it early)")
}

func (f *metricsFlags) validate() error {
	switch {
	case f.linger < 0:
		return usagef("--metrics-linger", "must be 0 or more")
	case f.linger > 0 && f.addr == "":
		return usagef("--metrics-linger", "needs --metrics-addr")
	}
	return nil
}

// metricsServer is a run's /metrics endpoint; nil (no --metrics-addr)
// does nothing.
type metricsServer struct {
	srv    *metrics.Server
	linger time.Duration
	stderr io.Writer
	quiet  bool
}

// listen binds --metrics-addr before anything is sent, so that a port in
// use or a bad address is a usage error, not a run without its metrics.
func (f *metricsFlags) listen(ctx context.Context, stderr io.Writer, quiet bool) (*metricsServer, error) {
	if f.addr == "" {
		return nil, nil
	}
	srv, err := metrics.Listen(ctx, f.addr)
	if err != nil {
		return nil, usagef("--metrics-addr", "%v", err)
	}
	if !quiet {
		fmt.Fprintf(stderr, "rolltest: serving metrics on %s\n", srv.URL())
	}
	return &metricsServer{srv: srv, linger: f.linger, stderr: stderr, quiet: quiet}, nil
}

// serve starts answering scrapes from the engine's live totals.
func (m *metricsServer) serve(eng *loadgen.Engine, drv rollout.Driver) {
	if m == nil {
		return
	}
	cfg := eng.Config()
	info := metrics.Info{Version: versionString(), Target: redact.URL(cfg.Target), Mode: "concurrency"}
	if cfg.Rate > 0 {
		info.Mode = "rate"
	}
	if drv != nil {
		w := drv.Workload()
		info.Workload, info.Namespace = w.Ref(), w.Namespace
	}
	m.srv.Serve(metrics.NewRegistry(eng, info))
}

// stay keeps the endpoint up for --metrics-linger once the run is over
// and its report written, unless ctx ends first.
func (m *metricsServer) stay(ctx context.Context) {
	if m == nil || m.linger <= 0 || ctx.Err() != nil {
		return
	}
	if !m.quiet {
		fmt.Fprintf(m.stderr, "rolltest: run over; serving its final metrics on %s for %v (Ctrl-C ends it)\n", m.srv.URL(), m.linger)
	}
	ctxtime.Sleep(ctx, m.linger)
}

// close stops the endpoint, giving scrapes in progress a few seconds.
func (m *metricsServer) close(ctx context.Context) {
	if m == nil {
		return
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := m.srv.Close(cctx); err != nil && !m.quiet {
		fmt.Fprintf(m.stderr, "rolltest: warning: --metrics-addr: %s\n", oneLine(err.Error()))
	}
}
