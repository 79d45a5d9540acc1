package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rolltest/rolltest/pkg/report"
)

// sparseFile makes a file of size bytes that occupies no disk: a wrong
// path to a disk image, cheaply.
func sparseFile(t *testing.T, name string, size int64) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestInputFilesBounded: every file rolltest reads from the command line
// is bounded, one byte past its bound is refused in one line naming the
// flag (or file) and the bound, and exactly the bound is not refused for
// its size.
func TestInputFilesBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("reads up to 32 MiB files")
	}
	for _, tc := range []struct {
		name  string
		limit int64
		args  func(path string) []string
		want  string
	}{
		{"body-file", maxBodyFileBytes, func(p string) []string {
			return []string{"run", "--target", "http://127.0.0.1:1/", "--requests", "1", "--concurrency", "1", "--body-file", p}
		}, "--body-file: "},
		{"targets", 16 << 20, func(p string) []string {
			return []string{"run", "--targets", p, "--requests", "1", "--concurrency", "1"}
		}, "--targets "},
		{"jmx", 32 << 20, func(p string) []string { return []string{"run", "--jmx", p, "--requests", "1"} }, "--jmx"},
		{"report", report.MaxResultBytes, func(p string) []string { return []string{"report", p, "--quiet"} }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			big := sparseFile(t, "big", tc.limit+1)
			code, _, errOut := cli(t, context.Background(), tc.args(big)...)
			bound := fmt.Sprintf("larger than %d MiB", tc.limit>>20)
			if code != report.ExitUsage || !strings.Contains(errOut, "rolltest: "+tc.want) || !strings.Contains(errOut, bound) ||
				!strings.Contains(errOut, big) || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
				t.Fatalf("exit %d, stderr %q; want 2 and one line naming %q and the bound", code, errOut, tc.want)
			}
			if tc.name == "body-file" {
				// At the bound the body is read (then the run finds
				// nothing listening): no size error.
				exact := sparseFile(t, "exact", tc.limit)
				if _, _, errOut := cli(t, context.Background(), tc.args(exact)...); strings.Contains(errOut, "larger than") {
					t.Errorf("a body of exactly the bound refused: %s", errOut)
				}
			}
		})
	}
}
