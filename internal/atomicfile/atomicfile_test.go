package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestWrite(t *testing.T) {
	// A umask that would make a plain create 0600: the mode must not
	// depend on it.
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	boom := errors.New("boom")
	for _, tc := range []struct {
		name    string
		write   func(io.Writer) error
		wantErr error
	}{
		{"whole", func(w io.Writer) error { _, err := io.WriteString(w, "new report\n"); return err }, nil},
		{"fails halfway", func(w io.Writer) error { io.WriteString(w, "half a"); return boom }, boom},
		{"interrupted before a byte", func(io.Writer) error { return boom }, boom},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "r.html")
			if err := os.WriteFile(path, []byte("old report\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			err := Write(path, tc.write)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Write: %v, want %v", err, tc.wantErr)
			}
			got, _ := os.ReadFile(path)
			st, _ := os.Stat(path)
			switch {
			case tc.wantErr == nil && (string(got) != "new report\n" || st.Mode().Perm() != 0o644):
				t.Errorf("%q with mode %v, want the new report with 0644", got, st.Mode().Perm())
			case tc.wantErr != nil && string(got) != "old report\n":
				t.Errorf("a failed write left %q, want the old report untouched", got)
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 1 {
				var names []string
				for _, e := range entries {
					names = append(names, e.Name())
				}
				t.Errorf("files left: %s, want r.html alone", strings.Join(names, ", "))
			}
		})
	}
}

func TestWriteMissingDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "r.json")
	if err := Write(path, func(io.Writer) error { return nil }); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Write into a missing directory: %v", err)
	}
}
