package report

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func loadFixture(t *testing.T, name string) *Result {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := ReadResult(f)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestTextGolden pins the text summary of each fixture; regenerate with
// go test ./pkg/report -run TextGolden -update after an intended change.
func TestTextGolden(t *testing.T) {
	for _, name := range []string{"failing-rollout", "passing-norollout"} {
		t.Run(name, func(t *testing.T) {
			r := loadFixture(t, name+".json")
			var buf bytes.Buffer
			if err := WriteText(&buf, r, TextOptions{}); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "text-"+name+".golden")
			if *updateGolden {
				if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("text summary differs from %s (run with -update if intended):\n%s", golden, buf.String())
			}
		})
	}
}

// TestTextKeepsRowsOnOneLine feeds cell values with tabs and newlines, as a
// hostile pod name or error message could carry.
func TestTextKeepsRowsOnOneLine(t *testing.T) {
	r := loadFixture(t, "failing-rollout.json")
	r.Failures.Records[0].Detail = "line one\nline two\tand a tab"
	r.Pods[0].ID, r.Pods[0].Name = "evil\npod", ""
	var buf bytes.Buffer
	if err := WriteText(&buf, r, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if strings.Contains(out, "line one\nline two") || strings.Contains(out, "evil\npod") {
		t.Fatalf("a cell broke its row:\n%s", out)
	}
}
