package kube

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
)

// Well-known names the Kubernetes driver reads or writes. They are the
// values kubectl and the deployment controller use, copied here rather than
// imported because their home packages (k8s.io/kubectl, k8s.io/kubernetes)
// would pull a large dependency tree into every rolltest binary.
const (
	// kubeRestartedAtAnnotation is the pod-template annotation that
	// `kubectl rollout restart` sets; any change to the pod template makes
	// the deployment controller create a new ReplicaSet.
	kubeRestartedAtAnnotation = "kubectl.kubernetes.io/restartedAt"
	// kubeRevisionAnnotation records a ReplicaSet's (and its Deployment's)
	// place in the rollout history.
	kubeRevisionAnnotation = "deployment.kubernetes.io/revision"
	// kubeTimedOutReason is the Progressing condition's reason once the
	// Deployment exceeded spec.progressDeadlineSeconds.
	kubeTimedOutReason = "ProgressDeadlineExceeded"
	// kubePodTemplateHashLabel distinguishes the pods (and ReplicaSets) of
	// one pod template from another's.
	kubePodTemplateHashLabel = appsv1.DefaultDeploymentUniqueLabelKey
	// kubeServiceNameLabel ties an EndpointSlice to its Service.
	kubeServiceNameLabel = "kubernetes.io/service-name"
)

// DeploymentRolloutStatus reports how far the rollout of d has got, using
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
// msg is kubectl's sentence without the trailing newline kubectl prints.
// Being done by these rules does not mean the old pods are gone: pods that
// are terminating no longer count in status.replicas but can still receive
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
		if c.Reason == kubeTimedOutReason {
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
