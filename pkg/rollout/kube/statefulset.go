package kube

import (
	"fmt"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/rolltest/rolltest/pkg/rollout"
)

// statefulSetKind rolls StatefulSets. Their pod templates are
// ControllerRevisions named <set>-<hash>; each pod's
// controller-revision-hash label holds that name. The controller replaces
// pods one at a time from the highest ordinal down, and a replacement keeps
// the old pod's name: pods are told apart by UID.
type statefulSetKind struct {
	typedKind[*appsv1.StatefulSet]
	controllerRevisions
}

func newStatefulSetKind() statefulSetKind {
	return statefulSetKind{typedKind[*appsv1.StatefulSet]{
		client: func(cs kubernetes.Interface, ns string) typedClient[*appsv1.StatefulSet] {
			return cs.AppsV1().StatefulSets(ns)
		},
		wrap: func(s *appsv1.StatefulSet) workload { return statefulSet{s} },
		lw: func(cs kubernetes.Interface, ns string) listWatch {
			c := cs.AppsV1().StatefulSets(ns)
			return lwOf(&appsv1.StatefulSet{}, c.List, c.Watch)
		},
	}, controllerRevisions{ownerKind: "StatefulSet"}}
}

func (statefulSetKind) podRevision(pod *corev1.Pod, w workload) (string, types.UID, bool) {
	if !controlledBy(pod, "StatefulSet", w.GetUID()) {
		return "", "", false
	}
	return pod.Labels[appsv1.StatefulSetRevisionLabel], "", true
}

// statefulSet is an observed StatefulSet.
type statefulSet struct{ *appsv1.StatefulSet }

func (s statefulSet) template() *corev1.PodTemplateSpec { return &s.Spec.Template }
func (s statefulSet) selector() *metav1.LabelSelector   { return s.Spec.Selector }

func (s statefulSet) rollable(rollout.ActionKind) error {
	if s.Spec.UpdateStrategy.Type != appsv1.RollingUpdateStatefulSetStrategyType {
		return rollingUpdateOnly(s, "statefulset", string(s.Spec.UpdateStrategy.Type))
	}
	if p := s.partition(); p > 0 && p >= s.replicas() {
		return rollout.SetupErrorf(rollout.InputWorkload,
			"statefulset %s/%s has partition %d and %d replicas: a rollout would replace no pod",
			s.Namespace, s.Name, p, s.replicas())
	}
	return nil
}

func (s statefulSet) status() (string, bool, error) { return StatefulSetRolloutStatus(s.StatefulSet) }

// keepsOld: pods with an ordinal below the partition keep the old revision.
func (s statefulSet) keepsOld(pod string) bool {
	p := s.partition()
	if p == 0 {
		return false
	}
	ordinal, err := strconv.ParseInt(strings.TrimPrefix(pod, s.Name+"-"), 10, 32)
	return err == nil && strings.HasPrefix(pod, s.Name+"-") && int32(ordinal) < p
}

func (s statefulSet) partition() int32 {
	if ru := s.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
		return *ru.Partition
	}
	return 0
}

func (s statefulSet) replicas() int32 {
	if s.Spec.Replicas != nil {
		return *s.Spec.Replicas
	}
	return 1
}

// StatefulSetRolloutStatus reports how far the rollout of s has got, with
// the rules and sentences of `kubectl rollout status`
// (StatefulSetStatusViewer.Status in k8s.io/kubectl/pkg/polymorphichelpers).
//
// The rules, in order:
//
//   - the update strategy is not RollingUpdate: kubectl refuses to follow
//     it (err);
//   - status.observedGeneration is 0 or behind metadata.generation: the
//     controller has not seen the latest spec yet;
//   - status.readyReplicas < spec.replicas: pods are missing or not Ready;
//   - with spec.updateStrategy.rollingUpdate set (the API always sets it,
//     with partition 0 by default): status.updatedReplicas <
//     spec.replicas - partition means pods are still to be replaced;
//     otherwise the partitioned rollout is complete;
//   - without it: status.updateRevision differs from
//     status.currentRevision until the last pod is replaced.
//
// msg is kubectl's sentence without its trailing newline. Like a
// Deployment's, the rollout can be done while the last old pod is still
// terminating.
func StatefulSetRolloutStatus(s *appsv1.StatefulSet) (msg string, done bool, err error) {
	if s.Spec.UpdateStrategy.Type != appsv1.RollingUpdateStatefulSetStrategyType {
		return "", false, fmt.Errorf("rollout status is only available for %s strategy type", appsv1.RollingUpdateStatefulSetStrategyType)
	}
	if s.Status.ObservedGeneration == 0 || s.Generation > s.Status.ObservedGeneration {
		return "Waiting for statefulset spec update to be observed...", false, nil
	}
	if s.Spec.Replicas != nil && s.Status.ReadyReplicas < *s.Spec.Replicas {
		return fmt.Sprintf("Waiting for %d pods to be ready...", *s.Spec.Replicas-s.Status.ReadyReplicas), false, nil
	}
	if ru := s.Spec.UpdateStrategy.RollingUpdate; ru != nil {
		if s.Spec.Replicas != nil && ru.Partition != nil {
			if want := *s.Spec.Replicas - *ru.Partition; s.Status.UpdatedReplicas < want {
				return fmt.Sprintf("Waiting for partitioned roll out to finish: %d out of %d new pods have been updated...",
					s.Status.UpdatedReplicas, want), false, nil
			}
		}
		return fmt.Sprintf("partitioned roll out complete: %d new pods have been updated...", s.Status.UpdatedReplicas), true, nil
	}
	if s.Status.UpdateRevision != s.Status.CurrentRevision {
		return fmt.Sprintf("waiting for statefulset rolling update to complete %d pods at revision %s...",
			s.Status.UpdatedReplicas, s.Status.UpdateRevision), false, nil
	}
	return fmt.Sprintf("statefulset rolling update complete %d pods at revision %s...", s.Status.CurrentReplicas, s.Status.CurrentRevision), true, nil
}
