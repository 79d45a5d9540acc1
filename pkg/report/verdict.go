package report

import (
	"fmt"
	"strings"
	"time"

	"github.com/rolltest/rolltest/pkg/loadgen"
)

// Exit codes of rolltest; Verdict.ExitCode is one of them.
const (
	ExitPass          = 0   // every gate passed
	ExitGateFailed    = 1   // requests were dropped or a threshold was exceeded
	ExitUsage         = 2   // bad flags or configuration
	ExitRolloutFailed = 3   // the rollout failed or never completed
	ExitInterrupted   = 130 // stopped by a signal; the partial report was written
)

// Gate names, stable in the schema and used as JUnit test case names.
const (
	GateRequests         = "requests_sent"
	GateSchedule         = "schedule_kept"
	GateDropped          = "dropped_requests"
	GateErrorRate        = "error_rate"
	GateP99              = "p99"
	GateP99Ratio         = "p99_ratio"
	GateRolloutCompleted = "rollout_completed"
)

// Judge applies the thresholds in r.Config.Thresholds and sets r.Verdict.
func Judge(r *Result) {
	th := r.Config.Thresholds
	var gates []Gate
	add := func(g Gate) { gates = append(gates, g) }

	add(Gate{
		Name: GateRequests, Limit: 1, Value: float64(r.Totals.Requests), Pass: r.Totals.Requests > 0,
		Message: pick(r.Totals.Requests > 0,
			fmt.Sprintf("%d requests sent", r.Totals.Requests),
			"no request was sent: nothing was measured"),
	})

	add(scheduleGate(r))

	dropped := r.Totals.Failed
	g := Gate{Name: GateDropped, Limit: float64(th.MaxErrors), Value: float64(dropped)}
	if th.MaxErrors < 0 {
		g.Skipped, g.Pass = true, true
		g.Message = fmt.Sprintf("%d dropped requests (no limit set)", dropped)
	} else {
		g.Pass = dropped <= th.MaxErrors
		g.Message = fmt.Sprintf("%d dropped requests, limit %d", dropped, th.MaxErrors)
		if !g.Pass {
			g.Message += ": " + outcomeSentence(r.Totals.Outcomes)
		}
	}
	add(g)

	rate := 0.0
	if r.Totals.Requests > 0 {
		rate = float64(dropped) / float64(r.Totals.Requests)
	}
	g = Gate{Name: GateErrorRate, Limit: th.MaxErrorRate, Value: rate}
	if th.MaxErrorRate < 0 {
		g.Skipped, g.Pass = true, true
		g.Message = fmt.Sprintf("error rate %s (no limit set)", percent(rate))
	} else {
		g.Pass = rate <= th.MaxErrorRate
		g.Message = fmt.Sprintf("error rate %s, limit %s", percent(rate), percent(th.MaxErrorRate))
	}
	add(g)

	g = Gate{Name: GateP99, Limit: th.MaxP99Ms, Value: r.Latency.P99Ms}
	if th.MaxP99Ms < 0 {
		g.Skipped, g.Pass = true, true
		g.Message = fmt.Sprintf("p99 %s (no limit set)", msText(r.Latency.P99Ms))
	} else {
		g.Pass = r.Latency.P99Ms <= th.MaxP99Ms
		g.Message = fmt.Sprintf("p99 %s, limit %s", msText(r.Latency.P99Ms), msText(th.MaxP99Ms))
	}
	add(g)

	g = Gate{Name: GateP99Ratio, Limit: th.MaxP99Ratio}
	base, roll := phaseNamed(r, "baseline"), phaseNamed(r, "rollout")
	switch {
	case th.MaxP99Ratio < 0:
		g.Skipped, g.Pass = true, true
		g.Message = "rollout p99 ÷ baseline p99: no limit set"
	case base == nil || roll == nil || base.Latency.Count == 0 || roll.Latency.Count == 0 || base.Latency.P99Ms <= 0:
		g.Skipped, g.Pass = true, true
		g.Message = "rollout p99 ÷ baseline p99: not measured (the run has no baseline and rollout phase with responses)"
	default:
		g.Value = round3(roll.Latency.P99Ms / base.Latency.P99Ms)
		g.Pass = g.Value <= th.MaxP99Ratio
		g.Message = fmt.Sprintf("rollout p99 %s is %.2f× baseline p99 %s, limit %.2f×",
			msText(roll.Latency.P99Ms), g.Value, msText(base.Latency.P99Ms), th.MaxP99Ratio)
	}
	add(g)

	rolloutFailed := false
	if ro := r.Rollout; ro != nil {
		g = Gate{Name: GateRolloutCompleted, Limit: 1}
		switch {
		case ro.Done && !ro.Failed:
			g.Pass, g.Value = true, 1
			g.Message = "the rollout completed and every old pod is gone"
		case ro.Failed:
			rolloutFailed = true
			g.Message = "the rollout failed: " + ro.Reason
		default:
			rolloutFailed = true
			g.Message = "the rollout did not complete before the run ended"
			if ro.Reason != "" {
				g.Message += ": " + ro.Reason
			}
		}
		add(g)
	}

	v := Verdict{Pass: true, Gates: gates}
	var failed []string
	for _, g := range gates {
		if !g.Pass {
			v.Pass = false
			failed = append(failed, g.Message)
		}
	}
	switch {
	case r.Run.Interrupted:
		v.Pass = false
		v.ExitCode = ExitInterrupted
	case rolloutFailed:
		v.ExitCode = ExitRolloutFailed
	case !v.Pass:
		v.ExitCode = ExitGateFailed
	}
	v.Summary = summary(r, v, failed)
	r.Verdict = v
}

// The schedule_kept gate: at most Thresholds.MaxLateShare (by default
// loadgen.ScheduleMaxBehind) of the requests may leave more than
// loadgen.ScheduleTolerance late, and none later than its timeout.
const scheduleToleranceMs = float64(loadgen.ScheduleTolerance) / float64(time.Millisecond)

// maxLateShare is the gate's limit in force; negative means none.
func maxLateShare(r *Result) float64 {
	if v := r.Config.Thresholds.MaxLateShare; v != nil {
		return *v
	}
	return loadgen.ScheduleMaxBehind
}

// scheduleKept says whether an open-model run sent its requests on time,
// and the share of requests that left beyond the tolerance. A closed-model
// run has no schedule and keeps it trivially, and so does a run whose
// limit was lifted.
func scheduleKept(r *Result) (kept bool, share float64) {
	t := r.Totals
	if r.Config.Mode != "rate" || t.Requests == 0 {
		return true, 0
	}
	share = float64(t.BehindSends) / float64(t.Requests)
	limit := maxLateShare(r)
	if limit < 0 {
		return true, share
	}
	return share <= limit && (r.Config.TimeoutMs <= 0 || t.MaxSendDelayMs < r.Config.TimeoutMs), share
}

func scheduleGate(r *Result) Gate {
	limit := maxLateShare(r)
	g := Gate{Name: GateSchedule, Limit: limit}
	switch {
	case r.Config.Mode != "rate":
		g.Skipped, g.Pass = true, true
		g.Message = "schedule: none in the closed model (--concurrency)"
		return g
	case limit < 0:
		_, share := scheduleKept(r)
		g.Skipped, g.Pass, g.Value = true, true, round3(share)
		g.Message = fmt.Sprintf("schedule: %s of requests left more than %s late (no limit set)", percent(share), msText(scheduleToleranceMs))
		return g
	}
	kept, share := scheduleKept(r)
	g.Pass, g.Value = kept, round3(share)
	t := r.Totals
	if kept {
		g.Message = fmt.Sprintf("schedule kept: %s of requests left more than %s late (limit %s), max delay %s",
			percent(share), msText(scheduleToleranceMs), percent(limit), msText(t.MaxSendDelayMs))
		return g
	}
	g.Message = fmt.Sprintf("schedule not kept: %s of requests left more than %s late (limit %s), up to %s late",
		percent(share), msText(scheduleToleranceMs), percent(limit), msText(t.MaxSendDelayMs))
	if t.PoolWaits > 0 {
		g.Message += fmt.Sprintf("; %s waited for a connection at --max-connections %d", FormatCount(t.PoolWaits), r.Config.MaxConnections)
	}
	return g
}

func summary(r *Result, v Verdict, failed []string) string {
	var b strings.Builder
	switch {
	case r.Run.Interrupted:
		b.WriteString("INTERRUPTED: partial results. ")
	case v.Pass:
		b.WriteString("PASS: ")
	default:
		b.WriteString("FAIL: ")
	}
	if kept, _ := scheduleKept(r); !kept {
		b.WriteString("the measurement is in doubt, not only the service: rolltest fell behind its schedule. ")
	}
	fmt.Fprintf(&b, "%s of %s requests dropped", FormatCount(r.Totals.Failed), FormatCount(r.Totals.Requests))
	if r.Totals.Retried > 0 {
		fmt.Fprintf(&b, ", %s more hidden by retries", FormatCount(r.Totals.Retried))
	}
	if r.Rollout != nil {
		switch {
		case r.Rollout.Done && !r.Rollout.Failed:
			b.WriteString(" during a completed rollout")
		default:
			b.WriteString("; the rollout did not complete")
		}
	}
	b.WriteString(".")
	if len(failed) > 0 && !r.Run.Interrupted {
		b.WriteString(" Failed: " + strings.Join(failed, "; ") + ".")
	}
	return b.String()
}

func phaseNamed(r *Result, name string) *Phase {
	for i := range r.Phases {
		if r.Phases[i].Name == name {
			return &r.Phases[i]
		}
	}
	return nil
}

func pick(c bool, a, b string) string {
	if c {
		return a
	}
	return b
}
