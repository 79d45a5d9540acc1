package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/rolltest/rolltest/pkg/rollout"
)

// Roll implements rollout.Driver. For restart and image it patches the
// workload the way kubectl does; for watch it waits for someone else to
// change the pod template. Then it waits until the last old pod the rollout
// replaces is deleted (Status.Done), the rollout fails or times out
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
		return rollout.Status{}, fmt.Errorf("roll %s: Roll called twice", d.want)
	}
	d.mu.Lock()
	observed, watchErr := d.observedOK, d.watchErr
	d.mu.Unlock()
	if !observed {
		return rollout.Status{}, fmt.Errorf("roll %s: Observe has not returned successfully", d.want)
	}
	select {
	case <-d.stopped:
		return rollout.Status{}, fmt.Errorf("roll %s: observation already stopped", d.want)
	default:
	}

	// The timer starts before the trigger so that RolloutTimeout bounds
	// the whole of Roll, including watch's wait for someone else.
	var timeout <-chan time.Time
	if d.timeout > 0 {
		t := time.NewTimer(d.timeout)
		defer t.Stop()
		timeout = t.C
	}

	if d.action.Kind != rollout.ActionWatch {
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
			// The processor emits EventRolloutFailed (unless the rollout
			// finished just now) and closes d.finished.
			d.q.push(item{kind: itemTimeout, at: d.now()})
		case err := <-watchErr:
			// Without the watches the timeline is blind; waiting for the
			// timeout would only hide the cause.
			return d.status(), fmt.Errorf("roll %s: %w", d.want, err)
		case <-d.stopped:
			return d.status(), fmt.Errorf("roll %s: observation stopped before the rollout finished", d.want)
		case <-ctx.Done():
			return d.status(), fmt.Errorf("roll %s: %w", d.want, ctx.Err())
		}
	}
}

// status returns a copy of the rollout's status so far.
func (d *Driver) status() rollout.Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.st.status
}

// trigger patches the workload to start the rollout.
//
// The trigger item is queued before the patch is sent, so the processor
// marks the rollout as started before it can see any revision the patch
// causes: every revision it sees after that is new. If the patch fails, the
// processor records the failure before trigger returns.
func (d *Driver) trigger(ctx context.Context) error {
	w, err := d.get(ctx)
	if err != nil {
		return err
	}
	if err := d.preflight(w); err != nil {
		return err
	}
	at := d.now()
	var (
		patch          []byte
		message        string
		versionByImage bool
	)
	target := w.template().DeepCopy()
	switch d.action.Kind {
	case rollout.ActionRestart:
		stamp := at.Format(time.RFC3339)
		if w.template().Annotations[restartedAtAnnotation] == stamp {
			// kubectl refuses too: the patch would change nothing, so no
			// rollout would start.
			return rollout.SetupErrorf(rollout.InputAction, "%s was restarted within the past second: wait a second and try again", d.want)
		}
		patch = restartPatch(stamp)
		if target.Annotations == nil {
			target.Annotations = map[string]string{}
		}
		target.Annotations[restartedAtAnnotation] = stamp
		message = fmt.Sprintf("kubectl rollout restart: %s=%s", restartedAtAnnotation, stamp)
	case rollout.ActionImage:
		i, err := d.containerIndex(w)
		if err != nil {
			return err
		}
		patch = setImagePatch(d.action.Container, d.action.Image)
		old := target.Spec.Containers[i].Image
		target.Spec.Containers[i].Image = d.action.Image
		versionByImage = i == 0
		message = fmt.Sprintf("kubectl set image: container %s %s → %s", d.action.Container, old, d.action.Image)
	}
	d.q.push(item{kind: itemTrigger, at: at, template: target, message: message, versionByImage: versionByImage})

	patched, err := d.patchRetrying(ctx, patch)
	if err != nil {
		d.q.push(item{kind: itemAbort, at: d.now(), message: err.Error()})
		select {
		case <-d.finished:
		case <-d.stopped:
		case <-ctx.Done():
		}
		return err
	}
	d.q.push(item{kind: itemConfirm, at: d.now(), obj: patched})
	return nil
}

// How the trigger's patch is retried. Both patches are idempotent (they set
// fields to fixed values), so sending one again after a timeout whose first
// copy did arrive changes nothing.
const (
	// triggerFirstBackoff doubles after each failed attempt, up to
	// triggerMaxBackoff, unless the server asks for a longer wait.
	triggerFirstBackoff = 200 * time.Millisecond
	triggerMaxBackoff   = 5 * time.Second
	// triggerDeadline bounds all the attempts together (or the rollout
	// timeout, when shorter): a control plane that is gone for longer is
	// not a transient failure.
	triggerDeadline = 30 * time.Second
	// triggerAttemptTimeout bounds one attempt, so that a request the API
	// server (or a proxy before it) never answers is retried.
	triggerAttemptTimeout = 10 * time.Second
)

// patchRetrying sends the trigger's patch until the API server accepts it,
// retrying what may pass (no answer, a timeout, 429, a 5xx) with backoff
// and failing at once on any other refusal (forbidden, not found, invalid).
// Each retry is queued as an itemAttempt, so the trigger event can say how
// many attempts it took.
func (d *Driver) patchRetrying(ctx context.Context, patch []byte) (workload, error) {
	limit := triggerDeadline
	if d.timeout > 0 && d.timeout < limit {
		limit = d.timeout
	}
	dctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	backoff := triggerFirstBackoff
	var last error // the latest answer, or failure, of an attempt that ran its course
	giveUp := func(attempts int) error {
		if errors.Is(ctx.Err(), context.Canceled) {
			return fmt.Errorf("patch %s: %w", d.want, ctx.Err())
		}
		// Roll's own deadline (the rollout timeout) counts as ours.
		return fmt.Errorf("patch %s: gave up after %d attempts in %v, the last: %w", d.want, attempts, limit, lineError{last})
	}
	for attempt := 1; ; attempt++ {
		actx, acancel := context.WithTimeout(dctx, triggerAttemptTimeout)
		w, err := d.kind.patch(actx, d.client, d.want.Namespace, d.want.Name, patch)
		acancel()
		if err == nil {
			return w, nil
		}
		if dctx.Err() != nil {
			// The attempt was cut by the deadline: its error says
			// nothing about the API server unless it is the first.
			if last == nil {
				last = err
			}
			return nil, giveUp(attempt)
		}
		if errors.Is(err, context.DeadlineExceeded) {
			// Only this attempt's own bound can have expired.
			err = fmt.Errorf("no answer within %v", triggerAttemptTimeout)
		}
		last = err
		if !retriable(err) {
			return nil, fmt.Errorf("patch %s: %w", d.want, lineError{err})
		}
		wait := backoff
		if s, ok := apierrors.SuggestsClientDelay(err); ok && time.Duration(s)*time.Second > wait {
			wait = time.Duration(s) * time.Second
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-dctx.Done():
			t.Stop()
			return nil, giveUp(attempt)
		}
		d.q.push(item{kind: itemAttempt, at: d.now(), err: err})
		backoff = min(2*backoff, triggerMaxBackoff)
	}
}

// lineError shows an API error as apiErrorLine does (with its status code
// and reason) and keeps it for errors.Is and apierrors.IsForbidden.
type lineError struct{ err error }

func (e lineError) Error() string { return apiErrorLine(e.err) }
func (e lineError) Unwrap() error { return e.err }

// retriable reports whether a failed patch may pass when sent again: it got
// no answer (refused, cut, timed out) or a 429 or 5xx. Any other answer is
// the API server's decision and would be the same again.
func retriable(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false
	}
	var st apierrors.APIStatus
	if errors.As(err, &st) {
		code := st.Status().Code
		return code == http.StatusTooManyRequests || code >= http.StatusInternalServerError
	}
	return true
}

// restartPatch is the strategic merge patch `kubectl rollout restart` sends,
// for every kind: kubectl computes it as the two-way merge patch between the
// workload and a copy carrying the annotation, which is exactly this
// document.
func restartPatch(stamp string) []byte {
	return mustJSON(map[string]any{
		"spec": map[string]any{
			"template": map[string]any{
				"metadata": map[string]any{
					"annotations": map[string]string{restartedAtAnnotation: stamp},
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
// decides that a ReplicaSet belongs to the Deployment's current template. A
// ControllerRevision's template carries no hash label and is compared as is.
func templatesEqualIgnoreHash(a, b *corev1.PodTemplateSpec) bool {
	if a == nil || b == nil {
		return false
	}
	a, b = a.DeepCopy(), b.DeepCopy()
	delete(a.Labels, podTemplateHashLabel)
	delete(b.Labels, podTemplateHashLabel)
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
