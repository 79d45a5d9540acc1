// Package atomicfile writes a file whole or not at all: into a temporary
// file beside it, synced, made 0644, then renamed over the path. A reader
// (a CI step picking up an artifact, a browser reloading a report) never
// sees half a file, and a failed or interrupted write leaves the old file
// as it was and no temporary one behind.
package atomicfile

import (
	"io"
	"os"
	"path/filepath"
)

// Mode is a written file's permission: a report is an artifact that
// others read (CreateTemp alone would make it private to its owner).
const Mode os.FileMode = 0o644

// Write writes path with write's output.
func Write(path string, write func(io.Writer) error) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := write(tmp); err != nil {
		return err
	}
	// Synced before the rename: after a crash the path holds the old
	// file or the whole new one, never an empty one.
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Chmod(Mode); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
