package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/rolltest/rolltest/internal/clustertest"
	"github.com/rolltest/rolltest/pkg/report"
)

// NodePorts of the agents' tests (see safeNodePort for the band).
const (
	agentsSafeNodePort      = 30110
	agentsUnsafeNodePort    = 30111
	agentsKilledNodePort    = 30112
	agentsInterruptNodePort = 30113
	agentsRBACNodePort      = 30114

	// agentImage is the rolltest image cluster.sh builds from this tree.
	agentImage = "rolltest.local/rolltest:e2e"
	// agentsStartup is the window the e2e gives the agent pods to start:
	// the image is on the node, so they start in about a second.
	agentsStartup = "10s"
	// agentsJobLabel selects the Jobs and pods rolltest creates.
	agentsJobLabel = "app.kubernetes.io/name=rolltest-agent"
)

// agentArgs are the flags of a run from agents in the cluster.
func agentArgs(clusterURL string, agents int, extra ...string) []string {
	return append([]string{"--target", clusterURL, "--agents", fmt.Sprint(agents),
		"--agent-image", agentImage, "--agent-pull-policy", "Never", "--agents-startup", agentsStartup}, extra...)
}

// deployForAgents is an agents' test's start: a namespace with the
// manifest's Deployment serving on nodePort; it returns the Deployment,
// the NodePort URL and the Service's ClusterIP URL, as pods reach it.
func deployForAgents(t *testing.T, prefix, manifest string, nodePort int32) (env, *appsv1.Deployment, string, string) {
	t.Helper()
	e := begin(t, prefix, withCLI)
	dep, svc := manifestWorkload(t, manifest)
	nodeURL := deployServing(e.ctx, t, e.cs, e.ns, dep, svc, nodePort)
	return e, dep, nodeURL, clusterIPURL(e.ctx, t, e.cs, e.ns, svc.Name)
}

// clusterIPURL is the testapp Service's URL as pods reach it.
func clusterIPURL(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, svc string) string {
	t.Helper()
	s, err := cs.CoreV1().Services(ns).Get(ctx, svc, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get service: %v", err)
	}
	return fmt.Sprintf("http://%s:%d/common/healthy", s.Spec.ClusterIP, s.Spec.Ports[0].Port)
}

// checkAgents requires the per-agent view of an in-cluster run of n
// agents: each sent its exact share of the schedule, from a pod on a
// node, and the shares add up to the totals.
func checkAgents(t *testing.T, res *report.Result, n int, each int64) {
	t.Helper()
	if res.Config.Agents != n || res.Config.LoadFrom != "in-cluster" || len(res.Agents) != n {
		t.Fatalf("config.agents %d load_from %q, %d agents: want %d, in-cluster", res.Config.Agents, res.Config.LoadFrom, len(res.Agents), n)
	}
	var sum int64
	for i, a := range res.Agents {
		t.Logf("agent %d: host %s node %s requests %d failed %d late %d max delay %.3fms", a.Index, a.Host, a.Node, a.Requests, a.Failed, a.LateSends, a.MaxSendDelayMs)
		if a.Index != i || a.Host == "" || a.Node == "" || a.Interrupted || a.Error != "" {
			t.Errorf("agent %d: %+v, want index %d with its pod and node, not interrupted", i, a, i)
		}
		if each > 0 && a.Requests != each {
			t.Errorf("agent %d sent %d requests, want exactly %d (its share of the schedule)", i, a.Requests, each)
		}
		sum += a.Requests
	}
	if sum != res.Totals.Requests {
		t.Errorf("agents sent %d requests between them, the totals say %d", sum, res.Totals.Requests)
	}
}

// TestAgentsSafeRestart: 3 agents in the cluster load the safe testapp
// through its ClusterIP during a restart: nothing dropped, each agent its
// exact share, every pod of the rollout seen. A run from this machine
// through the NodePort watches the same rollout and says it loaded from
// here.
func TestAgentsSafeRestart(t *testing.T) {
	e, dep, nodeURL, url := deployForAgents(t, "agents-safe", "manifests/testapp.yaml", agentsSafeNodePort)
	cs, ns, ctx := e.cs, e.ns, e.ctx

	var (
		wg    sync.WaitGroup
		local cliRun
	)
	wg.Go(func() {
		local = runRolltest(t, ns, "nodeport", "--target", nodeURL, "--rate", "200", "--connections", "8",
			"--deployment", dep.Name, "--rollout", "watch", "--rollout-after", "2s", "--settle", "5s", "--rollout-timeout", "2m")
	})
	r := runRolltest(t, ns, "agents", agentArgs(url, 3, "--rate", "600", "--duration", "45s",
		"--deployment", dep.Name, "--rollout", "restart", "--rollout-after", "8s", "--settle", "8s")...)
	wg.Wait()
	res := requireDocument(t, r)
	t.Logf("agents run: exit %d in %v; stderr:\n%s", r.exit, r.elapsed.Round(time.Millisecond), r.stderr)
	tot := res.Totals
	t.Logf("requests %d ok %d failed %d outcomes %v; phases %v; rollout done %t; pods %d",
		tot.Requests, tot.OK, tot.Failed, nonZero(tot.Outcomes), phaseNames(res), res.Rollout != nil && res.Rollout.Done, len(res.Pods))
	defer func() {
		if t.Failed() {
			logDigest(t, r)
		}
	}()
	checkConsistency(t, res)
	if r.exit != 0 || tot.Failed != 0 {
		t.Errorf("exit %d, %d dropped (%v), want 0 and 0; verdict %s", r.exit, tot.Failed, nonZero(tot.Outcomes), res.Verdict.Summary)
	}
	if tot.Requests != 27000 {
		t.Errorf("%d requests, want 600 req/s × 45 s = 27000", tot.Requests)
	}
	checkAgents(t, res, 3, 9000)
	if got := strings.Join(phaseNames(res), ","); got != "baseline,rollout,settle" {
		t.Errorf("phases %s, want baseline,rollout,settle", got)
	}
	if res.Rollout == nil || !res.Rollout.Done || res.Rollout.Failed {
		t.Errorf("rollout %+v, want done", res.Rollout)
	}
	answered := 0
	for _, p := range res.Pods {
		if p.Requests > 0 && p.Name != "" {
			answered++
		}
	}
	if answered < 4 {
		t.Errorf("%d pods answered, want the 2 old and the 2 new ones", answered)
	}
	if !strings.Contains(r.stdout, "load from: inside the cluster, 3 agent pod(s)") {
		t.Errorf("the text report does not say the load came from inside the cluster:\n%s", r.stdout)
	}

	lres := requireDocument(t, local)
	t.Logf("nodeport run: exit %d, requests %d failed %d, load_from %s", local.exit, lres.Totals.Requests, lres.Totals.Failed, lres.Config.LoadFrom)
	if lres.Config.LoadFrom != "local" || lres.Config.Agents != 1 || len(lres.Agents) != 0 {
		t.Errorf("nodeport run: load_from %q agents %d, want local and 1", lres.Config.LoadFrom, lres.Config.Agents)
	}
	if lres.Rollout == nil || !lres.Rollout.Done {
		t.Errorf("nodeport run did not see the agents' rollout: %+v", lres.Rollout)
	}
	requireNoAgentJobs(ctx, t, cs, ns, 30*time.Second)
}

// TestAgentsUnsafeRestart: the unsafe testapp's restart, loaded from 3
// agents: the drops are detected, attributed to pods and fail the run.
func TestAgentsUnsafeRestart(t *testing.T) {
	e, dep, _, url := deployForAgents(t, "agents-unsafe", "manifests/testapp-unsafe.yaml", agentsUnsafeNodePort)
	cs, ns, ctx := e.cs, e.ns, e.ctx
	r := runRolltest(t, ns, "agents-unsafe", agentArgs(url, 3, "--rate", "600", "--duration", "40s",
		"--deployment", dep.Name, "--rollout", "restart", "--rollout-after", "8s", "--settle", "8s")...)
	res := requireDocument(t, r)
	tot := res.Totals
	attributed := attributedToPods(res)
	t.Logf("exit %d: requests %d failed %d outcomes %v; %d of %d failure records attributed to a pod; hints %v",
		r.exit, tot.Requests, tot.Failed, nonZero(tot.Outcomes), attributed, len(res.Failures.Records), res.HintCodes())
	checkConsistency(t, res)
	if r.exit != 1 || res.Verdict.ExitCode != 1 {
		t.Errorf("exit %d (verdict %d), want 1: requests dropped", r.exit, res.Verdict.ExitCode)
	}
	if tot.Failed == 0 || attributed == 0 {
		t.Errorf("%d dropped, %d attributed: want drops, attributed to pods", tot.Failed, attributed)
	}
	checkAgents(t, res, 3, 8000)
	if t.Failed() {
		logDigest(t, r)
	}
	requireNoAgentJobs(ctx, t, cs, ns, 30*time.Second)
}

// startedRun is a `rolltest run` left running.
type startedRun struct {
	cmd            *exec.Cmd
	stdout, stderr *lockedBuffer
	jsonPath       string
	done           chan error
}

// lockedBuffer is a bytes.Buffer written by the process's output copier
// and read by the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startRolltest starts `rolltest run` as runRolltest does, without
// waiting for it.
func startRolltest(t *testing.T, kubeconfig, ns, name string, args ...string) *startedRun {
	t.Helper()
	bin := rolltestBinary(t)
	s := &startedRun{stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, jsonPath: filepath.Join(t.TempDir(), name+".json"), done: make(chan error, 1)}
	full := append([]string{"run", "--kubeconfig", kubeconfig, "-n", ns, "--json", s.jsonPath, "--no-progress"}, args...)
	s.cmd = exec.Command(bin, full...)
	s.cmd.Stdout, s.cmd.Stderr = s.stdout, s.stderr
	t.Logf("$ rolltest %s &", strings.Join(full, " "))
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(func() {
		_ = s.cmd.Process.Kill()
		<-s.done
	})
	return s
}

// waitExit waits at most d for the run to end and returns its exit code.
func (s *startedRun) waitExit(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case err := <-s.done:
		s.done <- err // for the cleanup
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatalf("rolltest run: %v", err)
		}
		return 0
	case <-time.After(d):
		t.Fatalf("rolltest run did not end within %v; stderr:\n%s", d, s.stderr)
		return -1
	}
}

// waitAgentsRunning waits, by watching, until n agent pods run in ns.
func waitAgentsRunning(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns string, n int, d time.Duration) {
	t.Helper()
	waitPods(ctx, t, cs, ns, d, fmt.Sprintf("%d agent pods running", n), func(ps []corev1.Pod) bool {
		running := 0
		for _, p := range ps {
			if p.Status.Phase == corev1.PodRunning {
				running++
			}
		}
		return running == n
	})
}

// requireNoAgentJobs requires that no agents' Job and no agent pod is
// left in ns within d.
func requireNoAgentJobs(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns string, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	waitPods(ctx, t, cs, ns, d, "no agent pod left", func(ps []corev1.Pod) bool { return len(ps) == 0 })
	for {
		jobs, err := cs.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{LabelSelector: agentsJobLabel})
		if err != nil {
			t.Fatalf("list jobs: %v", err)
		}
		if len(jobs.Items) == 0 {
			return time.Since(start)
		}
		if time.Since(start) > d {
			t.Fatalf("the agents' Job %s is still there %v later", jobs.Items[0].Name, d)
		}
		time.Sleep(200 * time.Millisecond) // the Job's deletion follows its pods' within moments
	}
}

// waitPods watches the agent pods of ns until ok holds, at most d.
func waitPods(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns string, d time.Duration, what string, ok func([]corev1.Pod) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		l, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: agentsJobLabel})
		if err != nil {
			t.Fatalf("waiting for %s: list pods: %v", what, err)
		}
		if ok(l.Items) {
			return
		}
		w, err := cs.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{LabelSelector: agentsJobLabel, ResourceVersion: l.ResourceVersion})
		if err != nil {
			t.Fatalf("waiting for %s: watch pods: %v", what, err)
		}
		select {
		case <-w.ResultChan(): // something changed: list again
		case <-ctx.Done():
			w.Stop()
			t.Fatalf("no %s within %v: %d pods %v", what, d, len(l.Items), podPhases(l.Items))
		}
		w.Stop()
	}
}

func podPhases(ps []corev1.Pod) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name+"="+string(p.Status.Phase))
	}
	return out
}

// TestAgentsControllerKilled: SIGKILL of the controller mid-run leaves
// the agents to end on their own at the end of their schedule, and the
// Job's ttlSecondsAfterFinished removes it and its pods.
func TestAgentsControllerKilled(t *testing.T) {
	e, _, _, url := deployForAgents(t, "agents-killed", "manifests/testapp.yaml", agentsKilledNodePort)
	cs, ns, ctx := e.cs, e.ns, e.ctx
	s := startRolltest(t, clustertest.Kubeconfig(t), ns, "killed", agentArgs(url, 2, "--rate", "100", "--duration", "15s")...)
	waitAgentsRunning(ctx, t, cs, ns, 2, time.Minute)
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	s.waitExit(t, 10*time.Second)
	killed := time.Now()
	// The schedule ends 10 s + 15 s after the start was set; the agents
	// then finish (their requests' timeout at most), the Job completes and
	// its TTL (30 s) runs out.
	took := requireNoAgentJobs(ctx, t, cs, ns, 2*time.Minute)
	t.Logf("the Job and its pods were gone %v after the controller was killed", (time.Since(killed)).Round(time.Second))
	if took > 100*time.Second {
		t.Errorf("gone after %v, want within the schedule and the TTL", took)
	}
}

// TestAgentsInterrupt: Ctrl-C mid-run deletes the Job at once; the
// stopped agents' final records are merged into a partial report.
func TestAgentsInterrupt(t *testing.T) {
	e, _, _, url := deployForAgents(t, "agents-int", "manifests/testapp.yaml", agentsInterruptNodePort)
	cs, ns, ctx := e.cs, e.ns, e.ctx
	s := startRolltest(t, clustertest.Kubeconfig(t), ns, "interrupt", agentArgs(url, 2, "--rate", "100", "--duration", "2m")...)
	waitAgentsRunning(ctx, t, cs, ns, 2, time.Minute)
	// Into the schedule: the start is 10 s after the Job was created.
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(s.stderr.String(), "agent 1 running") && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(12 * time.Second)
	sent := time.Now()
	if err := s.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	code := s.waitExit(t, time.Minute)
	exited := time.Since(sent)
	gone := requireNoAgentJobs(ctx, t, cs, ns, time.Minute)
	t.Logf("exit %d %v after SIGINT; the Job and its pods gone %v after that; stderr:\n%s", code, exited.Round(time.Millisecond), gone.Round(time.Millisecond), s.stderr)
	if code != 130 {
		t.Errorf("exit %d, want 130", code)
	}
	f, err := os.Open(s.jsonPath)
	if err != nil {
		t.Fatalf("no partial report: %v", err)
	}
	defer f.Close()
	res, err := report.ReadResult(f)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Run.Interrupted || res.Totals.Requests == 0 || len(res.Agents) != 2 {
		t.Fatalf("interrupted %t, %d requests, %d agents: want a partial report of both agents", res.Run.Interrupted, res.Totals.Requests, len(res.Agents))
	}
	for _, a := range res.Agents {
		t.Logf("agent %d: %d requests, interrupted %t, error %q", a.Index, a.Requests, a.Interrupted, a.Error)
		if !a.Interrupted {
			t.Errorf("agent %d not marked interrupted", a.Index)
		}
	}
}

// TestAgentsLeastPrivilege: a run as the ServiceAccount of
// manifests/rbac.yaml works; without pods/log it is refused in one line
// naming the verb and the file, before any Job exists; agents whose image
// is missing fail the run naming each of them.
func TestAgentsLeastPrivilege(t *testing.T) {
	e, _, _, url := deployForAgents(t, "agents-rbac", "manifests/testapp.yaml", agentsRBACNodePort)
	cs, ns, ctx := e.cs, e.ns, e.ctx
	role := clustertest.ApplyRBAC(t, cs, ns)
	kc := impersonatingKubeconfig(t, ns)

	r := runRolltestVia(t, kc, ns, "rbac-ok", agentArgs(url, 1, "--rate", "50", "--duration", "5s")...)
	if r.exit != 0 || r.res == nil || r.res.Totals.Requests != 250 {
		t.Fatalf("with exactly rbac.yaml: exit %d, want 0 with 250 requests; stderr:\n%s", r.exit, r.stderr)
	}
	requireNoAgentJobs(ctx, t, cs, ns, 30*time.Second)

	var kept []rbacv1.PolicyRule
	for _, rule := range role.Rules {
		if len(rule.Resources) == 1 && rule.Resources[0] == "pods/log" {
			continue
		}
		kept = append(kept, rule)
	}
	role.Rules = kept
	if _, err := cs.RbacV1().Roles(ns).Update(ctx, role, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	r = runRolltestVia(t, kc, ns, "rbac-nolog", agentArgs(url, 1, "--rate", "50", "--duration", "5s")...)
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	t.Logf("without pods/log: exit %d in %v: %s", r.exit, r.elapsed.Round(time.Millisecond), r.stderr)
	if r.exit != 3 || len(lines) != 1 || !strings.Contains(lines[0], "get pods/log") || !strings.Contains(lines[0], "manifests/rbac.yaml") {
		t.Errorf("exit %d, stderr %q: want exit 3 and one line naming get pods/log and manifests/rbac.yaml", r.exit, r.stderr)
	}
	if jobs, _ := cs.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{LabelSelector: agentsJobLabel}); len(jobs.Items) != 0 {
		t.Errorf("a Job was created although the run was refused")
	}

	r = runRolltest(t, ns, "noimage", "--target", url, "--agents", "2", "--agent-image", "rolltest.local/missing:none",
		"--agent-pull-policy", "Never", "--agents-startup", "5s", "--rate", "50", "--duration", "5s")
	t.Logf("missing image: exit %d in %v: %s", r.exit, r.elapsed.Round(time.Millisecond), r.stderr)
	for _, want := range []string{"agent 0: container agent waiting: ErrImageNeverPull", "agent 1: container agent waiting: ErrImageNeverPull", "was deleted"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q", want)
		}
	}
	if r.exit != 3 {
		t.Errorf("exit %d, want 3", r.exit)
	}
	requireNoAgentJobs(ctx, t, cs, ns, 30*time.Second)
}

// impersonatingKubeconfig is the admin kubeconfig acting as the
// ServiceAccount of manifests/rbac.yaml in ns.
func impersonatingKubeconfig(t *testing.T, ns string) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(clustertest.Kubeconfig(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range cfg.AuthInfos {
		a.Impersonate = "system:serviceaccount:" + ns + ":rolltest"
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}
