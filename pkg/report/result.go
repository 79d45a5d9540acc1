// Package report holds the result document of a rolltest run — the
// product's API — its building from a run's measurements, and what derives
// from it alone: the verdict against the gate thresholds, the diagnosis
// hints, and the plain renderers (text, JSON, JUnit, .hgrm). The HTML page,
// with its charts and their dependencies, is package report/html.
//
// Every field is documented in docs/result-schema.md. The schema is
// versioned: fields may be added within rolltest/v1, never renamed, removed
// or given another meaning.
package report

import (
	"fmt"
	"sort"
	"time"

	"github.com/rolltest/rolltest/pkg/loadgen"
	"github.com/rolltest/rolltest/pkg/rollout"
)

// Schema is the version string of the document this package writes.
const Schema = "rolltest/v1"

// Result is one run's complete, self-contained outcome. HTML, JUnit, text
// and .hgrm output are all rendered from it alone.
type Result struct {
	Schema   string    `json:"schema"`
	Tool     Tool      `json:"tool"`
	Config   Config    `json:"config"`
	Run      Run       `json:"run"`
	Totals   Totals    `json:"totals"`
	Latency  Latency   `json:"latency"`
	Phases   []Phase   `json:"phases"`
	Pods     []Pod     `json:"pods"`
	Versions []Version `json:"versions"`
	Targets  []Target  `json:"targets,omitempty"` // a run of --targets: traffic per target
	// Agents are the load agents that shared the schedule; absent for a
	// run from one process (config.agents 1).
	Agents    []Agent  `json:"agents,omitempty"`
	Windows   []Window `json:"windows"`
	Series    []Second `json:"series"`
	Failures  Failures `json:"failures"`
	Rollout   *Rollout `json:"rollout,omitempty"`
	Diagnosis []Hint   `json:"diagnosis"`
	Verdict   Verdict  `json:"verdict"`
}

// Tool identifies the program that wrote the document.
type Tool struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Config is what the run was asked to do, as given on the command line.
type Config struct {
	Target      string   `json:"target"`
	Method      string   `json:"method"`
	Headers     []string `json:"headers,omitempty"` // values of credential headers are REDACTED
	BodyBytes   int      `json:"body_bytes"`
	Mode        string   `json:"mode"` // "rate" (open model) or "concurrency" (closed model)
	Rate        float64  `json:"rate,omitempty"`
	Concurrency int      `json:"concurrency,omitempty"`
	Connections int      `json:"connections"`
	// MaxConnections bounds the open model's pool: when every connection
	// is busy at a request's due time another is opened, up to this many.
	MaxConnections int        `json:"max_connections,omitempty"`
	KeepAlive      bool       `json:"keepalive"`
	DurationS      float64    `json:"duration_s,omitempty"`
	Requests       int64      `json:"requests,omitempty"`
	TimeoutMs      float64    `json:"timeout_ms"`
	Retries        int        `json:"retries"`
	Identity       string     `json:"identity"`
	Thresholds     Thresholds `json:"thresholds"`
	// Protocol is the wire protocol: "http/1.1", "h2", "h2c" or "grpc";
	// empty in reports written before it was recorded.
	Protocol string `json:"protocol,omitempty"`
	// GRPCMethod is the method a gRPC run called,
	// "/package.Service/Method"; absent for other protocols.
	GRPCMethod string `json:"grpc_method,omitempty"`
	// Streams is how many requests one HTTP/2 connection carried at once
	// (--streams): 1 for one at a time, as HTTP/1.1; absent (read as 1) in
	// documents written before it existed.
	Streams int `json:"streams,omitempty"`
	// TargetsFile is the --targets file of a run of many requests; Target
	// is then the scheme, host and port they share and Method their
	// methods, comma-separated.
	TargetsFile string `json:"targets_file,omitempty"`

	// IdentityRule is the rule that read pods from responses: for
	// identity "auto" the one it settled on ("line", "header:X-Hostname",
	// "json:hostname", "text:Hostname", ...), "" when no rule named a pod;
	// for any other identity, that identity ("" for none).
	IdentityRule string `json:"identity_rule"`

	// InsecureSkipVerify is true when TLS certificates were not verified
	// (--insecure): whoever reads the report must know the run would not
	// have noticed a wrong server.
	InsecureSkipVerify bool `json:"insecure_skip_verify"`

	// Agents is how many processes sent the load between them (1: this
	// one); LoadFrom where they ran: "local" (the machine that ran
	// rolltest) or "in-cluster" (agent pods).
	Agents   int    `json:"agents"`
	LoadFrom string `json:"load_from"`
}

// Agent is one load agent's share of a run sent by several.
type Agent struct {
	Index int `json:"index"`
	// Host is the agent's host name (its pod's name in a cluster), when
	// known.
	Host           string  `json:"host,omitempty"`
	Requests       int64   `json:"requests"`
	Failed         int64   `json:"failed"`
	LateSends      int64   `json:"late_sends"`
	MaxSendDelayMs float64 `json:"max_send_delay_ms"`
	// Node is the Kubernetes node its pod ran on, for agents in a
	// cluster.
	Node string `json:"node,omitempty"`
	// Interrupted is set when the agent stopped before the end of its
	// schedule.
	Interrupted bool `json:"interrupted,omitempty"`
	// Error says why nothing of the agent is in the merge (it wrote no
	// final record); empty for an agent whose results are merged.
	Error string `json:"error,omitempty"`
}

// ProtocolText says how requests went on the wire, for a reader: the
// protocol, a gRPC run's method, and how many requests one HTTP/2
// connection carried at once when more than one (all of them reach the
// pod the connection reached).
func (c Config) ProtocolText() string {
	var s string
	switch c.Protocol {
	case "", loadgen.ProtoHTTP1:
		s = "HTTP/1.1"
	case loadgen.ProtoH2:
		s = "HTTP/2 over TLS (h2)"
	case loadgen.ProtoH2C:
		s = "HTTP/2 without TLS (h2c)"
	case loadgen.ProtoGRPC:
		s = "gRPC " + c.GRPCMethod
	default:
		s = c.Protocol
	}
	if c.Streams > 1 {
		s += fmt.Sprintf(", %d streams per connection", c.Streams)
	}
	return s
}

// HTTP2 reports whether the run spoke HTTP/2 (h2, h2c or gRPC): its
// reports then name the protocol, and its diagnosis knows HTTP/2's ways
// of closing connections.
func (c Config) HTTP2() bool {
	switch c.Protocol {
	case loadgen.ProtoH2, loadgen.ProtoH2C, loadgen.ProtoGRPC:
		return true
	}
	return false
}

// LoadPlace says where the load was sent from, for a reader: "inside the
// cluster" for agent pods, else config.load_from as it is.
func (c Config) LoadPlace() string {
	if c.LoadFrom == "in-cluster" {
		return "inside the cluster"
	}
	return c.LoadFrom
}

// InsecureNote is what every report says of a run with --insecure.
const InsecureNote = "TLS verification OFF (--insecure)"

// IdentityText says how pods were identified, for a reader: the identity,
// and for auto the rule it chose, e.g. "auto → json:hostname".
func (c Config) IdentityText() string {
	if c.Identity != "auto" {
		return c.Identity
	}
	if c.IdentityRule == "" {
		return "auto → no rule named a pod"
	}
	return "auto → " + c.IdentityRule
}

// Thresholds are the gate limits. A negative value means "no limit".
type Thresholds struct {
	MaxErrors    int64   `json:"max_errors"`
	MaxErrorRate float64 `json:"max_error_rate"`
	MaxP99Ms     float64 `json:"max_p99_ms"`
	MaxP99Ratio  float64 `json:"max_p99_ratio"`
	// MaxLateShare is the schedule_kept gate's limit: the share of requests
	// that may leave more than 10 ms after they were due; negative means
	// no limit. Absent (documents older than the gate) means 1%.
	MaxLateShare *float64 `json:"max_late_share,omitempty"`
}

// Run says when the run happened and how it ended.
type Run struct {
	StartedAt   time.Time `json:"started_at"`
	EndedAt     time.Time `json:"ended_at"`
	DurationS   float64   `json:"duration_s"`
	Interrupted bool      `json:"interrupted"`
	StopReason  string    `json:"stop_reason"`
	// Preflight is the one request sent before the measured run to check
	// that the target answers; it is in no count of the document, but the
	// service saw it, so whoever holds the document against the service's
	// own counts must take it out.
	Preflight *Preflight `json:"preflight,omitempty"`
}

// Preflight is the request rolltest sends before the run.
type Preflight struct {
	Status  int    `json:"status"`
	Pod     string `json:"pod,omitempty"`
	Version string `json:"version,omitempty"`
}

// Totals counts requests. Every request ends in exactly one outcome, so
// Requests == sum(Outcomes) and Failed == Requests - OK.
type Totals struct {
	Requests int64 `json:"requests"`
	OK       int64 `json:"ok"`
	Failed   int64 `json:"failed"`
	// Retried counts requests that were sent again after a failed attempt;
	// each failed attempt is also counted in RetriedOutcomes.
	Retried         int64            `json:"retried"`
	Attempts        int64            `json:"attempts"`
	Outcomes        map[string]int64 `json:"outcomes"`
	RetriedOutcomes map[string]int64 `json:"retried_outcomes,omitempty"`
	StatusCodes     map[string]int64 `json:"status_codes,omitempty"`
	AchievedRPS     float64          `json:"achieved_rps"`
	LateSends       int64            `json:"late_sends"`
	MaxSendDelayMs  float64          `json:"max_send_delay_ms"`
	// BehindSends counts requests sent more than 10 ms after they were
	// due: the generator, not the service, delayed them. It decides the
	// schedule_kept gate.
	BehindSends int64 `json:"behind_sends"`
	// PoolWaits counts requests that found every connection busy with the
	// pool at max_connections, and waited for one.
	PoolWaits   int64 `json:"pool_waits"`
	Connections int64 `json:"connections_opened"`
	// ConnectionsPeak is the most connections open at once.
	ConnectionsPeak int   `json:"connections_peak"`
	BytesIn         int64 `json:"bytes_in"`
	BytesOut        int64 `json:"bytes_out"`
	// ServerMaxStreams is the lowest SETTINGS_MAX_CONCURRENT_STREAMS a
	// server announced below config.streams: no connection carried more
	// requests at once. Absent when none did.
	ServerMaxStreams int `json:"server_max_streams,omitempty"`
}

// LatencySummary is a latency distribution's headline numbers, in
// milliseconds.
type LatencySummary struct {
	Count  int64   `json:"count"`
	MinMs  float64 `json:"min_ms"`
	MeanMs float64 `json:"mean_ms"`
	P50Ms  float64 `json:"p50_ms"`
	P90Ms  float64 `json:"p90_ms"`
	P99Ms  float64 `json:"p99_ms"`
	P999Ms float64 `json:"p999_ms"`
	MaxMs  float64 `json:"max_ms"`
}

// Latency is the whole run's latency distribution of completed requests.
type Latency struct {
	LatencySummary
	// Basis says where latency is measured from: "intended" (open model:
	// the request's scheduled send time) or "sent" (closed model).
	Basis string `json:"basis"`
	// Histogram is the full HdrHistogram in its compressed V2 encoding
	// (base64), microseconds, so that reports can be re-rendered.
	Histogram string `json:"histogram"`
}

// Phase is one part of the run: "baseline", "rollout" or "settle"; a run
// without a rollout has the single phase "load".
type Phase struct {
	Name     string           `json:"name"`
	StartS   float64          `json:"start_s"`
	EndS     float64          `json:"end_s"`
	Requests int64            `json:"requests"`
	OK       int64            `json:"ok"`
	Failed   int64            `json:"failed"`
	Retried  int64            `json:"retried"`
	Outcomes map[string]int64 `json:"outcomes"`
	Latency  LatencySummary   `json:"latency"`
}

// Pod is everything known about one pod: the traffic it served, seen
// through the identity in its responses, and its lifecycle, seen through the
// rollout timeline.
type Pod struct {
	// ID is the pod's identity as the responses carried it (the POD_ID of
	// a 'POD_ID >> POD_IP >> version' body, or what --identity reads);
	// Name is the pod's name from the timeline when they were linked (by
	// UID, name or IP).
	ID       string           `json:"id"`
	Name     string           `json:"name,omitempty"`
	IP       string           `json:"ip,omitempty"`
	Version  string           `json:"version,omitempty"`
	Requests int64            `json:"requests"`
	OK       int64            `json:"ok"`
	Failed   int64            `json:"failed"`
	Retried  int64            `json:"retried"`
	Outcomes map[string]int64 `json:"outcomes,omitempty"`
	// FirstS and LastS bound when the pod answered, in run seconds.
	FirstS float64 `json:"first_s"`
	LastS  float64 `json:"last_s"`
	// FirstOKS is when the pod first answered 2xx; absent if it never did.
	FirstOKS *float64 `json:"first_ok_s,omitempty"`
	// AttributedBy counts this pod's failures by how they were attributed.
	AttributedBy map[string]int64 `json:"attributed_by,omitempty"`
	Lifecycle    *Lifecycle       `json:"lifecycle,omitempty"`
}

// Lifecycle is a pod's timeline, in run seconds; nil fields did not happen
// during the run (or happened before it started).
type Lifecycle struct {
	Generation string `json:"generation,omitempty"`
	// ReplicaSet (a Deployment's pod) or Revision (the ControllerRevision
	// of a StatefulSet's or DaemonSet's pod) holds the pod's template.
	ReplicaSet      string   `json:"replicaset,omitempty"`
	Revision        string   `json:"revision,omitempty"`
	CreatedS        *float64 `json:"created_s,omitempty"`
	ReadyS          *float64 `json:"ready_s,omitempty"`
	NotReadyS       *float64 `json:"not_ready_s,omitempty"`
	TerminatingS    *float64 `json:"terminating_s,omitempty"`
	EndpointRemoved *float64 `json:"endpoint_removed_s,omitempty"`
	DeletedS        *float64 `json:"deleted_s,omitempty"`
	// EndpointNotReadyS is when the Service's EndpointSlice marked the
	// pod's endpoint not ready (still listed, terminating): new
	// connections stop going to it from here, once proxies catch up.
	EndpointNotReadyS *float64 `json:"endpoint_not_ready_s,omitempty"`
}

// Target is the traffic sent to one request of a run of many: every
// request it was chosen for, whichever pod answered.
type Target struct {
	Name     string `json:"name"`
	Method   string `json:"method"`
	URL      string `json:"url"`
	Weight   int    `json:"weight"`
	Requests int64  `json:"requests"`
	OK       int64  `json:"ok"`
	Failed   int64  `json:"failed"`
	Retried  int64  `json:"retried"`
	// The latency of its requests, within 1% (two significant digits).
	P50Ms float64 `json:"p50_ms"`
	P99Ms float64 `json:"p99_ms"`
	MaxMs float64 `json:"max_ms"`
}

// Version is the traffic served by one application version.
type Version struct {
	Version  string  `json:"version"`
	Requests int64   `json:"requests"`
	OK       int64   `json:"ok"`
	Failed   int64   `json:"failed"`
	FirstS   float64 `json:"first_s"`
	LastS    float64 `json:"last_s"`
}

// Window is one row of "Who answered when": during [FromS, ToS) the same
// set of pods answered, and Pod answered Requests of them.
type Window struct {
	FromS    int    `json:"from_s"`
	ToS      int    `json:"to_s"`
	Pod      string `json:"pod"`
	Version  string `json:"version,omitempty"`
	Requests int64  `json:"requests"`
}

// Second is one second of the run, [T, T+1) seconds after the start,
// counted by the requests' intended send time — or, in a long run, a bucket
// of WidthS merged seconds, [T, T+WidthS) (see Width).
type Second struct {
	T int `json:"t"`
	// WidthS is how many seconds the entry covers; absent (0) means 1. A
	// long run keeps 1 s resolution for its first hour, its last 15
	// minutes and around its phase marks, and merges the seconds between
	// into buckets of up to 60 s: counts are sums, p99 and max the largest
	// of the seconds', p50 and p90 their mean weighted by requests.
	WidthS    int              `json:"width_s,omitempty"`
	Phase     string           `json:"phase,omitempty"`
	Requests  int64            `json:"requests"`
	OK        int64            `json:"ok"`
	Failed    int64            `json:"failed"`
	Retried   int64            `json:"retried"`
	LateSends int64            `json:"late_sends,omitempty"`
	Outcomes  map[string]int64 `json:"outcomes,omitempty"` // failures only
	ByVersion map[string]int64 `json:"by_version,omitempty"`
	ByPod     map[string]int64 `json:"by_pod,omitempty"`
	P50Ms     float64          `json:"p50_ms"`
	P90Ms     float64          `json:"p90_ms"`
	P99Ms     float64          `json:"p99_ms"`
	MaxMs     float64          `json:"max_ms"`
}

// MaxRunSeconds is a year: no run is longer, so a second (or a width)
// beyond it in a document comes from damage, and whoever reads the series
// leaves it out rather than overflow on it.
const MaxRunSeconds = 366 * 24 * 3600

// Width is how many seconds s covers: WidthS, or 1 when absent or invalid.
func (s Second) Width() int { return max(1, s.WidthS) }

// seriesAt returns the index of the entry of series that holds second t,
// or -1; series is in time order.
func seriesAt(series []Second, t int) int {
	i := sort.Search(len(series), func(i int) bool { return series[i].T+series[i].Width() > t })
	if i < len(series) && series[i].T <= t {
		return i
	}
	return -1
}

// Failures lists failed attempts individually: every failed request and
// every failed attempt that was retried. The list is capped (Omitted says
// how many were left out); the counts in Totals, Series and Pods never are.
type Failures struct {
	Total   int64     `json:"total"`
	Omitted int64     `json:"omitted"`
	Records []Failure `json:"records"`
}

// Failure is one failed attempt.
type Failure struct {
	// AtS is the request's intended send time in run seconds.
	AtS float64 `json:"at_s"`
	// StartS is when this attempt began (its dial, or its write on a reused
	// connection), in run seconds. A failure to connect belongs to this
	// moment, not to the span until its timeout.
	StartS float64 `json:"start_s"`
	// Seq numbers requests in the order they were scheduled, from 1.
	Seq uint64 `json:"seq"`
	// Attempt is 1 for the first try, 2 for the first retry, ...
	Attempt int `json:"attempt"`
	// Retried is true when this attempt was hidden from the client by a
	// retry (the request's final outcome is then in the request's last
	// attempt, which may be ok).
	Retried bool   `json:"retried"`
	Outcome string `json:"outcome"`
	Status  int    `json:"status,omitempty"`
	// Detail says more: which timeout (connect or response), the error
	// message for "other", the first bytes of an unexpected body.
	Detail    string  `json:"detail,omitempty"`
	LatencyMs float64 `json:"latency_ms"`
	// Conn identifies the connection (1-based, in the order opened) and
	// ConnRequests how many responses it had carried before this attempt;
	// 0 means the attempt was the connection's first.
	Conn         uint64 `json:"conn"`
	ConnRequests int64  `json:"conn_requests"`
	Pod          string `json:"pod,omitempty"`
	Version      string `json:"version,omitempty"`
	// AttributedBy says how Pod was found: "response" (identity in this
	// response), "connection" (the pod that last answered on the same
	// connection), "timeline" (the only pod that was terminating or not yet
	// ready at that moment), or "none".
	AttributedBy string `json:"attributed_by"`
	// Target names the request's target in a run of many (Targets[].Name).
	Target string `json:"target,omitempty"`
}

// Rollout describes the rolling update, when there was one.
type Rollout struct {
	Driver    string `json:"driver"`
	Kind      string `json:"kind"` // restart, image, watch, sim
	Namespace string `json:"namespace,omitempty"`
	// Deployment is the workload's name when it is a Deployment.
	Deployment string `json:"deployment,omitempty"`
	// Workload is the workload as kubectl names it ("statefulset/db"),
	// WorkloadKind and Name its parts.
	Workload     string `json:"workload,omitempty"`
	WorkloadKind string `json:"workload_kind,omitempty"`
	Name         string `json:"name,omitempty"`
	// Service is the Service whose endpoints the driver watched: the one
	// named by --service or the one it found by its selector.
	Service    string   `json:"service,omitempty"`
	TriggeredS *float64 `json:"triggered_s,omitempty"`
	CompleteS  *float64 `json:"complete_s,omitempty"`
	OldGoneS   *float64 `json:"old_pods_gone_s,omitempty"`
	Done       bool     `json:"done"`
	Failed     bool     `json:"failed"`
	Reason     string   `json:"reason,omitempty"`
	// MixedVersionS is how long two versions both answered requests.
	MixedVersionS float64 `json:"mixed_version_s"`
	// EndpointPropagationMs is, per old pod, the time from termination
	// start until its endpoint was marked not ready or removed, whichever
	// came first: median and max.
	EndpointPropagationMedianMs float64         `json:"endpoint_propagation_median_ms,omitempty"`
	EndpointPropagationMaxMs    float64         `json:"endpoint_propagation_max_ms,omitempty"`
	Events                      []rollout.Event `json:"events"`
}

// WorkloadRef names the rolled workload as kubectl does, with its
// namespace: "statefulset/db in shop". Documents written before Workload
// existed name only a Deployment, and read the same way.
func (ro *Rollout) WorkloadRef() string {
	ref := ro.Workload
	if ref == "" && ro.Deployment != "" {
		ref = "deployment/" + ro.Deployment
	}
	if ref != "" && ro.Namespace != "" {
		ref += " in " + ro.Namespace
	}
	return ref
}

// Hint is one diagnosis: what was seen, the evidence, and what to change.
type Hint struct {
	Code     string   `json:"code"`
	Severity string   `json:"severity"` // "error", "warning", "info"
	Title    string   `json:"title"`
	Detail   string   `json:"detail"`
	Evidence []string `json:"evidence,omitempty"`
	Fix      string   `json:"fix,omitempty"`
}

// Verdict is the gate's decision.
type Verdict struct {
	Pass     bool   `json:"pass"`
	ExitCode int    `json:"exit_code"`
	Summary  string `json:"summary"`
	Gates    []Gate `json:"gates"`
}

// Gate is one threshold check.
type Gate struct {
	Name    string  `json:"name"` // dropped_requests, error_rate, p99, p99_ratio, rollout_completed
	Limit   float64 `json:"limit"`
	Value   float64 `json:"value"`
	Pass    bool    `json:"pass"`
	Skipped bool    `json:"skipped,omitempty"`
	Message string  `json:"message"`
}
