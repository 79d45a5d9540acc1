package kube

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// What ends a rollout early because the thing it measures went away: the
// workload or its Service deleted (alone or with their namespace), the
// Service no longer selecting the workload's pods, or the API server lost
// for good. Each ends the run with one sentence instead of a wait for the
// rollout timeout.

// DefaultAPIGoneAfter is how long the API server may stay unreachable
// before the driver checks whether it is gone for good. Informers back off
// up to 30 s between retries, so a gap in their view can outlast a short
// outage by that much; the check is a fresh request of the driver's own.
const DefaultAPIGoneAfter = 30 * time.Second

// apiProbeTimeout bounds that fresh request.
const apiProbeTimeout = 5 * time.Second

// namespaceGone reports whether the workload's namespace is being deleted
// or is gone. Without the right to read namespaces (rolltest's Role has
// none: namespaces are cluster-scoped) it reports false and the reason
// names the object alone, which is still true.
func (d *Driver) namespaceGone(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, apiProbeTimeout)
	defer cancel()
	ns, err := d.client.CoreV1().Namespaces().Get(ctx, d.want.Namespace, metav1.GetOptions{})
	if err != nil {
		return apierrors.IsNotFound(err)
	}
	return ns.DeletionTimestamp != nil
}

// watchAPI runs while the informers cannot reach the API server. Once the
// gap is older than apiGoneAfter it sends a request of its own: the
// informers learn late that the server is back (they back off), so only a
// failure of that request as well means the server is gone, and the
// rollout can no longer be followed. It returns when the gap closes, the
// rollout is decided or ctx is done.
func (d *Driver) watchAPI(ctx context.Context) {
	t := time.NewTimer(d.apiGoneAfter)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		d.mu.Lock()
		open := len(d.st.apiDown) > 0 && !d.st.finished
		since := d.st.gapStart
		if !open {
			// Cleared under the lock the processor checks it with, so a
			// gap that opens from now on starts a new watcher.
			d.probing = false
			d.mu.Unlock()
			return
		}
		d.mu.Unlock()
		if wait := d.apiGoneAfter - d.now().Sub(since); wait > 0 {
			t.Reset(wait)
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, apiProbeTimeout)
		_, err := d.kind.get(pctx, d.client, d.want.Namespace, d.want.Name)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if !unreachable(err) {
			// The server answers: the informers will catch up.
			t.Reset(d.apiGoneAfter)
			continue
		}
		d.q.push(item{kind: itemAPIGone, at: d.now(), err: err})
		t.Reset(d.apiGoneAfter)
	}
}

// onAPIGone fails the rollout if the gap that made watchAPI ask is still
// open.
func (s *state) onAPIGone(it item) {
	if s.finished || len(s.apiDown) == 0 {
		return
	}
	s.fail(it.at, fmt.Sprintf("lost the API server: unreachable for %.1f s and a fresh request failed too (%s); the rollout of %s can no longer be followed",
		it.at.Sub(s.gapStart).Seconds(), apiErrorLine(it.err), s.want))
}

// deletedReason is the sentence for what, deleted during the run.
func (s *state) deletedReason(it item, what string) string {
	if it.nsGone {
		return fmt.Sprintf("namespace %s was deleted during the run, and %s with it", s.want.Namespace, what)
	}
	return fmt.Sprintf("%s was deleted during the run", what)
}

// onService ends the rollout when the Service the load goes through is
// deleted or stops selecting the workload's pods: from then on the requests
// measure something else. A workload's own selector cannot change (it is
// immutable in apps/v1), so the Service is the only selector to watch.
func (s *state) onService(it item) {
	svc, ok := it.obj.(*corev1.Service)
	if !ok || svc.Name != s.service {
		return
	}
	name := fmt.Sprintf("service %s/%s", s.want.Namespace, s.service)
	if it.deleted {
		s.fail(it.at, s.deletedReason(it, name))
		return
	}
	if s.wl == nil {
		return
	}
	pods := labels.Set(s.wl.template().Labels)
	if serviceSelects(svc, pods) {
		return
	}
	sel := labels.Set(svc.Spec.Selector).String()
	if sel == "" {
		sel = "none"
	}
	s.fail(it.at, fmt.Sprintf("%s stopped selecting the pods of %s during the run (selector now %s, pod labels %s)",
		name, s.want, sel, pods))
}
