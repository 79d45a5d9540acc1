package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/rolltest/rolltest/internal/groundtruth"
	"github.com/rolltest/rolltest/pkg/report"
	"github.com/rolltest/rolltest/testapp/app"
)

// adminPort is where the manifests' testapp serves its own counts
// (ADMIN_ADDR): a port rolltest's load never reaches.
const adminPort = "8081"

// truthWait bounds how long finish waits for the exit lines of pods that
// went away during the run: their containers have exited once the pods are
// deleted, so the log stream ends within moments.
const truthWait = time.Minute

// podTruth is what each pod of one namespace counted itself during a run:
// its counts read from its admin port before the run, and after it either
// the line it logged on exit (followed live, so a deleted pod's final
// counts survive) or, for a pod still running, its admin port again. Pods
// are keyed by UID: a StatefulSet's replacement pod has the old one's name.
type podTruth struct {
	t      *testing.T
	cs     kubernetes.Interface
	ns     string
	before map[types.UID]app.Counts
	names  map[types.UID]string // of the pods in before
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	following map[types.UID]string     // the pod's name
	exited    map[types.UID]app.Counts // from the exit line
	changed   chan struct{}            // closed and replaced when exited grows
}

// watchTruth reads every running pod's counts and follows the log of every
// pod that runs from now on, until finish.
func watchTruth(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns string) *podTruth {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	p := &podTruth{t: t, cs: cs, ns: ns, before: map[types.UID]app.Counts{}, names: map[types.UID]string{}, cancel: cancel,
		following: map[types.UID]string{}, exited: map[types.UID]app.Counts{}, changed: make(chan struct{})}
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list pods in %s: %v", ns, err)
	}
	for i := range pods.Items {
		pod := &pods.Items[i]
		if pod.DeletionTimestamp != nil || pod.Status.Phase != corev1.PodRunning {
			continue
		}
		c, err := adminCounts(ctx, pod)
		if err != nil {
			t.Fatalf("counts of pod %s before the run: %v", pod.Name, err)
		}
		p.before[pod.UID] = c
		p.names[pod.UID] = pod.Name
	}
	f := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(ns))
	inf := f.Core().V1().Pods().Informer()
	follow := func(obj any) {
		if pod, ok := obj.(*corev1.Pod); ok && appRunning(pod) {
			p.follow(ctx, pod)
		}
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    follow,
		UpdateFunc: func(_, obj any) { follow(obj) },
	}); err != nil {
		t.Fatalf("pod informer: %v", err)
	}
	f.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		t.Fatalf("pod informer in %s did not sync", ns)
	}
	return p
}

func appRunning(pod *corev1.Pod) bool {
	for _, s := range pod.Status.ContainerStatuses {
		if s.Name == "testapp" && s.State.Running != nil {
			return true
		}
	}
	return false
}

// follow streams a running pod's log until its container exits, keeping the
// counts line it writes last. The log is asked for by name while the pod
// runs, so it is this pod's even if a later one takes the name.
func (p *podTruth) follow(ctx context.Context, pod *corev1.Pod) {
	uid, name := pod.UID, pod.Name
	p.mu.Lock()
	if _, ok := p.following[uid]; ok {
		p.mu.Unlock()
		return
	}
	p.following[uid] = name
	p.mu.Unlock()
	p.wg.Go(func() {
		req := p.cs.CoreV1().Pods(p.ns).GetLogs(name, &corev1.PodLogOptions{Container: "testapp", Follow: true})
		stream, err := req.Stream(ctx)
		if err != nil {
			p.t.Logf("follow the log of %s: %v", name, err)
			return
		}
		defer stream.Close()
		sc := bufio.NewScanner(stream)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line, ok := strings.CutPrefix(sc.Text(), app.CountsLogPrefix+" ")
			if !ok {
				continue
			}
			var c app.Counts
			if err := json.Unmarshal([]byte(line), &c); err != nil {
				p.t.Errorf("pod %s logged an unreadable counts line %q: %v", name, line, err)
				continue
			}
			p.mu.Lock()
			p.exited[uid] = c
			close(p.changed)
			p.changed = make(chan struct{})
			p.mu.Unlock()
		}
	})
}

// finish returns what every pod counted during the run: for a pod that
// exited, its exit line; for one still running, its admin port now (the
// run is over, so nothing is in flight). Either minus its counts before the
// run, for pods that were running then.
func (p *podTruth) finish(ctx context.Context) []app.Counts {
	p.t.Helper()
	defer func() {
		p.cancel()
		p.wg.Wait()
	}()
	p.mu.Lock()
	names := make(map[types.UID]string, len(p.following)+len(p.before))
	for uid, n := range p.following {
		names[uid] = n
	}
	p.mu.Unlock()
	for uid, n := range p.names {
		names[uid] = n
	}
	var after []app.Counts
	deadline := time.Now().Add(truthWait)
	for uid, name := range names {
		pod, err := p.cs.CoreV1().Pods(p.ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil && pod.UID == uid && pod.DeletionTimestamp == nil && appRunning(pod) {
			c, err := settledCounts(ctx, pod)
			if err != nil {
				p.t.Fatalf("counts of pod %s after the run: %v", name, err)
			}
			after = append(after, c)
			continue
		}
		if err != nil && !apierrors.IsNotFound(err) {
			p.t.Fatalf("get pod %s: %v", name, err)
		}
		// Gone or going (or its name taken by a newer pod): wait for the
		// line it logs on exit.
		c, ok := p.waitExited(ctx, uid, deadline)
		if !ok {
			p.t.Fatalf("pod %s (uid %s) went away without a %s line in its log within %v", name, uid, app.CountsLogPrefix, truthWait)
		}
		after = append(after, c)
	}
	var before []app.Counts
	for _, c := range p.before {
		before = append(before, c)
	}
	return groundtruth.Since(before, after)
}

func (p *podTruth) waitExited(ctx context.Context, uid types.UID, deadline time.Time) (app.Counts, bool) {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		p.mu.Lock()
		c, ok := p.exited[uid]
		changed := p.changed
		p.mu.Unlock()
		if ok {
			return c, true
		}
		select {
		case <-changed:
		case <-timer.C:
			return app.Counts{}, false
		case <-ctx.Done():
			return app.Counts{}, false
		}
	}
}

// settleWait bounds how long a running pod may take, once rolltest has
// exited, to see the last of its connections close.
const settleWait = 10 * time.Second

// settledCounts reads a running pod's counts once nothing is in flight and
// every connection is closed: rolltest has exited, but the pod sees the
// last FINs a moment later, and a kubelet probe may be on its way through.
// The app offers nothing to watch, so this reads again every 100 ms,
// bounded by settleWait.
func settledCounts(ctx context.Context, pod *corev1.Pod) (app.Counts, error) {
	deadline := time.Now().Add(settleWait)
	for {
		c, err := adminCounts(ctx, pod)
		if err != nil {
			return c, err
		}
		if c.Connections.Open == 0 && c.Traffic.InFlight == 0 && c.Probes.InFlight == 0 {
			return c, nil
		}
		if time.Now().After(deadline) {
			return c, fmt.Errorf("still %d connections open and %d requests in flight %v after the run", c.Connections.Open, c.Traffic.InFlight, settleWait)
		}
		select {
		case <-ctx.Done():
			return c, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// adminCounts reads a running pod's counts from its admin port, on the
// pod's own address on the cluster's bridge.
func adminCounts(ctx context.Context, pod *corev1.Pod) (app.Counts, error) {
	if pod.Status.PodIP == "" {
		return app.Counts{}, fmt.Errorf("pod %s has no IP", pod.Name)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	url := "http://" + net.JoinHostPort(pod.Status.PodIP, adminPort) + "/counts"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return app.Counts{}, err
	}
	resp, err := newHTTPClient().Do(req)
	if err != nil {
		return app.Counts{}, fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return app.Counts{}, fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	var c app.Counts
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		return app.Counts{}, fmt.Errorf("GET %s: %w", url, err)
	}
	if id := podIdentity(pod); c.Pod != id {
		return app.Counts{}, fmt.Errorf("GET %s: counts of pod %q, want %q", url, c.Pod, id)
	}
	return c, nil
}

// checkGroundTruth holds a run's document against what the pods counted:
// per pod, rolltest's ok equals the 2xx responses the pod wrote (within
// the responses rolltest gave up on), no pod received a request rolltest
// did not count, the new generation answered, the settle phase carried
// requests, and no failure is blamed on a pod that was steady throughout
// the attempt (internal/groundtruth says exactly what and why).
func checkGroundTruth(t *testing.T, name string, res *report.Result, pods []app.Counts) bool {
	t.Helper()
	pods, ok := groundtruth.WithoutPreflight(res, pods)
	if !ok {
		t.Errorf("%s run: the preflight was answered by pod %q, which is not among the pods counted", name, res.Run.Preflight.Pod)
		return false
	}
	var received, written2xx int64
	for _, c := range pods {
		received += c.Traffic.Received
		written2xx += c.Traffic.Written.S2xx
	}
	t.Logf("%s run: ground truth of %d pods: received %d, wrote %d 2xx; rolltest: attempts %d, ok %d",
		name, len(pods), received, written2xx, res.Totals.Attempts, res.Totals.OK)
	ms := groundtruth.Compare(res, pods)
	for _, m := range ms {
		t.Errorf("%s run: ground truth: %s", name, m)
	}
	return len(ms) == 0
}
