package main

import (
	"context"
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

// TestInputFilesBounded: a --body-file of exactly its bound is read (the
// run then finds nothing listening), not refused for its size. One byte
// past each input file's bound is refused by TestBadInputCorpus.
func TestInputFilesBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("reads a 64 MiB file")
	}
	exact := sparseFile(t, "exact", maxBodyFileBytes)
	code, _, errOut := cli(t, context.Background(), "run", "--target", "http://127.0.0.1:1/", "--requests", "1", "--concurrency", "1", "--body-file", exact)
	if code != report.ExitUsage || strings.Contains(errOut, "larger than") || !strings.Contains(errOut, "unreachable") {
		t.Errorf("a body of exactly the bound: exit %d, stderr %q; want it read, then the target found unreachable", code, errOut)
	}
}
