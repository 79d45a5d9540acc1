package e2e

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/rolltest/rolltest/internal/clustertest"
)

const (
	// smokeNodePort is this test's own: NodePorts are cluster-wide, and the
	// manifest's 30080 may be in use by another test's namespace.
	smokeNodePort = 30081

	availableTimeout = 2 * time.Minute
	rolloutTimeout   = 120 * time.Second

	// Request budgets: every loop that sends traffic is bounded in count and
	// time, and only ever targets 127.0.0.1.
	warmupMaxRequests   = 150
	warmupMaxDuration   = 20 * time.Second
	steadyRequests      = 20
	duringMaxRequests   = 100
	duringInterval      = 250 * time.Millisecond
	afterRequests       = 20
	restartedAnnotation = "kubectl.kubernetes.io/restartedAt"
)

// TestSmoke deploys the reference manifest, checks it serves through the
// NodePort, does `kubectl rollout restart` and waits for the rollout as
// `kubectl rollout status` would.
func TestSmoke(t *testing.T) {
	e := begin(t, "smoke", clusterOnly)
	cs, ns, ctx := e.cs, e.ns, e.ctx

	dep, svc := clustertest.TestappManifest(t)
	if len(svc.Spec.Ports) != 1 {
		t.Fatalf("manifests/testapp.yaml: want one Service port, got %d", len(svc.Spec.Ports))
	}
	svc.Spec.Ports[0].NodePort = smokeNodePort
	applyDeployment(ctx, t, cs, ns, dep)
	applyService(ctx, t, cs, ns, svc)

	start := time.Now()
	d := waitDeployment(ctx, t, cs, ns, dep.Name, availableTimeout, "available (2/2 Ready)",
		func(d *appsv1.Deployment) (bool, error) {
			want := replicas(d)
			s := d.Status
			return s.ObservedGeneration >= d.Generation && s.UpdatedReplicas == want &&
				s.ReadyReplicas == want && s.AvailableReplicas == want, nil
		})
	t.Logf("deployment %s/%s available in %v: %s", ns, d.Name, time.Since(start).Round(time.Millisecond), describe(d))

	url := clustertest.NodePortURL(smokeNodePort, "/common/healthy")
	client := newHTTPClient()
	before := podsByName(ctx, t, cs, ns, d)
	checkServing(ctx, t, client, url, before)

	// kubectl rollout restart: the same strategic merge patch, field manager
	// and RFC 3339 timestamp.
	restartedAt := time.Now().Format(time.RFC3339)
	patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{%q:%q}}}}}`, restartedAnnotation, restartedAt)
	start = time.Now()
	patched, err := cs.AppsV1().Deployments(ns).Patch(ctx, d.Name, types.StrategicMergePatchType, []byte(patch),
		metav1.PatchOptions{FieldManager: "kubectl-rollout"})
	if err != nil {
		t.Fatalf("rollout restart of %s/%s: %v", ns, d.Name, err)
	}

	sampleCtx, stopSampling := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var during sample
	wg.Go(func() { during = sampleDuring(sampleCtx, client, url) })

	gen := patched.Generation
	d = waitDeployment(ctx, t, cs, ns, d.Name, rolloutTimeout, "rolled out (kubectl rollout status)",
		func(d *appsv1.Deployment) (bool, error) { return rolloutComplete(d, gen) })
	stopSampling()
	wg.Wait()
	t.Logf("rollout restart complete in %v: %s", time.Since(start).Round(time.Millisecond), describe(d))
	// Informational: the product's own tests judge dropped requests; here it
	// only shows the harness carries traffic through a rollout.
	t.Logf("during the rollout: %s", during)

	after := podsByName(ctx, t, cs, ns, d)
	for name, p := range after {
		if _, old := before[name]; old {
			t.Errorf("pod %s survived the restart", name)
		}
		if got := p.Spec.Containers[0].Image; got != "rolltest.local/testapp:v1" {
			t.Errorf("pod %s runs %s, want rolltest.local/testapp:v1", name, got)
		}
		if got := p.Annotations[restartedAnnotation]; got != restartedAt {
			t.Errorf("pod %s has %s=%q, want %q", name, restartedAnnotation, got, restartedAt)
		}
	}
	checkAnswers(ctx, t, client, url, afterRequests)
}

func replicas(d *appsv1.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}

// rolloutComplete applies kubectl's rollout status rules for Deployments
// (k8s.io/kubectl/pkg/polymorphichelpers DeploymentStatusViewer) to a
// Deployment at least at generation gen.
func rolloutComplete(d *appsv1.Deployment, gen int64) (bool, error) {
	if d.Generation < gen || d.Status.ObservedGeneration < d.Generation {
		return false, nil
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Reason == "ProgressDeadlineExceeded" {
			return false, fmt.Errorf("deployment %q exceeded its progress deadline", d.Name)
		}
	}
	s := d.Status
	switch {
	case s.UpdatedReplicas < replicas(d): // new replicas still being created
	case s.Replicas > s.UpdatedReplicas: // old replicas pending termination
	case s.AvailableReplicas < s.UpdatedReplicas: // updated replicas not yet available
	default:
		return true, nil
	}
	return false, nil
}

// podsByName lists the Deployment's pods that are not terminating.
func podsByName(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns string, d *appsv1.Deployment) map[string]*corev1.Pod {
	t.Helper()
	sel := labels.SelectorFromSet(d.Spec.Selector.MatchLabels).String()
	list, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		t.Fatalf("list pods %s in %s: %v", sel, ns, err)
	}
	pods := map[string]*corev1.Pod{}
	for i := range list.Items {
		if p := &list.Items[i]; p.DeletionTimestamp == nil {
			pods[p.Name] = p
		}
	}
	if len(pods) != int(replicas(d)) {
		t.Fatalf("deployment %s/%s: %d running pods, want %d", ns, d.Name, len(pods), replicas(d))
	}
	return pods
}

// checkServing waits (bounded) for the first answer through the NodePort,
// since kube-proxy programs the Service shortly after the pods are Ready,
// then requires steadyRequests answers in a row from the Deployment's pods.
func checkServing(ctx context.Context, t *testing.T, client *http.Client, url string, pods map[string]*corev1.Pod) {
	t.Helper()
	deadline := time.Now().Add(warmupMaxDuration)
	var lastErr error
	sent, ok := 0, false
	for sent < warmupMaxRequests && time.Now().Before(deadline) {
		sent++
		if _, lastErr = get(ctx, client, url); lastErr == nil {
			ok = true
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !ok {
		t.Fatalf("%s did not answer 200 in %d requests / %v: last error: %v", url, sent, warmupMaxDuration, lastErr)
	}
	t.Logf("%s answered after %d request(s)", url, sent)

	seen := map[string]int{}
	for i := 0; i < steadyRequests; i++ {
		a, err := get(ctx, client, url)
		if err != nil {
			t.Fatalf("request %d of %d to %s: %v", i+1, steadyRequests, url, err)
		}
		p, known := pods[a.pod]
		switch {
		case !known:
			t.Fatalf("answer from pod %q, not one of the Deployment's pods %v", a.pod, keys(pods))
		case a.ip != p.Status.PodIP:
			t.Fatalf("pod %s answered with IP %s, its status says %s", a.pod, a.ip, p.Status.PodIP)
		case a.version != "v1":
			t.Fatalf("pod %s answered version %q, want v1 (APP_VERSION of image rolltest.local/testapp:v1)", a.pod, a.version)
		}
		seen[a.pod]++
	}
	t.Logf("%d answers 200 \"POD >> IP >> v1\", by pod: %v", steadyRequests, seen)
}

// checkAnswers requires n answers in a row of the form "POD >> IP >> v1".
func checkAnswers(ctx context.Context, t *testing.T, client *http.Client, url string, n int) {
	t.Helper()
	seen := map[string]int{}
	for i := 0; i < n; i++ {
		a, err := get(ctx, client, url)
		if err != nil {
			t.Fatalf("request %d of %d to %s after the rollout: %v", i+1, n, url, err)
		}
		if a.version != "v1" {
			t.Fatalf("pod %s answered version %q after the restart, want v1", a.pod, a.version)
		}
		seen[a.pod]++
	}
	t.Logf("after the rollout: %d answers 200, by pod: %v", n, seen)
}

type sample struct {
	ok, failed int
	pods       map[string]int
	errors     []string
}

func (s sample) String() string {
	msg := fmt.Sprintf("%d requests, %d ok, %d failed, by pod: %v", s.ok+s.failed, s.ok, s.failed, s.pods)
	if len(s.errors) > 0 {
		msg += "; first errors: " + strings.Join(s.errors, "; ")
	}
	return msg
}

// sampleDuring sends one GET every duringInterval until ctx ends, at most
// duringMaxRequests.
func sampleDuring(ctx context.Context, client *http.Client, url string) sample {
	s := sample{pods: map[string]int{}}
	tick := time.NewTicker(duringInterval)
	defer tick.Stop()
	for i := 0; i < duringMaxRequests; i++ {
		a, err := get(ctx, client, url)
		switch {
		case ctx.Err() != nil:
			return s
		case err != nil:
			s.failed++
			if len(s.errors) < 5 {
				s.errors = append(s.errors, err.Error())
			}
		default:
			s.ok++
			s.pods[a.pod]++
		}
		select {
		case <-ctx.Done():
			return s
		case <-tick.C:
		}
	}
	return s
}

func keys(m map[string]*corev1.Pod) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
