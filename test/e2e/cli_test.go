package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/rolltest/rolltest/internal/clustertest"
	"github.com/rolltest/rolltest/pkg/report"
)

const (
	// cliBuildTimeout bounds `go build` of cmd/rolltest (cold cache on a
	// 2-core machine included).
	cliBuildTimeout = 5 * time.Minute
	// cliRunTimeout bounds one `rolltest run`: baseline, a rollout bounded by
	// --rollout-timeout, settle, and writing the report. Past it the CLI is
	// interrupted (SIGINT), and killed cliKillDelay later.
	cliRunTimeout = 4 * time.Minute
	cliKillDelay  = 30 * time.Second

	// servingTimeout and servingMaxRequests bound the wait until every pod
	// of a fresh Deployment answers 200 through the NodePort.
	servingTimeout     = 45 * time.Second
	servingMaxRequests = 400
	servingInterval    = 100 * time.Millisecond

	// envArtifacts, when set to a directory, keeps the result documents
	// there (CI artifacts) instead of in the test's temporary directory.
	envArtifacts = "ROLLTEST_E2E_ARTIFACTS"
)

// cli is the rolltest binary, built once per test binary run.
var cli struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// TestMain removes the binary built for the run.
func TestMain(m *testing.M) {
	code := m.Run()
	if cli.dir != "" {
		os.RemoveAll(cli.dir)
	}
	os.Exit(code)
}

// rolltestBinary builds cmd/rolltest from the repository root on first use.
// It requires the cluster first, so that a run without one skips without
// paying for the build.
func rolltestBinary(t *testing.T) string {
	t.Helper()
	clustertest.Kubeconfig(t)
	cli.once.Do(func() {
		root, err := clustertest.RepoRoot()
		if err != nil {
			cli.err = err
			return
		}
		if cli.dir, err = os.MkdirTemp("", "rolltest-e2e-"); err != nil {
			cli.err = err
			return
		}
		path := filepath.Join(cli.dir, "rolltest")
		ctx, cancel := context.WithTimeout(context.Background(), cliBuildTimeout)
		defer cancel()
		start := time.Now()
		// go test puts its own GOROOT/bin first on PATH, so this is the
		// toolchain that built the test.
		cmd := exec.CommandContext(ctx, "go", "build", "-o", path, clustertest.ModulePath+"/cmd/rolltest")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			cli.err = fmt.Errorf("go build %s/cmd/rolltest: %v\n%s", clustertest.ModulePath, err, out)
			return
		}
		cli.path = path
		t.Logf("built %s in %v", path, time.Since(start).Round(time.Millisecond))
	})
	if cli.err != nil {
		t.Fatalf("e2e: %v", cli.err)
	}
	return cli.path
}

// cliRun is one finished `rolltest run`.
type cliRun struct {
	exit     int
	stdout   string
	stderr   string
	elapsed  time.Duration
	jsonPath string
	res      *report.Result // nil when no document was written
}

// runRolltest runs `rolltest run` against the cluster with args, adding
// --kubeconfig, -n, --json and --no-progress, and reads the result
// document. name names the document.
func runRolltest(t *testing.T, ns, name string, args ...string) cliRun {
	t.Helper()
	return runRolltestVia(t, clustertest.Kubeconfig(t), ns, name, args...)
}

// runRolltestVia is runRolltest with another kubeconfig (one for a proxy
// in front of the API server).
func runRolltestVia(t *testing.T, kubeconfig, ns, name string, args ...string) cliRun {
	t.Helper()
	bin := rolltestBinary(t)
	dir := t.TempDir()
	if a := os.Getenv(envArtifacts); a != "" {
		if err := os.MkdirAll(a, 0o755); err != nil {
			t.Fatalf("%s: %v", envArtifacts, err)
		}
		dir = a
	}
	r := cliRun{jsonPath: filepath.Join(dir, fmt.Sprintf("%s-%s.json", ns, name))}
	full := append([]string{"run",
		"--kubeconfig", kubeconfig, "-n", ns,
		"--json", r.jsonPath, "--no-progress"}, args...)

	ctx, cancel := context.WithTimeout(context.Background(), cliRunTimeout)
	defer cancel()
	// The generator runs at a higher priority than the cluster it loads.
	// Here they share two cores, and a kube-proxy resync or a container
	// start can take the CPU from the generator for tens of milliseconds;
	// rolltest's schedule gate then rightly reports the measurement in
	// doubt. A user runs rolltest beside, not inside, the node it tests:
	// the priority gives it that here. nice execs rolltest in place, so
	// the interrupt below still reaches it.
	cmd := exec.CommandContext(ctx, "nice", append([]string{"-n", "-10", bin}, full...)...)
	// On timeout, interrupt: the CLI still writes the partial report.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = cliKillDelay
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	t.Logf("$ rolltest %s", strings.Join(full, " "))
	start := time.Now()
	err := cmd.Run()
	r.elapsed = time.Since(start)
	r.stdout, r.stderr = stdout.String(), stderr.String()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr) && exitErr.Exited():
		r.exit = exitErr.ExitCode()
	default:
		t.Fatalf("rolltest run (%v): %v\nstdout:\n%s\nstderr:\n%s", r.elapsed.Round(time.Millisecond), err, r.stdout, r.stderr)
	}
	if ctx.Err() != nil {
		t.Fatalf("rolltest run did not end within %v (exit %d)\nstdout:\n%s\nstderr:\n%s", cliRunTimeout, r.exit, r.stdout, r.stderr)
	}
	t.Logf("rolltest run exited %d after %v", r.exit, r.elapsed.Round(time.Millisecond))
	f, err := os.Open(r.jsonPath)
	if errors.Is(err, os.ErrNotExist) {
		return r
	}
	if err != nil {
		t.Fatalf("open result: %v", err)
	}
	defer f.Close()
	if r.res, err = report.ReadResult(f); err != nil {
		t.Fatalf("result %s: %v", r.jsonPath, err)
	}
	return r
}

// requireDocument fails the test, with everything the CLI said, when the
// run wrote no result document.
func requireDocument(t *testing.T, r cliRun) *report.Result {
	t.Helper()
	if r.res == nil {
		t.Fatalf("rolltest run (exit %d) wrote no result document %s\nstdout:\n%s\nstderr:\n%s", r.exit, r.jsonPath, r.stdout, r.stderr)
	}
	return r.res
}

// checkConsistency requires the counts of the document to add up the way
// docs/result-schema.md says they do, and reports whether they did.
func checkConsistency(t *testing.T, res *report.Result) bool {
	t.Helper()
	ok := true
	check := func(what string, got, want int64) {
		t.Helper()
		if got != want {
			ok = false
			t.Errorf("document: %s = %d, want %d", what, got, want)
		}
	}
	tot := res.Totals
	var outcomes, phases, series, pods int64
	for _, n := range tot.Outcomes {
		outcomes += n
	}
	for _, ph := range res.Phases {
		phases += ph.Requests
	}
	for _, s := range res.Series {
		series += s.Requests
	}
	for _, p := range res.Pods {
		pods += p.Requests
	}
	check("sum of totals.outcomes", outcomes, tot.Requests)
	check("totals.ok + totals.failed", tot.OK+tot.Failed, tot.Requests)
	check("totals.outcomes[ok]", tot.Outcomes["ok"], tot.OK)
	check("totals.attempts", tot.Attempts, tot.Requests+tot.Retried)
	check("failures.total", res.Failures.Total, tot.Failed+tot.Retried)
	check("failure records + omitted", int64(len(res.Failures.Records))+res.Failures.Omitted, res.Failures.Total)
	check("sum of phases[].requests", phases, tot.Requests)
	check("sum of series[].requests", series, tot.Requests)
	check("sum of pods[].requests", pods, tot.Requests)
	return ok
}

// logDigest logs the numbers of a result that explain a failed assertion.
func logDigest(t *testing.T, r cliRun) {
	t.Helper()
	t.Logf("result document: %s", r.jsonPath)
	if r.stderr != "" {
		t.Logf("stderr:\n%s", r.stderr)
	}
	res := r.res
	if res == nil {
		t.Logf("stdout:\n%s", r.stdout)
		return
	}
	t.Logf("summary:\n%s", r.stdout)
	for _, ph := range res.Phases {
		t.Logf("phase %-8s %7.3f–%7.3fs requests %d failed %d outcomes %v", ph.Name, ph.StartS, ph.EndS, ph.Requests, ph.Failed, nonZero(ph.Outcomes))
	}
	for _, p := range res.Pods {
		t.Logf("pod %s name=%s version=%s requests=%d failed=%d first=%.3f last=%.3f first_ok=%s by=%v lifecycle=%s",
			p.ID, p.Name, p.Version, p.Requests, p.Failed, p.FirstS, p.LastS, optS(p.FirstOKS), p.AttributedBy, lifecycleString(p.Lifecycle))
	}
	if res.Rollout != nil {
		for _, e := range res.Rollout.Events {
			t.Logf("event %8.3fs %-20s pod=%s gen=%s %s", e.AtS, e.Kind, e.Pod, e.Generation, e.Message)
		}
	}
	for i, f := range res.Failures.Records {
		if i == 40 {
			t.Logf("… %d more failure records", len(res.Failures.Records)-i)
			break
		}
		t.Logf("failure at %.3fs seq %d %s status %d conn %d/%d pod %q by %s: %s",
			f.AtS, f.Seq, f.Outcome, f.Status, f.Conn, f.ConnRequests, f.Pod, f.AttributedBy, f.Detail)
	}
	for _, h := range res.Diagnosis {
		t.Logf("hint %s (%s): %s; evidence %q", h.Code, h.Severity, h.Title, h.Evidence)
	}
}

func optS(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.3f", *v)
}

func lifecycleString(lc *report.Lifecycle) string {
	if lc == nil {
		return "-"
	}
	return fmt.Sprintf("{%s created=%s ready=%s not_ready=%s terminating=%s endpoint_removed=%s deleted=%s}",
		lc.Generation, optS(lc.CreatedS), optS(lc.ReadyS), optS(lc.NotReadyS), optS(lc.TerminatingS),
		optS(lc.EndpointRemoved), optS(lc.DeletedS))
}

// nonZero keeps the non-zero counts of an outcome map, for compact logs.
func nonZero(m map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

func phaseNames(res *report.Result) []string {
	names := make([]string, 0, len(res.Phases))
	for _, ph := range res.Phases {
		names = append(names, ph.Name)
	}
	return names
}

// podByName finds a pod of the result by its identity or, failing that,
// its name (a StatefulSet's old and new pod share a name, not an identity).
// attributedToPods counts the failure records attributed to a pod of
// the pod table.
func attributedToPods(res *report.Result) int {
	n := 0
	for _, f := range res.Failures.Records {
		if f.AttributedBy != "none" && podByName(res, f.Pod) != nil {
			n++
		}
	}
	return n
}

func podByName(res *report.Result, name string) *report.Pod {
	if name == "" {
		return nil
	}
	for i := range res.Pods {
		if p := &res.Pods[i]; p.ID == name {
			return p
		}
	}
	for i := range res.Pods {
		if p := &res.Pods[i]; p.Name == name {
			return p
		}
	}
	return nil
}

// manifestWorkload decodes the Deployment and Service of a manifest.
func manifestWorkload(t *testing.T, rel string) (*appsv1.Deployment, *corev1.Service) {
	t.Helper()
	wl, svc := manifestObjects(t, rel)
	dep, ok := wl.(*appsv1.Deployment)
	if !ok {
		t.Fatalf("%s holds a %T, want a Deployment", rel, wl)
	}
	return dep, svc
}

// deployServing creates dep and svc (on nodePort) in ns, waits by watching
// until the Deployment is available, then until every one of its pods has
// answered 200 through the NodePort: kube-proxy programs the NodePort a
// little after the pods are Ready, and a pod without a readiness probe is
// Ready before its app serves. It returns the target URL.
func deployServing(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns string,
	dep *appsv1.Deployment, svc *corev1.Service, nodePort int32) string {
	t.Helper()
	svc = svc.DeepCopy()
	svc.Spec.Ports[0].NodePort = nodePort
	applyDeployment(ctx, t, cs, ns, dep)
	applyService(ctx, t, cs, ns, svc)
	start := time.Now()
	d := waitDeployment(ctx, t, cs, ns, dep.Name, availableTimeout, "available",
		func(d *appsv1.Deployment) (bool, error) {
			want := replicas(d)
			s := d.Status
			return s.ObservedGeneration >= d.Generation && s.Replicas == want && s.UpdatedReplicas == want &&
				s.ReadyReplicas == want && s.AvailableReplicas == want, nil
		})
	url := clustertest.NodePortURL(int(nodePort), "/common/healthy")
	pods := podsByName(ctx, t, cs, ns, d)
	waitAllServing(ctx, t, url, pods)
	t.Logf("deployment %s/%s available and every pod serving on %s after %v", ns, d.Name, url, time.Since(start).Round(time.Millisecond))
	return url
}

// waitAllServing sends bounded, paced requests (a new connection each, so
// that they spread over the endpoints) until every pod has answered 200.
// There is no API object to watch for "kube-proxy has programmed the
// NodePort" or "the app has finished starting", so this polls.
func waitAllServing(ctx context.Context, t *testing.T, url string, pods map[string]*corev1.Pod) {
	t.Helper()
	client := newHTTPClient()
	seen := map[string]bool{}
	deadline := time.Now().Add(servingTimeout)
	tick := time.NewTicker(servingInterval)
	defer tick.Stop()
	var lastErr error
	sent := 0
	for ; sent < servingMaxRequests && time.Now().Before(deadline) && len(seen) < len(pods); sent++ {
		if a, err := get(ctx, client, url); err != nil {
			lastErr = err
		} else if _, ok := pods[a.pod]; !ok {
			t.Fatalf("%s answered from pod %q, not one of %v", url, a.pod, keys(pods))
		} else {
			seen[a.pod] = true
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", url, ctx.Err())
		case <-tick.C:
		}
	}
	if len(seen) < len(pods) {
		var got []string
		for p := range seen {
			got = append(got, p)
		}
		sort.Strings(got)
		t.Fatalf("after %d requests to %s only pods %v of %v answered 200; last error: %v", sent, url, got, keys(pods), lastErr)
	}
}
