package kube

import (
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/rolltest/rolltest/pkg/rollout"
)

// TestKubeObjectsGone: each way the measured objects go away ends the
// rollout with its one sentence.
func TestKubeObjectsGone(t *testing.T) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNS}}
	now := metav1.Now()
	deleting := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNS, DeletionTimestamp: &now}}
	for _, tc := range []struct {
		name   string
		ns     *corev1.Namespace // nil: the namespace is gone
		change func(h *harness, svc *corev1.Service)
		want   string
	}{
		{"deployment deleted", ns, func(h *harness, _ *corev1.Service) {
			h.deleteOrFail(h.cs.AppsV1().Deployments(testNS).Delete(h.ctx(), "testapp", metav1.DeleteOptions{}))
		}, "deployment default/testapp was deleted during the run"},
		{"service deleted", ns, func(h *harness, _ *corev1.Service) {
			h.deleteOrFail(h.cs.CoreV1().Services(testNS).Delete(h.ctx(), "testapp", metav1.DeleteOptions{}))
		}, "service default/testapp was deleted during the run"},
		{"namespace deleting", deleting, func(h *harness, _ *corev1.Service) {
			h.deleteOrFail(h.cs.CoreV1().Services(testNS).Delete(h.ctx(), "testapp", metav1.DeleteOptions{}))
		}, "namespace default was deleted during the run, and service default/testapp with it"},
		{"namespace gone", nil, func(h *harness, _ *corev1.Service) {
			h.deleteOrFail(h.cs.AppsV1().Deployments(testNS).Delete(h.ctx(), "testapp", metav1.DeleteOptions{}))
		}, "namespace default was deleted during the run, and deployment default/testapp with it"},
		{"selector changed", ns, func(h *harness, svc *corev1.Service) {
			svc = svc.DeepCopy()
			svc.Spec.Selector = map[string]string{"app": "other"}
			h.update(svc)
		}, "service default/testapp stopped selecting the pods of deployment default/testapp during the run (selector now app=other, pod labels app.kubernetes.io/name=testapp)"},
		{"selector removed", ns, func(h *harness, svc *corev1.Service) {
			svc = svc.DeepCopy()
			svc.Spec.Selector = nil
			h.update(svc)
		}, "service default/testapp stopped selecting the pods of deployment default/testapp during the run (selector now none, pod labels app.kubernetes.io/name=testapp)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(1, "x:v1")
			svc := f.service("testapp", f.dep.Spec.Template.Labels)
			objs := []runtime.Object{f.dep, svc}
			if tc.ns != nil {
				objs = append(objs, tc.ns)
			}
			h := newHarness(t, Config{}, objs...)
			h.mustObserve()
			h.roll()
			h.waitPatch()
			tc.change(h, svc)
			st, err := h.waitRoll()
			if err != nil || !st.Failed || st.Reason != tc.want {
				t.Errorf("Roll: %v, status %+v\nwant failed: %s", err, st, tc.want)
			}
		})
	}
}

// TestKubeAPIGone: the informers lose the API server and the driver's own
// request fails too: the rollout fails at once instead of waiting for its
// timeout. When the driver's request is answered, the gap stays a gap.
func TestKubeAPIGone(t *testing.T) {
	for _, tc := range []struct {
		name     string
		answered bool
	}{
		{"gone", false},
		{"informers lag", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(1, "x:v1")
			h := newHarness(t, Config{APIGoneAfter: 20 * time.Millisecond, Now: time.Now}, f.dep, f.service("testapp", f.dep.Spec.Template.Labels))
			refused := errors.New(`Get "https://127.0.0.1:1/apis/apps/v1/namespaces/default/deployments/testapp": dial tcp 127.0.0.1:1: connect: connection refused`)
			probes := make(chan struct{}, 16)
			h.mustObserve()
			h.cs.PrependReactor("get", "deployments", func(k8stesting.Action) (bool, runtime.Object, error) {
				select {
				case probes <- struct{}{}:
				default:
				}
				if tc.answered {
					return false, nil, nil
				}
				return true, nil, refused
			})
			h.d.q.push(item{kind: itemAPIDown, at: time.Now(), message: "pods", err: refused})
			if tc.answered {
				// Two probes answered, then the informer is back.
				<-probes
				<-probes
				h.d.q.push(item{kind: itemAPIUp, at: time.Now(), message: "pods"})
				evs := h.waitEvents(1)
				if evs[0].Kind != rollout.EventAPIUnreachable {
					t.Errorf("events:\n%s\nwant the gap only", formatEvents(evs))
				}
				return
			}
			evs := h.waitEvents(2)
			if evs[0].Kind != rollout.EventAPIUnreachable || evs[1].Kind != rollout.EventRolloutFailed {
				t.Fatalf("events:\n%s\nwant api_unreachable, rollout_failed", formatEvents(evs))
			}
			const want = "a fresh request failed too (dial tcp 127.0.0.1:1: connect: connection refused); the rollout of deployment default/testapp can no longer be followed"
			if msg := evs[1].Message; len(msg) < len(want) || msg[len(msg)-len(want):] != want || msg[:len("lost the API server: unreachable for ")] != "lost the API server: unreachable for " {
				t.Errorf("reason %q, want \"lost the API server: unreachable for N s and %s\"", msg, want)
			}
		})
	}
}

func (h *harness) deleteOrFail(err error) {
	h.t.Helper()
	if err != nil {
		h.t.Fatalf("delete: %v", err)
	}
}
