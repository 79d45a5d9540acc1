package kube

import (
	"github.com/rolltest/rolltest/pkg/rollout"

	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/rolltest/rolltest/internal/clustertest"
)

// The integration tests run the driver against the in-repo cluster
// (`make cluster-up`): each deploys a reference manifest (testapp as a
// Deployment, StatefulSet or DaemonSet) in a namespace of its own, rolls it,
// and checks the timeline the real controllers, kubelet and EndpointSlice
// controller produced. They skip when the cluster is not running (and fail
// under ROLLTEST_E2E=1).

const integrationTimeout = 4 * time.Minute

// manifestOf is the reference manifest of each kind, and its replicas.
var manifestOf = map[rollout.WorkloadKind]struct {
	path     string
	replicas int
}{
	rollout.KindDeployment:  {"manifests/testapp.yaml", 2},
	rollout.KindStatefulSet: {"manifests/testapp-statefulset.yaml", 2},
	// One node, one pod.
	rollout.KindDaemonSet: {"manifests/testapp-daemonset.yaml", 1},
}

// deployManifest creates the workload and Service of the manifest at rel in
// ns and waits until the workload is rolled out. The Service's NodePort is
// left to the API server: NodePorts are cluster-wide, and these tests send
// no load.
func deployManifest(t *testing.T, cs kubernetes.Interface, ns, rel string) rollout.Workload {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var w rollout.Workload
	for _, obj := range clustertest.Manifest(t, rel) {
		var err error
		switch o := obj.(type) {
		case *corev1.Service:
			for i := range o.Spec.Ports {
				o.Spec.Ports[i].NodePort = 0
			}
			_, err = cs.CoreV1().Services(ns).Create(ctx, o, metav1.CreateOptions{})
		case *appsv1.Deployment:
			w = rollout.Workload{Kind: rollout.KindDeployment, Namespace: ns, Name: o.Name}
			_, err = cs.AppsV1().Deployments(ns).Create(ctx, o, metav1.CreateOptions{})
		case *appsv1.StatefulSet:
			w = rollout.Workload{Kind: rollout.KindStatefulSet, Namespace: ns, Name: o.Name}
			_, err = cs.AppsV1().StatefulSets(ns).Create(ctx, o, metav1.CreateOptions{})
		case *appsv1.DaemonSet:
			w = rollout.Workload{Kind: rollout.KindDaemonSet, Namespace: ns, Name: o.Name}
			_, err = cs.AppsV1().DaemonSets(ns).Create(ctx, o, metav1.CreateOptions{})
		default:
			t.Fatalf("%s: unexpected %T", rel, obj)
		}
		if err != nil {
			t.Fatalf("%s: create %T: %v", rel, obj, err)
		}
	}
	if w.Name == "" {
		t.Fatalf("%s holds no workload", rel)
	}
	waitRolledOut(ctx, t, cs, w)
	return w
}

// waitRolledOut waits, on a watch, until kubectl's rules say the workload
// is rolled out.
func waitRolledOut(ctx context.Context, t *testing.T, cs kubernetes.Interface, w rollout.Workload) {
	t.Helper()
	k := kindFor(w.Kind)
	objType := map[rollout.WorkloadKind]runtime.Object{
		rollout.KindDeployment: &appsv1.Deployment{}, rollout.KindStatefulSet: &appsv1.StatefulSet{}, rollout.KindDaemonSet: &appsv1.DaemonSet{},
	}[w.Kind]
	lw := cache.NewListWatchFromClient(cs.AppsV1().RESTClient(), string(w.Kind)+"s", w.Namespace, fields.OneTermEqualSelector("metadata.name", w.Name))
	var last string
	_, err := watchtools.UntilWithSync(ctx, lw, objType, nil, func(ev watch.Event) (bool, error) {
		wl, ok := k.asWorkload(ev.Object)
		if !ok {
			return false, nil
		}
		msg, done, err := wl.status()
		last = msg
		return done, err
	})
	if err != nil {
		t.Fatalf("%s not rolled out (%s): %v", w, last, err)
	}
}

// recorder collects the driver's events.
type recorder struct {
	mu     sync.Mutex
	events []rollout.Event
	notify chan struct{}
}

func newRecorder() *recorder { return &recorder{notify: make(chan struct{}, 1)} }

func (r *recorder) sink(e rollout.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

func (r *recorder) snapshot() []rollout.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// waitUntil waits for cond to hold on the events so far, or for ctx.
func (r *recorder) waitUntil(ctx context.Context, cond func([]rollout.Event) bool) bool {
	for {
		if cond(r.snapshot()) {
			return true
		}
		select {
		case <-r.notify:
		case <-ctx.Done():
			return false
		}
	}
}

// rolloutRun is the outcome of Observe followed by Roll.
type rolloutRun struct {
	events []rollout.Event
	status rollout.Status
	pods   []rollout.PodInfo
}

// runRollout observes, rolls, and keeps observing until every old pod's
// endpoint has left the Service (that can be seen after the pod is deleted)
// or 15 s have passed, like the orchestrator's settle phase.
func runRollout(t *testing.T, d *Driver) rolloutRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), integrationTimeout)
	defer cancel()
	rec := newRecorder()
	if err := d.Observe(ctx, rec.sink); err != nil {
		t.Fatalf("Observe: %v", err)
	}
	st, err := d.Roll(ctx)
	if err != nil {
		t.Fatalf("Roll: %v (status %+v)\ntimeline:\n%s", err, st, formatTimeline(rec.snapshot()))
	}
	settle, cancelSettle := context.WithTimeout(ctx, 15*time.Second)
	defer cancelSettle()
	rec.waitUntil(settle, func(evs []rollout.Event) bool {
		for _, p := range d.Pods() {
			if p.Generation == rollout.GenerationOld && indexOf(evs, rollout.EventEndpointRemoved, p.UID) < 0 {
				return false
			}
		}
		return true
	})
	return rolloutRun{events: rec.snapshot(), status: st, pods: d.Pods()}
}

// indexOf finds the first event of kind about the pod with UID uid (by
// UID: a StatefulSet's replacement pod has the old one's name), or of no
// pod when uid is "".
func indexOf(evs []rollout.Event, kind rollout.EventKind, uid string) int {
	for i, e := range evs {
		if e.Kind == kind && e.PodUID == uid {
			return i
		}
	}
	return -1
}

func countKind(evs []rollout.Event, kind rollout.EventKind) int {
	n := 0
	for _, e := range evs {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

// formatTimeline prints events with their time relative to the first.
func formatTimeline(evs []rollout.Event) string {
	if len(evs) == 0 {
		return "(no events)\n"
	}
	var b strings.Builder
	t0 := evs[0].Time
	for _, e := range evs {
		fmt.Fprintf(&b, "%s %+8.3fs %-19s %-26s %-12s %-20s %-10s %-3s %s\n",
			e.Time.Format("15:04:05.000"), e.Time.Sub(t0).Seconds(), e.Kind, e.Pod, e.PodIP, e.ReplicaSet, e.Version, e.Generation, e.Message)
	}
	return b.String()
}

// checkRollingUpdate asserts the shape of a complete rolling update of
// replicas pods, whatever the interleaving.
func checkRollingUpdate(t *testing.T, run rolloutRun, replicas int) {
	t.Helper()
	evs := run.events
	t.Logf("status %+v\ntimeline:\n%s", run.status, formatTimeline(evs))
	if !run.status.Done || run.status.Failed {
		t.Fatalf("status %+v, want Done", run.status)
	}
	for kind, want := range map[rollout.EventKind]int{rollout.EventTrigger: 1, rollout.EventRolloutComplete: 1, rollout.EventOldPodsGone: 1, rollout.EventRolloutFailed: 0} {
		if got := countKind(evs, kind); got != want {
			t.Errorf("%d %s events, want %d", got, kind, want)
		}
	}
	if evs[0].Kind != rollout.EventTrigger {
		t.Errorf("first event is %s, want trigger", evs[0].Kind)
	}
	var old, fresh []rollout.PodInfo
	for _, p := range run.pods {
		if p.Generation == rollout.GenerationOld {
			old = append(old, p)
		} else {
			fresh = append(fresh, p)
		}
	}
	if len(old) != replicas || len(fresh) != replicas {
		t.Fatalf("pods %+v: want %d old and %d new", run.pods, replicas, replicas)
	}
	gone := indexOf(evs, rollout.EventOldPodsGone, "")
	for _, p := range old {
		term, removed, deleted := indexOf(evs, rollout.EventPodTerminating, p.UID), indexOf(evs, rollout.EventEndpointRemoved, p.UID), indexOf(evs, rollout.EventPodDeleted, p.UID)
		if term < 0 || removed < 0 || deleted < 0 || term >= removed || removed >= deleted {
			t.Errorf("old pod %s: terminating at #%d, endpoint_removed at #%d, deleted at #%d; want all, in that order", p.Name, term, removed, deleted)
		}
		if deleted > gone {
			t.Errorf("old pod %s deleted (#%d) after old_pods_gone (#%d)", p.Name, deleted, gone)
		}
		if p.Deleted.IsZero() || p.IP == "" || p.UID == "" {
			t.Errorf("old pod snapshot %+v: want deleted, with IP and UID", p)
		}
	}
	if last := evs[gone-1]; last.Kind != rollout.EventPodDeleted || last.Generation != rollout.GenerationOld {
		t.Errorf("old_pods_gone follows %s %s, want the last old pod's deletion", last.Kind, last.Pod)
	}
	for _, p := range fresh {
		created, ready := indexOf(evs, rollout.EventPodCreated, p.UID), indexOf(evs, rollout.EventPodReady, p.UID)
		if created < 0 || ready < 0 || created >= ready {
			t.Errorf("new pod %s: created at #%d, ready at #%d; want both, in that order", p.Name, created, ready)
		}
		if !p.Deleted.IsZero() || !p.Ready || p.IP == "" {
			t.Errorf("new pod snapshot %+v: want alive, Ready, with IP", p)
		}
		if evs[ready].PodIP == "" {
			t.Errorf("pod_ready of %s carries no IP", p.Name)
		}
	}
	// A StatefulSet deletes each old pod before it creates the new one, so
	// its last old pod goes before the rollout completes; the others
	// complete first, while their last old pods terminate.
	if !run.status.Triggered.Before(run.status.Complete) || !run.status.Triggered.Before(run.status.OldPodsGone) {
		t.Errorf("status times out of order: %+v", run.status)
	}
}

// TestKubeIntegrationRestart restarts the reference workload of each kind
// and checks the timeline, the old/new split by revision and the patch.
func TestKubeIntegrationRestart(t *testing.T) {
	cs := clustertest.Clientset(t)
	for _, kind := range rollout.WorkloadKinds() {
		t.Run(string(kind), func(t *testing.T) {
			ns := clustertest.Namespace(t, cs, "rollout-restart-"+string(kind))
			w := deployManifest(t, cs, ns, manifestOf[kind].path)
			d, err := NewDriver(Config{Clientset: cs, Workload: w, Action: rollout.Action{Kind: rollout.ActionRestart}, RolloutTimeout: 3 * time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			run := runRollout(t, d)
			checkRollingUpdate(t, run, manifestOf[kind].replicas)
			if got := d.Workload(); got.Service != w.Name || got.Kind != kind {
				t.Errorf("Workload() = %+v, want kind %s and the Service %s found by its selector", got, kind, w.Name)
			}
			var oldV, newV string
			for _, p := range run.pods {
				if p.Generation == rollout.GenerationOld {
					oldV = p.Version
				} else {
					newV = p.Version
				}
				if (kind == rollout.KindDeployment) != (p.ReplicaSet != "") || (kind != rollout.KindDeployment) != (p.Revision != "") {
					t.Errorf("pod %s: replicaset %q revision %q; a %s's pods name their %s", p.Name, p.ReplicaSet, p.Revision, kind, kindFor(kind).revisionResource())
				}
			}
			if oldV == "" || newV == "" || oldV == newV {
				t.Errorf("versions old %q new %q: want two different template hashes", oldV, newV)
			}
			created := kindFor(kind).revisionCreated()
			if n := countKind(run.events, created); n != 1 {
				t.Errorf("%d %s events, want 1", n, created)
			}
			wl, err := kindFor(kind).get(context.Background(), cs, ns, w.Name)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := wl.template().Annotations[restartedAtAnnotation]; !ok {
				t.Errorf("pod template has no %s annotation", restartedAtAnnotation)
			}
		})
	}
}

func TestKubeIntegrationImage(t *testing.T) {
	cs := clustertest.Clientset(t)
	ns := clustertest.Namespace(t, cs, "rollout-image")
	w := deployManifest(t, cs, ns, manifestOf[rollout.KindDeployment].path)
	dep, err := cs.AppsV1().Deployments(ns).Get(context.Background(), w.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if img := dep.Spec.Template.Spec.Containers[0].Image; img != "rolltest.local/testapp:v1" {
		t.Fatalf("manifest image %s, want rolltest.local/testapp:v1", img)
	}
	container := dep.Spec.Template.Spec.Containers[0].Name
	d, err := NewDriver(Config{Clientset: cs, Workload: w,
		Action: rollout.Action{Kind: rollout.ActionImage, Container: container, Image: "rolltest.local/testapp:v2"}, RolloutTimeout: 3 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	run := runRollout(t, d)
	checkRollingUpdate(t, run, 2)
	for _, e := range run.events {
		if e.Pod == "" {
			continue
		}
		want := map[rollout.Generation]string{rollout.GenerationOld: "v1", rollout.GenerationNew: "v2"}[e.Generation]
		if e.Version != want {
			t.Errorf("%s %s: version %q, generation %s; want %s", e.Kind, e.Pod, e.Version, e.Generation, want)
		}
	}
}

// TestKubeIntegrationLeastPrivilege runs the driver with exactly the rights
// of manifests/rbac.yaml, by impersonating its ServiceAccount, and shows that
// they suffice for a Deployment and a DaemonSet (whose pod templates are
// ControllerRevisions, like a StatefulSet's) and that each right matters:
// without patch the restart is refused, without watch on pods Observe
// fails, both with errors that say so.
func TestKubeIntegrationLeastPrivilege(t *testing.T) {
	cs := clustertest.Clientset(t)
	ns := clustertest.Namespace(t, cs, "rollout-rbac")
	dep := deployManifest(t, cs, ns, manifestOf[rollout.KindDeployment].path)
	ds := deployManifest(t, cs, ns, manifestOf[rollout.KindDaemonSet].path)
	role := clustertest.ApplyRBAC(t, cs, ns)
	user := "system:serviceaccount:" + ns + ":rolltest"
	saConfig := clustertest.Config(t)
	saConfig.Impersonate = rest.ImpersonationConfig{
		UserName: user,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
	}
	driverFor := func(w rollout.Workload) *Driver {
		d, err := NewDriver(Config{REST: saConfig, Workload: w, Action: rollout.Action{Kind: rollout.ActionRestart}, RolloutTimeout: 3 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	newDriver := func() *Driver { return driverFor(dep) }
	waitAccess(t, cs, ns, user, "apps", "deployments", "patch", true)

	t.Run("rbac.yaml suffices", func(t *testing.T) {
		checkRollingUpdate(t, runRollout(t, newDriver()), 2)
	})
	t.Run("rbac.yaml suffices for a daemonset", func(t *testing.T) {
		checkRollingUpdate(t, runRollout(t, driverFor(ds)), 1)
	})

	t.Run("no patch", func(t *testing.T) {
		r := role.DeepCopy()
		for i, rule := range r.Rules {
			if slices.Contains(rule.Resources, "deployments") {
				r.Rules[i].Verbs = slices.DeleteFunc(slices.Clone(rule.Verbs), func(v string) bool { return v == "patch" })
			}
		}
		updateRole(t, cs, r)
		waitAccess(t, cs, ns, user, "apps", "deployments", "patch", false)
		before, err := cs.AppsV1().Deployments(ns).Get(context.Background(), "testapp", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		rec := newRecorder()
		d := newDriver()
		if err := d.Observe(ctx, rec.sink); err != nil {
			t.Fatalf("Observe without patch: %v", err)
		}
		st, err := d.Roll(ctx)
		t.Logf("Roll error: %v", err)
		if err == nil || !apierrors.IsForbidden(err) || !strings.HasPrefix(err.Error(), "patch deployment "+ns+"/testapp: ") ||
			!strings.Contains(err.Error(), `cannot patch resource "deployments"`) {
			t.Errorf("Roll error %v, want a forbidden patch deployment error", err)
		}
		if !st.Failed || st.Done {
			t.Errorf("status %+v, want Failed", st)
		}
		after, err := cs.AppsV1().Deployments(ns).Get(context.Background(), "testapp", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if after.Generation != before.Generation {
			t.Errorf("deployment generation %d → %d: something was rolled out", before.Generation, after.Generation)
		}
	})

	t.Run("no watch on pods", func(t *testing.T) {
		r := role.DeepCopy()
		for i, rule := range r.Rules {
			if slices.Contains(rule.Resources, "pods") {
				r.Rules[i].Verbs = []string{"list"}
			}
		}
		updateRole(t, cs, r)
		waitAccess(t, cs, ns, user, "", "pods", "watch", false)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		err := newDriver().Observe(ctx, nil)
		t.Logf("Observe error: %v", err)
		if err == nil || !apierrors.IsForbidden(err) || !strings.HasPrefix(err.Error(), "list and watch pods in namespace "+ns+": ") {
			t.Errorf("Observe error %v, want a forbidden list and watch pods error", err)
		}
	})
}

func updateRole(t *testing.T, cs kubernetes.Interface, r *rbacv1.Role) {
	t.Helper()
	cur, err := cs.RbacV1().Roles(r.Namespace).Get(context.Background(), r.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cur.Rules = r.Rules
	if _, err := cs.RbacV1().Roles(r.Namespace).Update(context.Background(), cur, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update role: %v", err)
	}
}

// waitAccess waits until the API server's authorizer answers allowed for
// user's verb on resource. The RBAC authorizer works from its own caches, so
// a Role change takes effect a moment after the write; it offers nothing to
// watch, so this asks again every 100 ms.
func waitAccess(t *testing.T, cs kubernetes.Interface, ns, user, group, resource, verb string, allowed bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		sar, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
			Spec: authorizationv1.SubjectAccessReviewSpec{
				User:   user,
				Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
				ResourceAttributes: &authorizationv1.ResourceAttributes{
					Namespace: ns, Group: group, Resource: resource, Verb: verb,
				},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			return false, err
		}
		return sar.Status.Allowed == allowed, nil
	})
	if err != nil {
		t.Fatalf("%s %s %s allowed=%v never took effect: %v", user, verb, resource, allowed, err)
	}
}

// TestKubeIntegrationManifestsValid has the API server validate the
// manifests no other test of this package deploys (server-side dry run:
// nothing is created). NodePorts are cleared: another test may hold them.
func TestKubeIntegrationManifestsValid(t *testing.T) {
	cs := clustertest.Clientset(t)
	ns := clustertest.Namespace(t, cs, "rollout-manifests")
	ctx := context.Background()
	dryRun := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	for _, rel := range []string{"manifests/testapp-unsafe.yaml", "manifests/testapp-statefulset-unsafe.yaml"} {
		for _, obj := range clustertest.Manifest(t, rel) {
			var err error
			switch o := obj.(type) {
			case *appsv1.Deployment:
				_, err = cs.AppsV1().Deployments(ns).Create(ctx, o, dryRun)
			case *appsv1.StatefulSet:
				_, err = cs.AppsV1().StatefulSets(ns).Create(ctx, o, dryRun)
			case *corev1.Service:
				o.Spec.Ports[0].NodePort = 0
				_, err = cs.CoreV1().Services(ns).Create(ctx, o, dryRun)
			default:
				t.Fatalf("%s: unexpected %T", rel, obj)
			}
			if err != nil {
				t.Errorf("%s: %T: %v", rel, obj, err)
			}
		}
	}
}
