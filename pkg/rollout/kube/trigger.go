package kube

import (
	"github.com/rolltest/rolltest/pkg/rollout"

	"context"
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Roll implements Driver. In KubeRestart and KubeImage mode it patches the
// Deployment the way kubectl does; in KubeWatch mode it waits for someone
// else to change the pod template. Then it waits until the last pod of the
// old ReplicaSets is deleted (Status.Done), the rollout fails or times out
// (Status.Failed), or ctx is done.
//
// An error means the rollout could not be started or watched (the API
// refused the patch, the Deployment is paused, Observe has stopped, ctx is
// done); a rollout that started and then failed is reported in Status with a
// nil error.
func (d *Driver) Roll(ctx context.Context) (rollout.Status, error) {
	first := false
	d.rollOnce.Do(func() { first = true })
	if !first {
		return rollout.Status{}, fmt.Errorf("roll deployment %s/%s: Roll called twice", d.ns, d.name)
	}
	d.mu.Lock()
	observed, watchErr := d.observedOK, d.watchErr
	d.mu.Unlock()
	if !observed {
		return rollout.Status{}, fmt.Errorf("roll deployment %s/%s: Observe has not returned successfully", d.ns, d.name)
	}
	select {
	case <-d.stopped:
		return rollout.Status{}, fmt.Errorf("roll deployment %s/%s: observation already stopped", d.ns, d.name)
	default:
	}

	// The timer starts before the trigger so that RolloutTimeout bounds
	// the whole of Roll, including KubeWatch's wait for someone else.
	var timeout <-chan time.Time
	if d.timeout > 0 {
		t := time.NewTimer(d.timeout)
		defer t.Stop()
		timeout = t.C
	}

	if d.mode != KubeWatch {
		if err := d.trigger(ctx); err != nil {
			return d.status(), err
		}
	}

	for {
		select {
		case <-d.finished:
			return d.status(), nil
		case <-timeout:
			timeout = nil
			// The processor emits rollout.EventRolloutFailed (unless the rollout
			// finished just now) and closes d.finished.
			d.q.push(kubeItem{kind: kubeItemTimeout, at: d.now()})
		case err := <-watchErr:
			// Without the watches the timeline is blind; waiting for the
			// timeout would only hide the cause.
			return d.status(), fmt.Errorf("roll deployment %s/%s: %w", d.ns, d.name, err)
		case <-d.stopped:
			return d.status(), fmt.Errorf("roll deployment %s/%s: observation stopped before the rollout finished", d.ns, d.name)
		case <-ctx.Done():
			return d.status(), fmt.Errorf("roll deployment %s/%s: %w", d.ns, d.name, ctx.Err())
		}
	}
}

// status returns a copy of the rollout's status so far.
func (d *Driver) status() rollout.Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.st.status
}

// trigger patches the Deployment to start the rollout.
//
// The trigger item is queued before the patch is sent, so the processor
// marks the rollout as started before it can see any ReplicaSet the patch
// causes: every ReplicaSet it sees after that is new. If the patch fails, the
// processor records the failure before trigger returns.
func (d *Driver) trigger(ctx context.Context) error {
	deps := d.client.AppsV1().Deployments(d.ns)
	dep, err := deps.Get(ctx, d.name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get deployment %s/%s: %w", d.ns, d.name, err)
	}
	if err := d.preflight(dep); err != nil {
		return err
	}
	at := d.now()
	var (
		patch          []byte
		message        string
		versionByImage bool
	)
	target := dep.Spec.Template.DeepCopy()
	switch d.mode {
	case KubeRestart:
		stamp := at.Format(time.RFC3339)
		if dep.Spec.Template.Annotations[kubeRestartedAtAnnotation] == stamp {
			// kubectl refuses too: the patch would change nothing, so no
			// rollout would start.
			return setupErrorf("deployment %s/%s was restarted within the past second: wait a second and try again", d.ns, d.name)
		}
		patch = restartPatch(stamp)
		if target.Annotations == nil {
			target.Annotations = map[string]string{}
		}
		target.Annotations[kubeRestartedAtAnnotation] = stamp
		message = fmt.Sprintf("kubectl rollout restart: %s=%s", kubeRestartedAtAnnotation, stamp)
	case KubeImage:
		i, err := d.containerIndex(dep)
		if err != nil {
			return err
		}
		patch = setImagePatch(d.container, d.image)
		old := target.Spec.Containers[i].Image
		target.Spec.Containers[i].Image = d.image
		versionByImage = i == 0
		message = fmt.Sprintf("kubectl set image: container %s %s → %s", d.container, old, d.image)
	}
	d.q.push(kubeItem{kind: kubeItemTrigger, at: at, template: target, message: message, versionByImage: versionByImage})

	patched, err := deps.Patch(ctx, d.name, types.StrategicMergePatchType, patch, metav1.PatchOptions{FieldManager: "rolltest"})
	if err != nil {
		err = fmt.Errorf("patch deployment %s/%s: %w", d.ns, d.name, err)
		d.q.push(kubeItem{kind: kubeItemAbort, at: d.now(), message: err.Error()})
		select {
		case <-d.finished:
		case <-d.stopped:
		case <-ctx.Done():
		}
		return err
	}
	d.q.push(kubeItem{kind: kubeItemConfirm, at: d.now(), obj: patched})
	return nil
}

// restartPatch is the strategic merge patch `kubectl rollout restart` sends:
// kubectl computes it as the two-way merge patch between the Deployment and
// a copy carrying the annotation, which is exactly this document.
func restartPatch(stamp string) []byte {
	return mustJSON(map[string]any{
		"spec": map[string]any{
			"template": map[string]any{
				"metadata": map[string]any{
					"annotations": map[string]string{kubeRestartedAtAnnotation: stamp},
				},
			},
		},
	})
}

// setImagePatch is the strategic merge patch `kubectl set image` sends for
// one container: containers merge by name, so the other containers and
// fields are left alone.
func setImagePatch(container, image string) []byte {
	return mustJSON(map[string]any{
		"spec": map[string]any{
			"template": map[string]any{
				"spec": map[string]any{
					"containers": []map[string]string{{"name": container, "image": image}},
				},
			},
		},
	})
}

// mustJSON marshals values built from maps and strings, which cannot fail.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// templatesEqualIgnoreHash reports whether two pod templates are the same
// but for the pod-template-hash label, which is how the deployment controller
// decides that a ReplicaSet belongs to the Deployment's current template.
func templatesEqualIgnoreHash(a, b *corev1.PodTemplateSpec) bool {
	if a == nil || b == nil {
		return false
	}
	a, b = a.DeepCopy(), b.DeepCopy()
	delete(a.Labels, kubePodTemplateHashLabel)
	delete(b.Labels, kubePodTemplateHashLabel)
	if len(a.Labels) == 0 {
		a.Labels = nil
	}
	if len(b.Labels) == 0 {
		b.Labels = nil
	}
	return equalJSON(a, b)
}

// equalJSON compares two API objects by their serialized form, which is
// what the API server stores, so nil and empty collections compare alike.
func equalJSON(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && string(ja) == string(jb)
}

// deploymentRevision returns the deployment.kubernetes.io/revision
// annotation of a Deployment or ReplicaSet, 0 if absent or malformed.
func deploymentRevision(meta metav1.Object) int64 {
	var rev int64
	if v, ok := meta.GetAnnotations()[kubeRevisionAnnotation]; ok {
		if _, err := fmt.Sscan(v, &rev); err != nil {
			return 0
		}
	}
	return rev
}
