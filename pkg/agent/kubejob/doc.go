// Package kubejob runs rolltest's load agents as one Kubernetes Job and
// brings their results back: an Indexed Job whose pod i runs `rolltest
// agent` for shard i of one plan, all from one absolute start, each pod's
// log followed through the API server and decoded (pkg/agent) into the
// final records that merge into one run's Stats.
//
// The controller (the CLI) needs no network path to its agents: the plan
// goes out as a pod argument and the results come back in the pod logs.
// It needs, in the agents' namespace, create and delete on jobs, list and
// watch on pods, and get on pods/log (manifests/rbac.yaml), and checks
// them before it creates anything.
//
// Nothing is left behind: the Job is deleted when the run ends, however it
// ends, with foreground propagation so that its pods go with it; if the
// controller dies, the agents stop at the end of their schedule, and the
// Job's ttlSecondsAfterFinished and activeDeadlineSeconds remove it.
package kubejob
