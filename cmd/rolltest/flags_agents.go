package main

import (
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
)

// agentsFlags send the load from agent pods instead of this process.
type agentsFlags struct {
	n          int
	namespace  string
	image      string
	pullPolicy string
	startup    time.Duration
}

// maxAgents bounds --agents: past it, the API server's watch and log
// streams, not the agents, are what a run measures (docs/distributed.md).
const maxAgents = 1000

func (f *agentsFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.IntVar(&f.n, "agents", 0, "send the load from N pods of a Kubernetes Job (in-cluster: through the Service's ClusterIP and kube-proxy as other pods do), each a shard of one schedule, merged exactly; the target is as the pods reach it, e.g. http://web.shop.svc:8080/healthz; needs --duration (see docs/distributed.md)")
	fs.StringVar(&f.namespace, "agents-namespace", "", "namespace of the agents' Job (default: -n/--namespace, else the kubeconfig context's)")
	fs.StringVar(&f.image, "agent-image", "", "image with rolltest as its entrypoint for the agent pods (default rolltest.local/rolltest:VERSION, built by `make image`; push it to a registry your cluster pulls from)")
	fs.StringVar(&f.pullPolicy, "agent-pull-policy", "", "imagePullPolicy of the agent pods: Always, IfNotPresent or Never (default: the cluster's)")
	fs.DurationVar(&f.startup, "agents-startup", 30*time.Second, "how far ahead the agents' common start is set when their Job is created: time to schedule, pull and start every pod; an agent not running 0.5 s before it fails the run (exit 3)")
}

// agentsRefuses are run's flags that have no meaning with --agents, and
// why, in the words of the one line that refuses them.
var agentsRefuses = []struct{ flag, why string }{
	{"requests", "agents stop at the end of a fixed schedule; give --duration instead"},
	{"jtl", "the agents' samples stay in their pods; the report holds every failure"},
	{"metrics-addr", "the live metrics are those of this process, which sends nothing with --agents"},
}

// validate checks the agents' flags; cmd is run's command.
func (f *agentsFlags) validate(cmd *cobra.Command, hasRollout bool, rf *rolloutFlags, duration time.Duration) error {
	if !cmd.Flags().Changed("agents") {
		for _, name := range []string{"agents-namespace", "agent-image", "agent-pull-policy", "agents-startup"} {
			if cmd.Flags().Changed(name) {
				return usagef("--"+name, "applies to --agents N; add it or drop --%s", name)
			}
		}
		return nil
	}
	switch {
	case f.n < 1 || f.n > maxAgents:
		return usagef("--agents", "%d agents; give 1 to %d", f.n, maxAgents)
	case f.startup < 2*time.Second:
		return usagef("--agents-startup", "%v is too short for pods to be scheduled and started; give at least 2s (default 30s)", f.startup)
	}
	switch corev1.PullPolicy(f.pullPolicy) {
	case "", corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	default:
		return usagef("--agent-pull-policy", "%q is not a pull policy; give Always, IfNotPresent or Never", f.pullPolicy)
	}
	for _, r := range agentsRefuses {
		if cmd.Flags().Changed(r.flag) {
			return usagef("--"+r.flag, "not with --agents: %s", r.why)
		}
	}
	if duration <= 0 {
		return usagef("--duration", "--agents needs --duration: each agent stops on its own at the end of its schedule")
	}
	if hasRollout && duration <= rf.after+rf.settle {
		return usagef("--duration", "with --agents the phases are fixed in advance: --duration %v leaves no time for the rollout after --rollout-after %v and before --settle %v", duration, rf.after, rf.settle)
	}
	return nil
}

// imageFor is the agent image: --agent-image, or the one of this
// rolltest's version.
func (f *agentsFlags) imageFor(version string) string {
	if f.image != "" {
		return f.image
	}
	return "rolltest.local/rolltest:" + version
}
