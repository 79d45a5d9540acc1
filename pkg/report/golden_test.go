package report

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

// updateGolden rewrites the golden files in testdata instead of comparing:
// go test ./pkg/report -run Golden -update
var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata")

// goldenCompare compares got with testdata/name, or rewrites the file when
// the tests run with -update.
func goldenCompare(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *updateGolden {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./pkg/report -run Golden -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./pkg/report -run Golden -update rewrites it):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}
