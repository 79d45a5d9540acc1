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

// Names the deployment controller and kubectl use for Deployments, copied
// rather than imported: their home packages (k8s.io/kubectl,
// k8s.io/kubernetes) would pull a large dependency tree into every rolltest
// binary.
const (
	// deploymentRevisionAnnotation records a ReplicaSet's (and its
	// Deployment's) place in the rollout history.
	deploymentRevisionAnnotation = "deployment.kubernetes.io/revision"
	// deploymentTimedOutReason is the Progressing condition's reason once
	// the Deployment exceeded spec.progressDeadlineSeconds.
	deploymentTimedOutReason = "ProgressDeadlineExceeded"
	// podTemplateHashLabel distinguishes the pods (and ReplicaSets) of one
	// pod template from another's.
	podTemplateHashLabel = appsv1.DefaultDeploymentUniqueLabelKey
)

// deploymentKind rolls Deployments, whose pod templates are ReplicaSets.
type deploymentKind struct{ typedKind[*appsv1.Deployment] }

func newDeploymentKind() deploymentKind {
	return deploymentKind{typedKind[*appsv1.Deployment]{
		client: func(cs kubernetes.Interface, ns string) typedClient[*appsv1.Deployment] {
			return cs.AppsV1().Deployments(ns)
		},
		wrap: func(d *appsv1.Deployment) workload { return deployment{d} },
		lw: func(cs kubernetes.Interface, ns string) listWatch {
			c := cs.AppsV1().Deployments(ns)
			return lwOf(&appsv1.Deployment{}, c.List, c.Watch)
		},
	}}
}

func (deploymentKind) revisionResource() string { return "replicasets" }

func (deploymentKind) revisionListWatch(cs kubernetes.Interface, ns string) listWatch {
	c := cs.AppsV1().ReplicaSets(ns)
	return lwOf(&appsv1.ReplicaSet{}, c.List, c.Watch)
}

func (deploymentKind) revision(obj any, owner types.UID) (revision, bool) {
	rs, ok := obj.(*appsv1.ReplicaSet)
	if !ok || !controlledBy(rs, "Deployment", owner) {
		return revision{}, false
	}
	replicas := int32(1)
	if rs.Spec.Replicas != nil {
		replicas = *rs.Spec.Replicas
	}
	hash := rs.Labels[podTemplateHashLabel]
	if hash == "" {
		hash = rs.Spec.Template.Labels[podTemplateHashLabel]
	}
	return revision{
		name:     rs.Name,
		uid:      rs.UID,
		hash:     hash,
		template: rs.Spec.Template.DeepCopy(),
		number:   deploymentRevision(rs),
		replicas: &replicas,
	}, true
}

// podRevision: a Deployment's pods belong to a ReplicaSet, which the pod's
// owner reference names with its UID.
func (deploymentKind) podRevision(pod *corev1.Pod, _ workload) (string, types.UID, bool) {
	ref := metav1.GetControllerOf(pod)
	if ref == nil || ref.Kind != "ReplicaSet" {
		return "", "", false
	}
	return ref.Name, ref.UID, true
}

func (deploymentKind) revisionCreated() rollout.EventKind { return rollout.EventReplicaSetCreated }

func (deploymentKind) tag(e *rollout.Event, rev string) { e.ReplicaSet = rev }

// deployment is an observed Deployment.
type deployment struct{ *appsv1.Deployment }

func (d deployment) template() *corev1.PodTemplateSpec { return &d.Spec.Template }
func (d deployment) selector() *metav1.LabelSelector   { return d.Spec.Selector }
func (d deployment) keepsOld(string) bool              { return false }

func (d deployment) rollable(action rollout.ActionKind) error {
	if d.Spec.Paused && action != rollout.ActionWatch {
		return rollout.SetupErrorf(rollout.InputAction,
			"deployment %s/%s is paused: resume it with `kubectl rollout resume deployment/%s -n %s`, or watch for a rollout started elsewhere",
			d.Namespace, d.Name, d.Name, d.Namespace)
	}
	return nil
}

func (d deployment) status() (string, bool, error) {
	msg, done, err := DeploymentRolloutStatus(d.Deployment)
	if err != nil {
		if pds := d.Spec.ProgressDeadlineSeconds; pds != nil {
			err = fmt.Errorf("%w (progressDeadlineSeconds %d)", err, *pds)
		}
	}
	return msg, done, err
}

// DeploymentRolloutStatus reports how far the rollout of d has got, with
// exactly the rules and sentences of `kubectl rollout status`
// (DeploymentStatusViewer.Status in k8s.io/kubectl/pkg/polymorphichelpers),
// so that rolltest and kubectl never disagree about when a rollout is done.
//
// The rules, in order:
//
//   - status.observedGeneration < metadata.generation: the controller has not
//     seen the latest spec yet, so nothing else in the status can be trusted;
//   - the Progressing condition has reason ProgressDeadlineExceeded: the
//     rollout failed and err says so;
//   - status.updatedReplicas < spec.replicas: new pods are still being created;
//   - status.replicas > status.updatedReplicas: old pods still count against
//     the Deployment (they may be terminating);
//   - status.availableReplicas < status.updatedReplicas: new pods are not
//     available yet (Ready for minReadySeconds);
//   - otherwise the rollout is complete and done is true.
//
// msg is kubectl's sentence without the trailing newline kubectl prints
// (and without the warnings kubectl adds after listing pods). Being done by
// these rules does not mean the old pods are gone: pods that are
// terminating no longer count in status.replicas but can still receive
// traffic until they leave the Service's endpoints.
func DeploymentRolloutStatus(d *appsv1.Deployment) (msg string, done bool, err error) {
	if d.Generation > d.Status.ObservedGeneration {
		return "Waiting for deployment spec update to be observed...", false, nil
	}
	// Like kubectl's GetDeploymentCondition, only the first Progressing
	// condition counts.
	for _, c := range d.Status.Conditions {
		if c.Type != appsv1.DeploymentProgressing {
			continue
		}
		if c.Reason == deploymentTimedOutReason {
			return "", false, fmt.Errorf("deployment %q exceeded its progress deadline", d.Name)
		}
		break
	}
	if d.Spec.Replicas != nil && d.Status.UpdatedReplicas < *d.Spec.Replicas {
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d out of %d new replicas have been updated...",
			d.Name, d.Status.UpdatedReplicas, *d.Spec.Replicas), false, nil
	}
	if d.Status.Replicas > d.Status.UpdatedReplicas {
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d old replicas are pending termination...",
			d.Name, d.Status.Replicas-d.Status.UpdatedReplicas), false, nil
	}
	if d.Status.AvailableReplicas < d.Status.UpdatedReplicas {
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d of %d updated replicas are available...",
			d.Name, d.Status.AvailableReplicas, d.Status.UpdatedReplicas), false, nil
	}
	return fmt.Sprintf("deployment %q successfully rolled out", d.Name), true, nil
}

// deploymentRevision returns the deployment.kubernetes.io/revision
// annotation of a Deployment or ReplicaSet, 0 if absent or malformed.
func deploymentRevision(meta metav1.Object) int64 {
	var rev int64
	if v, ok := meta.GetAnnotations()[deploymentRevisionAnnotation]; ok {
		if _, err := fmt.Sscan(v, &rev); err != nil {
			return 0
		}
	}
	return rev
}
