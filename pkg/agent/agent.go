// Package agent is the wire protocol between a load agent (`rolltest agent`,
// one shard of a schedule) and the controller that merges its agents' results.
//
// An agent writes JSON lines to its stdout, which is what a pod log carries:
// progress records while it runs, one a second, and one final record holding
// its complete, mergeable loadgen.Stats. The controller reads each agent's
// stream with a Decoder, which treats every byte as outside input: versions,
// line lengths, sizes and every index inside the Stats are checked before
// the Stats reach loadgen.Stats.Merge. See docs/distributed.md.
package agent

import (
	"fmt"
	"time"

	"github.com/rolltest/rolltest/pkg/loadgen"
	"github.com/rolltest/rolltest/pkg/report"
)

// Version is the protocol version every record carries as "v". A decoder
// refuses any other: a controller and agents of different releases must not
// merge silently.
const Version = 1

// Record kinds.
const (
	KindProgress = "progress"
	KindFinal    = "final"
)

// Size bounds. A progress record is a few hundred bytes; a final record's
// size grows with pods, targets, seconds and failure records (each bounded
// by the plan), so its bound is generous but finite: a damaged or hostile
// stream cannot make the controller hold more than this per line.
const (
	MaxProgressLine = 64 << 10
	MaxFinalLine    = 256 << 20
	// maxSeconds bounds a final record's series: a week of full-resolution
	// seconds, far past any rollout; the engine compacts long runs anyway.
	maxSeconds = 7 * 24 * 3600
	// maxPods bounds the pods one agent can report.
	maxPods = 100_000
	// maxFailures bounds the failure records of one agent.
	maxFailures = 10_000_000
	// maxHistValue bounds a histogram's highest trackable value in µs
	// (about 12 days), and with the 1..3 significant figures the engine
	// uses, the memory one decoded histogram takes (under 1 MiB).
	maxHistValue = 1 << 40
)

// Progress is one second of an agent's run, as a live view needs it. Its
// counts are cumulative since the agent's start, so a reader that missed a
// line loses nothing but resolution.
type Progress struct {
	V     int    `json:"v"`
	Kind  string `json:"kind"`
	Agent int    `json:"agent"`
	// Sec is the whole seconds elapsed since the plan's start.
	Sec      int   `json:"sec"`
	Requests int64 `json:"requests"`
	OK       int64 `json:"ok"`
	Failed   int64 `json:"failed"`
	// Outcomes counts the failed requests by outcome name (schema names,
	// as in the report); OK is left out.
	Outcomes  map[string]int64 `json:"outcomes,omitempty"`
	LateSends int64            `json:"late_sends"`
	Done      bool             `json:"done,omitempty"`
}

// Final is an agent's last record: everything it measured.
type Final struct {
	V     int    `json:"v"`
	Kind  string `json:"kind"`
	Agent int    `json:"agent"`
	// Host is the agent's host (the pod name in a cluster), when known.
	Host string `json:"host,omitempty"`
	// Interrupted is set when the agent stopped before the end of its
	// schedule (SIGTERM, cancellation): Stats hold what it had sent.
	Interrupted bool   `json:"interrupted,omitempty"`
	Error       string `json:"error,omitempty"`
	// Stats are the agent's Stats with every histogram moved to Hists.
	Stats loadgen.Stats `json:"stats"`
	Hists Hists         `json:"hists"`

	// stats is the decoded Stats with their histograms restored.
	stats *loadgen.Stats
}

// Hists carries the Stats' histograms: the run's, each phase's and each
// target's, by position.
type Hists struct {
	Latency *Hist   `json:"latency,omitempty"`
	Phases  []*Hist `json:"phases,omitempty"`
	Targets []*Hist `json:"targets,omitempty"`
}

// Hist is an HDR histogram: its geometry and its non-zero counts as
// [index, count] pairs (a latency histogram is mostly zeros, so sparse pairs
// are a fraction of the dense array hdrhistogram's Snapshot holds).
type Hist struct {
	Lowest  int64      `json:"lo"`
	Highest int64      `json:"hi"`
	Sig     int64      `json:"sig"`
	Counts  [][2]int64 `json:"c"`
}

// StatsOf returns the decoded Stats of a final record read by a Decoder.
func (f *Final) StatsOf() *loadgen.Stats { return f.stats }

// Merge merges the final records of agents 0..len(finals)-1 of one plan
// into the Stats one engine sending the whole schedule would have produced
// (loadgen.Stats.Merge), and says what each agent sent, for the report.
// Every agent must be there once: a missing shard would leave a hole in
// the schedule that no count shows.
func Merge(finals []*Final) (*loadgen.Stats, []report.Agent, error) {
	st, agents, _, err := merge(len(finals), finals)
	return st, agents, err
}

// MergeInterrupted merges what an interrupted run of n agents left: the
// final records that were read, any of them missing (an agent stopped
// before it could write one, or its log was lost with its pod). Each
// missing agent is in the summary, interrupted, with why. The merge is
// then a part of the schedule, as any interrupted run's report is; a
// complete run must use Merge.
func MergeInterrupted(n int, finals []*Final, missing func(agent int) string) (*loadgen.Stats, []report.Agent, error) {
	st, agents, seen, err := merge(n, finals)
	if err != nil {
		return nil, nil, err
	}
	for i := range agents {
		if !seen[i] {
			agents[i] = report.Agent{Index: i, Interrupted: true, Error: missing(i)}
		}
	}
	return st, agents, nil
}

// merge merges finals into one Stats and says, by index of n agents,
// what each sent and whether its record was there.
func merge(n int, finals []*Final) (*loadgen.Stats, []report.Agent, []bool, error) {
	var (
		merged loadgen.Stats
		agents = make([]report.Agent, n)
		seen   = make([]bool, n)
	)
	for _, f := range finals {
		st := f.StatsOf()
		switch {
		case st == nil:
			return nil, nil, nil, fmt.Errorf("agent %d: final record not read by a Decoder", f.Agent)
		case f.Agent < 0 || f.Agent >= n || seen[f.Agent]:
			return nil, nil, nil, fmt.Errorf("agent %d: not one of agents 0 to %d, or twice", f.Agent, n-1)
		case !merged.Start.IsZero() && !st.Start.Equal(merged.Start):
			return nil, nil, nil, fmt.Errorf("agent %d started at %s, the others at %s: not the same plan", f.Agent, st.Start.Format(time.RFC3339Nano), merged.Start.Format(time.RFC3339Nano))
		}
		seen[f.Agent] = true
		if err := merged.Merge(st); err != nil {
			return nil, nil, nil, fmt.Errorf("agent %d: %w", f.Agent, err)
		}
		agents[f.Agent] = report.Agent{Index: f.Agent, Host: f.Host, Requests: st.Requests(), Failed: st.Failed(), LateSends: st.LateSends,
			MaxSendDelayMs: float64(st.MaxSendDelay) / float64(time.Millisecond), Interrupted: f.Interrupted}
	}
	return &merged, agents, seen, nil
}
