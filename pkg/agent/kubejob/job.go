package kubejob

import (
	"fmt"
	"strconv"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Labels and names of what the controller creates.
const (
	// nameLabel marks the Job and its pods as rolltest's agents.
	nameLabel  = "app.kubernetes.io/name"
	nameValue  = "rolltest-agent"
	managedBy  = "app.kubernetes.io/managed-by"
	jobNameKey = "batch.kubernetes.io/job-name"
	// indexAnnotation is where the Job controller writes a pod's index.
	indexAnnotation = "batch.kubernetes.io/job-completion-index"
	// indexEnv is the variable the Job controller sets to the pod's index,
	// which `rolltest agent --shard-env` reads.
	indexEnv = "JOB_COMPLETION_INDEX"
	// container is the agent's container name, whose log is followed.
	container = "agent"
	// agentUID is the non-root user the agent runs as (distroless'
	// "nonroot"; numeric so that runAsNonRoot can verify it).
	agentUID = 65532
	// ttlAfterFinished is how long a finished Job stays: long enough for
	// the controller to read the last log lines, short enough that a Job
	// whose controller died is gone soon after its agents end.
	ttlAfterFinished = 30
	// deadlineMargin is added to the run's length for activeDeadlineSeconds,
	// the Job's hard stop should everything else fail.
	deadlineMargin = 60 * time.Second
)

// MaxPlanArg bounds the encoded plan, which travels as one pod argument:
// Linux refuses a single argument over 128 KiB, and the whole Job object
// must stay far below etcd's limit.
const MaxPlanArg = 120 << 10

// jobFor is the Job that runs agents of the encoded plan, whose run lasts
// until end (the plan's end plus the grace its requests in flight need).
func jobFor(c *Config, plan string, now, end time.Time) *batchv1.Job {
	n := int32(c.Agents)
	mode := batchv1.IndexedCompletion
	backoff := int32(0) // a re-created agent would start late and be refused
	ttl := int32(ttlAfterFinished)
	deadline := int64((end.Sub(now) + deadlineMargin + time.Second - 1) / time.Second)
	grace := int64((c.Grace + time.Second - 1) / time.Second)
	yes, no := true, false
	uid := int64(agentUID)
	labels := map[string]string{nameLabel: nameValue, managedBy: "rolltest"}
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: "rolltest-agents-",
			Namespace:    c.Namespace,
			Labels:       labels,
			Annotations:  map[string]string{"rolltest.dev/start": c.Plan.Start.UTC().Format(time.RFC3339Nano)},
		},
		Spec: batchv1.JobSpec{
			CompletionMode:          &mode,
			Completions:             &n,
			Parallelism:             &n,
			BackoffLimit:            &backoff,
			ActiveDeadlineSeconds:   &deadline,
			TTLSecondsAfterFinished: &ttl,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					RestartPolicy:                 corev1.RestartPolicyNever,
					TerminationGracePeriodSeconds: &grace,
					// Agents call the service, never the API server.
					AutomountServiceAccountToken: &no,
					EnableServiceLinks:           &no,
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot:   &yes,
						RunAsUser:      &uid,
						RunAsGroup:     &uid,
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Containers: []corev1.Container{{
						Name:            container,
						Image:           c.Image,
						ImagePullPolicy: c.PullPolicy,
						// The image's entrypoint is rolltest.
						Args: []string{"agent", "--plan", plan, "--shard-env", indexEnv},
						// Requests only: a CPU limit would throttle the
						// sender and show as late sends, not as the
						// service's latency.
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
							corev1.ResourceCPU:    resource.MustParse("100m"),
							corev1.ResourceMemory: resource.MustParse("64Mi"),
						}},
						SecurityContext: &corev1.SecurityContext{
							AllowPrivilegeEscalation: &no,
							ReadOnlyRootFilesystem:   &yes,
							Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
						},
						TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
					}},
				},
			},
		},
	}
}

// indexOf is a pod's agent index, from the Job controller's annotation.
func indexOf(p *corev1.Pod) (int, bool) {
	s, ok := p.Annotations[indexAnnotation]
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(s)
	return i, err == nil && i >= 0
}

// jobRef is how messages name a Job.
func jobRef(ns, name string) string { return fmt.Sprintf("job %s/%s", ns, name) }
