package app

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
)

// gRPC methods served, on HTTP/2 (h2c) on the same port as HTTP. Another
// method gets UNIMPLEMENTED.
//
//   - GRPCHealthCheckPath is grpc.health.v1.Health/Check, what the
//     kubelet's native gRPC probe calls. See healthOf for what each service
//     name is told.
//   - GRPCEchoPath is a unary method that answers with the request message,
//     byte for byte: the gRPC load target, the counterpart of
//     /common/healthy. Any message type round-trips (testapp/echo.proto
//     declares one).
//
// What a call gets follows the table in the package documentation:
//
//	                 starting         serving   draining/drain        draining/reject
//	Health/Check *   NOT_SERVING      SERVING   NOT_SERVING           NOT_SERVING
//	Health/Check **  NOT_SERVING      SERVING   SERVING               SERVING
//	Health/Check *** NOT_SERVING      SERVING   SERVING + GOAWAY      NOT_SERVING
//	Echo             UNAVAILABLE      OK        OK + GOAWAY           UNAVAILABLE
//
// * service "readinessProbe" or "testapp.Echo"; ** "livenessProbe" or
// "startupProbe"; *** service "": traffic, as a client calling the health
// service (a load generator's default call) sees it, like /common/healthy
// without a checker header. Any other service is NOT_FOUND. "+ GOAWAY": the response
// carries Connection: close, which net/http's HTTP/2 server turns into a
// graceful GOAWAY, so the client opens a new connection for its next call.
//
// Every response carries the replica as metadata x-pod-id and
// x-app-version (headers), and its status in the grpc-status and
// grpc-message trailers; an error status without a message is sent
// trailers-only, in the single HEADERS frame of the response.
const (
	GRPCHealthCheckPath = "/grpc.health.v1.Health/Check"
	GRPCEchoPath        = "/testapp.Echo/Echo"
)

// GRPCEchoService is the Echo method's service, a health service name too.
const GRPCEchoService = "testapp.Echo"

// grpc.health.v1.HealthCheckResponse.ServingStatus values Check answers.
const (
	HealthServing    = 1
	HealthNotServing = 2
)

// kubeProbeUA starts the user agent of the kubelet's probes; a gRPC probe
// has no other mark (no custom metadata), so it is how a Health/Check call
// is told apart from traffic in Counts.
const kubeProbeUA = "kube-probe/"

// grpcReplies holds the header values and messages of gRPC responses,
// built once.
type grpcReplies struct {
	contentType []string
	status      [numGRPCCodes][]string // grpc-status values, by code
	noMessage   []string
	health      [HealthNotServing + 1][]byte // framed HealthCheckResponse, by status
}

func newGRPCReplies() grpcReplies {
	g := grpcReplies{contentType: []string{"application/grpc"}, noMessage: []string{""}}
	for c := range g.status {
		g.status[c] = []string{strconv.Itoa(c)}
	}
	for _, st := range []int{HealthServing, HealthNotServing} {
		// HealthCheckResponse field 1 (status), varint.
		g.health[st] = grpcFrame(appendVarint([]byte{1<<3 | wireVarint}, uint64(st)))
	}
	return g
}

// isGRPC reports whether r is a gRPC call: its content type is
// application/grpc, alone or with a +format or parameters.
func isGRPC(r *http.Request) bool {
	const ct = "application/grpc"
	v := r.Header["Content-Type"]
	if len(v) == 0 || !strings.HasPrefix(v[0], ct) {
		return false
	}
	return len(v[0]) == len(ct) || v[0][len(ct)] == '+' || v[0][len(ct)] == ';'
}

// isGRPCProbe reports whether r is the kubelet's gRPC probe.
func isGRPCProbe(r *http.Request) bool {
	if r.URL.Path != GRPCHealthCheckPath || !isGRPC(r) {
		return false
	}
	ua := r.Header["User-Agent"]
	return len(ua) > 0 && strings.HasPrefix(ua[0], kubeProbeUA)
}

func (s *Server) serveGRPC(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor != 2 {
		// Trailers carry the status: gRPC is HTTP/2 only. grpc-go's
		// ServeHTTP answers the same.
		http.Error(w, "gRPC requires HTTP/2", http.StatusHTTPVersionNotSupported)
		return
	}
	if r.Method != http.MethodPost {
		methodNotAllowed(w, "POST")
		return
	}
	switch r.URL.Path {
	case GRPCHealthCheckPath:
		s.grpcHealthCheck(w, r)
	case GRPCEchoPath:
		s.grpcEcho(w, r)
	default:
		s.grpcFail(w, &rpcError{grpcUnimplemented, "unknown method " + r.URL.Path})
	}
}

func (s *Server) grpcHealthCheck(w http.ResponseWriter, r *http.Request) {
	frame, err := readUnaryFrame(r.Body, maxGRPCMessage)
	if err != nil {
		s.grpcFail(w, err)
		return
	}
	service, err := parseHealthCheckRequest(frame[grpcPrefixLen:])
	if err != nil {
		s.grpcFail(w, err)
		return
	}
	if s.log.Enabled(r.Context(), slog.LevelDebug) && isGRPCProbe(r) {
		s.log.LogAttrs(r.Context(), slog.LevelDebug, "probe",
			slog.String("grpc_service", service),
			slog.String("remote", r.RemoteAddr))
	}
	status, known := s.healthOf(service)
	if !known {
		s.grpcFail(w, &rpcError{grpcNotFound, "unknown service " + service})
		return
	}
	s.grpcReply(w, s.grpc.health[status])
}

// healthOf returns what Health/Check tells service, and false if the
// service is unknown (NOT_FOUND, as the health protocol asks). The service
// names mirror the checker header of the HTTP probes, so that one port
// answers each probe as it should be answered: the readiness probe and the
// Echo service are ready or not; a liveness or startup probe stays
// SERVING while draining, since a restart would kill the in-flight calls
// draining waits for; "" (the whole server) is traffic: served while
// draining unless the mode rejects, as Echo is, so a client calling it
// meets the same app as one calling Echo. The manifests' probes name
// their service, so none of them asks "". Probe names match
// case-insensitively, as the checker header does.
func (s *Server) healthOf(service string) (status int, known bool) {
	switch {
	case service == "":
		if s.isStarting() || (s.isDraining.Load() && s.mode == PreStopReject) {
			return HealthNotServing, true
		}
		return HealthServing, true
	case service == GRPCEchoService, strings.EqualFold(service, "readinessProbe"):
		if s.Ready() {
			return HealthServing, true
		}
		return HealthNotServing, true
	case strings.EqualFold(service, "livenessProbe"), strings.EqualFold(service, "startupProbe"):
		if s.isStarting() {
			return HealthNotServing, true
		}
		return HealthServing, true
	}
	return 0, false
}

func (s *Server) grpcEcho(w http.ResponseWriter, r *http.Request) {
	if s.isStarting() {
		s.grpcFail(w, &rpcError{grpcUnavailable, BodyStarting})
		return
	}
	if s.isDraining.Load() && s.mode == PreStopReject {
		s.grpcFail(w, &rpcError{grpcUnavailable, BodyShuttingDown})
		return
	}
	frame, err := readUnaryFrame(r.Body, maxGRPCMessage)
	if err != nil {
		s.grpcFail(w, err)
		return
	}
	s.grpcReply(w, frame) // readUnaryFrame leaves the prefix as it must be sent
}

// grpcStatusRecorder is a ResponseWriter that accounts for the gRPC status
// of the response (streamWriter).
type grpcStatusRecorder interface{ recordGRPCStatus(code int) }

func (s *Server) grpcHeaders(w http.ResponseWriter, code int) http.Header {
	if rec, ok := w.(grpcStatusRecorder); ok {
		rec.recordGRPCStatus(code)
	}
	h := w.Header()
	h["Content-Type"] = s.grpc.contentType
	if s.mode == PreStopDrain && s.isDraining.Load() {
		h["Connection"] = s.hdrClose
	}
	return h
}

// grpcReply answers OK with frame, a message with its prefix.
func (s *Server) grpcReply(w http.ResponseWriter, frame []byte) {
	h := s.grpcHeaders(w, grpcOK)
	w.WriteHeader(http.StatusOK)
	w.Write(frame)
	// Set after the body: TrailerPrefix keys are sent as trailers once
	// the handler returns.
	h[http.TrailerPrefix+"Grpc-Status"] = s.grpc.status[grpcOK]
	h[http.TrailerPrefix+"Grpc-Message"] = s.grpc.noMessage
}

// grpcFail answers err's status, trailers-only: the status in the
// headers, no body, so net/http sends one HEADERS frame that ends the
// stream.
func (s *Server) grpcFail(w http.ResponseWriter, err error) {
	var re *rpcError
	if !errors.As(err, &re) {
		re = &rpcError{grpcInternal, err.Error()}
	}
	h := s.grpcHeaders(w, re.code)
	h["Grpc-Status"] = s.grpc.status[re.code]
	h["Grpc-Message"] = []string{percentEncode(re.msg)}
	w.WriteHeader(http.StatusOK)
}
