package kube

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	"k8s.io/client-go/informers/internalinterfaces"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/rolltest/rolltest/pkg/rollout"
)

// daemonSetKind rolls DaemonSets. Their pod templates are
// ControllerRevisions named <daemonset>-<hash>; each pod's
// controller-revision-hash label holds the hash alone. The controller
// replaces the pod of each node: first the old one (maxUnavailable), or
// first a new one beside it (maxSurge).
type daemonSetKind struct{}

func (daemonSetKind) get(ctx context.Context, cs kubernetes.Interface, ns, name string) (workload, error) {
	d, err := cs.AppsV1().DaemonSets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return daemonSet{d}, nil
}

func (daemonSetKind) patch(ctx context.Context, cs kubernetes.Interface, ns, name string, data []byte) (workload, error) {
	d, err := cs.AppsV1().DaemonSets(ns).Patch(ctx, name, types.StrategicMergePatchType, data, patchOptions())
	if err != nil {
		return nil, err
	}
	return daemonSet{d}, nil
}

func (daemonSetKind) informer(cs kubernetes.Interface, ns string, tweak internalinterfaces.TweakListOptionsFunc) cache.SharedIndexInformer {
	return appsinformers.NewFilteredDaemonSetInformer(cs, ns, 0, cache.Indexers{}, tweak)
}

func (daemonSetKind) asWorkload(obj any) (workload, bool) {
	d, ok := obj.(*appsv1.DaemonSet)
	if !ok {
		return nil, false
	}
	return daemonSet{d}, true
}

func (daemonSetKind) revisionResource() string { return "controllerrevisions" }

func (daemonSetKind) revisionInformer(cs kubernetes.Interface, ns string, tweak internalinterfaces.TweakListOptionsFunc) cache.SharedIndexInformer {
	return appsinformers.NewFilteredControllerRevisionInformer(cs, ns, 0, cache.Indexers{}, tweak)
}

func (daemonSetKind) revision(obj any, owner types.UID) (revision, bool) {
	return controllerRevision(obj, "DaemonSet", owner)
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

func (daemonSetKind) revisionCreated() rollout.EventKind { return rollout.EventRevisionCreated }

func (daemonSetKind) tag(e *rollout.Event, rev string) { e.Revision = rev }

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
