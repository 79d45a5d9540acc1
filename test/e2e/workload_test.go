package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/rolltest/rolltest/internal/clustertest"
	"github.com/rolltest/rolltest/pkg/rollout"
	"github.com/rolltest/rolltest/pkg/rollout/kube"
)

// manifestObjects decodes the workload (Deployment, StatefulSet or
// DaemonSet) and the Service of a manifest.
func manifestObjects(t *testing.T, rel string) (runtime.Object, *corev1.Service) {
	t.Helper()
	var wl runtime.Object
	var svc *corev1.Service
	for _, obj := range clustertest.Manifest(t, rel) {
		switch o := obj.(type) {
		case *appsv1.Deployment, *appsv1.StatefulSet, *appsv1.DaemonSet:
			wl = o
		case *corev1.Service:
			svc = o
		default:
			t.Fatalf("%s: unexpected %T", rel, obj)
		}
	}
	if wl == nil || svc == nil || len(svc.Spec.Ports) != 1 {
		t.Fatalf("%s must hold one workload and one Service with one port", rel)
	}
	return wl, svc
}

// workloadOf names a workload object as rolltest reports it.
func workloadOf(obj runtime.Object) rollout.Workload {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return rollout.Workload{Kind: rollout.KindDeployment, Namespace: o.Namespace, Name: o.Name}
	case *appsv1.StatefulSet:
		return rollout.Workload{Kind: rollout.KindStatefulSet, Namespace: o.Namespace, Name: o.Name}
	case *appsv1.DaemonSet:
		return rollout.Workload{Kind: rollout.KindDaemonSet, Namespace: o.Namespace, Name: o.Name}
	}
	panic(fmt.Sprintf("workloadOf(%T)", obj))
}

// serveWorkload creates a StatefulSet or DaemonSet and its Service (on
// nodePort) in ns, waits by watching until `kubectl rollout status` would
// say it is rolled out, then until every one of its pods has answered 200
// through the NodePort. It returns the target URL.
func serveWorkload(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns string, obj runtime.Object, svc *corev1.Service, nodePort int32) string {
	t.Helper()
	svc = svc.DeepCopy()
	svc.Spec.Ports[0].NodePort = nodePort
	start := time.Now()
	var (
		err      error
		w        rollout.Workload
		selector *metav1.LabelSelector
	)
	switch o := obj.DeepCopyObject().(type) {
	case *appsv1.StatefulSet:
		o.Namespace = ns
		w, selector = workloadOf(o), o.Spec.Selector
		_, err = cs.AppsV1().StatefulSets(ns).Create(ctx, o, metav1.CreateOptions{})
	case *appsv1.DaemonSet:
		o.Namespace = ns
		w, selector = workloadOf(o), o.Spec.Selector
		_, err = cs.AppsV1().DaemonSets(ns).Create(ctx, o, metav1.CreateOptions{})
	default:
		t.Fatalf("serveWorkload(%T): use deployServing for Deployments", obj)
	}
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create %s: %v", w, err)
	}
	applyService(ctx, t, cs, ns, svc)
	want := waitRolledOut(ctx, t, cs, w)
	url := clustertest.NodePortURL(int(nodePort), "/common/healthy")
	pods := servingPods(ctx, t, cs, ns, selector, want)
	waitAllServing(ctx, t, url, pods)
	t.Logf("%s rolled out and every pod serving on %s after %v", w, url, time.Since(start).Round(time.Millisecond))
	return url
}

// waitRolledOut watches a StatefulSet or DaemonSet until kubectl's rollout
// status rules say it is rolled out, at most availableTimeout, and returns
// how many pods it then runs.
func waitRolledOut(ctx context.Context, t *testing.T, cs kubernetes.Interface, w rollout.Workload) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, availableTimeout)
	defer cancel()
	var objType runtime.Object
	switch w.Kind {
	case rollout.KindStatefulSet:
		objType = &appsv1.StatefulSet{}
	case rollout.KindDaemonSet:
		objType = &appsv1.DaemonSet{}
	default:
		t.Fatalf("waitRolledOut(%s)", w)
	}
	lw := cache.NewListWatchFromClient(cs.AppsV1().RESTClient(), string(w.Kind)+"s", w.Namespace,
		fields.OneTermEqualSelector("metadata.name", w.Name))
	var (
		last string
		pods int
	)
	_, err := watchtools.UntilWithSync(ctx, lw, objType, nil, func(ev watch.Event) (bool, error) {
		if ev.Type == watch.Deleted {
			return false, fmt.Errorf("%s deleted", w)
		}
		var (
			done bool
			err  error
		)
		switch o := ev.Object.(type) {
		case *appsv1.StatefulSet:
			last, done, err = kube.StatefulSetRolloutStatus(o)
			pods = int(o.Status.ReadyReplicas)
		case *appsv1.DaemonSet:
			last, done, err = kube.DaemonSetRolloutStatus(o)
			pods = int(o.Status.NumberAvailable)
		}
		return done && pods > 0, err
	})
	if err != nil {
		dumpNamespace(t, cs, w.Namespace)
		t.Fatalf("%s not rolled out within %v: %v; last status: %s", w, availableTimeout, err, last)
	}
	return pods
}

// servingPods lists the pods of selector that are not terminating, keyed by
// the identity they answer with, and requires want of them.
func servingPods(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns string, selector *metav1.LabelSelector, want int) map[string]*corev1.Pod {
	t.Helper()
	sel, err := metav1.LabelSelectorAsSelector(selector)
	if err != nil {
		t.Fatalf("selector %v: %v", selector, err)
	}
	list, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		t.Fatalf("list pods %s in %s: %v", sel, ns, err)
	}
	pods := map[string]*corev1.Pod{}
	for i := range list.Items {
		if p := &list.Items[i]; p.DeletionTimestamp == nil {
			pods[podIdentity(p)] = p
		}
	}
	if len(pods) != want {
		t.Fatalf("%s in %s: %d running pods, want %d", sel, ns, len(pods), want)
	}
	return pods
}

// podIdentity is the POD_ID a testapp pod answers with: its name, or its
// UID where the manifest says so (a StatefulSet's replacement pod keeps the
// old one's name).
func podIdentity(p *corev1.Pod) string {
	for _, c := range p.Spec.Containers {
		for _, e := range c.Env {
			if e.Name == "POD_ID" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.uid" {
				return string(p.UID)
			}
		}
	}
	return p.Name
}
