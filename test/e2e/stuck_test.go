package e2e

import (
	"strings"
	"testing"

	"github.com/rolltest/rolltest/pkg/report"
	"github.com/rolltest/rolltest/pkg/rollout"
)

// stuckNodePort is TestRolloutStuck's NodePort (see safeNodePort).
const stuckNodePort = 30073

// TestRolloutStuck changes the safe Deployment's image to one the node
// does not have (imagePullPolicy Never: ErrImageNeverPull), with a 10 s
// progress deadline, under 200 req/s. The CLI must end the run with exit
// 3 and kubectl's sentence, still write the report, drop nothing (the
// surge pod never takes traffic and the old pods stay), and name the stuck
// new pod with the reason the kubelet gives.
func TestRolloutStuck(t *testing.T) {
	e := begin(t, "rollout-stuck", withCLI)
	dep, svc := manifestWorkload(t, "manifests/testapp.yaml")
	deadline := int32(10)
	dep.Spec.ProgressDeadlineSeconds = &deadline
	url := deployServing(e.ctx, t, e.cs, e.ns, dep, svc, stuckNodePort)
	w := workloadOf(dep)
	w.Namespace, w.Service = e.ns, svc.Name

	r := runRolltest(t, e.ns, "stuck", workloadArgs(url, w,
		"--rate", "200", "--connections", "8", "--rollout", "image=testapp=rolltest.local/testapp:missing")...)
	res := requireDocument(t, r)
	if r.exit != report.ExitRolloutFailed || res.Verdict.ExitCode != report.ExitRolloutFailed {
		t.Errorf("exit %d, verdict %d: want %d (the rollout failed)", r.exit, res.Verdict.ExitCode, report.ExitRolloutFailed)
	}
	want := `deployment "` + dep.Name + `" exceeded its progress deadline`
	if res.Rollout == nil || !res.Rollout.Failed || !strings.Contains(res.Rollout.Reason, want) {
		t.Fatalf("rollout %+v, want failed: %s", res.Rollout, want)
	}
	if res.Totals.Failed != 0 || res.Totals.Requests == 0 {
		t.Errorf("totals %+v: want load that dropped nothing, the old pods serving throughout", res.Totals)
	}
	var stuck []rollout.Event
	for _, ev := range res.Rollout.Events {
		if ev.Kind == rollout.EventPodStuck {
			stuck = append(stuck, ev)
		}
	}
	if len(stuck) != 1 || stuck[0].Generation != rollout.GenerationNew || !strings.Contains(stuck[0].Message, "ErrImageNeverPull") {
		t.Errorf("pod_stuck events %+v: want the one surge pod, waiting with ErrImageNeverPull", stuck)
	}
	var hint *report.Hint
	for i := range res.Diagnosis {
		if res.Diagnosis[i].Code == report.HintRolloutFailed {
			hint = &res.Diagnosis[i]
		}
	}
	if hint == nil || len(hint.Evidence) != 1 || !strings.Contains(hint.Evidence[0], "ErrImageNeverPull") {
		t.Errorf("diagnosis %+v: want rollout_failed naming the stuck pod and ErrImageNeverPull", res.Diagnosis)
	}
	if !strings.Contains(r.stdout, "ErrImageNeverPull") || !strings.Contains(r.stdout, want) {
		t.Errorf("the summary does not say why:\n%s", r.stdout)
	}
	if t.Failed() {
		logDigest(t, r)
	}
}
