package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rolltest/rolltest/pkg/loadgen"
	"github.com/rolltest/rolltest/pkg/targets"
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
	// http2, h2c and streams choose HTTP/2 (see protocol).
	http2, h2c bool
	streams    int
	// grpcMethod is the call of a grpc:// or grpcs:// target.
	grpcMethod string
	// targetsFile and targetsFormat are run's --targets (see
	// registerTargets); empty for demo.
	targetsFile, targetsFormat string
	// jmxFile is run's --jmx; jmx is its translation, once read.
	jmxFile string
	jmx     *jmxPlan
}

func (f *loadFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.target, "target", "", "URL to load, e.g. http://127.0.0.1:30080/common/healthy, or grpc://HOST:PORT (grpcs:// over TLS) to make gRPC calls (required)")
	fs.StringVarP(&f.method, "method", "X", "GET", "HTTP method")
	fs.StringArrayVarP(&f.headers, "header", "H", nil, "request header 'Name: value' (repeatable)")
	fs.StringVar(&f.body, "body", "", "request body (for gRPC, the request message serialized as protobuf)")
	fs.StringVar(&f.bodyFile, "body-file", "", "read the request body from this file (for gRPC, the request message serialized as protobuf, e.g. by protoc --encode)")
	fs.Float64Var(&f.rate, "rate", 0, "open model: requests per second, whatever the server does (latency from the intended send time)")
	fs.IntVar(&f.concurrency, "concurrency", 0, "closed model: workers that each send the next request when the last one completes")
	fs.IntVar(&f.connections, "connections", 0, "open model: the steady pool of connections, each carrying one request at a time (or --streams at once), used in turn (default 64)")
	fs.IntVar(&f.maxConnections, "max-connections", 0, "open model: when every connection is busy at a request's due time another is opened, up to this many, so a stalled service cannot delay the schedule (default: enough for --rate × --timeout in flight; equal to --connections pins the pool)")
	fs.DurationVar(&f.duration, "duration", 0, "how long to send (e.g. 30s)")
	fs.Uint64Var(&f.requests, "requests", 0, "how many requests to send")
	fs.DurationVar(&f.timeout, "timeout", loadgen.DefaultTimeout, "per attempt, from dialling to the last response byte")
	fs.BoolVar(&f.keepAlive, "keepalive", true, "reuse connections, as browsers and JMeter do; --keepalive=false opens one per request")
	fs.IntVar(&f.retries, "retries", 0, "re-send a request whose reused connection failed before any response byte, as Go and browsers do (each re-send is counted as retried)")
	fs.StringVar(&f.identity, "identity", "auto", "how to tell which pod answered: auto (the first of: a 'POD >> IP >> VERSION' body, an X-Pod-Name, X-Pod, X-Hostname, X-Served-By, X-Backend-Server or X-Server-Hostname header, a JSON body's hostname/pod/podName/pod_name/host field, a 'Hostname: NAME' line; settled after 3 responses in a row), line, header:NAME[,VERSIONHEADER], regex:EXPR with (?P<pod>) and (?P<version>) groups, or none")
	fs.StringVar(&f.expectBody, "expect-body", "", "count a 2xx whose body lacks this text as body_mismatch")
	fs.StringVar(&f.reqID, "request-id-header", "", "send each request's number in this header, to match server logs with failures")
	fs.BoolVar(&f.insecure, "insecure", false, "skip TLS certificate verification")
	fs.IntVar(&f.maxFailureRecords, "max-failure-records", loadgen.DefaultMaxFailures, "failed attempts recorded one by one, 0 for none (counts are never capped)")
	fs.BoolVar(&f.http2, "http2", false, "speak HTTP/2 over TLS (https targets; the server must select h2 by ALPN); for http targets use --h2c")
	fs.BoolVar(&f.h2c, "h2c", false, "speak HTTP/2 without TLS, with prior knowledge (http targets)")
	fs.StringVar(&f.grpcMethod, "grpc-method", "", "the unary method a grpc:// or grpcs:// target is called with, /package.Service/Method (default "+loadgen.DefaultGRPCMethod+", whose reply must say SERVING); the request message is --body or --body-file, empty by default; every status but OK is a dropped request, none is re-sent")
	fs.IntVar(&f.streams, "streams", 1, "HTTP/2 (--http2, --h2c, grpc://) requests in flight per connection, 1 to 1000: 1 carries one at a time, as HTTP/1.1 does, so the numbers compare. With N above 1, --connections counts TCP connections (with --concurrency, it divided by N), each carrying up to N requests at once, never more than the server allows (SETTINGS_MAX_CONCURRENT_STREAMS). Every stream of a connection goes to the one pod that connection reached: fewer connections pin the load on fewer pods, and a rollout moves it a connection, not a request, at a time")
}

// registerTargets adds --targets, for run alone: the demo loads a Service
// whose address it makes up itself.
func (f *loadFlags) registerTargets(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.targetsFile, "targets", "", "send many requests instead of --target: a file of vegeta's http format ('METHOD URL', header lines, @body-file; '# weight N' and '# name LABEL' per target) or one JSON object per line; -H adds to every target")
	fs.StringVar(&f.targetsFormat, "targets-format", "auto", "format of the --targets file: http, json, or auto (json when it starts with '{')")
	fs.StringVar(&f.jmxFile, "jmx", "", "run a JMeter test plan (.jmx): its HTTP requests become the targets, its throughput timer --rate (else its threads --concurrency), unless given; what cannot be carried over is listed before the run (see rolltest import jmx)")
}

// loadTargets reads --targets into cfg, in place of --target, --method
// and --body, which each target has its own of.
func (f *loadFlags) loadTargets(cmd *cobra.Command, cfg *loadgen.Config) error {
	if f.targetsFile == "" {
		if cmd.Flags().Changed("targets-format") {
			return usagef("--targets-format", "applies to a --targets file; give --targets FILE")
		}
		return nil
	}
	if f.target != "" {
		return usagef("--targets", "use --target URL or --targets FILE, not both")
	}
	if err := f.ownRequests(cmd, "each target of --targets", " (an @path line)"); err != nil {
		return err
	}
	format, err := targets.ParseFormat(f.targetsFormat)
	if err != nil {
		return usagef("--targets-format", "%v", err)
	}
	ts, err := targets.ReadFile(f.targetsFile, format)
	if err != nil {
		// targets.Error already reads "FILE line N: what".
		return &usageError{msg: "--targets " + err.Error()}
	}
	cfg.Target, cfg.Method, cfg.Targets = "", "", targets.Engine(ts)
	return nil
}

// ownRequests refuses --method and --body beside a source whose requests
// carry their own (a --targets file, a --jmx plan); whose names it, as
// "each target of --targets", and bodyFrom says where its bodies come from.
func (f *loadFlags) ownRequests(cmd *cobra.Command, whose, bodyFrom string) error {
	switch {
	case cmd.Flags().Changed("method"):
		return usagef("--method", "%s has its own method; drop --method", whose)
	case f.body != "" || f.bodyFile != "":
		return usagef("--body", "%s has its own body%s; drop --body and --body-file", whose, bodyFrom)
	}
	return nil
}

// loadConfig turns the flags into an engine configuration, naming the
// flag at fault when something is wrong.
func (f *loadFlags) loadConfig(cmd *cobra.Command) (loadgen.Config, error) {
	cfg := loadgen.Config{
		Target: f.target, Method: strings.ToUpper(f.method), Rate: f.rate, Concurrency: f.concurrency,
		Connections: f.connections, MaxConnections: f.maxConnections, Duration: f.duration, Requests: f.requests, Timeout: f.timeout,
		KeepAlive: f.keepAlive, Retries: f.retries, RequestIDHeader: f.reqID, InsecureSkipVerify: f.insecure,
		MaxFailureRecords: f.maxFailureRecords, UserAgent: "rolltest/" + versionString(), GRPCMethod: f.grpcMethod,
	}
	if cmd.Flags().Changed("timeout") && f.timeout <= 0 {
		return cfg, usagef("--timeout", "must be positive, e.g. 5s")
	}
	switch {
	case f.maxFailureRecords < 0:
		return cfg, usagef("--max-failure-records", "must be 0 (record none) or more")
	case f.maxFailureRecords == 0:
		cfg.MaxFailureRecords = -1 // the engine reads 0 as its default, 10000
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
		b, err := readBounded(f.bodyFile, maxBodyFileBytes)
		if err != nil {
			return cfg, usagef("--body-file", "%v", err)
		}
		cfg.Body = b
	}
	if err := f.loadTargets(cmd, &cfg); err != nil {
		return cfg, err
	}
	if f.expectBody != "" {
		cfg.ExpectBody = []byte(f.expectBody)
	}
	if err := f.loadJMX(cmd, &cfg); err != nil {
		return cfg, err
	}
	id, err := loadgen.ParseIdentity(f.identity)
	if err != nil {
		return cfg, usagef("--identity", "%v", err)
	}
	cfg.Identity = id
	if cfg.Protocol, err = f.protocol(cmd, &cfg); err != nil {
		return cfg, err
	}
	if err := cfg.Validate(); err != nil {
		// The engine calls any source of many targets --targets; a plan's
		// came from --jmx.
		var ce *loadgen.ConfigError
		if errors.As(err, &ce) && ce.Field == "--targets" && f.jmxFile != "" {
			return cfg, usagef("--jmx", "%s: %s", f.jmxFile, ce.Msg)
		}
		return cfg, &usageError{msg: err.Error()}
	}
	return cfg, nil
}

// protocol reads --http2, --h2c, --streams and a gRPC target: the wire
// protocol, checked against the target's scheme so that a mismatch is a
// usage error naming the flag to use rather than a failed run.
func (f *loadFlags) protocol(cmd *cobra.Command, cfg *loadgen.Config) (string, error) {
	if cmd.Flags().Changed("streams") && (f.streams < 1 || f.streams > loadgen.MaxStreams) {
		return "", usagef("--streams", "must be between 1 and %d, got %d", loadgen.MaxStreams, f.streams)
	}
	cfg.Streams = f.streams
	if s, _, _ := strings.Cut(cfg.Target, "://"); strings.EqualFold(s, "grpc") || strings.EqualFold(s, "grpcs") {
		return f.grpcProtocol(cmd, cfg, strings.ToLower(s))
	}
	if cmd.Flags().Changed("grpc-method") {
		return "", usagef("--grpc-method", "applies to gRPC targets; give --target grpc://HOST:PORT (or grpcs:// for TLS)")
	}
	urls := []string{cfg.Target}
	if cfg.Target == "" {
		urls = urls[:0]
		for _, t := range cfg.Targets {
			urls = append(urls, t.URL)
		}
	}
	scheme := func(want string) (string, bool) {
		for _, u := range urls {
			if s, _, _ := strings.Cut(u, "://"); !strings.EqualFold(s, want) {
				return u, false
			}
		}
		return "", true
	}
	switch {
	case f.http2 && f.h2c:
		return "", usagef("--http2", "choose --http2 (HTTP/2 over TLS, https) or --h2c (HTTP/2 without TLS, http), not both")
	case f.http2:
		if u, ok := scheme("https"); !ok {
			return "", usagef("--http2", "%s is not https: --http2 negotiates HTTP/2 over TLS; for HTTP/2 without TLS on http use --h2c", u)
		}
		return loadgen.ProtoH2, nil
	case f.h2c:
		if u, ok := scheme("http"); !ok {
			return "", usagef("--h2c", "%s is not http: --h2c is HTTP/2 without TLS; for https use --http2", u)
		}
		return loadgen.ProtoH2C, nil
	case cmd.Flags().Changed("streams"):
		return "", usagef("--streams", "applies to HTTP/2; add --http2 (https) or --h2c (http)")
	}
	return loadgen.ProtoHTTP1, nil
}

// grpcProtocol checks the flags of a gRPC target, whose scheme says the
// protocol: HTTP/2 with prior knowledge (grpc) or over TLS (grpcs).
func (f *loadFlags) grpcProtocol(cmd *cobra.Command, cfg *loadgen.Config, scheme string) (string, error) {
	switch {
	case f.http2 && scheme == "grpcs":
		return "", usagef("--http2", "a grpcs:// target speaks HTTP/2 over TLS already; drop --http2")
	case f.http2:
		return "", usagef("--http2", "a grpc:// target speaks HTTP/2 without TLS; drop --http2 (for TLS write grpcs://)")
	case f.h2c && scheme == "grpc":
		return "", usagef("--h2c", "a grpc:// target speaks HTTP/2 without TLS already; drop --h2c")
	case f.h2c:
		return "", usagef("--h2c", "a grpcs:// target speaks HTTP/2 over TLS; drop --h2c (without TLS write grpc://)")
	case cmd.Flags().Changed("method"):
		return "", usagef("--method", "a gRPC call is always a POST; drop --method and choose the call with --grpc-method")
	}
	cfg.Method = "POST"
	return loadgen.ProtoGRPC, nil
}

// maxBodyFileBytes bounds --body-file: the body is held in memory and sent
// with every request, so a wrong path (a disk image, /dev/zero) must fail
// in one line rather than exhaust memory. 64 MiB is far past any request
// body a service under rollout is tested with.
const maxBodyFileBytes = 64 << 20

// readBounded reads a file of at most limit bytes, reading one byte past
// the limit rather than trusting Stat: a pipe or a growing file has no
// honest size.
func readBounded(path string, limit int64) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, unwrapPathErr(err))
	}
	defer fh.Close()
	tooLarge := fmt.Errorf("%s is larger than %d MiB; give a smaller file", path, limit>>20)
	if st, err := fh.Stat(); err == nil && st.Mode().IsRegular() && st.Size() > limit {
		return nil, tooLarge // without reading it
	}
	b, err := io.ReadAll(io.LimitReader(fh, limit+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, unwrapPathErr(err))
	}
	if int64(len(b)) > limit {
		return nil, tooLarge
	}
	return b, nil
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
