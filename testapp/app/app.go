// Package app is testapp, the reference system under test for rolltest: a
// Go port of a typical Spring Boot health controller (/common/healthy,
// /common/time, /common/preStop) that shuts down without dropping requests.
//
// One port serves HTTP/1.1, HTTP/2 with prior knowledge (h2c) and, on
// HTTP/2, gRPC: grpc.health.v1.Health/Check and testapp.Echo/Echo (see
// grpc.go). Every response names the replica: the X-Pod-Id and
// X-App-Version headers (gRPC metadata x-pod-id, x-app-version).
//
// The same code runs as a container in a real Kubernetes cluster (see
// testapp/main.go) and in-process, several replicas at once, inside rolltest's
// local simulator. For the latter a Server holds all of its state; the package
// has no mutable globals.
//
// # Lifecycle
//
// A Server is starting until Config.StartupDelay has elapsed, then serving.
// It starts draining when /common/preStop is called, when StartDraining is
// called, or when the context given to Serve is cancelled (the binary cancels
// it on SIGTERM). Draining never ends: a pod that has been told to stop does
// not come back.
//
// What a request gets depends on the state, the PreStopMode and on whether it
// is a probe, i.e. a request to /common/healthy carrying a "checker" header as
// manifests/testapp.yaml sends it (readinessProbe, livenessProbe or startupProbe):
//
//	                   starting   serving   draining/drain    draining/reject
//	readiness probe    503        200       503 draining      503 draining
//	other probes       503        200       200               200
//	traffic            503        200       200 + close       503 shutting down
//
// "+ close" means the response carries "Connection: close"; on HTTP/2,
// where that header does not exist, net/http turns it into a graceful
// GOAWAY for the connection, with the same effect: the client's next
// request goes over a new connection. gRPC follows the same table; see
// grpc.go.
package app

import (
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// PreStopMode selects what a draining Server does with traffic.
type PreStopMode string

const (
	// PreStopDrain keeps serving traffic normally but closes each
	// connection after its response, and fails readiness probes. Clients
	// re-connect, and kube-proxy sends the new connections to pods that are
	// still endpoints. Nothing is dropped as long as the pod keeps
	// accepting until its endpoint removal has propagated.
	PreStopDrain PreStopMode = "drain"

	// PreStopReject is the naive plan many apps ship: answer traffic with
	// 503 "server is shutting down". Every request still routed to the pod
	// (kube-proxy lags behind the endpoint removal, and keep-alive
	// connections stay pinned to it) fails. rolltest keeps it to show the
	// cost.
	PreStopReject PreStopMode = "reject"
)

// ParsePreStopMode parses "drain" or "reject". The empty string means
// PreStopDrain.
func ParsePreStopMode(s string) (PreStopMode, error) {
	switch PreStopMode(s) {
	case "", PreStopDrain:
		return PreStopDrain, nil
	case PreStopReject:
		return PreStopReject, nil
	}
	return "", fmt.Errorf("app: unknown pre-stop mode %q (want %q or %q)", s, PreStopDrain, PreStopReject)
}

// DefaultDrainTimeout is used when Config.DrainTimeout is zero. It leaves
// room within Kubernetes' default 30s terminationGracePeriodSeconds for a
// preStop sleep of up to about 15s.
const DefaultDrainTimeout = 15 * time.Second

// DefaultShutdownDelay is the binary's drain window after SIGTERM: for this
// long the app keeps accepting and answers every request with Connection:
// close, so that each keep-alive client still pinned to the pod makes one
// more request, is told to leave, and reconnects to another pod. Only then
// does Shutdown close the connections that are still idle. Without the
// window, Shutdown closes idle keep-alive connections at once, racing with
// clients that are writing their next request on them: those requests are
// dropped (Go's client and browsers retry them silently; rolltest counts
// them). A client sending at least once per window never meets the race.
const DefaultShutdownDelay = time.Second

// TimeLayout is the time.Format layout of the /common/time and
// /common/preStop bodies, in the server's local time zone. It matches Java's
// DateTimeFormatter.ISO_LOCAL_DATE_TIME, as the Java original: the fraction of
// a second has as many digits as needed (trailing zeros trimmed) and is
// omitted, with its dot, when zero. Example: 2023-12-26T10:15:30.1234.
const TimeLayout = "2006-01-02T15:04:05.999999999"

// Paths served. Anything else is 404.
const (
	PathHealthy = "/common/healthy"
	PathTime    = "/common/time"
	PathPreStop = "/common/preStop"
)

// Headers naming the replica on every response, HTTP/1.1 or HTTP/2, so
// that a client can tell pods apart without reading bodies (rolltest's
// --identity header:X-Pod-Id,X-App-Version). gRPC responses carry them as
// metadata, in lower case on the wire.
const (
	HeaderPodID      = "X-Pod-Id"
	HeaderAppVersion = "X-App-Version"
)

// Response bodies of the non-200 answers.
const (
	BodyStarting     = "starting"
	BodyDraining     = "draining"
	BodyShuttingDown = "server is shutting down"
)

// Config configures a Server. The zero value is usable.
type Config struct {
	// PodID, PodIP and Version identify the replica in the /common/healthy
	// body "PodID >> PodIP >> Version". The binary reads them from POD_ID,
	// POD_IP and APP_VERSION (downward API). Empty means "unknown",
	// "unknown" and "V0" (the Java original's appVersion default).
	PodID, PodIP, Version string

	// PreStopMode is PreStopDrain when empty.
	PreStopMode PreStopMode

	// ExitOnSIGTERM makes Serve, when its context is cancelled, close the
	// listener and every connection at once instead of draining, like a
	// process that exits on SIGTERM: in-flight requests fail. It exists
	// to demonstrate drops.
	ExitOnSIGTERM bool

	// ListenDelay models a process that is still booting: Serve does not
	// accept connections, so clients are refused, until ListenDelay after
	// New. Measured on the real clock.
	ListenDelay time.Duration

	// StartupDelay models a slow application start (a JVM warming up):
	// until StartupDelay after New, every request except /common/preStop,
	// probes included, gets 503 "starting". Measured with Now.
	StartupDelay time.Duration

	// ShutdownDelay is how long Serve keeps accepting and serving, already
	// draining, after its context is cancelled and before it closes the
	// listener. It gives kube-proxy on every node time to drop the pod's
	// endpoint; without it (or a preStop sleep) connections routed by stale
	// rules are refused. Zero means none, as when the pod's preStop hook
	// sleeps instead.
	ShutdownDelay time.Duration

	// DrainTimeout bounds how long Serve waits, after closing the
	// listener, for in-flight requests; connections still active then are
	// closed. Zero means DefaultDrainTimeout.
	DrainTimeout time.Duration

	// Logger receives the checker header of each probe at debug level and
	// lifecycle events at info. Nil discards.
	Logger *slog.Logger

	// Now is the clock for /common/time and StartupDelay. Nil means
	// time.Now.
	Now func() time.Time
}

// A Server is one testapp replica. Its methods are safe for concurrent use.
type Server struct {
	mode          PreStopMode
	exitAtOnce    bool
	shutdownDelay time.Duration
	drainTimeout  time.Duration
	log           *slog.Logger
	now           func() time.Time

	listenAt time.Time // real clock
	readyAt  time.Time // Now's clock

	// The bodies and their Content-Length values are built once: the
	// healthy endpoint is a load target at tens of thousands of requests
	// per second.
	healthy, starting, draining, shuttingDown fixedBody

	// Header values shared by all responses, so that setting them does
	// not allocate. net/http only reads them, and a handler wrapper that
	// Adds to one reallocates since len == cap.
	hdrTextPlain, hdrClose, hdrPodID, hdrVersion []string

	grpc grpcReplies

	handler http.Handler
	srv     *http.Server

	podID, podIP, version string
	counts                counters

	started    atomic.Bool // StartupDelay has elapsed; saves a clock read per request
	isDraining atomic.Bool
	served     atomic.Bool
}

type fixedBody struct {
	body   []byte
	length []string
}

func newFixedBody(s string) fixedBody {
	return fixedBody{body: []byte(s), length: []string{strconv.Itoa(len(s))}}
}

// New returns a Server for cfg. It panics if cfg.PreStopMode is invalid.
func New(cfg Config) *Server {
	mode, err := ParsePreStopMode(string(cfg.PreStopMode))
	if err != nil {
		panic(err)
	}
	s := &Server{
		mode:          mode,
		exitAtOnce:    cfg.ExitOnSIGTERM,
		shutdownDelay: cfg.ShutdownDelay,
		drainTimeout:  cfg.DrainTimeout,
		log:           cfg.Logger,
		now:           cfg.Now,
	}
	if s.drainTimeout <= 0 {
		s.drainTimeout = DefaultDrainTimeout
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.listenAt = time.Now().Add(cfg.ListenDelay)
	s.readyAt = s.now().Add(cfg.StartupDelay)
	if cfg.StartupDelay <= 0 {
		s.started.Store(true)
	}
	s.podID, s.podIP, s.version = orDefault(cfg.PodID, "unknown"), orDefault(cfg.PodIP, "unknown"), orDefault(cfg.Version, "V0")
	s.healthy = newFixedBody(s.podID + " >> " + s.podIP + " >> " + s.version)
	s.starting = newFixedBody(BodyStarting)
	s.draining = newFixedBody(BodyDraining)
	s.shuttingDown = newFixedBody(BodyShuttingDown)
	s.hdrTextPlain = []string{"text/plain; charset=utf-8"}
	s.hdrClose = []string{"close"}
	s.hdrPodID = []string{s.podID}
	s.hdrVersion = []string{s.version}
	s.grpc = newGRPCReplies()
	s.handler = http.HandlerFunc(s.serveCounted)
	// HTTP/2 without TLS, with prior knowledge only (no Upgrade: h2c),
	// beside HTTP/1.1 on the same port: gRPC clients and the kubelet's
	// gRPC probe speak it.
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	s.srv = &http.Server{
		Handler:     s.handler,
		Protocols:   &protocols,
		ConnContext: connContext,
		ConnState:   connState,
		// Bounds slow or stuck clients; no write timeout, since
		// in-flight requests are what draining is about.
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	return s
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Handler returns the handler Serve uses, for embedding the replica in
// another server. Connections of such a server are not closed by
// StartDraining; the Connection: close header still applies. Requests it
// serves outside Serve are not in Counts.
func (s *Server) Handler() http.Handler { return s.handler }

// Healthy returns the /common/healthy body, "PodID >> PodIP >> Version".
func (s *Server) Healthy() string { return string(s.healthy.body) }

// Ready reports what a readiness probe would be told: true once the server
// has started and until it starts draining.
func (s *Server) Ready() bool {
	return !s.isDraining.Load() && !s.isStarting() && !time.Now().Before(s.listenAt)
}

// Draining reports whether the server has started draining.
func (s *Server) Draining() bool { return s.isDraining.Load() }

// StartDraining does what /common/preStop does: readiness probes (HTTP and
// gRPC) fail from now on, and traffic is drained or rejected according to
// the PreStopMode. It leaves idle keep-alive connections open: in drain
// mode each is closed by its next response (Connection: close, on HTTP/2
// a GOAWAY), so that its client re-connects to a pod that is still an
// endpoint (or, if kube-proxy lags, to this one, which still serves it);
// shutdown closes the rest. Calling it again has no effect.
func (s *Server) StartDraining() { s.startDraining("StartDraining") }

func (s *Server) startDraining(reason string) {
	if s.isDraining.Swap(true) {
		return
	}
	// Idle keep-alive connections are deliberately left open: closing one
	// races with a client that is writing its next request on it right
	// now, and that request would be dropped. Each connection is instead
	// closed after its next response (Connection: close), and whatever is
	// still idle at SIGTERM is closed by Shutdown, once the endpoint
	// removal has had time to stop new traffic.
	s.log.Info("draining", "reason", reason, "mode", string(s.mode))
}

func (s *Server) isStarting() bool {
	if s.started.Load() {
		return false
	}
	if s.now().Before(s.readyAt) {
		return true
	}
	if s.started.CompareAndSwap(false, true) {
		s.log.Info("started")
	}
	return false
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h[HeaderPodID] = s.hdrPodID
	h[HeaderAppVersion] = s.hdrVersion
	if isGRPC(r) {
		s.serveGRPC(w, r)
		return
	}
	switch r.URL.Path {
	case PathHealthy:
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			methodNotAllowed(w, "GET, HEAD")
			return
		}
		s.serveHealthy(w, r)
	case PathTime:
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			methodNotAllowed(w, "GET, HEAD")
			return
		}
		if s.isStarting() {
			s.write(w, http.StatusServiceUnavailable, s.starting)
			return
		}
		if s.isDraining.Load() && s.mode == PreStopReject {
			s.write(w, http.StatusServiceUnavailable, s.shuttingDown)
			return
		}
		s.writeTime(w)
	case PathPreStop:
		// Kubernetes' httpGet hook uses GET; POST is accepted because the
		// call changes state. HEAD is not: it must not.
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			methodNotAllowed(w, "GET, POST")
			return
		}
		// Served even while starting or rejecting: it is the kubelet's
		// lifecycle hook, not traffic, and a failed hook only adds noise.
		s.log.Info("got preStop action", "remote", r.RemoteAddr)
		s.startDraining("preStop")
		s.writeTime(w)
	default:
		http.NotFound(w, r)
	}
}

// probe kinds, from the checker header the manifests' probes send.
const (
	notProbe = iota
	readinessProbe
	otherProbe
)

func (s *Server) serveHealthy(w http.ResponseWriter, r *http.Request) {
	// Indexing the canonical key directly, unlike Header.Get, does not
	// allocate.
	var checker string
	if v := r.Header["Checker"]; len(v) > 0 {
		checker = v[0]
	}
	kind := notProbe
	if checker != "" {
		kind = otherProbe
		if strings.EqualFold(checker, "readinessProbe") {
			kind = readinessProbe
		}
		// Only probes are logged: logging traffic would flood at load.
		if s.log.Enabled(r.Context(), slog.LevelDebug) {
			s.log.LogAttrs(r.Context(), slog.LevelDebug, "probe",
				slog.String("checker", checker),
				slog.String("remote", r.RemoteAddr))
		}
	}
	if s.isStarting() {
		s.write(w, http.StatusServiceUnavailable, s.starting)
		return
	}
	if s.isDraining.Load() {
		switch {
		case kind == readinessProbe:
			s.write(w, http.StatusServiceUnavailable, s.draining)
			return
		case kind == notProbe && s.mode == PreStopReject:
			s.write(w, http.StatusServiceUnavailable, s.shuttingDown)
			return
		}
		// Liveness stays 200: a restart would kill the in-flight
		// requests draining is waiting for.
	}
	s.write(w, http.StatusOK, s.healthy)
}

func (s *Server) setHeaders(h http.Header) {
	h["Content-Type"] = s.hdrTextPlain
	if s.mode == PreStopDrain && s.isDraining.Load() {
		h["Connection"] = s.hdrClose
	}
}

func (s *Server) write(w http.ResponseWriter, code int, b fixedBody) {
	h := w.Header()
	s.setHeaders(h)
	h["Content-Length"] = b.length
	w.WriteHeader(code)
	w.Write(b.body)
}

func (s *Server) writeTime(w http.ResponseWriter) {
	s.setHeaders(w.Header())
	var buf [len(TimeLayout) + 8]byte
	w.WriteHeader(http.StatusOK)
	w.Write(s.now().AppendFormat(buf[:0], TimeLayout))
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
}
