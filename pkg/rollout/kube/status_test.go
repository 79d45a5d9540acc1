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
			status: st{ObservedGeneration: 1, Replicas: 3, UpdatedReplicas: 1, Conditions: progressing(deploymentTimedOutReason)},
			err:    `deployment "foo" exceeded its progress deadline`,
		},
		{
			name: "deadline condition ignored until the spec is observed", generation: 3, replicas: ptr32(2),
			status: st{ObservedGeneration: 2, Conditions: progressing(deploymentTimedOutReason)},
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

// The expected sentences are kubectl v1.34's (StatefulSetStatusViewer.Status)
// without the trailing newline, including its quirks: a RollingUpdate with
// no partition field is complete once every pod is Ready.
func TestStatefulSetRolloutStatus(t *testing.T) {
	type st = appsv1.StatefulSetStatus
	rolling := func(partition *int32) appsv1.StatefulSetUpdateStrategy {
		return appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType,
			RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: partition}}
	}
	tests := []struct {
		name       string
		generation int64
		replicas   *int32
		strategy   appsv1.StatefulSetUpdateStrategy
		status     st
		msg        string
		done       bool
		err        string
	}{
		{
			name: "on delete", generation: 1, replicas: ptr32(2), strategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType},
			status: st{ObservedGeneration: 1, ReadyReplicas: 2},
			err:    "rollout status is only available for RollingUpdate strategy type",
		},
		{
			name: "never observed", generation: 1, replicas: ptr32(2), strategy: rolling(ptr32(0)),
			status: st{ObservedGeneration: 0},
			msg:    "Waiting for statefulset spec update to be observed...",
		},
		{
			name: "spec update not observed", generation: 3, replicas: ptr32(2), strategy: rolling(ptr32(0)),
			status: st{ObservedGeneration: 2, ReadyReplicas: 2, UpdatedReplicas: 2},
			msg:    "Waiting for statefulset spec update to be observed...",
		},
		{
			name: "pods not ready", generation: 2, replicas: ptr32(3), strategy: rolling(ptr32(0)),
			status: st{ObservedGeneration: 2, ReadyReplicas: 1, UpdatedReplicas: 1},
			msg:    "Waiting for 2 pods to be ready...",
		},
		{
			name: "updating, partition 0", generation: 2, replicas: ptr32(2), strategy: rolling(ptr32(0)),
			status: st{ObservedGeneration: 2, ReadyReplicas: 2, UpdatedReplicas: 1},
			msg:    "Waiting for partitioned roll out to finish: 1 out of 2 new pods have been updated...",
		},
		{
			name: "complete, partition 0", generation: 2, replicas: ptr32(2), strategy: rolling(ptr32(0)),
			status: st{ObservedGeneration: 2, ReadyReplicas: 2, UpdatedReplicas: 2, CurrentRevision: "db-a", UpdateRevision: "db-b"},
			msg:    "partitioned roll out complete: 2 new pods have been updated...", done: true,
		},
		{
			name: "partition 2 of 3: one pod to update", generation: 2, replicas: ptr32(3), strategy: rolling(ptr32(2)),
			status: st{ObservedGeneration: 2, ReadyReplicas: 3, UpdatedReplicas: 0},
			msg:    "Waiting for partitioned roll out to finish: 0 out of 1 new pods have been updated...",
		},
		{
			name: "partition 2 of 3: done", generation: 2, replicas: ptr32(3), strategy: rolling(ptr32(2)),
			status: st{ObservedGeneration: 2, ReadyReplicas: 3, UpdatedReplicas: 1},
			msg:    "partitioned roll out complete: 1 new pods have been updated...", done: true,
		},
		{
			name: "rolling update without partition field", generation: 2, replicas: ptr32(2), strategy: rolling(nil),
			status: st{ObservedGeneration: 2, ReadyReplicas: 2, UpdatedReplicas: 0},
			msg:    "partitioned roll out complete: 0 new pods have been updated...", done: true,
		},
		{
			name: "no rollingUpdate, revisions differ", generation: 2, replicas: ptr32(2),
			strategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType},
			status:   st{ObservedGeneration: 2, ReadyReplicas: 2, UpdatedReplicas: 1, CurrentRevision: "db-a", UpdateRevision: "db-b"},
			msg:      "waiting for statefulset rolling update to complete 1 pods at revision db-b...",
		},
		{
			name: "no rollingUpdate, revisions equal", generation: 2, replicas: ptr32(2),
			strategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType},
			status:   st{ObservedGeneration: 2, ReadyReplicas: 2, CurrentReplicas: 2, CurrentRevision: "db-b", UpdateRevision: "db-b"},
			msg:      "statefulset rolling update complete 2 pods at revision db-b...", done: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &appsv1.StatefulSet{
				ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "bar", Generation: tt.generation},
				Spec:       appsv1.StatefulSetSpec{Replicas: tt.replicas, UpdateStrategy: tt.strategy},
				Status:     tt.status,
			}
			checkStatus(t, StatefulSetRolloutStatus, s, tt.msg, tt.done, tt.err)
		})
	}
}

// The expected sentences are kubectl v1.34's (DaemonSetStatusViewer.Status)
// without the trailing newline.
func TestDaemonSetRolloutStatus(t *testing.T) {
	type st = appsv1.DaemonSetStatus
	rolling := appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType}
	tests := []struct {
		name       string
		generation int64
		strategy   appsv1.DaemonSetUpdateStrategy
		status     st
		msg        string
		done       bool
		err        string
	}{
		{
			name: "on delete", generation: 1, strategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType},
			status: st{ObservedGeneration: 1},
			err:    "rollout status is only available for RollingUpdate strategy type",
		},
		{
			name: "spec update not observed", generation: 2, strategy: rolling,
			status: st{ObservedGeneration: 1, DesiredNumberScheduled: 1, UpdatedNumberScheduled: 1, NumberAvailable: 1},
			msg:    "Waiting for daemon set spec update to be observed...",
		},
		{
			name: "updating", generation: 2, strategy: rolling,
			status: st{ObservedGeneration: 2, DesiredNumberScheduled: 3, UpdatedNumberScheduled: 1, NumberAvailable: 3},
			msg:    `Waiting for daemon set "agent" rollout to finish: 1 out of 3 new pods have been updated...`,
		},
		{
			name: "updated, not available", generation: 2, strategy: rolling,
			status: st{ObservedGeneration: 2, DesiredNumberScheduled: 3, UpdatedNumberScheduled: 3, NumberAvailable: 2},
			msg:    `Waiting for daemon set "agent" rollout to finish: 2 of 3 updated pods are available...`,
		},
		{
			name: "complete", generation: 2, strategy: rolling,
			status: st{ObservedGeneration: 2, DesiredNumberScheduled: 1, UpdatedNumberScheduled: 1, NumberAvailable: 1},
			msg:    `daemon set "agent" successfully rolled out`, done: true,
		},
		{
			name: "observed generation ahead", generation: 1, strategy: rolling,
			status: st{ObservedGeneration: 2, DesiredNumberScheduled: 1, UpdatedNumberScheduled: 1, NumberAvailable: 1},
			msg:    `daemon set "agent" successfully rolled out`, done: true,
		},
		{
			name: "no node", generation: 1, strategy: rolling,
			status: st{ObservedGeneration: 1},
			msg:    `daemon set "agent" successfully rolled out`, done: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &appsv1.DaemonSet{
				ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "bar", Generation: tt.generation},
				Spec:       appsv1.DaemonSetSpec{UpdateStrategy: tt.strategy},
				Status:     tt.status,
			}
			checkStatus(t, DaemonSetRolloutStatus, d, tt.msg, tt.done, tt.err)
		})
	}
}

func checkStatus[T any](t *testing.T, viewer func(T) (string, bool, error), obj T, msg string, done bool, wantErr string) {
	t.Helper()
	gotMsg, gotDone, err := viewer(obj)
	if wantErr != "" {
		if err == nil || err.Error() != wantErr {
			t.Fatalf("err = %v, want %q", err, wantErr)
		}
		return
	}
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	if gotMsg != msg || gotDone != done {
		t.Errorf("got (%q, %v), want (%q, %v)", gotMsg, gotDone, msg, done)
	}
}
