package kubejob

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	authv1 "k8s.io/api/authorization/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/rolltest/rolltest/pkg/agent"
)

func TestJobFor(t *testing.T) {
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	c := &Config{Namespace: "shop", Agents: 3, Image: "registry/rolltest:v1", PullPolicy: corev1.PullIfNotPresent, Grace: 12 * time.Second,
		Plan: agent.Plan{Start: now.Add(30 * time.Second), Duration: time.Minute, Shards: 3}}
	end := c.Plan.Start.Add(c.Plan.Duration + c.Grace)
	j := jobFor(c, "PLAN", now, end)
	s := j.Spec
	switch {
	case j.Namespace != "shop" || j.GenerateName != "rolltest-agents-":
		t.Errorf("job %s/%s*, want shop/rolltest-agents-*", j.Namespace, j.GenerateName)
	case *s.CompletionMode != batchv1.IndexedCompletion || *s.Completions != 3 || *s.Parallelism != 3:
		t.Errorf("mode %v completions %d parallelism %d, want Indexed 3 3", *s.CompletionMode, *s.Completions, *s.Parallelism)
	case *s.BackoffLimit != 0:
		t.Errorf("backoffLimit %d, want 0: a re-created agent would start late", *s.BackoffLimit)
	case *s.ActiveDeadlineSeconds != 30+60+12+60:
		t.Errorf("activeDeadlineSeconds %d, want start+duration+grace+margin = 162", *s.ActiveDeadlineSeconds)
	case *s.TTLSecondsAfterFinished != ttlAfterFinished:
		t.Errorf("ttlSecondsAfterFinished %d", *s.TTLSecondsAfterFinished)
	}
	ps := s.Template.Spec
	ctr := ps.Containers[0]
	if got := strings.Join(ctr.Args, " "); got != "agent --plan PLAN --shard-env JOB_COMPLETION_INDEX" {
		t.Errorf("args %q", got)
	}
	if ctr.Name != container || ctr.Image != c.Image || ctr.ImagePullPolicy != corev1.PullIfNotPresent {
		t.Errorf("container %s image %s policy %s", ctr.Name, ctr.Image, ctr.ImagePullPolicy)
	}
	if ps.RestartPolicy != corev1.RestartPolicyNever || *ps.AutomountServiceAccountToken || *ps.TerminationGracePeriodSeconds != 12 {
		t.Errorf("restart %s automount %t grace %d", ps.RestartPolicy, *ps.AutomountServiceAccountToken, *ps.TerminationGracePeriodSeconds)
	}
	if !*ps.SecurityContext.RunAsNonRoot || *ps.SecurityContext.RunAsUser != agentUID || !*ctr.SecurityContext.ReadOnlyRootFilesystem ||
		*ctr.SecurityContext.AllowPrivilegeEscalation || len(ctr.Resources.Limits) != 0 {
		t.Errorf("security context or limits: %+v %+v limits %v", ps.SecurityContext, ctr.SecurityContext, ctr.Resources.Limits)
	}
}

func TestProblem(t *testing.T) {
	waiting := func(reason, msg string) *corev1.Pod {
		return &corev1.Pod{Spec: corev1.PodSpec{NodeName: "n1"}, Status: corev1.PodStatus{Phase: corev1.PodPending,
			ContainerStatuses: []corev1.ContainerStatus{{Name: "agent", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}}}}}
	}
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		want string
	}{
		{"none", nil, "no pod was created"},
		{"running", &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning}}, ""},
		{"unschedulable", &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/1 nodes are available: 1 Insufficient cpu."}}}},
			"Unschedulable: 0/1 nodes are available: 1 Insufficient cpu."},
		{"image", waiting("ErrImageNeverPull", `image "x" is not present`), `container agent waiting: ErrImageNeverPull: image "x" is not present`},
		{"creating", waiting("ContainerCreating", ""), "pod pending on node n1, container not started yet"},
		{"failed", &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{{Name: "agent",
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 1, Message: "first\nrolltest: plan: start passed\n"}}}}}},
			"container agent terminated: Error (exit code 1): rolltest: plan: start passed"},
		{"unscheduled", &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending}}, "pod not scheduled yet"},
	} {
		if got := problem(tc.pod); !strings.HasPrefix(got, tc.want) || (tc.want == "" && got != "") {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestStartErrorNamesEveryAgent(t *testing.T) {
	e := &StartError{Job: "job shop/rolltest-agents-x", Start: time.Date(2026, 12, 3, 10, 0, 30, 0, time.UTC), Agents: 3,
		Reasons: map[int]string{2: "pod not scheduled yet", 0: "container agent waiting: ErrImageNeverPull: no image"}}
	want := "--agents: 2 of 3 agents were not running before the start at 10:00:30.000 (agent 0: container agent waiting: ErrImageNeverPull: no image; agent 2: pod not scheduled yet); job shop/rolltest-agents-x was deleted; raise --agents-startup if they were only slow"
	if e.Error() != want {
		t.Errorf("got  %s\nwant %s", e.Error(), want)
	}
}

// TestCheckAccess: each permission is asked for, and the missing ones are
// named with the file that grants them. (The fake clientset only answers
// as told: the real API server's answers are proven in the e2e.)
func TestCheckAccess(t *testing.T) {
	cs := fake.NewClientset()
	var asked []string
	cs.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := a.(k8stesting.CreateAction).GetObject().(*authv1.SelfSubjectAccessReview)
		at := r.Spec.ResourceAttributes
		asked = append(asked, at.Verb+" "+at.Resource+"/"+at.Subresource+" in "+at.Namespace)
		r.Status.Allowed = at.Subresource != "log"
		return true, r, nil
	})
	err := checkAccess(context.Background(), cs, "shop")
	var ae *AccessError
	if !errors.As(err, &ae) {
		t.Fatalf("err %v, want an AccessError", err)
	}
	if len(asked) != len(permissions) {
		t.Errorf("asked %v", asked)
	}
	want := "--agents: not allowed to get pods/log in namespace shop (needed to read the agents' results); manifests/rbac.yaml grants it"
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("got  %s\nwant %s…", err, want)
	}
	cs.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := a.(k8stesting.CreateAction).GetObject().(*authv1.SelfSubjectAccessReview)
		r.Status.Allowed = true
		return true, r, nil
	})
	if err := checkAccess(context.Background(), cs, "shop"); err != nil {
		t.Errorf("all allowed: %v", err)
	}
}

// TestRunRefusesBeforeCreating: a plan too large for a pod argument or a
// missing permission creates no Job.
func TestRunRefusesBeforeCreating(t *testing.T) {
	cs := fake.NewClientset()
	cs.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := a.(k8stesting.CreateAction).GetObject().(*authv1.SelfSubjectAccessReview)
		r.Status.Allowed = r.Spec.ResourceAttributes.Verb != "delete"
		return true, r, nil
	})
	base := Config{Clientset: cs, Namespace: "shop", Agents: 2, Image: "i",
		Plan: agent.Plan{V: agent.Version, Target: "http://web/", Rate: 10, Duration: time.Minute, Start: time.Now().Add(time.Minute), Shards: 2}}
	big := base
	big.Plan.Body = make([]byte, MaxPlanArg)
	for name, tc := range map[string]struct {
		c    Config
		want string
	}{
		"too large":  {big, "over the 120 KiB one pod argument carries"},
		"permission": {base, "not allowed to delete jobs.batch in namespace shop"},
	} {
		_, err := Run(context.Background(), tc.c)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want …%s…", name, err, tc.want)
		}
	}
	jobs, _ := cs.BatchV1().Jobs("shop").List(context.Background(), metav1.ListOptions{})
	if len(jobs.Items) != 0 {
		t.Errorf("%d jobs created", len(jobs.Items))
	}
}

// TestByIndex: the newest pod of each agent index, nil for an agent
// without one; pods without an index or beyond n are ignored.
func TestByIndex(t *testing.T) {
	pod := func(name, index string, created int64) any {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.Unix(created, 0)}}
		if index != "" {
			p.Annotations = map[string]string{indexAnnotation: index}
		}
		return p
	}
	got := byIndex([]any{pod("a0-old", "0", 1), pod("a2", "2", 1), pod("a0-new", "0", 2), pod("x", "", 3), pod("a9", "9", 1), pod("bad", "-1", 1)}, 3)
	names := make([]string, len(got))
	for i, p := range got {
		if p != nil {
			names[i] = p.Name
		}
	}
	if strings.Join(names, ",") != "a0-new,,a2" {
		t.Errorf("byIndex: %q, want a0-new, none, a2", names)
	}
}
