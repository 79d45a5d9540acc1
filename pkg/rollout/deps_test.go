package rollout

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoClientGoOutsideKube keeps the report, the simulator, the runner and
// this package free of client-go: only cmd/... and pkg/rollout/kube talk to
// a cluster. A client-go import there would drag the Kubernetes client into
// every consumer of the result document.
func TestNoClientGoOutsideKube(t *testing.T) {
	const module = "github.com/rolltest/rolltest/"
	pkgs := []string{"pkg/report", "pkg/sim", "pkg/runner", "pkg/rollout"}
	for _, pkg := range pkgs {
		// go test puts the toolchain that built the test first on PATH.
		out, err := exec.Command("go", "list", "-deps", module+pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		var bad []string
		for _, dep := range strings.Fields(string(out)) {
			if strings.HasPrefix(dep, "k8s.io/client-go") {
				bad = append(bad, dep)
			}
		}
		if len(bad) > 0 {
			t.Errorf("%s depends on %d client-go packages (first %s): keep cluster code in pkg/rollout/kube", pkg, len(bad), bad[0])
		}
		if !strings.Contains(string(out), module+pkg) {
			t.Errorf("go list -deps %s did not list the package itself:\n%s", pkg, out)
		}
	}
}
