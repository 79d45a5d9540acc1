package kubejob

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// running reports whether the agent's container runs (or already ran to
// the end: an agent whose pod Succeeded has its whole log to read).
func running(p *corev1.Pod) bool {
	switch p.Status.Phase {
	case corev1.PodRunning, corev1.PodSucceeded:
		return p.DeletionTimestamp == nil || p.Status.Phase == corev1.PodSucceeded
	}
	return false
}

// hasRun reports whether the agent's container runs or has run: its log
// holds what it wrote.
func hasRun(p *corev1.Pod) bool { return running(p) || ended(p) }

// byIndex is the newest pod of each of n agents among objs (an informer
// store's list), nil where an agent has none: one pass, however many
// agents.
func byIndex(objs []any, n int) []*corev1.Pod {
	out := make([]*corev1.Pod, n)
	for _, o := range objs {
		p, ok := o.(*corev1.Pod)
		if !ok {
			continue
		}
		if i, ok := indexOf(p); ok && i < n && (out[i] == nil || p.CreationTimestamp.After(out[i].CreationTimestamp.Time)) {
			out[i] = p
		}
	}
	return out
}

// problem says, in the words `kubectl describe pod` would use, why the
// pod is not running its agent: the scheduler's reason, the container's
// waiting or terminated reason, or the phase. Empty for a running pod.
func problem(p *corev1.Pod) string {
	if p == nil {
		return "no pod was created (see `kubectl describe job` for the Job controller's events, e.g. a quota or an admission policy)"
	}
	if running(p) {
		return ""
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			return clip(strings.TrimSpace(c.Reason + ": " + c.Message))
		}
	}
	for _, cs := range append(append([]corev1.ContainerStatus(nil), p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		if w := cs.State.Waiting; w != nil && w.Reason != "" && w.Reason != "ContainerCreating" && w.Reason != "PodInitializing" {
			return clip(strings.TrimSuffix(fmt.Sprintf("container %s waiting: %s: %s", cs.Name, w.Reason, w.Message), ": "))
		}
		if t := cs.State.Terminated; t != nil {
			s := fmt.Sprintf("container %s terminated: %s (exit code %d)", cs.Name, t.Reason, t.ExitCode)
			if m := strings.TrimSpace(t.Message); m != "" {
				s += ": " + lastLine(m)
			}
			return clip(s)
		}
	}
	switch {
	case p.DeletionTimestamp != nil:
		return "its pod is being deleted"
	case p.Status.Phase == corev1.PodFailed:
		return clip(strings.TrimSuffix("pod failed: "+p.Status.Reason+": "+p.Status.Message, ": "))
	case p.Spec.NodeName == "":
		return "pod not scheduled yet"
	}
	return fmt.Sprintf("pod %s on node %s, container not started yet", strings.ToLower(string(p.Status.Phase)), p.Spec.NodeName)
}

// lastLine is the last non-empty line of a termination message (the log's
// tail, with FallbackToLogsOnError): the agent's error is its last line.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// clip bounds what a pod's status puts in one line of rolltest's output.
func clip(s string) string {
	const most = 300
	if len(s) <= most {
		return s
	}
	return s[:most] + "…"
}
