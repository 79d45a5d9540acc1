package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Server serves /metrics. Listen binds its address first, so that a port in
// use is reported before any load is sent; Serve starts answering once the
// run's registry exists.
type Server struct {
	ln   net.Listener
	srv  *http.Server
	done chan error
}

// Listen binds addr (host:port; port 0 picks a free one, which Addr then
// tells).
func Listen(ctx context.Context, addr string) (*Server, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("%q is not HOST:PORT (e.g. 127.0.0.1:9464 or :9464): %w", addr, err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return &Server{ln: ln}, nil
}

// Addr is the address bound, with the port chosen for port 0.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL is where the metrics are served.
func (s *Server) URL() string { return "http://" + s.Addr() + "/metrics" }

// Serve answers /metrics from reg until Close. Call it once.
func (s *Server) Serve(reg *prometheus.Registry) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		Registry: reg, // counts its own errors in promhttp_metric_handler_errors_total
		// A scrape that cannot gather everything should say so, not
		// serve a part that looks whole.
		ErrorHandling: promhttp.HTTPErrorOnError,
	}))
	s.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       time.Minute,
	}
	s.done = make(chan error, 1)
	go func() { s.done <- s.srv.Serve(s.ln) }()
}

// Close stops serving: scrapes in progress get until ctx ends to finish,
// then their connections are closed. Safe before Serve, and only once.
func (s *Server) Close(ctx context.Context) error {
	if s.srv == nil {
		return s.ln.Close()
	}
	err := s.srv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(fmt.Errorf("shut down the metrics server: %w", err), s.srv.Close())
	}
	if serr := <-s.done; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, fmt.Errorf("serve metrics: %w", serr))
	}
	return err
}
