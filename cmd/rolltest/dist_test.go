package main

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/rolltest/rolltest/testapp/app"
)

// The tests of what ships around the binary: the build's version stamp,
// the kubectl plugin and its completion, and the CI scripts, each run as
// the real program or script with the environment its host sets.

// repoRoot is the module's root, from this package's directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// buildRolltest builds the binary as make build and make release do,
// with version stamped in.
func buildRolltest(t *testing.T, version string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command:", err)
	}
	bin := filepath.Join(t.TempDir(), "rolltest")
	cmd := exec.Command(goTool, "build", "-trimpath", "-ldflags", "-X main.version="+version, "-o", bin, ".")
	cmd.Env = append(offlineEnv(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// offlineEnv is this process's environment without any CI system's own
// variables (the tests set those they mean), and with the module proxy
// off: a build must not reach the network.
func offlineEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "GITHUB_"), strings.HasPrefix(name, "GITLAB_"), strings.HasPrefix(name, "CI_"),
			strings.HasPrefix(name, "JENKINS_"), strings.HasPrefix(name, "RUNNER_"), strings.HasPrefix(name, "ROLLTEST_"),
			name == "WORKSPACE", name == "BUILD_NUMBER", name == "GOPROXY", name == "GOFLAGS":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "GOPROXY=off", "GOFLAGS=-mod=readonly")
}

// runProg runs a program and returns its exit code and output; failing to
// start it fails the test.
func runProg(t *testing.T, env []string, name string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode(), stdout.String(), stderr.String()
	case err != nil:
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return 0, stdout.String(), stderr.String()
}

// TestBuiltBinary: the version given to the linker is what the binary
// prints; started as kubectl-rolltest, it speaks as `kubectl rolltest`,
// and kubectl's completion hook lists its flags.
func TestBuiltBinary(t *testing.T) {
	bin := buildRolltest(t, "v9.8.7-test")
	env := offlineEnv()
	for _, args := range [][]string{{"version"}, {"--version"}} {
		if code, out, errOut := runProg(t, env, bin, args...); code != 0 || out != "rolltest v9.8.7-test\n" {
			t.Errorf("rolltest %v: exit %d, %q %q; want the linker's version", args, code, out, errOut)
		}
	}

	code, out, _ := runProg(t, env, bin, "run", "--help")
	if code != 0 || !strings.Contains(out, "\n  rolltest run (--target URL") || strings.Contains(out, "kubectl rolltest") {
		t.Errorf("rolltest run --help: exit %d\n%s", code, out)
	}

	dir := t.TempDir()
	plugin := filepath.Join(dir, "kubectl-rolltest")
	if err := os.Symlink(bin, plugin); err != nil {
		t.Fatal(err)
	}
	code, out, _ = runProg(t, env, plugin, "run", "--help")
	for _, want := range []string{"Usage:\n  kubectl rolltest run (--target URL", "\n  kubectl rolltest run --target http://127.0.0.1:8080/", "--context string", "-n, --namespace string", "--kubeconfig string"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("kubectl-rolltest run --help: exit %d, lacks %q\n%s", code, want, out)
		}
	}
	if regexp.MustCompile(`(?m)^\s*rolltest `).MatchString(out) {
		t.Errorf("kubectl-rolltest run --help still shows a bare rolltest command:\n%s", out)
	}
	if code, out, _ = runProg(t, env, plugin, "--help"); code != 0 || !strings.Contains(out, `Use "kubectl rolltest [command] --help"`) {
		t.Errorf("kubectl-rolltest --help: exit %d\n%s", code, out)
	}

	completes := func(what string, code int, out, errOut string) {
		t.Helper()
		for _, flag := range []string{"--context\t", "--kubeconfig\t", "--namespace\t", "--markdown\t", "--target\t"} {
			if code != 0 || !strings.Contains(out, "\n"+flag) && !strings.HasPrefix(out, flag) {
				t.Errorf("%s: exit %d, does not list %s\n%s%s", what, code, strings.TrimSpace(flag), out, errOut)
			}
		}
	}
	code, out, errOut := runProg(t, env, plugin, "__complete", "run", "--")
	completes("kubectl-rolltest __complete run --", code, out, errOut)
	// kubectl runs kubectl_complete-rolltest from the PATH, beside the plugin.
	pathEnv := append(env, "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	code, out, errOut = runProg(t, pathEnv, filepath.Join(repoRoot(t), "dist", "kubectl_complete-rolltest"), "run", "--")
	completes("kubectl_complete-rolltest run --", code, out, errOut)
	for _, name := range []string{bin, plugin} {
		if code, out, errOut := runProg(t, env, name, "completion", "bash"); code != 0 || !strings.Contains(out, "__start_") {
			t.Errorf("%s completion bash: exit %d %q", filepath.Base(name), code, errOut)
		}
	}
}

// TestKubectlFlagsResolve: --kubeconfig, --context and -n/--namespace
// choose the cluster and namespace as kubectl's do; nothing is contacted.
func TestKubectlFlagsResolve(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	kubeconfig := `apiVersion: v1
kind: Config
clusters:
- {name: one, cluster: {server: "https://127.0.0.1:6443"}}
- {name: two, cluster: {server: "https://127.0.0.2:7443"}}
users:
- {name: u, user: {token: "t"}}
contexts:
- {name: first, context: {cluster: one, user: u, namespace: team-a}}
- {name: second, context: {cluster: two, user: u, namespace: team-b}}
current-context: first
`
	if err := os.WriteFile(path, []byte(kubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "absent"))
	for _, tc := range []struct {
		args     []string
		host, ns string
	}{
		{[]string{"--kubeconfig", path}, "https://127.0.0.1:6443", "team-a"},
		{[]string{"--kubeconfig", path, "--context", "second"}, "https://127.0.0.2:7443", "team-b"},
		{[]string{"--kubeconfig=" + path, "--context=second", "-n", "shop"}, "https://127.0.0.2:7443", "shop"},
		{[]string{"--kubeconfig", path, "--namespace", "web"}, "https://127.0.0.1:6443", "web"},
	} {
		// The run command's own flags, as registered on it.
		var rf rolloutFlags
		cmd := newRunCmd(nil, nil)
		cmd.ResetFlags()
		rf.register(cmd)
		if err := cmd.ParseFlags(tc.args); err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		cfg, ns, err := kubeCluster(&rf)
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if cfg.Host != tc.host || ns != tc.ns {
			t.Errorf("%v: host %s namespace %s; want %s %s", tc.args, cfg.Host, ns, tc.host, tc.ns)
		}
	}
	var rf rolloutFlags
	rf.kubeconfig, rf.kubeContext = path, "third"
	if _, _, err := kubeCluster(&rf); err == nil || !strings.HasPrefix(err.Error(), "--kubeconfig: ") || !strings.Contains(err.Error(), "third") {
		t.Errorf("unknown context: %v", err)
	}
}

// ciEnv is the environment a CI system gives a job: offlineEnv and vars.
func ciEnv(vars ...string) []string { return append(offlineEnv(), vars...) }

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// outputs reads a $GITHUB_OUTPUT file of name=value lines.
func outputs(t *testing.T, path string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(readFile(t, path)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		m[k] = v
	}
	return m
}

// TestCIScripts runs the scripts of the GitHub Action, the GitLab template
// and the Jenkinsfile as those systems would, against loopback servers:
// one that serves (pass), one that answers 500 (fail), and a command line
// that is wrong (usage error), and checks the exit code, the reports where
// the templates collect them, the step summary and the outputs.
func TestCIScripts(t *testing.T) {
	if testing.Short() {
		t.Skip("builds rolltest and runs the CI scripts")
	}
	root := repoRoot(t)
	good := startTestapp(t, app.Config{PodID: "testapp-1", PodIP: "10.244.0.9", Version: "v1"}) + "/common/healthy"
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "broken <b>|pod|</b>", http.StatusInternalServerError)
	}))
	t.Cleanup(bad.Close)
	// A slow, shared machine may fall behind 40 req/s; the schedule is not
	// what these tests are about.
	load := " --rate 40 --duration 1s --max-late 50%"

	t.Run("github", func(t *testing.T) {
		tmp := t.TempDir()
		runnerTemp, workspace := filepath.Join(tmp, "runner-temp"), filepath.Join(tmp, "workspace")
		for _, d := range []string{runnerTemp, workspace} {
			if err := os.Mkdir(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		script := filepath.Join(root, "dist", "ci", "github-action.sh")
		github := func(step, summary, output string, vars ...string) (int, string) {
			env := ciEnv(append([]string{"GITHUB_ACTIONS=true", "CI=true", "GITHUB_ACTION_PATH=" + root, "GITHUB_WORKSPACE=" + workspace,
				"RUNNER_TEMP=" + runnerTemp, "RUNNER_OS=Linux", "RUNNER_ARCH=X64", "GITHUB_RUN_ID=77",
				"GITHUB_STEP_SUMMARY=" + summary, "GITHUB_OUTPUT=" + output}, vars...)...)
			code, out, errOut := runProg(t, env, "sh", script, step)
			return code, out + errOut
		}
		// version "source": the action builds its own checkout, as on a
		// runner without a release to download.
		if code, out := github("install", filepath.Join(tmp, "install.md"), filepath.Join(tmp, "install.out"), "ROLLTEST_VERSION=source"); code != 0 {
			t.Fatalf("install: exit %d\n%s", code, out)
		}
		for _, tc := range []struct {
			name, args string
			exit       int
			summary    []string
		}{
			{"pass", "--target " + good + load, 0, []string{"## ✅ rolltest: PASS\n", "| 40 | 0 | 0% |"}},
			{"fail", "--target " + bad.URL + "/x" + load, 1, []string{"## ❌ rolltest: FAIL\n", "| 40 | 40 | 100.00% |", "HTTP 500"}},
			{"usage", "--target " + good + " --rate 10", 2, []string{"## ❌ rolltest: ERROR (exit 2)\n", "--duration"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				summary, output := filepath.Join(tmp, tc.name+".md"), filepath.Join(tmp, tc.name+".out")
				// GitHub appends to both files: they hold earlier steps' lines.
				for _, f := range []string{summary, output} {
					if err := os.WriteFile(f, []byte("earlier\n"), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				code, out := github("run", summary, output, "ROLLTEST_ARGS="+tc.args, "ROLLTEST_WORKING_DIRECTORY=.")
				if code != tc.exit {
					t.Fatalf("exit %d, want %d\n%s", code, tc.exit, out)
				}
				md := readFile(t, summary)
				if !strings.HasPrefix(md, "earlier\n") {
					t.Errorf("the summary was overwritten, not appended to:\n%s", md)
				}
				for _, want := range tc.summary {
					if !strings.Contains(md, want) {
						t.Errorf("step summary lacks %q:\n%s", want, md)
					}
				}
				o := outputs(t, output)
				dir := filepath.Join(runnerTemp, "rolltest-report")
				passed := map[bool]string{true: "true", false: "false"}[tc.exit == 0]
				if !strings.HasPrefix(readFile(t, output), "earlier\n") || o["exit-code"] != strconv.Itoa(tc.exit) || o["passed"] != passed ||
					o["report-dir"] != dir || o["json"] != filepath.Join(dir, "result.json") {
					t.Errorf("outputs %v", o)
				}
				if tc.exit == 2 {
					return
				}
				for _, f := range []string{"result.json", "report.html", "junit.xml", "summary.md"} {
					if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
						t.Errorf("%s not written: %v", f, err)
					}
				}
				if got := readResult(t, filepath.Join(dir, "result.json")); got.Tool.Version == "" || got.Totals.Requests != 40 {
					t.Errorf("result: tool %+v totals %+v", got.Tool, got.Totals)
				}
			})
		}
	})

	bin := buildRolltest(t, "v0.0.0-ci")

	t.Run("gitlab", func(t *testing.T) {
		var tmpl struct {
			Rolltest struct {
				Script    []string
				Artifacts struct {
					When    string
					Paths   []string
					Reports struct{ JUnit string }
				}
			}
		}
		if err := yaml.Unmarshal([]byte(readFile(t, filepath.Join(root, "dist", "ci", "gitlab-ci.yml"))), &tmpl); err != nil {
			t.Fatal(err)
		}
		job := tmpl.Rolltest
		if job.Artifacts.When != "always" || len(job.Artifacts.Paths) != 1 || job.Artifacts.Reports.JUnit == "" ||
			!strings.Contains(strings.Join(job.Script, "\n"), "/ci/run.sh") {
			t.Fatalf("template job %+v: want artifacts always, one path, a JUnit report, and ci/run.sh", job)
		}
		project := t.TempDir()
		code, out, errOut := runProg(t, ciEnv("GITLAB_CI=true", "CI=true", "CI_PROJECT_DIR="+project, "CI_JOB_ID=4242",
			"ROLLTEST_BIN="+bin, "ROLLTEST_ARGS=--target "+bad.URL+"/x"+load), "sh", filepath.Join(root, "dist", "ci", "run.sh"))
		if code != 1 || !strings.Contains(errOut, "GitLab job 4242") {
			t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
		}
		junit := readFile(t, filepath.Join(project, job.Artifacts.Reports.JUnit))
		if !strings.Contains(junit, `<failure`) || !strings.Contains(junit, "dropped_requests") {
			t.Errorf("the JUnit report the template names does not hold the failed gate:\n%s", junit)
		}
		for _, f := range []string{"result.json", "report.html", "junit.xml", "summary.md"} {
			if _, err := os.Stat(filepath.Join(project, job.Artifacts.Paths[0], f)); err != nil {
				t.Errorf("%s is not under the template's artifact path %s: %v", f, job.Artifacts.Paths[0], err)
			}
		}
	})

	t.Run("jenkins", func(t *testing.T) {
		jenkinsfile := readFile(t, filepath.Join(root, "dist", "ci", "Jenkinsfile"))
		junitPath := regexp.MustCompile(`junit [^\n]*testResults: '([^']+)'`).FindStringSubmatch(jenkinsfile)
		archive := regexp.MustCompile(`archiveArtifacts artifacts: '([^']+)/\*\*'`).FindStringSubmatch(jenkinsfile)
		if junitPath == nil || archive == nil || !strings.Contains(jenkinsfile, "/ci/run.sh") || !strings.Contains(jenkinsfile, "always {") {
			t.Fatalf("the Jenkinsfile lacks junit, archiveArtifacts of a directory, ci/run.sh or a post always block:\n%s", jenkinsfile)
		}
		workspace := t.TempDir()
		// Jenkins reuses a workspace: the last build's report must not
		// survive into this one's artifacts.
		stale := filepath.Join(workspace, archive[1], "stale.html")
		if err := os.MkdirAll(filepath.Dir(stale), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(stale, []byte("stale"), 0o644); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := runProg(t, ciEnv("JENKINS_HOME="+t.TempDir(), "WORKSPACE="+workspace, "BUILD_NUMBER=17",
			"ROLLTEST_BIN="+bin, "ROLLTEST_ARGS=--target "+good+load), "sh", filepath.Join(root, "dist", "ci", "run.sh"))
		if code != 0 || !strings.Contains(errOut, "Jenkins build 17") || !strings.Contains(out, "PASS: 0 of 40 requests dropped") {
			t.Fatalf("exit %d, want 0\n%s%s", code, out, errOut)
		}
		if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the last build's %s survived: %v", stale, err)
		}
		if junit := readFile(t, filepath.Join(workspace, junitPath[1])); !strings.Contains(junit, "<testsuites") || strings.Contains(junit, "<failure") {
			t.Errorf("the JUnit report the Jenkinsfile names:\n%s", junit)
		}
		for _, f := range []string{"result.json", "report.html", "summary.md"} {
			if _, err := os.Stat(filepath.Join(workspace, archive[1], f)); err != nil {
				t.Errorf("%s is not under the archived %s: %v", f, archive[1], err)
			}
		}
	})
}
