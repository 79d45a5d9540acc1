package main

import (
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rolltest/rolltest/pkg/rollout"
)

// rolloutFlags select and pace the rollout.
type rolloutFlags struct {
	deployment, workload, namespace, kubeconfig, kubeContext, service, mode string
	after, settle, timeout                                                  time.Duration

	// Parsed once by validate: what to roll (kind and name), named by
	// workloadFlag (--workload or --deployment), and how.
	target       rollout.Workload
	workloadFlag string
	action       rollout.Action
}

func (f *rolloutFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.workload, "workload", "", "the workload to roll during the run (needs a cluster), as kubectl names it: deployment/NAME, statefulset/NAME or daemonset/NAME (or deploy/, sts/, ds/); without it or --deployment, rolltest only sends load")
	fs.StringVar(&f.deployment, "deployment", "", "shorthand for --workload deployment/NAME")
	fs.StringVarP(&f.namespace, "namespace", "n", "", "the workload's namespace (default: the kubeconfig context's)")
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "path to the kubeconfig (default: $KUBECONFIG, ~/.kube/config, or in-cluster)")
	fs.StringVar(&f.kubeContext, "context", "", "kubeconfig context to use")
	fs.StringVar(&f.service, "service", "", "the Service in front of the workload (default: the one whose selector matches its pods)")
	fs.StringVar(&f.mode, "rollout", "restart", "restart (like kubectl rollout restart), image=CONTAINER=IMAGE, watch (a rollout started elsewhere), or none")
	fs.DurationVar(&f.after, "rollout-after", 10*time.Second, "baseline: load alone before the rollout starts")
	fs.DurationVar(&f.settle, "settle", 10*time.Second, "load alone after the last old pod is gone")
	fs.DurationVar(&f.timeout, "rollout-timeout", 5*time.Minute, "fail (exit 3) when the rollout takes longer")
}

// validate parses the workload and the action, once, and checks the
// timing flags.
func (f *rolloutFlags) validate() error {
	if f.deployment != "" {
		f.target = rollout.Workload{Kind: rollout.KindDeployment, Name: f.deployment}
		f.workloadFlag = "--deployment"
	} else {
		kind, name, err := rollout.ParseWorkloadRef(f.workload)
		if err != nil {
			return usagef("--workload", "%v", err)
		}
		f.target = rollout.Workload{Kind: kind, Name: name}
		f.workloadFlag = "--workload"
	}
	action, err := rollout.ParseAction(f.mode)
	if err != nil {
		if strings.HasPrefix(f.mode, string(rollout.ActionImage)+"=") {
			return usagef("--rollout", "%v", err)
		}
		// none is the command line's: no rollout at all.
		return usagef("--rollout", "%v, or none", err)
	}
	f.action = action
	return f.validateTiming()
}

// withoutWorkload refuses the rollout's flags in a run that rolls nothing:
// without --workload, "--rollout image=..." or "-n shop" would be dropped
// silently and the run would pass without the rollout it was meant to
// test.
//
// With --agents the cluster's flags (-n, --kubeconfig, --context) stand
// alone: they say where the agents run.
func (f *rolloutFlags) withoutWorkload(cmd *cobra.Command, agents bool) error {
	if f.deployment != "" || f.workload != "" {
		return nil // --rollout none: the workload is named, not rolled
	}
	for _, name := range []string{"rollout", "namespace", "kubeconfig", "context", "service", "rollout-after", "settle", "rollout-timeout"} {
		if !cmd.Flags().Changed(name) || (name == "rollout" && f.mode == "none") {
			continue
		}
		if agents && (name == "namespace" || name == "kubeconfig" || name == "context") {
			continue
		}
		return usagef("--"+name, "applies to a rollout; add --workload KIND/NAME (or --deployment NAME), or drop --%s", name)
	}
	return nil
}

// validateTiming checks the rollout's pacing alone: demo rolls its own
// simulated workload, so it has timing flags but no workload to parse.
func (f *rolloutFlags) validateTiming() error {
	switch {
	case f.after < 0:
		return usagef("--rollout-after", "must be 0 or more")
	case f.settle < 0:
		return usagef("--settle", "must be 0 or more")
	case f.timeout <= 0:
		return usagef("--rollout-timeout", "must be positive, e.g. 2m")
	}
	return nil
}
