package kube

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/rolltest/rolltest/pkg/rollout"
)

// The StatefulSet and DaemonSet tests play their controllers the way the
// Deployment tests play the deployment controller: ControllerRevisions
// hold the templates, pods carry the controller-revision-hash label and
// the workload itself as controller.

var dbLabels = map[string]string{"app.kubernetes.io/name": "db"}

func podTemplate(labels map[string]string, image string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}},
	}
}

func newStatefulSet(replicas, partition int32) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: testNS, UID: "sts-uid", Generation: 1},
		Spec: appsv1.StatefulSetSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: dbLabels},
			Template: podTemplate(dbLabels, "rolltest.local/testapp:v1"),
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: &partition}},
		},
		Status: appsv1.StatefulSetStatus{ObservedGeneration: 1, Replicas: replicas, ReadyReplicas: replicas,
			CurrentReplicas: replicas, UpdatedReplicas: replicas, CurrentRevision: "db-aaa", UpdateRevision: "db-aaa"},
	}
}

func newDaemonSet() *appsv1.DaemonSet {
	one, zero := intstr.FromInt32(1), intstr.FromInt32(0)
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: testNS, UID: "ds-uid", Generation: 1},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: dbLabels},
			Template: podTemplate(dbLabels, "rolltest.local/testapp:v1"),
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxSurge: &one, MaxUnavailable: &zero}},
		},
		Status: appsv1.DaemonSetStatus{ObservedGeneration: 1, DesiredNumberScheduled: 1, CurrentNumberScheduled: 1,
			UpdatedNumberScheduled: 1, NumberReady: 1, NumberAvailable: 1},
	}
}

// newControllerRevision is the revision a StatefulSet or DaemonSet controller
// stores for tpl: the template as a replacing strategic merge patch.
func newControllerRevision(owner metav1.Object, ownerKind, hash string, number int64, tpl corev1.PodTemplateSpec) *appsv1.ControllerRevision {
	raw, err := json.Marshal(tpl)
	if err != nil {
		panic(err)
	}
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	m["$patch"] = "replace"
	data, _ := json.Marshal(map[string]any{"spec": map[string]any{"template": m}})
	// Each controller has its own label for the hash.
	hashLabel := map[string]string{"StatefulSet": "controller.kubernetes.io/hash", "DaemonSet": appsv1.ControllerRevisionHashLabelKey}[ownerKind]
	labels := map[string]string{hashLabel: hash}
	for k, v := range tpl.Labels {
		labels[k] = v
	}
	return &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{
			Name: owner.GetName() + "-" + hash, Namespace: testNS, UID: types.UID("cr-" + hash), Labels: labels,
			OwnerReferences: []metav1.OwnerReference{controllerRef(ownerKind, owner.GetName(), owner.GetUID())},
		},
		Data:     runtime.RawExtension{Raw: data},
		Revision: number,
	}
}

// ownedPod is a pod of a StatefulSet or DaemonSet: revLabel is what the
// controller writes in controller-revision-hash (a StatefulSet the
// revision's name, a DaemonSet its hash).
func ownedPod(owner metav1.Object, ownerKind, name, uid, revLabel, ip string, ready bool) *corev1.Pod {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	labels := map[string]string{appsv1.ControllerRevisionHashLabelKey: revLabel}
	for k, v := range dbLabels {
		labels[k] = v
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: testNS, UID: types.UID(uid), Labels: labels,
			OwnerReferences: []metav1.OwnerReference{controllerRef(ownerKind, owner.GetName(), owner.GetUID())},
		},
		Status: corev1.PodStatus{PodIP: ip, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}},
	}
}

func dbService() *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: testNS}, Spec: corev1.ServiceSpec{Selector: dbLabels}}
}

// statefulSet returns the StatefulSet as stored, with status set as given.
func (h *harness) statefulSet(generation, observed int64, ready, updated int32) *appsv1.StatefulSet {
	h.t.Helper()
	s, err := h.cs.AppsV1().StatefulSets(testNS).Get(h.ctx(), "db", metav1.GetOptions{})
	if err != nil {
		h.t.Fatal(err)
	}
	s.Generation = generation
	s.Status.ObservedGeneration, s.Status.ReadyReplicas, s.Status.UpdatedReplicas = observed, ready, updated
	return s
}

// daemonSet returns the DaemonSet as stored, with status set as given.
func (h *harness) daemonSet(generation, observed int64, updated, available int32) *appsv1.DaemonSet {
	h.t.Helper()
	d, err := h.cs.AppsV1().DaemonSets(testNS).Get(h.ctx(), "agent", metav1.GetOptions{})
	if err != nil {
		h.t.Fatal(err)
	}
	d.Generation = generation
	d.Status.ObservedGeneration, d.Status.UpdatedNumberScheduled, d.Status.NumberAvailable = observed, updated, available
	return d
}

// TestStatefulSetRestartTimeline restarts a StatefulSet of 2: each old pod
// is deleted before its replacement, which takes its name. The timeline
// must keep the two db-1 apart (by UID), also on the EndpointSlice.
func TestStatefulSetRestartTimeline(t *testing.T) {
	sts := newStatefulSet(2, 0)
	crOld := newControllerRevision(sts, "StatefulSet", "aaa", 1, sts.Spec.Template)
	old0 := ownedPod(sts, "StatefulSet", "db-0", "uid-old-0", "db-aaa", "10.0.0.1", true)
	old1 := ownedPod(sts, "StatefulSet", "db-1", "uid-old-1", "db-aaa", "10.0.0.2", true)
	h := newHarness(t, Config{Workload: rollout.Workload{Kind: rollout.KindStatefulSet, Name: "db"}},
		sts, crOld, old0, old1, dbService(), slice("db", ep{old0, true, true, false}, ep{old1, true, true, false}))
	h.mustObserve()
	if w := h.d.Workload(); w.Service != "db" || w.Kind != rollout.KindStatefulSet || w.Name != "db" {
		t.Errorf("Workload() = %+v", w)
	}

	h.step("trigger", h.roll, "trigger")
	patch := h.waitPatch()
	if want := `{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"2026-03-04T05:06:07Z"}}}}}`; string(patch.GetPatch()) != want ||
		patch.GetResource().Resource != "statefulsets" {
		t.Errorf("patch %s %s, want the restart patch on statefulsets", patch.GetResource().Resource, patch.GetPatch())
	}
	patched, err := h.cs.AppsV1().StatefulSets(testNS).Get(h.ctx(), "db", metav1.GetOptions{})
	if err != nil || patched.Generation != 2 {
		t.Fatalf("after the patch: %v, generation %d", err, patched.Generation)
	}
	crNew := newControllerRevision(sts, "StatefulSet", "bbb", 2, patched.Spec.Template)
	new1 := ownedPod(sts, "StatefulSet", "db-1", "uid-new-1", "db-bbb", "", false)
	new0 := ownedPod(sts, "StatefulSet", "db-0", "uid-new-0", "db-bbb", "", false)

	h.step("spec observed", func() { h.update(h.statefulSet(2, 2, 2, 0)) })
	h.step("new revision", func() { h.create(crNew) }, "revision_created db-bbb new bbb")
	h.step("db-1 terminating", func() { h.update(terminating(old1)) }, "pod_terminating db-1 old aaa")
	h.step("db-1 endpoint not ready", func() {
		h.update(slice("db", ep{old0, true, true, false}, ep{old1, false, true, true}))
	}, "endpoint_not_ready db-1 old aaa")
	h.step("status: one pod not ready", func() { h.update(h.statefulSet(2, 2, 1, 0)) })
	h.step("db-1 deleted", func() { h.deletePod(old1) }, "pod_deleted db-1 old aaa")
	h.step("new db-1", func() { h.create(new1) }, "pod_created db-1 new bbb")
	h.step("new db-1 ready", func() { h.update(withReady(new1, "10.0.0.3", true)) }, "pod_ready db-1 new bbb")
	// The slice swaps the two db-1 in one update: only the old one left.
	h.step("db-1 endpoint swapped", func() {
		h.update(slice("db", ep{old0, true, true, false}, ep{withReady(new1, "10.0.0.3", true), true, true, false}))
	}, "endpoint_removed db-1 old aaa")
	h.step("db-0 terminating", func() { h.update(terminating(old0)) }, "pod_terminating db-0 old aaa")
	h.step("db-0 endpoint gone", func() {
		h.update(slice("db", ep{withReady(new1, "10.0.0.3", true), true, true, false}))
	}, "endpoint_removed db-0 old aaa")
	h.step("db-0 deleted", func() { h.deletePod(old0) }, "pod_deleted db-0 old aaa", "old_pods_gone")
	h.step("new db-0", func() { h.create(new0) }, "pod_created db-0 new bbb")
	h.step("new db-0 ready", func() { h.update(withReady(new0, "10.0.0.4", true)) }, "pod_ready db-0 new bbb")
	h.step("complete", func() { h.update(h.statefulSet(2, 2, 2, 2)) }, "rollout_complete")

	st, err := h.waitRoll()
	if err != nil || !st.Done || st.Failed {
		t.Fatalf("Roll = %+v, %v; want Done", st, err)
	}
	evs := h.waitEvents(0)
	if last := evs[len(evs)-1]; last.Message != "partitioned roll out complete: 2 new pods have been updated..." {
		t.Errorf("rollout_complete message %q", last.Message)
	}
	want := []struct {
		name, uid string
		gen       rollout.Generation
		deleted   bool
	}{
		{"db-0", "uid-old-0", rollout.GenerationOld, true},
		{"db-1", "uid-old-1", rollout.GenerationOld, true},
		{"db-1", "uid-new-1", rollout.GenerationNew, false},
		{"db-0", "uid-new-0", rollout.GenerationNew, false},
	}
	pods := h.d.Pods()
	if len(pods) != len(want) {
		t.Fatalf("Pods() = %+v", pods)
	}
	for i, w := range want {
		p := pods[i]
		if p.Name != w.name || p.UID != w.uid || p.Generation != w.gen || p.Deleted.IsZero() == w.deleted || p.ReplicaSet != "" {
			t.Errorf("pod %d = %+v, want %+v", i, p, w)
		}
		if wantRev := map[rollout.Generation]string{rollout.GenerationOld: "db-aaa", rollout.GenerationNew: "db-bbb"}[w.gen]; p.Revision != wantRev {
			t.Errorf("pod %s/%s revision %q, want %q", p.Name, p.UID, p.Revision, wantRev)
		}
	}
}

// TestStatefulSetPartition rolls only the pods at or above the partition:
// the rollout phase ends when the last of those is gone, while the pods
// below keep the old revision.
func TestStatefulSetPartition(t *testing.T) {
	sts := newStatefulSet(3, 2)
	crOld := newControllerRevision(sts, "StatefulSet", "aaa", 1, sts.Spec.Template)
	var old []*corev1.Pod
	for i := range 3 {
		old = append(old, ownedPod(sts, "StatefulSet", fmt.Sprintf("db-%d", i), fmt.Sprintf("uid-old-%d", i), "db-aaa", fmt.Sprintf("10.0.0.%d", i+1), true))
	}
	h := newHarness(t, Config{Workload: rollout.Workload{Kind: rollout.KindStatefulSet, Name: "db"}, Action: imageAction("app", "rolltest.local/testapp:v2")},
		sts, crOld, old[0], old[1], old[2], dbService())
	h.mustObserve()
	h.step("trigger", h.roll, "trigger")
	h.waitPatch()
	patched, _ := h.cs.AppsV1().StatefulSets(testNS).Get(h.ctx(), "db", metav1.GetOptions{})
	h.step("new revision", func() { h.create(newControllerRevision(sts, "StatefulSet", "bbb", 2, patched.Spec.Template)) }, "revision_created db-bbb new v2")
	h.step("db-2 deleted", func() { h.deletePod(old[2]) }, "pod_deleted db-2 old v1", "old_pods_gone")
	h.step("new db-2", func() { h.create(ownedPod(sts, "StatefulSet", "db-2", "uid-new-2", "db-bbb", "10.0.0.9", true)) },
		"pod_created db-2 new v2", "pod_ready db-2 new v2")
	h.step("complete", func() { h.update(h.statefulSet(2, 2, 3, 1)) }, "rollout_complete")
	if st, err := h.waitRoll(); err != nil || !st.Done {
		t.Fatalf("Roll = %+v, %v; want Done with db-0 and db-1 left at the old revision", st, err)
	}
}

func TestStatefulSetAndDaemonSetRefused(t *testing.T) {
	onDeleteSts := newStatefulSet(2, 0)
	onDeleteSts.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
	onDeleteDs := newDaemonSet()
	onDeleteDs.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}
	tests := []struct {
		name   string
		kind   rollout.WorkloadKind
		obj    runtime.Object
		action rollout.Action
		want   string
	}{
		{"statefulset on delete", rollout.KindStatefulSet, onDeleteSts, watchAction,
			"statefulset default/db uses the OnDelete update strategy: its pods change only when deleted, and `kubectl rollout status` follows RollingUpdate only"},
		{"daemonset on delete", rollout.KindDaemonSet, onDeleteDs, rollout.Action{Kind: rollout.ActionRestart},
			"daemonset default/agent uses the OnDelete update strategy: its pods change only when deleted, and `kubectl rollout status` follows RollingUpdate only"},
		{"partition covers every pod", rollout.KindStatefulSet, newStatefulSet(2, 2), rollout.Action{Kind: rollout.ActionRestart},
			"statefulset default/db has partition 2 and 2 replicas: a rollout would replace no pod"},
		{"missing statefulset", rollout.KindStatefulSet, newDaemonSet(), rollout.Action{Kind: rollout.ActionRestart},
			"statefulset default/db not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := "db"
			if tt.kind == rollout.KindDaemonSet {
				name = "agent"
			}
			h := newHarness(t, Config{Workload: rollout.Workload{Kind: tt.kind, Name: name}, Action: tt.action}, tt.obj, dbService())
			requireSetupError(t, h.observe(), rollout.InputWorkload, tt.want)
		})
	}
}

// TestDaemonSetSurgeTimeline restarts the single pod of a DaemonSet with
// maxSurge 1: the new pod is available before the old one goes, so the
// rollout completes while the old pod still terminates.
func TestDaemonSetSurgeTimeline(t *testing.T) {
	ds := newDaemonSet()
	crOld := newControllerRevision(ds, "DaemonSet", "aaa", 1, ds.Spec.Template)
	old := ownedPod(ds, "DaemonSet", "agent-x1", "uid-old", "aaa", "10.0.0.1", true)
	h := newHarness(t, Config{Workload: rollout.Workload{Kind: rollout.KindDaemonSet, Name: "agent"}},
		ds, crOld, old, dbService(), slice("db", ep{old, true, true, false}))
	h.mustObserve()
	h.step("trigger", h.roll, "trigger")
	if pa := h.waitPatch(); pa.GetResource().Resource != "daemonsets" {
		t.Errorf("patched %s", pa.GetResource().Resource)
	}
	patched, _ := h.cs.AppsV1().DaemonSets(testNS).Get(h.ctx(), "agent", metav1.GetOptions{})
	fresh := ownedPod(ds, "DaemonSet", "agent-y2", "uid-new", "bbb", "", false)
	h.step("spec observed", func() { h.update(h.daemonSet(2, 2, 0, 1)) })
	// The pod can arrive before its revision.
	h.step("new pod first", func() { h.create(fresh) })
	h.step("new revision", func() { h.create(newControllerRevision(ds, "DaemonSet", "bbb", 2, patched.Spec.Template)) },
		"revision_created agent-bbb new bbb", "pod_created agent-y2 new bbb")
	h.step("new pod ready", func() { h.update(withReady(fresh, "10.0.0.2", true)) }, "pod_ready agent-y2 new bbb")
	h.step("complete", func() { h.update(h.daemonSet(2, 2, 1, 1)) }, "rollout_complete")
	h.step("old terminating", func() { h.update(terminating(old)) }, "pod_terminating agent-x1 old aaa")
	h.step("old endpoint removed", func() {
		h.update(slice("db", ep{old, false, false, true}, ep{withReady(fresh, "10.0.0.2", true), true, true, false}))
	}, "endpoint_removed agent-x1 old aaa")
	h.step("old deleted", func() { h.deletePod(old) }, "pod_deleted agent-x1 old aaa", "old_pods_gone")
	st, err := h.waitRoll()
	if err != nil || !st.Done || !st.Complete.Before(st.OldPodsGone) {
		t.Fatalf("Roll = %+v, %v; want Done, complete before the old pod went", st, err)
	}
	evs := h.waitEvents(0)
	for _, e := range evs {
		if e.Kind == rollout.EventRolloutComplete && e.Message != `daemon set "agent" successfully rolled out` {
			t.Errorf("rollout_complete message %q", e.Message)
		}
		if e.Kind == rollout.EventRevisionCreated && e.Message != "revision 2" {
			t.Errorf("revision_created message %q", e.Message)
		}
	}
}

// TestDaemonSetWatch notices a DaemonSet's rollout started by someone else
// from its new ControllerRevision, before the DaemonSet's own update.
func TestDaemonSetWatch(t *testing.T) {
	ds := newDaemonSet()
	crOld := newControllerRevision(ds, "DaemonSet", "aaa", 3, ds.Spec.Template)
	old := ownedPod(ds, "DaemonSet", "agent-x1", "uid-old", "aaa", "10.0.0.1", true)
	h := newHarness(t, Config{Workload: rollout.Workload{Kind: rollout.KindDaemonSet, Name: "agent"}, Action: watchAction, RolloutTimeout: time.Minute},
		ds, crOld, old, dbService())
	h.mustObserve()
	h.roll()
	tpl := podTemplate(dbLabels, "rolltest.local/testapp:v2")
	h.step("new revision first", func() { h.create(newControllerRevision(ds, "DaemonSet", "bbb", 4, tpl)) },
		"trigger", "revision_created agent-bbb new v2")
	if evs := h.waitEvents(0); evs[0].Message != "rollout started by someone else (revision 4)" {
		t.Errorf("trigger message %q", evs[0].Message)
	}
	h.step("daemonset updated", func() {
		d := h.daemonSet(2, 2, 0, 1)
		d.Spec.Template = tpl
		h.update(d)
	})
	h.step("new pod", func() { h.create(ownedPod(ds, "DaemonSet", "agent-y2", "uid-new", "bbb", "10.0.0.2", true)) },
		"pod_created agent-y2 new v2", "pod_ready agent-y2 new v2")
	h.step("complete", func() { h.update(h.daemonSet(2, 2, 1, 1)) }, "rollout_complete")
	h.step("old deleted", func() { h.deletePod(old) }, "pod_deleted agent-x1 old v1", "old_pods_gone")
	if st, err := h.waitRoll(); err != nil || !st.Done {
		t.Fatalf("Roll = %+v, %v", st, err)
	}
}

func TestKeepsOld(t *testing.T) {
	s := statefulSet{newStatefulSet(4, 2)}
	for pod, want := range map[string]bool{"db-0": true, "db-1": true, "db-2": false, "db-3": false, "db-x": false, "other-0": false, "db-": false} {
		if got := s.keepsOld(pod); got != want {
			t.Errorf("partition 2: keepsOld(%q) = %v, want %v", pod, got, want)
		}
	}
	if (statefulSet{newStatefulSet(2, 0)}).keepsOld("db-0") {
		t.Error("partition 0 keeps db-0")
	}
}
