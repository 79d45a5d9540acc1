package e2e

import (
	"testing"
	"time"

	"github.com/rolltest/rolltest/pkg/report"
	"github.com/rolltest/rolltest/pkg/rollout"
)

// NodePorts of the StatefulSet and DaemonSet tests, one each, in the static
// band (see safeNodePort) and below the other tests' 30080–30085.
const (
	statefulSetNodePort       = 30070
	daemonSetNodePort         = 30071
	unsafeStatefulSetNodePort = 30072
)

// workloadArgs is rolltestArgs for any kind: --workload KIND/NAME.
func workloadArgs(url string, w rollout.Workload, extra ...string) []string {
	args := []string{"--target", url, "--workload", w.Ref()}
	args = append(args, rolloutArgs...)
	return append(args, extra...)
}

// TestSafeRolloutOtherKinds restarts the safe StatefulSet (2 replicas, one
// pod at a time, the old pod gone before its namesake replaces it) and the
// safe DaemonSet (one node, one pod, surging) under 500 req/s on 16
// keep-alive connections, and requires what the Deployment's safe run
// requires: exit 0, nothing dropped, every second's 500 requests, the
// pods' own counts agreeing, and the document naming the workload and the
// Service the driver found.
func TestSafeRolloutOtherKinds(t *testing.T) {
	for _, tc := range []struct {
		name, manifest string
		nodePort       int32
		replicas       int
	}{
		{"statefulset", "manifests/testapp-statefulset.yaml", statefulSetNodePort, 2},
		{"daemonset", "manifests/testapp-daemonset.yaml", daemonSetNodePort, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := begin(t, "rollout-"+tc.name, withCLI)
			obj, svc := manifestObjects(t, tc.manifest)
			url := serveWorkload(e.ctx, t, e.cs, e.ns, obj, svc, tc.nodePort)
			w := workloadOf(obj)
			w.Namespace, w.Service = e.ns, svc.Name

			truth := watchTruth(e.ctx, t, e.cs, e.ns)
			r := runRolltest(t, e.ns, "restart", workloadArgs(url, w,
				"--rate", "500", "--connections", "16", "--rollout", "restart")...)
			res := requireDocument(t, r)
			ok := checkSafeRun(t, tc.name, r, res, []string{"v1"}, tc.replicas)
			ok = checkWorkload(t, res, w) && ok
			ok = checkGroundTruth(t, tc.name, res, truth.finish(e.ctx)) && ok
			if !checkConsistency(t, res) || !ok {
				logDigest(t, r)
				t.FailNow()
			}
		})
	}
}

// TestUnsafeStatefulSetIsCaught restarts a StatefulSet whose pods exit at
// once on SIGTERM, with neither readiness probe nor preStop, under 500
// req/s on keep-alive connections. The CLI must fail the run (exit 1) and
// pin the drops on the old pods, the ones that went away; the new pods,
// which serve as soon as they start, may only have failed before their
// first answer.
func TestUnsafeStatefulSetIsCaught(t *testing.T) {
	e := begin(t, "rollout-sts-unsafe", withCLI)
	obj, svc := manifestObjects(t, "manifests/testapp-statefulset-unsafe.yaml")
	url := serveWorkload(e.ctx, t, e.cs, e.ns, obj, svc, unsafeStatefulSetNodePort)
	w := workloadOf(obj)
	w.Namespace, w.Service = e.ns, svc.Name

	truth := watchTruth(e.ctx, t, e.cs, e.ns)
	start := time.Now()
	r := runRolltest(t, e.ns, "restart", workloadArgs(url, w,
		"--rate", "500", "--connections", "16", "--rollout", "restart")...)
	res := checkUnsafeRun(t, r, true)
	checkWorkload(t, res, w)
	checkGroundTruth(t, "restart", res, truth.finish(e.ctx))
	checkDropsOnOldPods(t, res)
	t.Logf("unsafe statefulset run checked in %v", time.Since(start).Round(time.Millisecond))
}

// checkDropsOnOldPods requires every failure attributed to a pod to be
// attributed to an old pod, or to a new one before its first 2xx, and at
// least one to an old pod.
func checkDropsOnOldPods(t *testing.T, res *report.Result) {
	t.Helper()
	onOld, onStarting, unattributed := 0, 0, 0
	byPod := map[string]int{}
	for _, f := range res.Failures.Records {
		if f.AttributedBy == "none" {
			unattributed++
			continue
		}
		p := podByName(res, f.Pod)
		if p == nil || p.Lifecycle == nil {
			t.Errorf("failure seq %d at %.3fs attributed to pod %q, which has no lifecycle in the document", f.Seq, f.AtS, f.Pod)
			continue
		}
		byPod[p.Name+" "+p.Lifecycle.Generation+" "+p.ID]++
		switch {
		case p.Lifecycle.Generation == string(rollout.GenerationOld):
			onOld++
		case p.FirstOKS == nil || f.AtS < *p.FirstOKS:
			onStarting++
		default:
			t.Errorf("failure seq %d at %.3fs (%s, by %s) attributed to new pod %s (%s), which had served since %.3fs",
				f.Seq, f.AtS, f.Outcome, f.AttributedBy, p.Name, p.ID, *p.FirstOKS)
		}
	}
	t.Logf("failure records: %d on old pods, %d on new pods before their first answer, %d unattributed; by pod %v",
		onOld, onStarting, unattributed, byPod)
	if onOld == 0 {
		t.Errorf("no failure is attributed to an old pod")
	}
}
