package agent

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/rolltest/rolltest/pkg/loadgen"
)

// Plan is what an agent is told to do: every field of loadgen.Config that
// shapes the load (all but the in-process hooks NewTransport and Attempts),
// carried as one value so that the controller's configuration reaches each
// agent exactly — bodies as bytes, the rate as the same float64, times to
// the nanosecond — rather than re-rendered as flags. Shard is the agent's
// index; Start the absolute time all agents share.
type Plan struct {
	V              int              `json:"v"`
	Target         string           `json:"target,omitempty"`
	Method         string           `json:"method,omitempty"`
	Headers        []loadgen.Header `json:"headers,omitempty"`
	Body           []byte           `json:"body,omitempty"`
	Targets        []loadgen.Target `json:"targets,omitempty"`
	Rate           float64          `json:"rate,omitempty"`
	Concurrency    int              `json:"concurrency,omitempty"`
	Connections    int              `json:"connections,omitempty"`
	MaxConnections int              `json:"max_connections,omitempty"`
	Duration       time.Duration    `json:"duration_ns,omitempty"`
	Requests       uint64           `json:"requests,omitempty"`
	Timeout        time.Duration    `json:"timeout_ns,omitempty"`
	KeepAlive      bool             `json:"keepalive,omitempty"`
	Retries        int              `json:"retries,omitempty"`
	// Protocol is the wire protocol (loadgen.ProtoHTTP1, ProtoH2, ProtoH2C,
	// ProtoGRPC); GRPCMethod a gRPC run's call; Streams the HTTP/2 requests
	// a connection carries at once.
	Protocol           string    `json:"protocol,omitempty"`
	GRPCMethod         string    `json:"grpc_method,omitempty"`
	Streams            int       `json:"streams,omitempty"`
	Identity           string    `json:"identity,omitempty"`
	ExpectBody         []byte    `json:"expect_body,omitempty"`
	RequestIDHeader    string    `json:"request_id_header,omitempty"`
	InsecureSkipVerify bool      `json:"insecure,omitempty"`
	MaxFailureRecords  int       `json:"max_failure_records,omitempty"`
	MaxBodyBytes       int       `json:"max_body_bytes,omitempty"`
	UserAgent          string    `json:"user_agent,omitempty"`
	Start              time.Time `json:"start"`
	Shard              int       `json:"shard"`
	Shards             int       `json:"shards"`
	// Phases, when set, are the run's phases at offsets from Start fixed
	// in advance (the first at 0): agents in pods cannot be told when the
	// controller triggers the rollout, so the controller fixes the times
	// and every agent cuts its requests at the same offsets. Without them
	// the agent's run is one phase, "load".
	Phases []Phase `json:"phases,omitempty"`
}

// Phase is one phase of a plan: its name and when it begins.
type Phase struct {
	Name string        `json:"name"`
	At   time.Duration `json:"at_ns"`
}

// maxPhases bounds a plan's phases, as the decoder bounds a final record's.
const maxPhases = 64

// checkPhases: names given, the first at 0, each later than the one
// before and within the plan's duration.
func (p *Plan) checkPhases() error {
	if len(p.Phases) > maxPhases {
		return fmt.Errorf("plan with %d phases; at most %d", len(p.Phases), maxPhases)
	}
	for i, ph := range p.Phases {
		switch {
		case ph.Name == "":
			return fmt.Errorf("plan phase %d without a name", i)
		case i == 0 && ph.At != 0:
			return fmt.Errorf("plan's first phase %q at %v; it must begin at 0", ph.Name, ph.At)
		case i > 0 && ph.At <= p.Phases[i-1].At:
			return fmt.Errorf("plan phase %q at %v is not after phase %q at %v", ph.Name, ph.At, p.Phases[i-1].Name, p.Phases[i-1].At)
		case p.Duration > 0 && ph.At >= p.Duration:
			return fmt.Errorf("plan phase %q at %v is not within the plan's duration %v", ph.Name, ph.At, p.Duration)
		}
	}
	return nil
}

// MaxPlan bounds an encoded plan (bodies included).
const MaxPlan = 64 << 20

// PlanOf is the plan of shard i of n of cfg, all starting at start.
func PlanOf(cfg loadgen.Config, shard, shards int, start time.Time) Plan {
	p := Plan{V: Version, Target: cfg.Target, Method: cfg.Method, Headers: cfg.Headers, Body: cfg.Body, Targets: cfg.Targets,
		Rate: cfg.Rate, Concurrency: cfg.Concurrency, Connections: cfg.Connections, MaxConnections: cfg.MaxConnections,
		Duration: cfg.Duration, Requests: cfg.Requests, Timeout: cfg.Timeout, KeepAlive: cfg.KeepAlive, Retries: cfg.Retries,
		ExpectBody: cfg.ExpectBody, RequestIDHeader: cfg.RequestIDHeader, InsecureSkipVerify: cfg.InsecureSkipVerify,
		MaxFailureRecords: cfg.MaxFailureRecords, MaxBodyBytes: cfg.MaxBodyBytes, UserAgent: cfg.UserAgent, Protocol: cfg.Protocol, GRPCMethod: cfg.GRPCMethod, Streams: cfg.Streams,
		Start: start, Shard: shard, Shards: shards}
	if cfg.Identity != nil {
		p.Identity = cfg.Identity.String()
	}
	return p
}

// Config is the engine configuration the plan describes, validated. A plan
// must end on its own (Duration or Requests) and name its start: an agent
// nobody stops must still stop, and agents must share a time base.
func (p *Plan) Config() (loadgen.Config, error) {
	cfg := loadgen.Config{Target: p.Target, Method: p.Method, Headers: p.Headers, Body: p.Body, Targets: p.Targets,
		Rate: p.Rate, Concurrency: p.Concurrency, Connections: p.Connections, MaxConnections: p.MaxConnections,
		Duration: p.Duration, Requests: p.Requests, Timeout: p.Timeout, KeepAlive: p.KeepAlive, Retries: p.Retries,
		ExpectBody: p.ExpectBody, RequestIDHeader: p.RequestIDHeader, InsecureSkipVerify: p.InsecureSkipVerify,
		MaxFailureRecords: p.MaxFailureRecords, MaxBodyBytes: p.MaxBodyBytes, UserAgent: p.UserAgent, Protocol: p.Protocol, GRPCMethod: p.GRPCMethod, Streams: p.Streams,
		Start: p.Start, Shard: p.Shard, Shards: p.Shards}
	switch {
	case p.V != Version:
		return cfg, fmt.Errorf("plan version %d; this rolltest reads version %d", p.V, Version)
	case p.Start.IsZero():
		return cfg, errors.New("plan without a start time")
	case p.Duration <= 0 && p.Requests == 0:
		return cfg, errors.New("plan without a duration or a request count: an agent must stop on its own")
	case p.Shards < 1:
		return cfg, fmt.Errorf("plan with %d shards; at least 1", p.Shards)
	case p.Shard < 0 || p.Shard >= p.Shards:
		return cfg, fmt.Errorf("plan for shard %d of %d; shards are 0 to %d", p.Shard, p.Shards, p.Shards-1)
	}
	if err := p.checkPhases(); err != nil {
		return cfg, err
	}
	if p.Identity != "" {
		id, err := loadgen.ParseIdentity(p.Identity)
		if err != nil {
			return cfg, fmt.Errorf("plan identity: %w", err)
		}
		cfg.Identity = id
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("plan: %w", err)
	}
	return cfg, nil
}

// Encode is the plan as one command-line argument: base64 of its JSON.
func (p *Plan) Encode() (string, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("agent: encode plan: %w", err)
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// DecodePlan reads a plan from Encode's form, or from its JSON as is.
func DecodePlan(s string) (Plan, error) {
	var p Plan
	if len(s) > MaxPlan {
		return p, fmt.Errorf("plan of %d bytes; at most %d", len(s), MaxPlan)
	}
	b := []byte(s)
	if len(s) > 0 && s[0] != '{' {
		var err error
		if b, err = base64.StdEncoding.DecodeString(s); err != nil {
			return p, fmt.Errorf("plan is neither JSON nor base64: %w", err)
		}
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("plan: %w", err)
	}
	return p, nil
}
