package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/rolltest/rolltest/internal/ctxtime"
	"github.com/rolltest/rolltest/pkg/agent"
	"github.com/rolltest/rolltest/pkg/loadgen"
	"github.com/rolltest/rolltest/pkg/report"
)

// agentFlags are agent's own flags; the load is a plan (--plan) or run's
// load flags with the shard and the start.
type agentFlags struct {
	plan, planFile string
	// shardEnv names the environment variable that holds the shard: one
	// plan for every pod of an Indexed Job, each pod's index from
	// JOB_COMPLETION_INDEX.
	shardEnv      string
	shard, shards int
	start         string
	writeTimeout  time.Duration
}

func newAgentCmd(stdout, stderr io.Writer) *cobra.Command {
	var (
		lf loadFlags
		af agentFlags
	)
	cmd := &cobra.Command{
		Use:    "agent (--plan PLAN | --plan-file FILE | LOAD FLAGS --shard I --shards N --start RFC3339NANO)",
		Short:  "Send one shard of a schedule and stream its results to stdout (a load agent; see docs/distributed.md)",
		Hidden: true,
		Args:   usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := af.load(cmd, &lf)
			if err != nil {
				return err
			}
			cfg, err := p.Config()
			if err != nil {
				return &usageError{msg: err.Error()}
			}
			return runAgent(cmd.Context(), cfg, p.Phases, af.writeTimeout, stdout, stderr)
		},
	}
	lf.register(cmd)
	lf.registerTargets(cmd)
	fs := cmd.Flags()
	fs.StringVar(&af.plan, "plan", "", "the whole load as one value: base64 of the plan's JSON (or the JSON itself), as the controller writes it")
	fs.StringVar(&af.planFile, "plan-file", "", "read the plan from this file (for plans with bodies too large for an argument)")
	fs.StringVar(&af.shardEnv, "shard-env", "", "with --plan: take this agent's index from this environment variable (JOB_COMPLETION_INDEX in an Indexed Job), instead of the plan's")
	fs.IntVar(&af.shard, "shard", 0, "with load flags: this agent's index, 0 to --shards-1")
	fs.IntVar(&af.shards, "shards", 1, "with load flags: how many agents share the schedule")
	fs.StringVar(&af.start, "start", "", "with load flags: when the schedule starts, RFC 3339 with nanoseconds, the same for every agent")
	fs.DurationVar(&af.writeTimeout, "write-timeout", time.Minute, "how long the final record may take to be read before the agent exits anyway")
	return cmd
}

// load is the plan from --plan, --plan-file, or the load flags.
func (af *agentFlags) load(cmd *cobra.Command, lf *loadFlags) (agent.Plan, error) {
	if af.plan != "" || af.planFile != "" {
		for _, f := range []string{"target", "targets", "rate", "concurrency", "shard", "shards", "start"} {
			if cmd.Flags().Changed(f) {
				return agent.Plan{}, usagef("--"+f, "the plan holds the whole load; drop --%s", f)
			}
		}
		s := af.plan
		if af.planFile != "" {
			if af.plan != "" {
				return agent.Plan{}, usagef("--plan", "use --plan or --plan-file, not both")
			}
			b, err := readBounded(af.planFile, agent.MaxPlan)
			if err != nil {
				return agent.Plan{}, usagef("--plan-file", "%v", err)
			}
			s = string(b)
		}
		p, err := agent.DecodePlan(s)
		if err != nil {
			return p, usagef("--plan", "%v", err)
		}
		if af.shardEnv != "" {
			v, ok := os.LookupEnv(af.shardEnv)
			i, err := strconv.Atoi(v)
			if !ok || err != nil || i < 0 || i >= p.Shards {
				return p, usagef("--shard-env", "$%s is %q; want this agent's index, 0 to %d", af.shardEnv, v, p.Shards-1)
			}
			p.Shard = i
		}
		return p, nil
	}
	if af.shardEnv != "" {
		return agent.Plan{}, usagef("--shard-env", "applies to --plan or --plan-file; with load flags give --shard")
	}
	cfg, err := lf.loadConfig(cmd)
	if err != nil {
		return agent.Plan{}, err
	}
	start, err := time.Parse(time.RFC3339Nano, af.start)
	if err != nil {
		return agent.Plan{}, usagef("--start", "%q is not an RFC 3339 time, e.g. %s", af.start, time.Now().UTC().Add(10*time.Second).Format(time.RFC3339Nano))
	}
	return agent.PlanOf(cfg, af.shard, af.shards, start), nil
}

// runAgent sends cfg's shard and streams its records to stdout: progress
// once a second, then the final record, also when ctx ends early (SIGTERM).
// Progress never waits for a reader: a record that finds the writer busy is
// dropped (the next one carries the same cumulative counts). The final
// record waits at most writeTimeout, so an agent nobody reads still exits.
func runAgent(ctx context.Context, cfg loadgen.Config, phases []agent.Phase, writeTimeout time.Duration, stdout, stderr io.Writer) error {
	eng, err := loadgen.New(ctx, cfg)
	if err != nil {
		return &usageError{msg: fmt.Sprintf("plan: %v", err)}
	}
	if len(phases) > 0 {
		eng.MarkPhase(phases[0].Name)
		go markPhases(ctx, eng, cfg.Start, phases[1:], stderr)
	}
	host, _ := os.Hostname()
	type result struct {
		st  *loadgen.Stats
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := eng.Run(ctx)
		done <- result{st, err}
	}()

	out := make(chan any, 4)
	written := make(chan error, 1)
	go func() {
		var err error
		for rec := range out {
			if err == nil { // after a failed write, drain: the agent must not block
				_, err = agent.Write(stdout, rec)
			}
		}
		written <- err
	}()

	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var res result
wait:
	for {
		select {
		case res = <-done:
			break wait
		case now := <-tick.C:
			if now.Before(cfg.Start) {
				continue
			}
			l := eng.Live()
			p := agent.ProgressOf(cfg.Shard, int(now.Sub(cfg.Start)/time.Second), &l)
			select {
			case out <- &p:
			default: // the reader is behind; the next record has these counts too
			}
		}
	}
	if res.err != nil {
		close(out)
		return fmt.Errorf("agent %d: %w", cfg.Shard, res.err)
	}
	interrupted := ctx.Err() != nil
	final := agent.NewFinal(cfg.Shard, host, interrupted, res.st)
	timer := time.NewTimer(writeTimeout)
	defer timer.Stop()
	select {
	case out <- &final:
		close(out)
	case <-timer.C: // progress records fill the queue and nobody reads them
		return fmt.Errorf("agent %d: the final record was not read within --write-timeout %v", cfg.Shard, writeTimeout)
	}
	select {
	case err := <-written:
		if err != nil {
			return fmt.Errorf("agent %d: %w", cfg.Shard, err)
		}
	case <-timer.C:
		return fmt.Errorf("agent %d: the final record was not read within --write-timeout %v", cfg.Shard, writeTimeout)
	}
	if interrupted {
		fmt.Fprintf(stderr, "rolltest agent %d: interrupted; final record written (%d requests)\n", cfg.Shard, res.st.Requests())
		return exitCode(report.ExitInterrupted)
	}
	return nil
}

// phaseLead is how long before its offset a fixed phase is marked: a mark
// must come before the requests due at its offset are handed over (see
// loadgen.Engine.MarkPhaseAt), and far less than the time between two
// phases.
const phaseLead = 250 * time.Millisecond

// markPhases marks the plan's phases after the first, each phaseLead
// before its offset from start, until ctx ends.
func markPhases(ctx context.Context, eng *loadgen.Engine, start time.Time, phases []agent.Phase, stderr io.Writer) {
	for _, ph := range phases {
		// Not before the run began (a phase due within phaseLead of
		// the start): Run marks the start once its wait is over.
		at := start.Add(max(ph.At-phaseLead, 10*time.Millisecond))
		if !ctxtime.Sleep(ctx, time.Until(at)) {
			return
		}
		if err := eng.MarkPhaseAt(ph.Name, ph.At); err != nil {
			fmt.Fprintf(stderr, "rolltest agent: phase %s: %v\n", ph.Name, err)
		}
	}
}
