package kube

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/rolltest/rolltest/pkg/rollout"
)

// daemonSetKind rolls DaemonSets. Their pod templates are
// ControllerRevisions named <daemonset>-<hash>; each pod's
// controller-revision-hash label holds the hash alone. The controller
// replaces the pod of each node: first the old one (maxUnavailable), or
// first a new one beside it (maxSurge).
type daemonSetKind struct {
	typedKind[*appsv1.DaemonSet]
	controllerRevisions
}

func newDaemonSetKind() daemonSetKind {
	return daemonSetKind{typedKind[*appsv1.DaemonSet]{
		client: func(cs kubernetes.Interface, ns string) typedClient[*appsv1.DaemonSet] {
			return cs.AppsV1().DaemonSets(ns)
		},
		wrap: func(d *appsv1.DaemonSet) workload { return daemonSet{d} },
		lw: func(cs kubernetes.Interface, ns string) listWatch {
			c := cs.AppsV1().DaemonSets(ns)
			return lwOf(&appsv1.DaemonSet{}, c.List, c.Watch)
		},
	}, controllerRevisions{ownerKind: "DaemonSet"}}
}

// podRevision: the daemon set controller names a revision <daemonset>-<hash>
// and labels its pods with the hash.
func (daemonSetKind) podRevision(pod *corev1.Pod, w workload) (string, types.UID, bool) {
	if !controlledBy(pod, "DaemonSet", w.GetUID()) {
		return "", "", false
	}
	hash := pod.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]
	if hash == "" {
		return "", "", true
	}
	return w.GetName() + "-" + hash, "", true
}

// daemonSet is an observed DaemonSet.
type daemonSet struct{ *appsv1.DaemonSet }

func (d daemonSet) template() *corev1.PodTemplateSpec { return &d.Spec.Template }
func (d daemonSet) selector() *metav1.LabelSelector   { return d.Spec.Selector }
func (d daemonSet) keepsOld(string) bool              { return false }
func (d daemonSet) status() (string, bool, error)     { return DaemonSetRolloutStatus(d.DaemonSet) }

func (d daemonSet) rollable(rollout.ActionKind) error {
	if d.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType {
		return rollingUpdateOnly(d, "daemonset", string(d.Spec.UpdateStrategy.Type))
	}
	return nil
}

// DaemonSetRolloutStatus reports how far the rollout of d has got, with the
// rules and sentences of `kubectl rollout status`
// (DaemonSetStatusViewer.Status in k8s.io/kubectl/pkg/polymorphichelpers).
//
// The rules, in order:
//
//   - the update strategy is not RollingUpdate: kubectl refuses to follow
//     it (err);
//   - status.observedGeneration < metadata.generation: the controller has
//     not seen the latest spec yet;
//   - status.updatedNumberScheduled < status.desiredNumberScheduled: nodes
//     still run an old pod and no new one;
//   - status.numberAvailable < status.desiredNumberScheduled: new pods are
//     not available yet;
//   - otherwise the rollout is complete.
//
// msg is kubectl's sentence without its trailing newline. With maxSurge the
// rollout can be done while the old pod of a node is still terminating.
func DaemonSetRolloutStatus(d *appsv1.DaemonSet) (msg string, done bool, err error) {
	if d.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType {
		// kubectl names the StatefulSet's constant here; both are
		// "RollingUpdate".
		return "", false, fmt.Errorf("rollout status is only available for %s strategy type", appsv1.RollingUpdateStatefulSetStrategyType)
	}
	if d.Generation > d.Status.ObservedGeneration {
		return "Waiting for daemon set spec update to be observed...", false, nil
	}
	if d.Status.UpdatedNumberScheduled < d.Status.DesiredNumberScheduled {
		return fmt.Sprintf("Waiting for daemon set %q rollout to finish: %d out of %d new pods have been updated...",
			d.Name, d.Status.UpdatedNumberScheduled, d.Status.DesiredNumberScheduled), false, nil
	}
	if d.Status.NumberAvailable < d.Status.DesiredNumberScheduled {
		return fmt.Sprintf("Waiting for daemon set %q rollout to finish: %d of %d updated pods are available...",
			d.Name, d.Status.NumberAvailable, d.Status.DesiredNumberScheduled), false, nil
	}
	return fmt.Sprintf("daemon set %q successfully rolled out", d.Name), true, nil
}
