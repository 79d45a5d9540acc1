package kube

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The expected sentences are kubectl v1.34's (DeploymentStatusViewer.Status
// in k8s.io/kubectl/pkg/polymorphichelpers/rollout_status.go) without the
// trailing newline, including the cases of rollout_status_test.go.
func TestDeploymentRolloutStatus(t *testing.T) {
	type st = appsv1.DeploymentStatus
	progressing := func(reason string) []appsv1.DeploymentCondition {
		return []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: "True", Reason: reason}}
	}
	tests := []struct {
		name       string
		generation int64
		replicas   *int32
		status     st
		msg        string
		done       bool
		err        string
	}{
		{
			name: "spec update not observed", generation: 2, replicas: ptr32(1),
			status: st{ObservedGeneration: 1, Replicas: 1, UpdatedReplicas: 1, AvailableReplicas: 1},
			msg:    "Waiting for deployment spec update to be observed...",
		},
		{
			name: "updating", generation: 0, replicas: ptr32(1),
			status: st{ObservedGeneration: 1, Replicas: 1, UpdatedReplicas: 0, AvailableReplicas: 1, UnavailableReplicas: 0},
			msg:    `Waiting for deployment "foo" rollout to finish: 0 out of 1 new replicas have been updated...`,
		},
		{
			name: "old replicas pending termination", generation: 1, replicas: ptr32(1),
			status: st{ObservedGeneration: 1, Replicas: 2, UpdatedReplicas: 1, AvailableReplicas: 2, UnavailableReplicas: 0},
			msg:    `Waiting for deployment "foo" rollout to finish: 1 old replicas are pending termination...`,
		},
		{
			name: "updated replicas not yet available", generation: 1, replicas: ptr32(2),
			status: st{ObservedGeneration: 1, Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 1, UnavailableReplicas: 1},
			msg:    `Waiting for deployment "foo" rollout to finish: 1 of 2 updated replicas are available...`,
		},
		{
			name: "complete", generation: 1, replicas: ptr32(2),
			status: st{ObservedGeneration: 1, Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 2},
			msg:    `deployment "foo" successfully rolled out`, done: true,
		},
		{
			name: "observed generation ahead", generation: 1, replicas: ptr32(2),
			status: st{ObservedGeneration: 2, Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 2},
			msg:    `deployment "foo" successfully rolled out`, done: true,
		},
		{
			name: "nil replicas skips the updated check", generation: 1, replicas: nil,
			status: st{ObservedGeneration: 1, Replicas: 0, UpdatedReplicas: 0, AvailableReplicas: 0},
			msg:    `deployment "foo" successfully rolled out`, done: true,
		},
		{
			name: "progress deadline exceeded", generation: 1, replicas: ptr32(2),
			status: st{ObservedGeneration: 1, Replicas: 3, UpdatedReplicas: 1, Conditions: progressing(kubeTimedOutReason)},
			err:    `deployment "foo" exceeded its progress deadline`,
		},
		{
			name: "deadline condition ignored until the spec is observed", generation: 3, replicas: ptr32(2),
			status: st{ObservedGeneration: 2, Conditions: progressing(kubeTimedOutReason)},
			msg:    "Waiting for deployment spec update to be observed...",
		},
		{
			name: "progressing normally", generation: 1, replicas: ptr32(2),
			status: st{ObservedGeneration: 1, Replicas: 3, UpdatedReplicas: 1, Conditions: progressing("ReplicaSetUpdated")},
			msg:    `Waiting for deployment "foo" rollout to finish: 1 out of 2 new replicas have been updated...`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &appsv1.Deployment{
				ObjectMeta: metav1.ObjectMeta{Name: "foo", Namespace: "bar", Generation: tt.generation},
				Spec:       appsv1.DeploymentSpec{Replicas: tt.replicas},
				Status:     tt.status,
			}
			msg, done, err := DeploymentRolloutStatus(d)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if msg != tt.msg || done != tt.done {
				t.Errorf("got (%q, %v), want (%q, %v)", msg, done, tt.msg, tt.done)
			}
		})
	}
}

func ptr32(v int32) *int32 { return &v }
