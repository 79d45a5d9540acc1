package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rolltest/rolltest/pkg/report"
	"github.com/rolltest/rolltest/pkg/rollout"
	"github.com/rolltest/rolltest/testapp/app"
)

// TestRolloutUsageErrors: a wrong rollout flag is one line naming the flag,
// exit 2, before anything is sent or any cluster is contacted.
func TestRolloutUsageErrors(t *testing.T) {
	base := []string{"run", "--target", "http://127.0.0.1:1/", "--rate", "10"}
	tests := []struct {
		args []string
		want []string // every text the line must hold
	}{
		{[]string{"--deployment", "web", "--workload", "sts/db"}, []string{"--deployment", "--workload"}},
		// Both given is refused even when no rollout would run.
		{[]string{"--deployment", "web", "--workload", "deployment/web", "--rollout", "none", "--duration", "1s"}, []string{"--deployment", "--workload"}},
		{[]string{"--workload", "db"}, []string{"--workload", "KIND/NAME"}},
		{[]string{"--workload", "job/x"}, []string{"--workload", `"job"`, "deployment, statefulset or daemonset"}},
		{[]string{"--workload", "sts/db", "--rollout", "bounce"}, []string{"--rollout", `"bounce"`}},
		{[]string{"--workload", "ds/agent", "--rollout", "image=agent"}, []string{"--rollout", "CONTAINER=IMAGE"}},
		{[]string{"--workload", "sts/db", "--duration", "5s"}, []string{"--duration"}},
		{[]string{"--workload", "sts/db", "--rollout-timeout", "0s"}, []string{"--rollout-timeout"}},
	}
	for _, tt := range tests {
		args := append(append([]string(nil), base...), tt.args...)
		code, out, errOut := cli(t, context.Background(), args...)
		if code != report.ExitUsage {
			t.Errorf("%v: exit %d, want 2\n%s%s", tt.args, code, out, errOut)
			continue
		}
		lines := strings.Split(strings.TrimSpace(errOut), "\n")
		if len(lines) != 1 || !strings.HasPrefix(lines[0], "rolltest: ") {
			t.Errorf("%v: stderr %q: want one line", tt.args, errOut)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(lines[0], w) {
				t.Errorf("%v: %q does not name %s", tt.args, lines[0], w)
			}
		}
	}
}

// TestRolloutFlagsParsedOnce: --workload, its short kinds and --deployment
// become one typed workload, and --rollout one typed action.
func TestRolloutFlagsParsedOnce(t *testing.T) {
	tests := []struct {
		f        rolloutFlags
		want     rollout.Workload
		flag     string
		action   rollout.Action
		wantFail bool
	}{
		{f: rolloutFlags{deployment: "web", mode: "restart"}, want: rollout.Workload{Kind: rollout.KindDeployment, Name: "web"},
			flag: "--deployment", action: rollout.Action{Kind: rollout.ActionRestart}},
		{f: rolloutFlags{workload: "sts/db", mode: "image=db=registry/db:v2"}, want: rollout.Workload{Kind: rollout.KindStatefulSet, Name: "db"},
			flag: "--workload", action: rollout.Action{Kind: rollout.ActionImage, Container: "db", Image: "registry/db:v2"}},
		{f: rolloutFlags{workload: "ds/agent", mode: "watch"}, want: rollout.Workload{Kind: rollout.KindDaemonSet, Name: "agent"},
			flag: "--workload", action: rollout.Action{Kind: rollout.ActionWatch}},
	}
	for _, tt := range tests {
		f := tt.f
		f.timeout = 1
		if err := f.validate(); err != nil {
			t.Errorf("%+v: %v", tt.f, err)
			continue
		}
		if f.target != tt.want || f.workloadFlag != tt.flag || f.action != tt.action {
			t.Errorf("%+v: target %+v via %s, action %+v; want %+v via %s, %+v", tt.f, f.target, f.workloadFlag, f.action, tt.want, tt.flag, tt.action)
		}
	}
}

// TestSetupErrorNamesTheFlag: the driver's setup errors name no flag; the
// command adds the one that fixes each, the one the user typed for the
// workload.
func TestSetupErrorNamesTheFlag(t *testing.T) {
	byWorkload := &rolloutFlags{workloadFlag: "--workload"}
	byDeployment := &rolloutFlags{workloadFlag: "--deployment"}
	tests := []struct {
		err  error
		f    *rolloutFlags
		want string
		exit int
	}{
		{rollout.SetupErrorf(rollout.InputWorkload, "statefulset shop/db not found"), byWorkload, "--workload: statefulset shop/db not found", report.ExitUsage},
		{rollout.SetupErrorf(rollout.InputWorkload, "deployment shop/web not found"), byDeployment, "--deployment: deployment shop/web not found", report.ExitUsage},
		{rollout.SetupErrorf(rollout.InputService, "service shop/x not found"), byWorkload, "--service: service shop/x not found", report.ExitUsage},
		{rollout.SetupErrorf(rollout.InputNamespace, "no namespace given"), nil, "-n/--namespace: no namespace given", report.ExitUsage},
		{rollout.SetupErrorf(rollout.InputAction, "deployment shop/web is paused"), byDeployment, "--rollout: deployment shop/web is paused", report.ExitUsage},
		{rollout.SetupErrorf("", "something else"), nil, "something else", report.ExitUsage},
		{errors.New("patch statefulset shop/db: forbidden"), byWorkload, "patch statefulset shop/db: forbidden", report.ExitRolloutFailed},
	}
	for _, tt := range tests {
		got := setupError(tt.err, tt.f)
		if got.Error() != tt.want || exitCodeOf(got) != tt.exit {
			t.Errorf("setupError(%v) = %q (exit %d), want %q (exit %d)", tt.err, got, exitCodeOf(got), tt.want, tt.exit)
		}
	}
}

// TestKubeconfigUnreadable: the driver is built from the flags only after
// the preflight, and a kubeconfig that cannot be loaded is a usage error
// naming --kubeconfig.
func TestKubeconfigUnreadable(t *testing.T) {
	base := startTestapp(t, app.Config{PodID: "testapp-1", PodIP: "10.244.0.9", Version: "v1"})
	bad := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(bad, []byte("not: [yaml"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := cli(t, context.Background(), "run", "--target", base+"/common/healthy", "--rate", "10",
		"--workload", "sts/db", "--kubeconfig", bad, "--no-progress", "-q")
	if code != report.ExitUsage || !strings.Contains(errOut, "--kubeconfig") {
		t.Errorf("exit %d stderr %q: want 2 naming --kubeconfig", code, errOut)
	}
}
