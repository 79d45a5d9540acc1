package loadgen

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Header is one request header.
type Header struct {
	Name, Value string
}

// Target is one of the requests a run of many sends (Config.Targets).
type Target struct {
	// Name labels the target in Stats and reports.
	Name string
	// URL is absolute; every target shares the first one's scheme, host
	// and port: a run loads one service.
	URL    string
	Method string
	// Headers are the target's own; Config.Headers of the same name give
	// way to them.
	Headers []Header
	Body    []byte
	// Weight is the target's share of the requests relative to the
	// others'; 0 means 1.
	Weight int
}

// Config describes the load to send. Exactly one of Rate (open model) and
// Concurrency (closed model) is set.
type Config struct {
	// Target is the absolute http or https URL every request is sent to.
	Target string
	// Method is the HTTP method; empty means GET.
	Method string
	// Headers are added to every request, in order.
	Headers []Header
	// Body is sent with every request.
	Body []byte
	// Targets, when set, replaces Target, Method and Body: request n is
	// sent to Targets[TargetOf(n)], round-robin over the targets in
	// proportion to their weights, by sequence number alone, so shards of
	// a schedule send each request where one engine would. Headers are
	// added to every target's request unless the target sets the same
	// header itself.
	Targets []Target

	// Rate is the open model's arrival rate in requests per second: request
	// n is due at n/Rate seconds whether or not earlier requests have
	// completed, and its latency is measured from that intended time, so a
	// stalled server shows in the percentiles (no coordinated omission).
	Rate float64
	// Concurrency is the closed model's number of workers, each sending its
	// next request as soon as the previous one completes.
	Concurrency int
	// Connections is the open model's steady pool of connections, each
	// carrying one request at a time (HTTP/1.1 without pipelining), taken in
	// turn. Zero means 64. In the closed model every worker owns one
	// connection and Connections must be zero or equal to Concurrency.
	Connections int
	// MaxConnections bounds the open model's pool. When every connection is
	// busy at a request's due time, another is opened rather than letting
	// the request wait, so a stalled service cannot hold back the schedule;
	// connections opened this way close after a second idle. Only at this
	// bound do due requests wait (and count as late). Zero means enough for
	// Rate × Timeout requests in flight, within the open-file limit; equal
	// to Connections pins the pool.
	MaxConnections int

	// Duration bounds the run; Requests bounds the number of requests. When
	// both are zero the run lasts until its context is cancelled.
	Duration time.Duration
	Requests uint64

	// Timeout bounds each attempt, from dialling to the last byte of the
	// response. Zero means 10 s.
	Timeout time.Duration
	// KeepAlive keeps connections open between requests, as browsers and
	// JMeter do; with KeepAlive off every request opens a new connection
	// and asks the server to close it.
	KeepAlive bool
	// Retries is how many times a request is sent again on a new connection
	// when an attempt on a reused keep-alive connection failed before any
	// response byte arrived and the request is safe to replay — the rule Go's
	// net/http and browsers follow. Every failed attempt is still recorded
	// and counted as retried. Zero (the default) never re-sends: every drop
	// is a failure.
	Retries int
	// Identity finds the pod that answered; nil means the POD >> IP >> VERSION line.
	Identity *Identity
	// ExpectBody, when set, turns a 2xx response whose body does not contain
	// it into a body_mismatch failure.
	ExpectBody []byte
	// RequestIDHeader, when set, sends each request's sequence number in
	// this header so that server logs can be matched with failure records.
	RequestIDHeader string
	// InsecureSkipVerify disables TLS certificate verification.
	InsecureSkipVerify bool
	// MaxFailureRecords caps the individually recorded failed attempts;
	// counts are never capped. Zero means 10000; negative means none.
	MaxFailureRecords int
	// MaxBodyBytes, when positive, caps the bytes of a response body that
	// are read: a longer body fails as "other" (ErrBodyTooLarge) and its
	// connection is closed. Zero means no cap. Bodies are streamed, never
	// held in memory (only their first MaxIdentityBytes are kept), so the
	// cap bounds time and traffic, not memory.
	MaxBodyBytes int
	// UserAgent is sent as User-Agent unless Headers set one.
	UserAgent string

	// Start, when set, is when the run begins: Run waits for it, and every
	// offset in the Stats (Stats.Start = Start) and the schedule count from
	// it. Engines given the same Start share a time base: their seconds
	// coincide, so their Stats merge (Stats.Merge) second by second. Run
	// refuses a Start already past by more than ScheduleTolerance.
	Start time.Time
	// Shards > 1 splits one schedule between that many engines (say, one
	// per machine): this one sends only the requests whose sequence number
	// is Shard modulo Shards, at their times in the whole schedule, and
	// numbers them (request id header, FailureRecord.Seq) as the whole
	// schedule does, so numbers stay unique across shards. Rate, Duration
	// and Requests describe the whole schedule. Shards that share Start
	// merge into the Stats one engine sending the whole schedule would
	// have produced. Zero or one: no split.
	Shard, Shards int
	// Protocol is the wire protocol: ProtoHTTP1 (the default when empty),
	// ProtoH2 (HTTP/2 over TLS by ALPN, https targets), ProtoH2C (HTTP/2
	// with prior knowledge, http targets) or ProtoGRPC (gRPC unary calls
	// over HTTP/2: grpc:// targets with prior knowledge, grpcs:// over TLS;
	// the default for such targets). HTTP/2 carries one request at a time
	// per connection, so results compare with HTTP/1.1's.
	Protocol string
	// GRPCMethod is the method a ProtoGRPC run calls, as its path:
	// "/package.Service/Method". Empty means DefaultGRPCMethod, the health
	// check. Body is the request message, serialized (protobuf) without
	// gRPC's length prefix, which the transport adds; no body is the empty
	// message. Method is POST, as for every gRPC call.
	GRPCMethod string
	// Streams is how many requests one HTTP/2 connection (h2, h2c, gRPC)
	// carries at once; 0 or 1: one at a time, as HTTP/1.1 does, so the
	// numbers compare. Above 1, Connections still counts TCP connections
	// (the open model's steady pool; the closed model's Concurrency
	// divided by Streams, rounded up), each carrying up to Streams
	// requests, and never more at once than its server's
	// SETTINGS_MAX_CONCURRENT_STREAMS. Every stream of a connection
	// reaches the pod the connection reached: more streams on fewer
	// connections spread the load over fewer pods.
	Streams int
	// NewTransport, when set, builds the transport in place of the
	// built-in HTTP/1.1 one (see Transport).
	NewTransport func(TransportConfig) (Transport, error)

	// Attempts, when set, receives every attempt as it ends (see
	// AttemptSink): a per-attempt log costs only the runs that ask for it.
	Attempts AttemptSink
}

// Defaults.
const (
	DefaultConnections = 64
	DefaultTimeout     = 10 * time.Second
	DefaultMaxFailures = 10000
	// LateThreshold is how far behind its intended time a request may be
	// sent before it counts as late: beyond timer jitter, a late send means
	// the generator or its connections could not keep up.
	LateThreshold = time.Millisecond
	// ScheduleTolerance and ScheduleMaxBehind define a kept schedule: at most
	// ScheduleMaxBehind of the requests sent more than ScheduleTolerance
	// late, and none later than its timeout. Beyond that the generator, not
	// the service, shaped the load, and the run measured neither.
	ScheduleTolerance = 10 * time.Millisecond
	ScheduleMaxBehind = 0.01
	// maxConnectionsCap bounds any pool: beyond it a single generator
	// should be split.
	maxConnectionsCap = 100_000
	// MaxTargets and MaxTargetWeight bound Targets: every target has its
	// own latency histogram (about 20 KiB) in each recorder, one recorder
	// per connection, and the schedule has one entry per unit of weight.
	MaxTargets      = 100
	MaxTargetWeight = 1000
	// maxSchedule bounds the weighted schedule's length (weights divided
	// by their greatest common divisor, summed).
	maxSchedule = 1 << 16
	// fdReserve is left of the open-file limit for everything else the
	// process opens (the Kubernetes client, reports, the runtime).
	fdReserve = 256
)

// DefaultMaxConnections is the open model's pool bound when none is set:
// room for every request that can be in flight when each takes its full
// timeout (with its retries), plus the steady pool, within fdLimit (the
// open-file limit; 0 for unknown).
func DefaultMaxConnections(rate float64, timeout time.Duration, retries, connections int, fdLimit uint64) int {
	// A quarter more than the bare product: a worker is busy a little past
	// its timeout (recording, handing back), and the product has no room
	// for a stall that starts while the steady pool is busy.
	need := math.Ceil(1.25*rate*timeout.Seconds()*float64(retries+1)) + float64(connections)
	n := int(min(need, maxConnectionsCap))
	if fdLimit > fdReserve {
		n = min(n, int(min(fdLimit-fdReserve, maxConnectionsCap)))
	}
	return max(n, connections)
}

// ConfigError is a problem with one setting; Field names it the way the
// command line does (e.g. "--rate"), so messages can say what to fix.
type ConfigError struct {
	Field string
	Msg   string
}

func (e *ConfigError) Error() string { return e.Field + ": " + e.Msg }

func cfgErr(field, format string, args ...any) error {
	return &ConfigError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// target is the parsed Target.
type target struct {
	https      bool   // https or grpcs: over TLS
	grpc       bool   // grpc or grpcs
	host       string // host[:port] as in the URL, for the Host header and TLS SNI
	serverName string // host without port
	addr       string // host:port to dial
}

// WithDefaults is the configuration as an Engine would run it: every
// unset setting at its default. A controller that never runs an Engine
// itself (its agents do) reports this.
func (c *Config) WithDefaults() Config { return c.withDefaults() }

func (c *Config) withDefaults() Config {
	out := *c
	if t, err := c.parseTarget(); err == nil && t.grpc {
		out.Protocol = ProtoGRPC
		out.Method = "POST"
		if out.GRPCMethod == "" {
			out.GRPCMethod = DefaultGRPCMethod
		}
	}
	if out.Method == "" && len(out.Targets) == 0 {
		out.Method = "GET"
	}
	out.Streams = max(out.Streams, 1)
	switch {
	case out.Concurrency > 0:
		// Each connection carries Streams of the workers' requests.
		out.Connections = (out.Concurrency + out.Streams - 1) / out.Streams
	case out.Connections == 0:
		out.Connections = DefaultConnections
	}
	if out.Timeout == 0 {
		out.Timeout = DefaultTimeout
	}
	if out.MaxFailureRecords == 0 {
		out.MaxFailureRecords = DefaultMaxFailures
	}
	if out.Identity == nil {
		out.Identity, _ = ParseIdentity("line")
	}
	if out.UserAgent == "" {
		out.UserAgent = "rolltest"
	}
	return out
}

// shards is how many engines share the schedule.
func (c *Config) shards() int { return max(c.Shards, 1) }

// Validate checks the configuration and names the setting at fault.
func (c *Config) Validate() error {
	t, err := c.parseTarget()
	if err != nil {
		return err
	}
	switch {
	case !(c.Rate >= 0): // also NaN, which no comparison below would catch
		return cfgErr("--rate", "must be positive, got %v", c.Rate)
	case c.Concurrency < 0:
		return cfgErr("--concurrency", "must be positive, got %d", c.Concurrency)
	case c.Rate > 0 && c.Concurrency > 0:
		return cfgErr("--rate", "choose --rate (fixed arrival rate) or --concurrency (fixed number of workers), not both")
	case c.Rate == 0 && c.Concurrency == 0:
		return cfgErr("--rate", "set --rate R (requests per second) or --concurrency N (workers)")
	case c.Rate > 10_000_000:
		return cfgErr("--rate", "%v requests per second is beyond what one generator can send; split the load", c.Rate)
	case c.Connections < 0:
		return cfgErr("--connections", "must be positive, got %d", c.Connections)
	case c.Concurrency > 0 && c.Connections != 0 && c.Connections != c.Concurrency:
		return cfgErr("--connections", "applies to --rate runs; with --concurrency each of the %d workers owns one connection", c.Concurrency)
	case c.Concurrency > maxConnectionsCap || c.Connections > maxConnectionsCap:
		return cfgErr("--connections", "at most %d connections", maxConnectionsCap)
	case c.MaxConnections < 0:
		return cfgErr("--max-connections", "must be positive, got %d", c.MaxConnections)
	case c.MaxConnections > 0 && c.Concurrency > 0:
		return cfgErr("--max-connections", "applies to --rate runs; with --concurrency each of the %d workers owns one connection", c.Concurrency)
	case c.MaxConnections > maxConnectionsCap:
		return cfgErr("--max-connections", "at most %d connections", maxConnectionsCap)
	case c.MaxConnections > 0 && c.MaxConnections < max(c.Connections, 1) && c.Connections > 0:
		return cfgErr("--max-connections", "%d is below --connections %d; set it to at least --connections (equal pins the pool)", c.MaxConnections, c.Connections)
	case c.MaxConnections > 0 && c.Connections == 0 && c.MaxConnections < DefaultConnections:
		return cfgErr("--max-connections", "%d is below the default --connections %d; set --connections too", c.MaxConnections, DefaultConnections)
	case c.Duration < 0:
		return cfgErr("--duration", "must be positive, got %v", c.Duration)
	case c.Timeout < 0:
		return cfgErr("--timeout", "must be positive, got %v", c.Timeout)
	case c.MaxBodyBytes < 0:
		return cfgErr("MaxBodyBytes", "must be zero (no cap) or positive, got %d", c.MaxBodyBytes)
	case c.Retries < 0 || c.Retries > 10:
		return cfgErr("--retries", "must be between 0 and 10, got %d", c.Retries)
	case c.Shards < 0:
		return cfgErr("Shards", "must be zero (no split) or positive, got %d", c.Shards)
	case c.Shard < 0 || c.Shard >= max(c.Shards, 1):
		return cfgErr("Shard", "must be between 0 and Shards-1 (%d), got %d", max(c.Shards, 1)-1, c.Shard)
	}
	if err := c.validateTargets(); err != nil {
		return err
	}
	switch c.Protocol {
	case "", ProtoHTTP1, ProtoH2, ProtoH2C, ProtoGRPC:
	default:
		return cfgErr("Protocol", "must be %q, %q, %q or %q, got %q", ProtoHTTP1, ProtoH2, ProtoH2C, ProtoGRPC, c.Protocol)
	}
	if err := c.validateGRPC(t); err != nil {
		return err
	}
	if err := c.validateStreams(t); err != nil {
		return err
	}
	if c.RequestIDHeader != "" && !validHeaderName(c.RequestIDHeader) {
		return cfgErr("--request-id-header", "%q is not a valid header name", c.RequestIDHeader)
	}
	for _, h := range c.Headers {
		if !validHeaderName(h.Name) {
			return cfgErr("--header", "%q is not a valid header name; use -H 'Name: value'", h.Name)
		}
		if strings.ContainsAny(h.Value, "\r\n") {
			return cfgErr("--header", "the value of %s contains a line break", h.Name)
		}
		if framingHeader(h.Name) {
			return cfgErr("--header", "rolltest frames each request's body itself (Content-Length from --body or --body-file); drop -H '%s: ...'", h.Name)
		}
	}
	if !validHeaderName(c.Method) && c.Method != "" {
		return cfgErr("--method", "%q is not a valid HTTP method", c.Method)
	}
	return nil
}

// validateGRPC checks what a gRPC run needs: a grpc:// or grpcs://
// target and the gRPC protocol go together, a valid method, the POST
// every call is, and none of the headers the transport sets itself.
func (c *Config) validateGRPC(t target) error {
	switch {
	case t.grpc && c.Protocol != "" && c.Protocol != ProtoGRPC:
		return cfgErr("Protocol", "%q is a gRPC target, spoken with protocol %q, not %q", c.Target, ProtoGRPC, c.Protocol)
	case !t.grpc && c.Protocol == ProtoGRPC:
		return cfgErr("--target", "gRPC needs a grpc://HOST:PORT (or grpcs:// for TLS) target, not %q", c.Target)
	case !t.grpc && c.GRPCMethod != "":
		return cfgErr("--grpc-method", "applies to grpc:// and grpcs:// targets")
	case !t.grpc:
		return nil
	case c.Method != "" && c.Method != "POST":
		return cfgErr("--method", "a gRPC call is always a POST; the call is chosen with --grpc-method")
	}
	if c.GRPCMethod != "" {
		if err := validGRPCMethod(c.GRPCMethod); err != nil {
			return cfgErr("--grpc-method", "%v", err)
		}
	}
	for _, h := range c.Headers {
		if strings.EqualFold(h.Name, "Content-Type") || strings.EqualFold(h.Name, "TE") {
			return cfgErr("--header", "rolltest sends gRPC's own %s; drop -H '%s: ...'", strings.ToLower(h.Name), h.Name)
		}
	}
	return nil
}

// MaxStreams bounds Config.Streams.
const MaxStreams = 1000

// validateStreams checks Streams: within bounds, and above 1 only for
// HTTP/2 with keep-alive (streams share a connection that lasts).
func (c *Config) validateStreams(t target) error {
	switch {
	case c.Streams < 0 || c.Streams > MaxStreams:
		return cfgErr("--streams", "must be between 1 and %d, got %d", MaxStreams, c.Streams)
	case c.Streams <= 1:
		return nil
	case c.Protocol != ProtoH2 && c.Protocol != ProtoH2C && c.Protocol != ProtoGRPC && !t.grpc:
		return cfgErr("--streams", "multiplexing is HTTP/2's: add --http2 (https) or --h2c (http), or use a grpc:// target")
	case !c.KeepAlive:
		return cfgErr("--streams", "streams share a kept-alive connection; drop --keepalive=false or --streams")
	}
	return nil
}

// validateTargets checks Targets: each a request the engine can send,
// all on the first one's connection target, weights within bounds.
func (c *Config) validateTargets() error {
	if len(c.Targets) == 0 {
		return nil
	}
	switch {
	case c.Target != "":
		return cfgErr("--targets", "use --target URL or --targets FILE, not both")
	case c.Method != "":
		return cfgErr("--method", "each target of --targets has its own method; drop --method")
	case len(c.Body) > 0:
		return cfgErr("--body", "each target of --targets has its own body; drop --body")
	case len(c.Targets) > MaxTargets:
		return cfgErr("--targets", "%d targets; at most %d in one run (each costs memory per connection): split the file", len(c.Targets), MaxTargets)
	}
	first, err := parseURL("--targets", c.Targets[0].URL)
	if err != nil {
		return err
	}
	if first.grpc {
		return cfgErr("--targets", "%s: a run of many targets sends HTTP requests; for gRPC give --target grpc://HOST:PORT and --grpc-method", c.Targets[0].URL)
	}
	for i, t := range c.Targets {
		u, err := parseURL("--targets", t.URL)
		if err != nil {
			return err
		}
		if u.addr != first.addr || u.https != first.https || u.serverName != first.serverName {
			return cfgErr("--targets", "target %d (%s) is not on the first target's scheme, host and port; a run loads one service", i+1, t.URL)
		}
		if !validHeaderName(t.Method) {
			return cfgErr("--targets", "target %d: %q is not a valid HTTP method", i+1, t.Method)
		}
		for _, h := range t.Headers {
			if framingHeader(h.Name) {
				return cfgErr("--targets", "target %d: rolltest frames each body itself; drop its %s header", i+1, h.Name)
			}
			if !validHeaderName(h.Name) || strings.ContainsAny(h.Value, "\r\n") {
				return cfgErr("--targets", "target %d: header %q cannot be sent", i+1, h.Name)
			}
		}
		if t.Weight < 0 || t.Weight > MaxTargetWeight {
			return cfgErr("--targets", "target %d: weight %d must be between 1 and %d", i+1, t.Weight, MaxTargetWeight)
		}
	}
	if n := scheduleLen(c.targetWeights()); n > maxSchedule {
		return cfgErr("--targets", "the weights, divided by their greatest common divisor, sum to %d; at most %d", n, maxSchedule)
	}
	return nil
}

// framingHeader reports whether name is a header that says where a
// request's body ends. The transport writes it from the body; a second,
// different one from the user would make the request unreadable, or
// read as two, by the server.
func framingHeader(name string) bool {
	return strings.EqualFold(name, "Content-Length") || strings.EqualFold(name, "Transfer-Encoding")
}

// targetWeights are the targets' weights, 0 read as 1.
func (c *Config) targetWeights() []int {
	w := make([]int, len(c.Targets))
	for i, t := range c.Targets {
		w[i] = max(t.Weight, 1)
	}
	return w
}

func (c *Config) parseTarget() (target, error) {
	if c.Target == "" && len(c.Targets) > 0 {
		return parseURL("--targets", c.Targets[0].URL)
	}
	if c.Target == "" {
		return target{}, cfgErr("--target", "required: the URL to load, e.g. http://127.0.0.1:8080/common/healthy")
	}
	return parseURL("--target", c.Target)
}

// parseURL reads an absolute http or https URL into the connection it
// names; field says which setting it came from.
func parseURL(field, raw string) (target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return target{}, cfgErr(field, "%q is not a URL: %v", raw, err)
	}
	var t target
	switch u.Scheme {
	case "http":
	case "https":
		t.https = true
	case "grpc":
		t.grpc = true
	case "grpcs":
		t.grpc, t.https = true, true
	default:
		return target{}, cfgErr(field, "%q: scheme must be http or https (grpc or grpcs for gRPC)", raw)
	}
	if u.Host == "" {
		if t.grpc {
			return target{}, cfgErr(field, "%q has no host; write it as %s://HOST:PORT", raw, u.Scheme)
		}
		return target{}, cfgErr(field, "%q has no host; write it as http://HOST:PORT/PATH", raw)
	}
	if t.grpc && (u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "") {
		return target{}, cfgErr(field, "%q: a gRPC target is %s://HOST:PORT alone; the method to call is --grpc-method", raw, u.Scheme)
	}
	if u.User != nil {
		return target{}, cfgErr(field, "credentials in the URL are not supported; send them with -H 'Authorization: ...'")
	}
	t.host = u.Host
	t.serverName = u.Hostname()
	port := u.Port()
	// url.Parse takes any digits for a port; a port no socket can have
	// would otherwise surface as "refused" (0) or a dial error.
	if n, err := strconv.Atoi(port); port != "" && (err != nil || n < 1 || n > 65535) {
		return target{}, cfgErr(field, "%q: port must be between 1 and 65535", raw)
	}
	if port == "" {
		port = "80"
		if t.https {
			port = "443"
		}
	}
	t.addr = net.JoinHostPort(u.Hostname(), port)
	return t, nil
}

// replayable reports whether a request may be sent again after an attempt
// failed before any response byte arrived: the rule of net/http's
// Request.isReplayable, for requests whose body rolltest can always resend.
func replayable(method string, headers []Header) bool {
	switch method {
	case "GET", "HEAD", "OPTIONS", "TRACE":
		return true
	}
	for _, h := range headers {
		if strings.EqualFold(h.Name, "Idempotency-Key") || strings.EqualFold(h.Name, "X-Idempotency-Key") {
			return true
		}
	}
	return false
}
