package e2e

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/rolltest/rolltest/internal/apifault"
	"github.com/rolltest/rolltest/internal/clustertest"
	"github.com/rolltest/rolltest/pkg/report"
	"github.com/rolltest/rolltest/pkg/rollout"
)

// NodePorts of the tests that put a fault-injecting proxy between rolltest
// and the API server (see safeNodePort).
const (
	apiDarkNodePort      = 30074
	apiTriggerNodePort   = 30075
	apiThrottleNodePort  = 30076
	apiDeleteNodePort    = 30077
	apiNsDeleteNodePort  = 30078
	apiSelectorNodePort  = 30079
	apiSvcDeleteNodePort = 30086
	apiGoneNodePort      = 30087
)

// apiDarkSpan is how long the API server is unreachable in
// TestAPIUnreachable. The driver's gap is longer: it lasts until every
// informer's reflector has retried after the outage, and a reflector backs
// off (0.8 s doubling, with jitter) while it fails.
const (
	apiDarkSpan   = 5 * time.Second
	apiGapReflect = 12 * time.Second
)

// faultRun deploys the safe Deployment on nodePort and starts a proxy in
// front of the API server with a kubeconfig for rolltest that reaches the
// cluster only through it.
func faultRun(t *testing.T, prefix string, nodePort int32) (env, *apifault.Proxy, string, string, *appsv1.Deployment) {
	t.Helper()
	e := begin(t, prefix, withCLI)
	dep, svc := manifestWorkload(t, "manifests/testapp.yaml")
	url := deployServing(e.ctx, t, e.cs, e.ns, dep, svc, nodePort)
	p, err := apifault.Start(clustertest.Kubeconfig(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := p.WriteKubeconfig(kc, e.ns); err != nil {
		t.Fatal(err)
	}
	return e, p, kc, url, dep
}

// whenRolloutStarts calls fn once the Deployment's new ReplicaSet exists
// (the rollout has started), watching with the admin client, which the
// proxy does not touch. The returned channel yields fn's error, or why fn
// was never called, and is closed after.
func whenRolloutStarts(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns string, fn func() error) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		defer close(done)
		ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
		defer cancel()
		lw := cache.NewListWatchFromClient(cs.AppsV1().RESTClient(), "replicasets", ns, fields.Everything())
		// The informer replays the ReplicaSets that exist as Added
		// events: only one that is not among them is the rollout's.
		before := map[string]bool{}
		_, err := watchtools.UntilWithSync(ctx, lw, &appsv1.ReplicaSet{}, func(store cache.Store) (bool, error) {
			for _, k := range store.ListKeys() {
				before[k] = true
			}
			return false, nil
		}, func(ev watch.Event) (bool, error) {
			rs, isRS := ev.Object.(*appsv1.ReplicaSet)
			return ev.Type == watch.Added && isRS && !before[rs.Namespace+"/"+rs.Name], nil
		})
		if err != nil {
			done <- fmt.Errorf("no new ReplicaSet: %w", err)
			return
		}
		done <- fn()
	}()
	return done
}

func checkFault(t *testing.T, done <-chan error) {
	t.Helper()
	if err := <-done; err != nil {
		t.Errorf("fault: %v", err)
	}
}

func events(res *report.Result, kind rollout.EventKind) []rollout.Event {
	var out []rollout.Event
	if res.Rollout == nil {
		return nil
	}
	for _, e := range res.Rollout.Events {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// TestAPIUnreachable: the API server goes dark (refused and cut
// connections) for 5 s right after the rollout starts, under 200 req/s.
// The load must not notice (nothing dropped, every second's 200 requests),
// the informers must resume and still see the rollout finish (exit 0), and
// the timeline must hold one api_unreachable event of about that span.
func TestAPIUnreachable(t *testing.T) {
	e, p, kc, url, dep := faultRun(t, "api-dark", apiDarkNodePort)
	var darkAt time.Time
	done := whenRolloutStarts(e.ctx, t, e.cs, e.ns, func() error {
		darkAt = time.Now()
		p.GoDark()
		// The span of the outage is the fault itself, not a wait for a
		// condition.
		<-time.After(apiDarkSpan)
		return p.Restore()
	})
	r := runRolltestVia(t, kc, e.ns, "dark", rolltestArgs(url, dep.Name,
		"--rate", "200", "--connections", "8", "--rollout", "restart")...)
	checkFault(t, done)
	res := requireDocument(t, r)
	ok := checkSafeRunAt(t, "dark", r, res, 200)
	gaps := events(res, rollout.EventAPIUnreachable)
	if len(gaps) != 1 {
		ok = false
		t.Errorf("%d api_unreachable events, want 1", len(gaps))
	} else {
		g := gaps[0]
		var secs float64
		if _, err := fmt.Sscanf(g.Message, "API server unreachable %f s;", &secs); err != nil ||
			secs < apiDarkSpan.Seconds()-0.5 || secs > (apiDarkSpan+apiGapReflect).Seconds() ||
			!strings.Contains(g.Message, "events in this span may be missing") {
			ok = false
			t.Errorf("api_unreachable %q: want a span from %v to %v that says events may be missing", g.Message, apiDarkSpan, apiDarkSpan+apiGapReflect)
		}
		if d := g.Time.Sub(darkAt); d < 0 || d > time.Second {
			ok = false
			t.Errorf("api_unreachable at %v, %v after the proxy went dark: want within 1 s", g.Time, d)
		}
		t.Logf("gap: went dark at %s, event at %s: %s", darkAt.Format(time.TimeOnly+".000"), g.Time.Format(time.TimeOnly+".000"), g.Message)
	}
	// Events observed late, after the gap, still follow the trigger.
	if trig := events(res, rollout.EventTrigger); len(trig) == 1 {
		for _, ev := range res.Rollout.Events {
			if ev.Generation == rollout.GenerationNew && ev.Time.Before(trig[0].Time) {
				ok = false
				t.Errorf("%s of the new revision at %.3fs, before the trigger at %.3fs", ev.Kind, ev.AtS, trig[0].AtS)
			}
		}
	}
	if !strings.Contains(r.stdout, "api_unreachable") {
		ok = false
		t.Errorf("the text summary does not show the api_unreachable event:\n%s", r.stdout)
	}
	if !ok {
		logDigest(t, r)
	}
}

// checkSafeRunAt requires a run at rate req/s that passed: exit 0, nothing
// failed, the rollout done, and every full second carrying its rate.
func checkSafeRunAt(t *testing.T, name string, r cliRun, res *report.Result, rate int64) bool {
	t.Helper()
	ok := true
	tot := res.Totals
	t.Logf("%s run: exit %d in %v: requests %d failed %d late %d achieved %.1f/s; rollout %+v",
		name, r.exit, r.elapsed.Round(time.Millisecond), tot.Requests, tot.Failed, tot.LateSends, tot.AchievedRPS, rolloutState(res))
	if r.exit != 0 || res.Verdict.ExitCode != 0 {
		ok = false
		t.Errorf("%s run: exit %d (verdict %s), want 0", name, r.exit, res.Verdict.Summary)
	}
	if tot.Failed != 0 {
		ok = false
		t.Errorf("%s run: %d failed requests, want 0 (outcomes %v)", name, tot.Failed, nonZero(tot.Outcomes))
	}
	if res.Rollout == nil || !res.Rollout.Done {
		ok = false
		t.Errorf("%s run: rollout %+v, want done", name, rolloutState(res))
	}
	for i, sec := range res.Series {
		if i == len(res.Series)-1 || sec.WidthS > 1 {
			continue
		}
		if sec.Requests != rate {
			ok = false
			t.Errorf("%s run: second %d carried %d requests, want %d (the schedule kept)", name, i, sec.Requests, rate)
		}
	}
	return ok
}

func rolloutState(res *report.Result) string {
	if res.Rollout == nil {
		return "none"
	}
	return fmt.Sprintf("done=%t failed=%t reason=%q", res.Rollout.Done, res.Rollout.Failed, res.Rollout.Reason)
}

// TestAPITriggerRetried: the trigger's patch meets a 503 and then a 504;
// the third attempt passes, the rollout completes (exit 0) and the trigger
// event says it took three attempts.
func TestAPITriggerRetried(t *testing.T) {
	e, p, kc, url, dep := faultRun(t, "api-trigger", apiTriggerNodePort)
	patch := fmt.Sprintf("^/apis/apps/v1/namespaces/%s/deployments/%s$", e.ns, dep.Name)
	r503 := p.Fail(http.MethodPatch, patch, 1, http.StatusServiceUnavailable)
	r504 := p.Fail(http.MethodPatch, patch, 1, http.StatusGatewayTimeout)
	r := runRolltestVia(t, kc, e.ns, "retried", rolltestArgs(url, dep.Name,
		"--rate", "200", "--connections", "8", "--rollout", "restart")...)
	res := requireDocument(t, r)
	ok := checkSafeRunAt(t, "retried", r, res, 200)
	if p.Hits(r503) != 1 || p.Hits(r504) != 1 {
		ok = false
		t.Errorf("the proxy failed %d patches with 503 and %d with 504, want 1 each", p.Hits(r503), p.Hits(r504))
	}
	trig := events(res, rollout.EventTrigger)
	if len(trig) != 1 || !strings.Contains(trig[0].Message, "(attempt 3; the earlier ones failed: 504 Timeout") {
		ok = false
		t.Errorf("trigger events %+v: want one saying attempt 3, after a 504", trig)
	}
	if !ok {
		logDigest(t, r)
	}
}

// TestAPITriggerHangs: the API server never answers the first patch; the
// attempt is given up after 10 s, the second passes, the rollout completes
// (exit 0) and the trigger event says so.
func TestAPITriggerHangs(t *testing.T) {
	e, p, kc, url, dep := faultRun(t, "api-trigger-hang", apiTriggerNodePort)
	rule := p.Hang(http.MethodPatch, fmt.Sprintf("^/apis/apps/v1/namespaces/%s/deployments/%s$", e.ns, dep.Name), 1)
	r := runRolltestVia(t, kc, e.ns, "hang", rolltestArgs(url, dep.Name,
		"--rate", "200", "--connections", "8", "--rollout", "restart")...)
	res := requireDocument(t, r)
	ok := checkSafeRunAt(t, "hang", r, res, 200)
	trig := events(res, rollout.EventTrigger)
	if p.Hits(rule) != 1 || len(trig) != 1 || !strings.Contains(trig[0].Message, "(attempt 2; the earlier ones failed: no answer within 10s)") {
		ok = false
		t.Errorf("%d patches hung; trigger events %+v: want one saying attempt 2 after no answer", p.Hits(rule), trig)
	}
	if !ok {
		logDigest(t, r)
	}
}

// TestAPITriggerFails: a patch answered 503 every time ends the run at the
// rollout timeout (5 s) with exit 3, one line naming the status, and the
// report written; a 403 or 404 ends it at once, without a retry.
func TestAPITriggerFails(t *testing.T) {
	e, p, kc, url, dep := faultRun(t, "api-trigger-fail", apiTriggerNodePort)
	patch := fmt.Sprintf("^/apis/apps/v1/namespaces/%s/deployments/%s$", e.ns, dep.Name)
	for _, tc := range []struct {
		name     string
		status   int
		want     string
		attempts func(int) bool
	}{
		{"503", http.StatusServiceUnavailable, "attempts in 5s, the last: 503 ServiceUnavailable", func(n int) bool { return n >= 3 }},
		{"403", http.StatusForbidden, ": 403 Forbidden: apifault: injected 403", func(n int) bool { return n == 1 }},
		{"404", http.StatusNotFound, ": 404 NotFound: apifault: injected 404", func(n int) bool { return n == 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p.Clear()
			rule := p.Fail(http.MethodPatch, patch, -1, tc.status)
			args := []string{"--target", url, "--deployment", dep.Name, "--rollout-after", "2s", "--settle", "1s",
				"--rollout-timeout", "5s", "--rate", "200", "--connections", "8", "--rollout", "restart"}
			r := runRolltestVia(t, kc, e.ns, "fail-"+tc.name, args...)
			res := requireDocument(t, r)
			t.Logf("exit %d after %v, %d patches answered %d; rollout %s", r.exit, r.elapsed.Round(time.Millisecond), p.Hits(rule), tc.status, rolloutState(res))
			if r.exit != report.ExitRolloutFailed {
				t.Errorf("exit %d, want %d", r.exit, report.ExitRolloutFailed)
			}
			if !tc.attempts(p.Hits(rule)) {
				t.Errorf("%d attempts", p.Hits(rule))
			}
			// The summary states the cause in one line.
			found := false
			for _, line := range strings.Split(r.stdout, "\n") {
				found = found || strings.Contains(line, "patch deployment "+e.ns+"/"+dep.Name) && strings.Contains(line, tc.want)
			}
			if !found {
				t.Errorf("no line of the summary names the patch and %q:\n%s", tc.want, r.stdout)
			}
			if res.Rollout == nil || !res.Rollout.Failed || !strings.Contains(res.Rollout.Reason, tc.want) {
				t.Errorf("rollout %s, want failed with %q", rolloutState(res), tc.want)
			}
			if res.Totals.Failed != 0 || res.Totals.Requests == 0 {
				t.Errorf("totals %+v: want load that dropped nothing", res.Totals)
			}
		})
	}
}

// TestAPIThrottled: when the rollout starts, every watch is cut and the
// reconnecting lists and watches are answered 429 with Retry-After: 1 (API
// priority and fairness) eight times; client-go waits as told, nothing is
// fatal, and the run passes (exit 0).
func TestAPIThrottled(t *testing.T) {
	e, p, kc, url, dep := faultRun(t, "api-throttle", apiThrottleNodePort)
	var rule *apifault.Rule
	done := whenRolloutStarts(e.ctx, t, e.cs, e.ns, func() error {
		rule = p.Throttle(http.MethodGet, fmt.Sprintf("^/apis?/.*namespaces/%s/(deployments|replicasets|pods|endpointslices)$", e.ns), 8, 1)
		// Cut the open watches, so that the informers come back through
		// the throttle.
		p.GoDark()
		return p.Restore()
	})
	r := runRolltestVia(t, kc, e.ns, "throttled", rolltestArgs(url, dep.Name,
		"--rate", "200", "--connections", "8", "--rollout", "restart")...)
	checkFault(t, done)
	res := requireDocument(t, r)
	ok := checkSafeRunAt(t, "throttled", r, res, 200)
	t.Logf("the proxy answered %d requests with 429", p.Hits(rule))
	if p.Hits(rule) == 0 {
		ok = false
		t.Errorf("no request was throttled: the test proved nothing")
	}
	if !ok {
		logDigest(t, r)
	}
}

// TestAPIObjectsVanish: once the rollout has started, the Deployment, the
// whole namespace, the Service is deleted, or the Service's selector is
// changed to select other pods. Each run ends with exit 3, the one sentence
// saying what happened, and the report written: no hang, no panic.
func TestAPIObjectsVanish(t *testing.T) {
	for _, tc := range []struct {
		name     string
		nodePort int32
		remove   func(e env, dep *appsv1.Deployment) error
		want     func(e env, dep *appsv1.Deployment) string
	}{
		{"deployment", apiDeleteNodePort, func(e env, dep *appsv1.Deployment) error {
			return e.cs.AppsV1().Deployments(e.ns).Delete(e.ctx, dep.Name, metav1.DeleteOptions{})
		}, func(e env, dep *appsv1.Deployment) string {
			return fmt.Sprintf("deployment %s/%s was deleted during the run", e.ns, dep.Name)
		}},
		{"namespace", apiNsDeleteNodePort, func(e env, _ *appsv1.Deployment) error {
			return e.cs.CoreV1().Namespaces().Delete(e.ctx, e.ns, metav1.DeleteOptions{})
		}, func(e env, dep *appsv1.Deployment) string {
			// The namespace controller deletes the Service or the
			// Deployment first, in no set order.
			return fmt.Sprintf("namespace %s was deleted during the run, and ", e.ns)
		}},
		{"service", apiSvcDeleteNodePort, func(e env, _ *appsv1.Deployment) error {
			return e.cs.CoreV1().Services(e.ns).Delete(e.ctx, "testapp", metav1.DeleteOptions{})
		}, func(e env, dep *appsv1.Deployment) string {
			return fmt.Sprintf("service %s/testapp was deleted during the run", e.ns)
		}},
		{"selector", apiSelectorNodePort, func(e env, _ *appsv1.Deployment) error {
			svc, err := e.cs.CoreV1().Services(e.ns).Get(e.ctx, "testapp", metav1.GetOptions{})
			if err != nil {
				return err
			}
			svc.Spec.Selector = map[string]string{"app": "elsewhere"}
			_, err = e.cs.CoreV1().Services(e.ns).Update(e.ctx, svc, metav1.UpdateOptions{})
			return err
		}, func(e env, dep *appsv1.Deployment) string {
			return fmt.Sprintf("service %s/testapp stopped selecting the pods of deployment %s/%s during the run (selector now app=elsewhere, pod labels ", e.ns, e.ns, dep.Name)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, _, kc, url, dep := faultRun(t, "api-vanish-"+tc.name, tc.nodePort)
			done := whenRolloutStarts(e.ctx, t, e.cs, e.ns, func() error { return tc.remove(e, dep) })
			r := runRolltestVia(t, kc, e.ns, "vanish", rolltestArgs(url, dep.Name,
				"--rate", "200", "--connections", "8", "--rollout", "restart")...)
			checkFault(t, done)
			res := requireDocument(t, r)
			want := tc.want(e, dep)
			t.Logf("exit %d in %v; rollout %s; stderr %q", r.exit, r.elapsed.Round(time.Millisecond), rolloutState(res), r.stderr)
			if r.exit != report.ExitRolloutFailed || res.Verdict.ExitCode != report.ExitRolloutFailed {
				t.Errorf("exit %d, verdict %d: want %d", r.exit, res.Verdict.ExitCode, report.ExitRolloutFailed)
			}
			if res.Rollout == nil || !res.Rollout.Failed || !strings.HasPrefix(res.Rollout.Reason, want) {
				t.Errorf("rollout %s, want failed: %s…", rolloutState(res), want)
			}
			if !strings.Contains(r.stdout, want) {
				t.Errorf("the summary does not say %q:\n%s", want, r.stdout)
			}
			if t.Failed() {
				logDigest(t, r)
			}
		})
	}
}

// TestAPIGone: the cluster goes away for good (the only way rolltest reaches
// it stops answering) once the rollout has started. The run must not wait
// for the rollout timeout: once the informers have been cut off for
// kube.DefaultAPIGoneAfter and a fresh request fails too, it ends with exit
// 3, the sentence saying the API server was lost, and the report written.
// The load never depended on the API server: nothing is dropped.
func TestAPIGone(t *testing.T) {
	e, p, kc, url, dep := faultRun(t, "api-gone", apiGoneNodePort)
	var goneAt time.Time
	done := whenRolloutStarts(e.ctx, t, e.cs, e.ns, func() error {
		goneAt = time.Now()
		p.GoDark()
		return nil
	})
	r := runRolltestVia(t, kc, e.ns, "gone", rolltestArgs(url, dep.Name,
		"--rate", "200", "--connections", "8", "--rollout", "restart")...)
	checkFault(t, done)
	res := requireDocument(t, r)
	const want = "lost the API server: unreachable for "
	t.Logf("exit %d in %v, %v after the API server went away; rollout %s", r.exit, r.elapsed.Round(time.Millisecond),
		time.Since(goneAt).Round(time.Millisecond), rolloutState(res))
	if r.exit != report.ExitRolloutFailed || res.Verdict.ExitCode != report.ExitRolloutFailed {
		t.Errorf("exit %d, verdict %d: want %d", r.exit, res.Verdict.ExitCode, report.ExitRolloutFailed)
	}
	if res.Rollout == nil || !res.Rollout.Failed || !strings.HasPrefix(res.Rollout.Reason, want) ||
		!strings.Contains(res.Rollout.Reason, "can no longer be followed") {
		t.Errorf("rollout %s, want failed: %s… can no longer be followed", rolloutState(res), want)
	}
	if len(events(res, rollout.EventAPIUnreachable)) != 1 {
		t.Errorf("want one api_unreachable event")
	}
	if res.Totals.Failed != 0 {
		t.Errorf("%d requests failed: the load does not go through the API server", res.Totals.Failed)
	}
	if !strings.Contains(r.stdout, want) {
		t.Errorf("the summary does not say %q:\n%s", want, r.stdout)
	}
	if t.Failed() {
		logDigest(t, r)
	}
}
