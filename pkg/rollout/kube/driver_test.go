package kube

import (
	"github.com/rolltest/rolltest/pkg/rollout"

	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/rolltest/rolltest/internal/clustertest"
)

// The unit tests drive the driver through client-go's fake clientset: the
// informers list and watch it exactly as they would a cluster, and the test
// plays the deployment controller, the kubelet and the EndpointSlice
// controller by writing objects in a scripted order.

const testNS = "default"

// testClock is a clock that advances by a millisecond on every reading, so
// that event times are distinct and ordered, and stays within one second so
// that the restart annotation is predictable.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock {
	return &testClock{t: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Microsecond)
	return c.t
}

// fixture builds the objects of a Deployment named app with one container.
type fixture struct {
	dep *appsv1.Deployment
}

func newFixture(replicas int32, image string) *fixture {
	labels := map[string]string{"app.kubernetes.io/name": "testapp"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{
			Name: "testapp", Namespace: testNS, UID: "dep-uid", Generation: 1,
			Annotations: map[string]string{deploymentRevisionAnnotation: "1"},
		},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{
					{Name: "app", Image: image},
					{Name: "sidecar", Image: "rolltest.local/sidecar:v1"},
				}},
			},
		},
		Status: appsv1.DeploymentStatus{
			ObservedGeneration: 1, Replicas: replicas, UpdatedReplicas: replicas,
			ReadyReplicas: replicas, AvailableReplicas: replicas,
		},
	}
	return &fixture{dep: dep}
}

func (f *fixture) service(name string, selector map[string]string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNS},
		Spec:       corev1.ServiceSpec{Selector: selector},
	}
}

// rs returns a ReplicaSet of template, as the deployment controller makes it.
func (f *fixture) rs(template *corev1.PodTemplateSpec, hash string, revision int, replicas int32) *appsv1.ReplicaSet {
	tpl := template.DeepCopy()
	tpl.Labels = map[string]string{podTemplateHashLabel: hash}
	for k, v := range template.Labels {
		tpl.Labels[k] = v
	}
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name: "testapp-" + hash, Namespace: testNS, UID: types.UID("rs-" + hash),
			Labels:          tpl.Labels,
			Annotations:     map[string]string{deploymentRevisionAnnotation: fmt.Sprint(revision)},
			OwnerReferences: []metav1.OwnerReference{controllerRef("Deployment", f.dep.Name, f.dep.UID)},
		},
		Spec: appsv1.ReplicaSetSpec{Replicas: &replicas, Selector: f.dep.Spec.Selector, Template: *tpl},
	}
}

func (f *fixture) pod(rs *appsv1.ReplicaSet, suffix, ip string, ready bool) *corev1.Pod {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: rs.Name + "-" + suffix, Namespace: testNS, UID: types.UID("uid-" + rs.Name + "-" + suffix),
			Labels:          rs.Spec.Template.Labels,
			OwnerReferences: []metav1.OwnerReference{controllerRef("ReplicaSet", rs.Name, rs.UID)},
		},
		Spec: rs.Spec.Template.Spec,
		Status: corev1.PodStatus{
			PodIP:      ip,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}},
		},
	}
}

func controllerRef(kind, name string, uid types.UID) metav1.OwnerReference {
	yes := true
	return metav1.OwnerReference{APIVersion: "apps/v1", Kind: kind, Name: name, UID: uid, Controller: &yes}
}

// ep describes one endpoint of a slice: pod, ready, serving, terminating.
type ep struct {
	pod                         *corev1.Pod
	ready, serving, terminating bool
}

func slice(svc string, eps ...ep) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: svc + "-abcde", Namespace: testNS, Labels: map[string]string{serviceNameLabel: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	for _, e := range eps {
		ready, serving, terminating := e.ready, e.serving, e.terminating
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{e.pod.Status.PodIP},
			Conditions: discoveryv1.EndpointConditions{Ready: &ready, Serving: &serving, Terminating: &terminating},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Name: e.pod.Name, UID: e.pod.UID, Namespace: testNS},
		})
	}
	return s
}

// harness runs a Driver against a fake clientset.
type harness struct {
	t        *testing.T
	cs       *fake.Clientset
	d        *Driver
	watches  chan string
	mu       sync.Mutex
	events   []rollout.Event
	notify   chan struct{}
	cancel   context.CancelFunc
	rollDone chan struct{}
	patches  chan k8stesting.PatchAction
	status   rollout.Status
	rollErr  error
}

func newHarness(t *testing.T, cfg Config, objs ...runtime.Object) *harness {
	t.Helper()
	h := &harness{t: t, cs: fake.NewClientset(objs...), watches: make(chan string, 16), notify: make(chan struct{}, 1),
		patches: make(chan k8stesting.PatchAction, 4)}
	// Tell the test when each informer's watch is open: the fake
	// clientset drops changes made between an informer's list and its
	// watch, which a real API server replays from the list's
	// resourceVersion.
	h.cs.PrependWatchReactor("*", func(a k8stesting.Action) (bool, watch.Interface, error) {
		h.watches <- a.GetResource().Resource
		return false, nil, nil
	})
	// The fake applies patches but, unlike the API server, does not bump
	// metadata.generation on a spec change; kubectl's rules depend on it.
	for resource, typed := range map[string]func() runtime.Object{
		"deployments":  func() runtime.Object { return &appsv1.Deployment{} },
		"statefulsets": func() runtime.Object { return &appsv1.StatefulSet{} },
		"daemonsets":   func() runtime.Object { return &appsv1.DaemonSet{} },
	} {
		h.cs.PrependReactor("patch", resource, func(a k8stesting.Action) (bool, runtime.Object, error) {
			pa := a.(k8stesting.PatchAction)
			gvr := appsv1.SchemeGroupVersion.WithResource(resource)
			cur, err := h.cs.Tracker().Get(gvr, pa.GetNamespace(), pa.GetName())
			if err != nil {
				return true, nil, err
			}
			orig, _ := json.Marshal(cur)
			patched, err := strategicpatch.StrategicMergePatch(orig, pa.GetPatch(), typed())
			if err != nil {
				return true, nil, err
			}
			out := typed()
			if err := json.Unmarshal(patched, out); err != nil {
				return true, nil, err
			}
			if spec(out) != spec(cur) {
				m := out.(metav1.Object)
				m.SetGeneration(m.GetGeneration() + 1)
			}
			if err := h.cs.Tracker().Update(gvr, out, pa.GetNamespace()); err != nil {
				return true, nil, err
			}
			h.patches <- pa
			return true, out, nil
		})
	}
	cfg.Clientset = h.cs
	if cfg.Workload.Kind == "" {
		cfg.Workload.Kind = rollout.KindDeployment
	}
	if cfg.Workload.Namespace == "" {
		cfg.Workload.Namespace = testNS
	}
	if cfg.Workload.Name == "" {
		cfg.Workload.Name = "testapp"
	}
	if cfg.Action.Kind == "" {
		cfg.Action.Kind = rollout.ActionRestart
	}
	if cfg.Now == nil {
		cfg.Now = newTestClock().Now
	}
	d, err := NewDriver(cfg)
	if err != nil {
		t.Fatalf("NewDriver: %v", err)
	}
	h.d = d
	return h
}

// spec is the serialized spec of an API object.
func spec(obj runtime.Object) string {
	b, _ := json.Marshal(obj)
	var o struct {
		Spec json.RawMessage `json:"spec"`
	}
	_ = json.Unmarshal(b, &o)
	return string(o.Spec)
}

func (h *harness) observe() error {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.t.Cleanup(cancel)
	return h.d.Observe(ctx, func(e rollout.Event) {
		h.mu.Lock()
		h.events = append(h.events, e)
		h.mu.Unlock()
		select {
		case h.notify <- struct{}{}:
		default:
		}
	})
}

// mustObserve starts observing and waits until all five watches are open.
func (h *harness) mustObserve() {
	h.t.Helper()
	if err := h.observe(); err != nil {
		h.t.Fatalf("Observe: %v", err)
	}
	timeout := time.After(10 * time.Second)
	for seen := 0; seen < 5; seen++ {
		select {
		case <-h.watches:
		case <-timeout:
			h.t.Fatalf("only %d of 5 watches opened", seen)
		}
	}
}

func (h *harness) roll() {
	h.rollDone = make(chan struct{})
	go func() {
		defer close(h.rollDone)
		h.status, h.rollErr = h.d.Roll(context.Background())
	}()
}

func (h *harness) waitRoll() (rollout.Status, error) {
	h.t.Helper()
	select {
	case <-h.rollDone:
		return h.status, h.rollErr
	case <-time.After(10 * time.Second):
		h.t.Fatal("Roll did not return")
		return rollout.Status{}, nil
	}
}

// waitPatch waits for the driver's patch to have been applied.
func (h *harness) waitPatch() k8stesting.PatchAction {
	h.t.Helper()
	select {
	case pa := <-h.patches:
		return pa
	case <-time.After(10 * time.Second):
		h.t.Fatal("no patch sent")
		return nil
	}
}

// waitEvents waits until n events in total have been delivered.
func (h *harness) waitEvents(n int) []rollout.Event {
	h.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		h.mu.Lock()
		got := append([]rollout.Event(nil), h.events...)
		h.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-h.notify:
		case <-deadline:
			h.t.Fatalf("waited for %d events, got %d:\n%s", n, len(got), formatEvents(got))
		}
	}
}

// step runs change and requires exactly the listed events (kind, pod,
// generation) to follow, in that order.
func (h *harness) step(name string, change func(), want ...string) {
	h.t.Helper()
	h.mu.Lock()
	before := len(h.events)
	h.mu.Unlock()
	change()
	got := h.waitEvents(before + len(want))[before:]
	var gotS []string
	for _, e := range got {
		gotS = append(gotS, eventKey(e))
	}
	if strings.Join(gotS, "\n") != strings.Join(want, "\n") {
		h.t.Fatalf("%s: events\n%s\nwant\n%s", name, strings.Join(gotS, "\n"), strings.Join(want, "\n"))
	}
}

func eventKey(e rollout.Event) string {
	s := string(e.Kind)
	if e.Pod != "" {
		s += " " + e.Pod
	} else if e.ReplicaSet != "" {
		s += " " + e.ReplicaSet
	} else if e.Revision != "" {
		s += " " + e.Revision
	}
	if e.Generation != "" {
		s += " " + string(e.Generation)
	}
	if e.Version != "" {
		s += " " + e.Version
	}
	return s
}

func formatEvents(evs []rollout.Event) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "%s %-20s %-26s ip=%-10s rs=%-16s v=%-6s %-3s %s\n",
			e.Time.Format("15:04:05.000000"), e.Kind, e.Pod, e.PodIP, e.ReplicaSet, e.Version, e.Generation, e.Message)
	}
	return b.String()
}

func (h *harness) ctx() context.Context { return context.Background() }

func (h *harness) create(obj runtime.Object) {
	h.t.Helper()
	var err error
	switch o := obj.(type) {
	case *appsv1.ReplicaSet:
		_, err = h.cs.AppsV1().ReplicaSets(testNS).Create(h.ctx(), o, metav1.CreateOptions{})
	case *appsv1.ControllerRevision:
		_, err = h.cs.AppsV1().ControllerRevisions(testNS).Create(h.ctx(), o, metav1.CreateOptions{})
	case *corev1.Pod:
		_, err = h.cs.CoreV1().Pods(testNS).Create(h.ctx(), o, metav1.CreateOptions{})
	case *discoveryv1.EndpointSlice:
		_, err = h.cs.DiscoveryV1().EndpointSlices(testNS).Create(h.ctx(), o, metav1.CreateOptions{})
	default:
		h.t.Fatalf("create %T", obj)
	}
	if err != nil {
		h.t.Fatalf("create: %v", err)
	}
}

func (h *harness) update(obj runtime.Object) {
	h.t.Helper()
	var err error
	switch o := obj.(type) {
	case *appsv1.Deployment:
		_, err = h.cs.AppsV1().Deployments(testNS).Update(h.ctx(), o, metav1.UpdateOptions{})
	case *appsv1.StatefulSet:
		_, err = h.cs.AppsV1().StatefulSets(testNS).Update(h.ctx(), o, metav1.UpdateOptions{})
	case *appsv1.DaemonSet:
		_, err = h.cs.AppsV1().DaemonSets(testNS).Update(h.ctx(), o, metav1.UpdateOptions{})
	case *appsv1.ReplicaSet:
		_, err = h.cs.AppsV1().ReplicaSets(testNS).Update(h.ctx(), o, metav1.UpdateOptions{})
	case *corev1.Pod:
		_, err = h.cs.CoreV1().Pods(testNS).Update(h.ctx(), o, metav1.UpdateOptions{})
	case *discoveryv1.EndpointSlice:
		_, err = h.cs.DiscoveryV1().EndpointSlices(testNS).Update(h.ctx(), o, metav1.UpdateOptions{})
	case *corev1.Service:
		_, err = h.cs.CoreV1().Services(testNS).Update(h.ctx(), o, metav1.UpdateOptions{})
	default:
		h.t.Fatalf("update %T", obj)
	}
	if err != nil {
		h.t.Fatalf("update: %v", err)
	}
}

func (h *harness) deletePod(p *corev1.Pod) {
	h.t.Helper()
	if err := h.cs.CoreV1().Pods(testNS).Delete(h.ctx(), p.Name, metav1.DeleteOptions{}); err != nil {
		h.t.Fatalf("delete pod: %v", err)
	}
}

// deployment returns the Deployment as stored, with status set as given.
func (h *harness) deployment(generation, observed int64, replicas, updated, available int32) *appsv1.Deployment {
	h.t.Helper()
	dep, err := h.cs.AppsV1().Deployments(testNS).Get(h.ctx(), "testapp", metav1.GetOptions{})
	if err != nil {
		h.t.Fatal(err)
	}
	dep.Generation = generation
	dep.Status = appsv1.DeploymentStatus{ObservedGeneration: observed, Replicas: replicas, UpdatedReplicas: updated, AvailableReplicas: available, ReadyReplicas: available}
	return dep
}

func terminating(p *corev1.Pod) *corev1.Pod {
	p = p.DeepCopy()
	now := metav1.Now()
	grace := int64(30)
	p.DeletionTimestamp = &now
	p.DeletionGracePeriodSeconds = &grace
	return p
}

func withReady(p *corev1.Pod, ip string, ready bool) *corev1.Pod {
	p = p.DeepCopy()
	p.Status.PodIP = ip
	p.Status.Conditions[0].Status = corev1.ConditionFalse
	if ready {
		p.Status.Conditions[0].Status = corev1.ConditionTrue
	}
	return p
}

// TestKubeRestartTimeline plays a complete rolling restart of two replicas
// (maxSurge 1, maxUnavailable 0) and checks the patch, every event, the
// status and the pod snapshot.
func TestKubeRestartTimeline(t *testing.T) {
	f := newFixture(2, "rolltest.local/testapp:v1")
	rsOld := f.rs(&f.dep.Spec.Template, "old", 1, 2)
	old1 := f.pod(rsOld, "a", "10.0.0.1", true)
	old2 := f.pod(rsOld, "b", "10.0.0.2", true)
	svc := f.service("testapp", f.dep.Spec.Template.Labels)
	h := newHarness(t, Config{},
		f.dep, rsOld, old1, old2, svc, slice("testapp", ep{old1, true, true, false}, ep{old2, true, true, false}))
	h.mustObserve()
	if n := len(h.waitEvents(0)); n != 0 {
		t.Fatalf("Observe emitted %d events for pre-existing objects", n)
	}
	if got := h.d.Workload().Service; got != "testapp" {
		t.Errorf("Service() = %q, want testapp (found by selector)", got)
	}

	h.step("trigger", h.roll, "trigger")
	patch := h.waitPatch()
	wantPatch := `{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"2026-03-04T05:06:07Z"}}}}}`
	if patch.GetPatchType() != types.StrategicMergePatchType || string(patch.GetPatch()) != wantPatch {
		t.Errorf("patch = %s %s, want %s %s", patch.GetPatchType(), patch.GetPatch(), types.StrategicMergePatchType, wantPatch)
	}
	patched, err := h.cs.AppsV1().Deployments(testNS).Get(h.ctx(), "testapp", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if patched.Generation != 2 {
		t.Fatalf("generation after patch = %d, want 2", patched.Generation)
	}

	rsNew := f.rs(&patched.Spec.Template, "new", 2, 1)
	new1 := f.pod(rsNew, "c", "", false)
	new2 := f.pod(rsNew, "d", "", false)
	// The Deployment's own updates: only the last one satisfies kubectl.
	h.step("spec observed", func() { h.update(h.deployment(2, 2, 2, 0, 2)) })
	h.step("new RS", func() { h.create(rsNew) }, "replicaset_created testapp-new new new")
	h.step("new pod", func() { h.create(new1) }, "pod_created testapp-new-c new new")
	h.step("new pod ready", func() { h.update(withReady(new1, "10.0.0.3", true)) }, "pod_ready testapp-new-c new new")
	h.step("new pod endpoint", func() {
		h.update(slice("testapp", ep{old1, true, true, false}, ep{old2, true, true, false}, ep{withReady(new1, "10.0.0.3", true), true, true, false}))
	})
	h.step("scale old down", func() {
		rs := rsOld.DeepCopy()
		rs.Spec.Replicas = ptr32(1)
		h.update(rs)
	}, "replicaset_scaled testapp-old old old")
	h.step("old pod terminating", func() { h.update(terminating(old1)) }, "pod_terminating testapp-old-a old old")
	h.step("old endpoint not ready", func() {
		h.update(slice("testapp", ep{old1, false, true, true}, ep{old2, true, true, false}, ep{withReady(new1, "10.0.0.3", true), true, true, false}))
	}, "endpoint_not_ready testapp-old-a old old")
	h.step("old pod not ready", func() { h.update(withReady(terminating(old1), "10.0.0.1", false)) }, "pod_not_ready testapp-old-a old old")
	h.step("old endpoint not serving", func() {
		h.update(slice("testapp", ep{old1, false, false, true}, ep{old2, true, true, false}, ep{withReady(new1, "10.0.0.3", true), true, true, false}))
	}, "endpoint_removed testapp-old-a old old")
	h.step("old pod deleted", func() { h.deletePod(old1) }, "pod_deleted testapp-old-a old old")

	// The second pod: the RS scales up before its pod appears; the pod
	// arrives before the old pod goes.
	h.step("scale new up", func() {
		rs := rsNew.DeepCopy()
		rs.Spec.Replicas = ptr32(2)
		h.update(rs)
	}, "replicaset_scaled testapp-new new new")
	h.step("second new pod", func() { h.create(new2) }, "pod_created testapp-new-d new new")
	h.step("second new pod ready", func() { h.update(withReady(new2, "10.0.0.4", true)) }, "pod_ready testapp-new-d new new")
	h.step("scale old to zero", func() {
		rs := rsOld.DeepCopy()
		rs.Spec.Replicas = ptr32(0)
		h.update(rs)
	}, "replicaset_scaled testapp-old old old")
	// The EndpointSlice controller's update can arrive before the pod's.
	h.step("second old endpoint terminating", func() {
		h.update(slice("testapp", ep{old1, false, false, true}, ep{old2, false, true, true},
			ep{withReady(new1, "10.0.0.3", true), true, true, false}, ep{withReady(new2, "10.0.0.4", true), true, true, false}))
	}, "pod_terminating testapp-old-b old old", "endpoint_not_ready testapp-old-b old old")
	h.step("second old pod terminating", func() { h.update(terminating(old2)) })
	// Complete by kubectl's rules while the old pod still terminates.
	h.step("rollout complete", func() { h.update(h.deployment(2, 2, 2, 2, 2)) }, "rollout_complete")
	h.step("second old endpoint gone", func() {
		h.update(slice("testapp", ep{withReady(new1, "10.0.0.3", true), true, true, false}, ep{withReady(new2, "10.0.0.4", true), true, true, false}))
	}, "endpoint_removed testapp-old-b old old")
	h.step("last old pod deleted", func() { h.deletePod(old2) }, "pod_deleted testapp-old-b old old", "old_pods_gone")

	st, err := h.waitRoll()
	if err != nil {
		t.Fatalf("Roll: %v", err)
	}
	if !st.Done || st.Failed || st.Triggered.IsZero() || st.Complete.IsZero() || st.OldPodsGone.IsZero() {
		t.Errorf("status = %+v, want Done with all times set", st)
	}
	if !st.Triggered.Before(st.Complete) || !st.Complete.Before(st.OldPodsGone) {
		t.Errorf("status times out of order: %+v", st)
	}

	evs := h.waitEvents(0)
	for i := 1; i < len(evs); i++ {
		if evs[i].Time.Before(evs[i-1].Time) {
			t.Errorf("event %d (%s) at %v is before event %d at %v", i, evs[i].Kind, evs[i].Time, i-1, evs[i-1].Time)
		}
	}
	for _, e := range evs {
		if e.Pod == "testapp-new-c" && e.Kind == rollout.EventPodReady && e.PodIP != "10.0.0.3" {
			t.Errorf("pod_ready event carries IP %q, want 10.0.0.3", e.PodIP)
		}
		if e.Kind == rollout.EventPodTerminating && e.Pod == "testapp-old-a" && e.Message != "grace period 30s" {
			t.Errorf("terminating message %q", e.Message)
		}
	}
	t.Logf("timeline:\n%s", formatEvents(evs))

	pods := h.d.Pods()
	want := []struct {
		name, ip string
		gen      rollout.Generation
		deleted  bool
	}{
		{"testapp-old-a", "10.0.0.1", rollout.GenerationOld, true},
		{"testapp-old-b", "10.0.0.2", rollout.GenerationOld, true},
		{"testapp-new-c", "10.0.0.3", rollout.GenerationNew, false},
		{"testapp-new-d", "10.0.0.4", rollout.GenerationNew, false},
	}
	if len(pods) != len(want) {
		t.Fatalf("Pods() = %+v", pods)
	}
	for i, w := range want {
		p := pods[i]
		if p.Name != w.name || p.IP != w.ip || p.Generation != w.gen || p.Deleted.IsZero() != !w.deleted {
			t.Errorf("pod %d = %+v, want %+v", i, p, w)
		}
		if wantVersion := strings.Split(w.name, "-")[1]; p.Version != wantVersion {
			t.Errorf("pod %s version %q, want the pod-template-hash %q", p.Name, p.Version, wantVersion)
		}
	}
}

// TestKubeImageTimeline checks the set-image patch and that versions are
// image tags when the first container's image changes.
func TestKubeImageTimeline(t *testing.T) {
	f := newFixture(1, "rolltest.local/testapp:v1")
	rsOld := f.rs(&f.dep.Spec.Template, "old", 1, 1)
	old1 := f.pod(rsOld, "a", "10.0.0.1", true)
	h := newHarness(t, Config{Action: imageAction("app", "rolltest.local/testapp:v2"), Workload: rollout.Workload{Service: "testapp"}},
		f.dep, rsOld, old1, f.service("testapp", f.dep.Spec.Template.Labels), f.service("other", f.dep.Spec.Template.Labels),
		slice("testapp", ep{old1, true, true, false}))
	h.mustObserve()
	if got, want := h.d.Describe(), "set image app=rolltest.local/testapp:v2 on deployment default/testapp"; got != want {
		t.Errorf("Describe() = %q, want %q", got, want)
	}
	h.step("trigger", h.roll, "trigger")
	patch := h.waitPatch().GetPatch()
	if want := `{"spec":{"template":{"spec":{"containers":[{"image":"rolltest.local/testapp:v2","name":"app"}]}}}}`; string(patch) != want {
		t.Errorf("patch = %s, want %s", patch, want)
	}
	patched, _ := h.cs.AppsV1().Deployments(testNS).Get(h.ctx(), "testapp", metav1.GetOptions{})
	if c := patched.Spec.Template.Spec.Containers; len(c) != 2 || c[0].Image != "rolltest.local/testapp:v2" || c[1].Image != "rolltest.local/sidecar:v1" {
		t.Fatalf("containers after patch: %+v", c)
	}
	rsNew := f.rs(&patched.Spec.Template, "new", 2, 1)
	new1 := f.pod(rsNew, "b", "", false)
	h.step("new RS", func() { h.create(rsNew) }, "replicaset_created testapp-new new v2")
	h.step("new pod", func() { h.create(new1) }, "pod_created testapp-new-b new v2")
	h.step("ready", func() { h.update(withReady(new1, "10.0.0.2", true)) }, "pod_ready testapp-new-b new v2")
	h.step("complete", func() { h.update(h.deployment(2, 2, 1, 1, 1)) }, "rollout_complete")
	h.step("old terminating", func() { h.update(terminating(old1)) }, "pod_terminating testapp-old-a old v1")
	h.step("old endpoint", func() {
		h.update(slice("testapp", ep{old1, false, false, true}, ep{withReady(new1, "10.0.0.2", true), true, true, false}))
	}, "endpoint_removed testapp-old-a old v1")
	h.step("old deleted", func() { h.deletePod(old1) }, "pod_deleted testapp-old-a old v1", "old_pods_gone")
	if st, err := h.waitRoll(); err != nil || !st.Done {
		t.Fatalf("Roll = %+v, %v", st, err)
	}
	evs := h.waitEvents(0)
	if !strings.Contains(evs[0].Message, "rolltest.local/testapp:v1 → rolltest.local/testapp:v2") {
		t.Errorf("trigger message %q", evs[0].Message)
	}
}

// TestKubeWatchMode checks that a rollout started by someone else is
// noticed and followed, and that a new ReplicaSet's pods arriving before
// the ReplicaSet itself are still attributed.
func TestKubeWatchMode(t *testing.T) {
	f := newFixture(1, "rolltest.local/testapp:v1")
	rsOld := f.rs(&f.dep.Spec.Template, "old", 3, 1)
	old1 := f.pod(rsOld, "a", "10.0.0.1", true)
	h := newHarness(t, Config{Action: watchAction, RolloutTimeout: time.Minute},
		f.dep, rsOld, old1, f.service("testapp", f.dep.Spec.Template.Labels))
	h.mustObserve()
	h.roll()
	// A scale is a spec change but not a rollout.
	h.step("scale", func() {
		dep := h.deployment(2, 2, 1, 1, 1)
		dep.Spec.Replicas = ptr32(1)
		h.update(dep)
	})
	var dep *appsv1.Deployment
	h.step("someone sets the image", func() {
		dep = h.deployment(3, 2, 1, 1, 1)
		dep.Spec.Template.Spec.Containers[0].Image = "rolltest.local/testapp:v2"
		h.update(dep)
	}, "trigger")
	evs := h.waitEvents(0)
	if want := "rollout started by someone else (revision 4)"; evs[0].Message != want {
		t.Errorf("trigger message %q, want %q", evs[0].Message, want)
	}
	rsNew := f.rs(&dep.Spec.Template, "new", 4, 1)
	new1 := f.pod(rsNew, "b", "10.0.0.2", true)
	h.step("pod before its RS", func() { h.create(new1) })
	h.step("RS", func() { h.create(rsNew) },
		"replicaset_created testapp-new new v2", "pod_created testapp-new-b new v2", "pod_ready testapp-new-b new v2")
	h.step("complete", func() { h.update(h.deployment(3, 3, 1, 1, 1)) }, "rollout_complete")
	h.step("old gone", func() { h.deletePod(old1) }, "pod_deleted testapp-old-a old v1", "old_pods_gone")
	if st, err := h.waitRoll(); err != nil || !st.Done {
		t.Fatalf("Roll = %+v, %v", st, err)
	}
}

func TestKubeWatchModeTimeout(t *testing.T) {
	f := newFixture(1, "rolltest.local/testapp:v1")
	h := newHarness(t, Config{Action: watchAction, RolloutTimeout: 50 * time.Millisecond},
		f.dep, f.service("testapp", f.dep.Spec.Template.Labels))
	h.mustObserve()
	h.roll()
	st, err := h.waitRoll()
	if err != nil {
		t.Fatalf("Roll: %v", err)
	}
	want := "no rollout of deployment default/testapp started within the rollout timeout of 50ms"
	if !st.Failed || st.Done || st.Reason != want {
		t.Errorf("status = %+v, want Failed with reason %q", st, want)
	}
	evs := h.waitEvents(1)
	if evs[0].Kind != rollout.EventRolloutFailed || evs[0].Message != want {
		t.Errorf("event = %+v", evs[0])
	}
}

func TestKubeProgressDeadlineExceeded(t *testing.T) {
	f := newFixture(1, "rolltest.local/testapp:v1")
	rsOld := f.rs(&f.dep.Spec.Template, "old", 1, 1)
	h := newHarness(t, Config{RolloutTimeout: time.Minute},
		f.dep, rsOld, f.pod(rsOld, "a", "10.0.0.1", true), f.service("testapp", f.dep.Spec.Template.Labels))
	h.mustObserve()
	h.step("trigger", h.roll, "trigger")
	h.waitPatch()
	patched, err := h.cs.AppsV1().Deployments(testNS).Get(h.ctx(), "testapp", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rsNew := f.rs(&patched.Spec.Template, "new", 2, 1)
	h.step("new RS", func() { h.create(rsNew) }, "replicaset_created testapp-new new new")
	stuck := f.pod(rsNew, "c", "10.0.0.3", false)
	stuck.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "testapp", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
		Reason: "ErrImageNeverPull", Message: `Container image "rolltest.local/testapp:missing" is not present with pull policy of Never`}}}}
	h.step("new pod", func() { h.create(stuck) }, "pod_created testapp-new-c new new")
	h.step("deadline", func() {
		dep := h.deployment(2, 2, 2, 1, 1)
		dep.Spec.ProgressDeadlineSeconds = ptrInt32(600)
		dep.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: "False", Reason: deploymentTimedOutReason}}
		h.update(dep)
	}, "rollout_failed", "pod_stuck testapp-new-c new new")
	st, err := h.waitRoll()
	want := `deployment "testapp" exceeded its progress deadline (progressDeadlineSeconds 600)`
	if err != nil || !st.Failed || st.Reason != want {
		t.Errorf("Roll = %+v, %v; want Failed with reason %q", st, err, want)
	}
	evs := h.waitEvents(0)
	last := evs[len(evs)-1]
	wantState := `container testapp waiting: ErrImageNeverPull: Container image "rolltest.local/testapp:missing" is not present with pull policy of Never`
	if last.Kind != rollout.EventPodStuck || last.Message != wantState {
		t.Errorf("last event %+v, want pod_stuck with %q", last, wantState)
	}
}

// TestPodState: the one line a failed rollout gives for each stuck pod.
func TestPodState(t *testing.T) {
	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(time.Date(2026, 12, 2, 17, 4, 5, 0, time.UTC))}}
	for _, tc := range []struct {
		name string
		pod  corev1.PodStatus
		want string
	}{
		{"image", corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: "Back-off pulling image \"web:v9\""}}}}},
			`container app waiting: ImagePullBackOff: Back-off pulling image "web:v9"`},
		{"crash loop", corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "app", RestartCount: 4, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 40s restarting failed container"}}}}},
			"container app waiting: CrashLoopBackOff, restarted 4 times: back-off 40s restarting failed container"},
		{"init container first", corev1.PodStatus{
			InitContainerStatuses: []corev1.ContainerStatus{{Name: "migrate", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 2}}}},
			ContainerStatuses:     []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}}}},
			"container migrate terminated: Error (exit code 2)"},
		{"probe failing", corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "app", State: running, RestartCount: 1}}},
			"container app running since 17:04:05 but not Ready (its readiness probe is not passing), restarted 1 times"},
		{"unschedulable", corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Message: "0/1 nodes are available: 1 Insufficient cpu."}}},
			"not scheduled: 0/1 nodes are available: 1 Insufficient cpu."},
		{"creating", corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}}},
			"phase Pending"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := podState(&corev1.Pod{Status: tc.pod}); got != tc.want {
				t.Errorf("podState = %q, want %q", got, tc.want)
			}
		})
	}
}

func ptrInt32(v int32) *int32 { return &v }

func TestKubePausedRefused(t *testing.T) {
	want := "deployment default/testapp is paused: resume it with `kubectl rollout resume deployment/testapp -n default`, or watch for a rollout started elsewhere"
	for _, action := range []rollout.Action{{Kind: rollout.ActionRestart}, imageAction("app", "x:v2")} {
		f := newFixture(1, "rolltest.local/testapp:v1")
		f.dep.Spec.Paused = true
		h := newHarness(t, Config{Action: action}, f.dep, f.service("testapp", f.dep.Spec.Template.Labels))
		requireSetupError(t, h.observe(), rollout.InputAction, want)
	}

	// Watching a paused Deployment is fine: someone may resume it.
	f := newFixture(1, "rolltest.local/testapp:v1")
	f.dep.Spec.Paused = true
	newHarness(t, Config{Action: watchAction}, f.dep, f.service("testapp", f.dep.Spec.Template.Labels)).mustObserve()

	// Paused between Observe and Roll: Roll refuses and sends no patch.
	f = newFixture(1, "rolltest.local/testapp:v1")
	h := newHarness(t, Config{}, f.dep, f.service("testapp", f.dep.Spec.Template.Labels))
	h.mustObserve()
	dep := h.deployment(1, 1, 1, 1, 1)
	dep.Spec.Paused = true
	h.update(dep)
	_, err := h.d.Roll(context.Background())
	requireSetupError(t, err, rollout.InputAction, want)
	for _, a := range h.cs.Actions() {
		if a.GetVerb() == "patch" {
			t.Errorf("patch sent to a paused deployment")
		}
	}
}

// requireSetupError fails the test unless err is a *rollout.SetupError
// about in with message want.
func requireSetupError(t *testing.T, err error, in rollout.Input, want string) {
	t.Helper()
	var se *rollout.SetupError
	if !errors.As(err, &se) || se.Input != in || err.Error() != want {
		t.Errorf("error %#v (%v), want a setup error about the %s: %q", err, err, in, want)
	}
}

var watchAction = rollout.Action{Kind: rollout.ActionWatch}

func imageAction(container, image string) rollout.Action {
	return rollout.Action{Kind: rollout.ActionImage, Container: container, Image: image}
}

func TestKubeImageModeErrors(t *testing.T) {
	tests := []struct {
		action rollout.Action
		want   string
	}{
		{imageAction("web", "x:v2"), `deployment default/testapp has no container "web" (containers: app, sidecar)`},
		{imageAction("app", "rolltest.local/testapp:v1"), "nothing to roll out: container app of deployment default/testapp already runs image rolltest.local/testapp:v1"},
	}
	for _, tt := range tests {
		f := newFixture(1, "rolltest.local/testapp:v1")
		h := newHarness(t, Config{Action: tt.action}, f.dep, f.service("testapp", f.dep.Spec.Template.Labels))
		requireSetupError(t, h.observe(), rollout.InputAction, tt.want)
	}
}

func TestKubeServiceDiscovery(t *testing.T) {
	podLabels := map[string]string{"app.kubernetes.io/name": "testapp"}
	tests := []struct {
		name     string
		flag     string
		services map[string]map[string]string // name → selector
		want     string                       // service, or error text
		wantErr  bool
	}{
		{name: "none", services: map[string]map[string]string{"other": {"app": "other"}, "headless": nil},
			want: "no service in namespace default selects the pods of deployment testapp (labels app.kubernetes.io/name=testapp): name the one to watch", wantErr: true},
		{name: "one", services: map[string]map[string]string{"web": podLabels, "other": {"app": "other"}}, want: "web"},
		{name: "broader selector still matches", services: map[string]map[string]string{"all": {}, "web": {"app.kubernetes.io/name": "testapp"}}, want: "web"},
		{name: "ambiguous", services: map[string]map[string]string{"b": podLabels, "a": podLabels},
			want: "services a, b in namespace default all select the pods of deployment testapp: choose one", wantErr: true},
		{name: "flag resolves ambiguity", flag: "b", services: map[string]map[string]string{"b": podLabels, "a": podLabels}, want: "b"},
		{name: "flag names a missing service", flag: "nope", services: map[string]map[string]string{"a": podLabels},
			want: "service default/nope not found", wantErr: true},
		{name: "flag names a service of other pods", flag: "other", services: map[string]map[string]string{"other": {"app": "other"}},
			want: "service default/other does not select the pods of deployment testapp (selector app=other, pod labels app.kubernetes.io/name=testapp)", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(1, "x:v1")
			objs := []runtime.Object{f.dep}
			for name, sel := range tt.services {
				objs = append(objs, f.service(name, sel))
			}
			h := newHarness(t, Config{Workload: rollout.Workload{Service: tt.flag}}, objs...)
			err := h.observe()
			if tt.wantErr {
				requireSetupError(t, err, rollout.InputService, tt.want)
				return
			}
			if err != nil {
				t.Fatalf("Observe: %v", err)
			}
			if got := h.d.Workload().Service; got != tt.want {
				t.Errorf("service %q, want %q", got, tt.want)
			}
		})
	}
}

func TestKubeDeploymentNotFound(t *testing.T) {
	h := newHarness(t, Config{Workload: rollout.Workload{Name: "missing"}})
	requireSetupError(t, h.observe(), rollout.InputWorkload, "deployment default/missing not found")
}

// TestKubePatchForbidden checks that a refused patch is reported as an
// error, recorded on the timeline, and wrapped with what was being done.
func TestKubePatchForbidden(t *testing.T) {
	f := newFixture(1, "x:v1")
	h := newHarness(t, Config{}, f.dep, f.service("testapp", f.dep.Spec.Template.Labels))
	h.cs.PrependReactor("patch", "deployments", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "deployments"}, "testapp", fmt.Errorf("cannot patch"))
	})
	h.mustObserve()
	t0 := time.Now()
	st, err := h.d.Roll(context.Background())
	// Refused, so not retried: at once.
	if err == nil || err.Error() != `patch deployment default/testapp: 403 Forbidden: deployments.apps "testapp" is forbidden: cannot patch` ||
		!apierrors.IsForbidden(err) || time.Since(t0) > triggerFirstBackoff {
		t.Fatalf("Roll error %v", err)
	}
	if !st.Failed || st.Reason != err.Error() {
		t.Errorf("status %+v", st)
	}
	evs := h.waitEvents(2)
	if evs[0].Kind != rollout.EventTrigger || evs[1].Kind != rollout.EventRolloutFailed {
		t.Errorf("events:\n%s", formatEvents(evs))
	}
}

// TestKubePatchRetried: two 503s, then the patch passes; the trigger event
// says it took three attempts and the rollout goes on.
func TestKubePatchRetried(t *testing.T) {
	f := newFixture(1, "x:v1")
	h := newHarness(t, Config{}, f.dep, f.service("testapp", f.dep.Spec.Template.Labels))
	failures := 2
	h.cs.PrependReactor("patch", "deployments", func(k8stesting.Action) (bool, runtime.Object, error) {
		if failures == 0 {
			return false, nil, nil
		}
		failures--
		return true, nil, apierrors.NewServiceUnavailable("etcd leader changed")
	})
	h.mustObserve()
	h.roll()
	h.waitPatch()
	evs := h.waitEvents(1)
	want := "(attempt 3; the earlier ones failed: 503 ServiceUnavailable: etcd leader changed)"
	if evs[0].Kind != rollout.EventTrigger || !strings.HasSuffix(evs[0].Message, want) {
		t.Errorf("first event %+v, want the trigger ending %q", evs[0], want)
	}
}

// TestKubePatchGivesUp: a patch that keeps timing out (504) is retried until
// the rollout timeout, then fails the rollout with the last answer.
func TestKubePatchGivesUp(t *testing.T) {
	f := newFixture(1, "x:v1")
	h := newHarness(t, Config{RolloutTimeout: time.Second}, f.dep, f.service("testapp", f.dep.Spec.Template.Labels))
	calls := 0
	h.cs.PrependReactor("patch", "deployments", func(k8stesting.Action) (bool, runtime.Object, error) {
		calls++
		return true, nil, apierrors.NewTimeoutError("request did not complete", 0)
	})
	h.mustObserve()
	st, err := h.d.Roll(context.Background())
	wantErr := fmt.Sprintf("patch deployment default/testapp: gave up after %d attempts in 1s, the last: 504 Timeout: Timeout: request did not complete", calls)
	if err == nil || err.Error() != wantErr || calls < 3 {
		t.Fatalf("Roll error %v after %d calls, want %q", err, calls, wantErr)
	}
	if !st.Failed || st.Reason != err.Error() {
		t.Errorf("status %+v", st)
	}
}

// TestKubeAPIGapEvent: the gap opens with the first informer that loses the
// API server and closes, as one event, when the last one is back.
func TestKubeAPIGapEvent(t *testing.T) {
	f := newFixture(1, "x:v1")
	h := newHarness(t, Config{}, f.dep, f.service("testapp", f.dep.Spec.Template.Labels))
	h.mustObserve()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	refused := errors.New(`Get "https://127.0.0.1:1/api/v1/pods": dial tcp 127.0.0.1:1: connect: connection refused`)
	h.d.q.push(item{kind: itemAPIDown, at: t0, message: "pods", err: refused})
	h.d.q.push(item{kind: itemAPIDown, at: t0.Add(time.Second), message: "deployments", err: refused})
	h.d.q.push(item{kind: itemAPIUp, at: t0.Add(4 * time.Second), message: "pods"})
	h.d.q.push(item{kind: itemAPIUp, at: t0.Add(4800 * time.Millisecond), message: "deployments"})
	evs := h.waitEvents(1)
	want := "API server unreachable 4.8 s; events in this span may be missing (dial tcp 127.0.0.1:1: connect: connection refused)"
	if len(evs) != 1 || evs[0].Kind != rollout.EventAPIUnreachable || !evs[0].Time.Equal(t0) || evs[0].Message != want {
		t.Errorf("events:\n%s\nwant one api_unreachable at %v: %s", formatEvents(evs), t0, want)
	}
}

func TestKubeRollContextCancelled(t *testing.T) {
	f := newFixture(1, "x:v1")
	h := newHarness(t, Config{Action: watchAction}, f.dep, f.service("testapp", f.dep.Spec.Template.Labels))
	h.mustObserve()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.d.Roll(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Roll error %v, want context.Canceled", err)
	}
	// Cancelling Observe's context stops the observation.
	h.cancel()
	select {
	case <-h.d.stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("processor did not stop")
	}
}

func TestKubeRollBeforeObserve(t *testing.T) {
	d, err := NewDriver(Config{Clientset: fake.NewClientset(), Workload: rollout.Workload{Kind: rollout.KindDeployment, Namespace: "ns", Name: "d"},
		Action: rollout.Action{Kind: rollout.ActionRestart}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Roll(context.Background()); err == nil {
		t.Error("Roll before Observe succeeded")
	}
}

func TestNewDriverValidation(t *testing.T) {
	cs := fake.NewClientset()
	restart := rollout.Action{Kind: rollout.ActionRestart}
	wl := func(kind rollout.WorkloadKind, ns, name string) rollout.Workload {
		return rollout.Workload{Kind: kind, Namespace: ns, Name: name}
	}
	tests := []struct {
		cfg   Config
		input rollout.Input // "" for a plain error
		want  string
	}{
		{Config{Clientset: cs, Workload: wl(rollout.KindDeployment, "", "d"), Action: restart}, rollout.InputNamespace, "no namespace given"},
		{Config{Clientset: cs, Workload: wl(rollout.KindDeployment, "n", ""), Action: restart}, rollout.InputWorkload, "no workload name given"},
		{Config{Clientset: cs, Workload: wl("cronjob", "n", "d"), Action: restart}, rollout.InputWorkload, `unknown workload kind "cronjob": want deployment, statefulset or daemonset`},
		{Config{Clientset: cs, Workload: wl(rollout.KindDeployment, "n", "d")}, rollout.InputAction, "no rollout action given: want restart, image=CONTAINER=IMAGE or watch"},
		{Config{Clientset: cs, Workload: wl(rollout.KindDeployment, "n", "d"), Action: rollout.Action{Kind: rollout.ActionImage, Image: "x:v2"}}, rollout.InputAction, "an image rollout needs CONTAINER=IMAGE, e.g. image=app=registry/app:v2"},
		{Config{Clientset: cs, Workload: wl(rollout.KindDeployment, "n", "d"), Action: restart, RolloutTimeout: -time.Second}, "", "rollout timeout -1s is negative"},
		{Config{Workload: wl(rollout.KindStatefulSet, "n", "d"), Action: restart}, "", "kube driver for statefulset n/d: neither a clientset nor a REST config given"},
	}
	for _, tt := range tests {
		_, err := NewDriver(tt.cfg)
		if tt.input != "" {
			requireSetupError(t, err, tt.input, tt.want)
		} else if err == nil || err.Error() != tt.want {
			t.Errorf("NewDriver(%+v) error %v, want %q", tt.cfg, err, tt.want)
		}
	}
	for _, tt := range []struct {
		kind   rollout.WorkloadKind
		action rollout.Action
		want   string
	}{
		{rollout.KindDeployment, restart, "restart deployment n/d"},
		{"sts", restart, "restart statefulset n/d"},
		{rollout.KindDaemonSet, imageAction("app", "x:v2"), "set image app=x:v2 on daemonset n/d"},
		{rollout.KindStatefulSet, watchAction, "watch statefulset n/d for a rollout started elsewhere"},
	} {
		d, err := NewDriver(Config{Clientset: cs, Workload: wl(tt.kind, "n", "d"), Action: tt.action})
		if err != nil {
			t.Fatal(err)
		}
		if got := d.Describe(); got != tt.want {
			t.Errorf("Describe() = %q, want %q", got, tt.want)
		}
		if d.Action() != tt.action.Kind {
			t.Errorf("Action() = %q, want %q", d.Action(), tt.action.Kind)
		}
		if w := d.Workload(); w.Service != "" || w.Name != "d" || w.Namespace != "n" {
			t.Errorf("Workload() before Observe = %+v", w)
		}
	}
}

func TestImageTag(t *testing.T) {
	for image, want := range map[string]string{
		"rolltest.local/testapp:v2":         "v2",
		"localhost:5000/testapp":            "latest",
		"localhost:5000/testapp:v3":         "v3",
		"nginx":                             "latest",
		"nginx@sha256:0123456789abcdef0123": "sha256:0123456789ab",
		"":                                  "",
	} {
		if got := imageTag(image); got != want {
			t.Errorf("imageTag(%q) = %q, want %q", image, got, want)
		}
	}
}

func TestRESTConfigAndDefaultNamespace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config")
	kubeconfig := `apiVersion: v1
kind: Config
clusters:
- name: one
  cluster: {server: "https://127.0.0.1:6443"}
- name: two
  cluster: {server: "https://127.0.0.2:6443"}
users:
- name: u
  user: {token: "t"}
contexts:
- name: first
  context: {cluster: one, user: u}
- name: second
  context: {cluster: two, user: u, namespace: apps}
current-context: first
`
	if err := os.WriteFile(path, []byte(kubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", path)
	for _, tt := range []struct {
		explicit, context, host, ns string
	}{
		{"", "", "https://127.0.0.1:6443", "default"},
		{"", "second", "https://127.0.0.2:6443", "apps"},
		{path, "second", "https://127.0.0.2:6443", "apps"},
	} {
		cfg, err := RESTConfig(tt.explicit, tt.context)
		if err != nil {
			t.Fatalf("RESTConfig(%q, %q): %v", tt.explicit, tt.context, err)
		}
		if cfg.Host != tt.host || cfg.BearerToken != "t" {
			t.Errorf("RESTConfig(%q, %q) host %q token %q", tt.explicit, tt.context, cfg.Host, cfg.BearerToken)
		}
		ns, err := DefaultNamespace(tt.explicit, tt.context)
		if err != nil || ns != tt.ns {
			t.Errorf("DefaultNamespace(%q, %q) = %q, %v; want %q", tt.explicit, tt.context, ns, err, tt.ns)
		}
	}
	if _, err := RESTConfig("", "nope"); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("unknown context: error %v", err)
	}
}

// TestUnsafeManifest pins what makes manifests/testapp-unsafe.yaml unsafe,
// so that nobody "fixes" it by accident.
func TestUnsafeManifest(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "..", "manifests", "testapp-unsafe.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := clustertest.DecodeManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 {
		t.Fatalf("%d objects, want a Deployment and a Service", len(objs))
	}
	dep, ok1 := objs[0].(*appsv1.Deployment)
	svc, ok2 := objs[1].(*corev1.Service)
	if !ok1 || !ok2 {
		t.Fatalf("objects %T, %T; want Deployment, Service", objs[0], objs[1])
	}
	labels := map[string]string{"app.kubernetes.io/name": "testapp-unsafe"}
	spec := dep.Spec.Template.Spec
	c := spec.Containers[0]
	ru := dep.Spec.Strategy.RollingUpdate
	switch {
	case dep.Name != "testapp-unsafe" || !equalJSON(dep.Spec.Selector.MatchLabels, labels) || !equalJSON(dep.Spec.Template.Labels, labels):
		t.Errorf("deployment name/labels: %s %v", dep.Name, dep.Spec.Template.Labels)
	case *dep.Spec.Replicas != 2 || ru == nil || ru.MaxSurge.IntValue() != 1 || ru.MaxUnavailable.IntValue() != 0:
		t.Errorf("replicas %d, rolling update %+v", *dep.Spec.Replicas, ru)
	case len(spec.Containers) != 1 || c.Image != "rolltest.local/testapp:v1" || c.ImagePullPolicy != corev1.PullNever:
		t.Errorf("container %s %s", c.Image, c.ImagePullPolicy)
	case strings.Join(c.Args, " ") != "--exit-on-sigterm --startup-delay=3s":
		t.Errorf("args %q", c.Args)
	case c.ReadinessProbe != nil || c.Lifecycle != nil || *spec.TerminationGracePeriodSeconds != 1:
		t.Errorf("must have no readiness probe, no preStop and a 1 s grace period")
	case len(c.Env) != 3 || fieldEnv(c.Env, "POD_ID") != "metadata.name" || fieldEnv(c.Env, "POD_IP") != "status.podIP" ||
		!slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "ADMIN_ADDR" && e.Value == ":8081" }):
		t.Errorf("env %+v", c.Env)
	case svc.Name != "testapp-unsafe" || svc.Spec.Type != corev1.ServiceTypeNodePort || !equalJSON(svc.Spec.Selector, labels) ||
		len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 80 || svc.Spec.Ports[0].NodePort != 30090 ||
		svc.Spec.Ports[0].TargetPort.String() != "http" || c.Ports[0].Name != "http" || c.Ports[0].ContainerPort != 8080:
		t.Errorf("service %+v", svc.Spec)
	}
}

// fieldEnv returns the downward-API field path of the variable name, or "".
func fieldEnv(env []corev1.EnvVar, name string) string {
	for _, e := range env {
		if e.Name == name && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			return e.ValueFrom.FieldRef.FieldPath
		}
	}
	return ""
}
