// Package e2e holds end-to-end tests against the cluster of test/cluster
// (`make e2e` starts it, runs these with ROLLTEST_E2E=1 and tears it down).
package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/rolltest/rolltest/internal/clustertest"
)

// need says what an e2e test needs beyond the cluster.
type need int

const (
	// clusterOnly: the API and the testapp images.
	clusterOnly need = iota
	// withCLI: also the rolltest binary, built before anything is deployed
	// so that a broken build fails fast.
	withCLI
)

// env is what every e2e test starts from: an admin client, a namespace of
// its own and a context bounded by testTimeout.
type env struct {
	cs  kubernetes.Interface
	ns  string
	ctx context.Context
}

// begin is every e2e test's preamble. Without the cluster it skips the test
// (with ROLLTEST_E2E=1 it fails it instead); it requires the testapp images
// on the node, builds the CLI when the test needs it, creates a namespace
// named nsPrefix-<random> that is deleted (and waited for) at the end of
// the test, and bounds the test's own API calls and waits by testTimeout.
func begin(t *testing.T, nsPrefix string, n need) env {
	t.Helper()
	cs := clustertest.Clientset(t)
	requireImages(t, cs)
	if n == withCLI {
		rolltestBinary(t)
	}
	ns := clustertest.Namespace(t, cs, nsPrefix)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return env{cs: cs, ns: ns, ctx: ctx}
}

// testappImages must be on the node: manifests use imagePullPolicy Never, so
// a missing image shows up only as pods stuck in ErrImageNeverPull.
var testappImages = []string{"rolltest.local/testapp:v1", "rolltest.local/testapp:v2", agentImage}

var images struct {
	once sync.Once
	err  error
}

// requireImages fails the test at once, with the fix, when the node does not
// list the testapp images (the kubelet reports them in the node status).
func requireImages(t *testing.T, cs kubernetes.Interface) {
	t.Helper()
	images.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			images.err = fmt.Errorf("list nodes: %w", err)
			return
		}
		if len(nodes.Items) == 0 {
			images.err = fmt.Errorf("the cluster has no node")
			return
		}
		for _, n := range nodes.Items {
			have := map[string]bool{}
			for _, img := range n.Status.Images {
				for _, name := range img.Names {
					have[name] = true
				}
			}
			var missing []string
			for _, want := range testappImages {
				if !have[want] {
					missing = append(missing, want)
				}
			}
			if len(missing) > 0 {
				images.err = fmt.Errorf("images %v not on node %s: run `make cluster-images` "+
					"(builds ./testapp into them and imports them into containerd)", missing, n.Name)
				return
			}
		}
	})
	if images.err != nil {
		t.Fatalf("e2e: %v", images.err)
	}
}

// applyDeployment creates dep in ns, or replaces the spec of an existing one.
func applyDeployment(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns string, dep *appsv1.Deployment) {
	t.Helper()
	dep = dep.DeepCopy()
	dep.Namespace = ns
	api := cs.AppsV1().Deployments(ns)
	_, err := api.Create(ctx, dep, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		var cur *appsv1.Deployment
		if cur, err = api.Get(ctx, dep.Name, metav1.GetOptions{}); err == nil {
			dep.ResourceVersion = cur.ResourceVersion
			_, err = api.Update(ctx, dep, metav1.UpdateOptions{})
		}
	}
	if err != nil {
		t.Fatalf("apply deployment %s/%s: %v", ns, dep.Name, err)
	}
}

// applyService creates svc in ns, or replaces an existing one's spec while
// keeping the cluster IP the API server allocated.
func applyService(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns string, svc *corev1.Service) {
	t.Helper()
	svc = svc.DeepCopy()
	svc.Namespace = ns
	api := cs.CoreV1().Services(ns)
	_, err := api.Create(ctx, svc, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		var cur *corev1.Service
		if cur, err = api.Get(ctx, svc.Name, metav1.GetOptions{}); err == nil {
			svc.ResourceVersion = cur.ResourceVersion
			svc.Spec.ClusterIP, svc.Spec.ClusterIPs = cur.Spec.ClusterIP, cur.Spec.ClusterIPs
			_, err = api.Update(ctx, svc, metav1.UpdateOptions{})
		}
	}
	if err != nil {
		t.Fatalf("apply service %s/%s: %v", ns, svc.Name, err)
	}
}

// waitDeployment watches the Deployment until cond holds, at most timeout.
func waitDeployment(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, name string,
	timeout time.Duration, what string, cond func(*appsv1.Deployment) (bool, error)) *appsv1.Deployment {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	lw := cache.NewListWatchFromClient(cs.AppsV1().RESTClient(), "deployments", ns,
		fields.OneTermEqualSelector("metadata.name", name))
	var last *appsv1.Deployment
	check := func(d *appsv1.Deployment) (bool, error) {
		last = d
		return cond(d)
	}
	ev, err := watchtools.UntilWithSync(ctx, lw, &appsv1.Deployment{},
		func(store cache.Store) (bool, error) {
			for _, obj := range store.List() {
				if d, ok := obj.(*appsv1.Deployment); ok {
					return check(d)
				}
			}
			return false, nil
		},
		func(ev watch.Event) (bool, error) {
			if ev.Type == watch.Deleted {
				return false, fmt.Errorf("deployment %s/%s deleted", ns, name)
			}
			d, ok := ev.Object.(*appsv1.Deployment)
			if !ok {
				return false, nil
			}
			return check(d)
		})
	if err != nil {
		dumpNamespace(t, cs, ns)
		t.Fatalf("deployment %s/%s not %s within %v: %v; last status: %s", ns, name, what, timeout, err, describe(last))
	}
	if ev != nil {
		if d, ok := ev.Object.(*appsv1.Deployment); ok {
			return d
		}
	}
	return last
}

func describe(d *appsv1.Deployment) string {
	if d == nil {
		return "none seen"
	}
	s := d.Status
	return fmt.Sprintf("generation %d observed %d, replicas %d updated %d ready %d available %d",
		d.Generation, s.ObservedGeneration, s.Replicas, s.UpdatedReplicas, s.ReadyReplicas, s.AvailableReplicas)
}

// dumpNamespace logs pods and events, so that a CI failure explains itself.
func dumpNamespace(t *testing.T, cs kubernetes.Interface, ns string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{}); err == nil {
		for _, p := range pods.Items {
			var states []string
			for _, c := range p.Status.ContainerStatuses {
				st := "running"
				switch {
				case c.State.Waiting != nil:
					st = "waiting " + c.State.Waiting.Reason + ": " + c.State.Waiting.Message
				case c.State.Terminated != nil:
					st = "terminated " + c.State.Terminated.Reason
				}
				states = append(states, fmt.Sprintf("%s ready=%t restarts=%d %s", c.Name, c.Ready, c.RestartCount, st))
			}
			t.Logf("pod %s phase=%s ip=%s %s", p.Name, p.Status.Phase, p.Status.PodIP, strings.Join(states, "; "))
		}
	}
	if evs, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{}); err == nil {
		sort.Slice(evs.Items, func(i, j int) bool { return evs.Items[i].LastTimestamp.Before(&evs.Items[j].LastTimestamp) })
		for _, e := range evs.Items {
			t.Logf("event %s %s/%s: %s: %s", e.Type, e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Reason, e.Message)
		}
	}
}

// healthyBody is the testapp's /common/healthy answer: "POD >> IP >> VERSION".
var healthyBody = regexp.MustCompile(`^(\S+) >> (\S+) >> (\S+)$`)

type answer struct {
	pod, ip, version string
}

// newHTTPClient opens a new connection per request (keep-alive off), so
// that requests spread over the endpoints as new clients' would, and never
// uses a proxy: the traffic stays on loopback.
func newHTTPClient() *http.Client {
	return &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
	}
}

// get sends one GET and parses a 200 answer of the testapp.
func get(ctx context.Context, c *http.Client, url string) (answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return answer{}, fmt.Errorf("request: %w", err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return answer{}, fmt.Errorf("read body: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return answer{}, fmt.Errorf("status %d, body %q", resp.StatusCode, body)
	}
	m := healthyBody.FindStringSubmatch(strings.TrimSpace(string(body)))
	if m == nil {
		return answer{}, fmt.Errorf("body %q is not \"POD >> IP >> VERSION\"", body)
	}
	return answer{pod: m[1], ip: m[2], version: m[3]}, nil
}
