package main

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/rolltest/rolltest/internal/atomicfile"
	"github.com/rolltest/rolltest/pkg/jtl"
	"github.com/rolltest/rolltest/pkg/loadgen"
)

// jtlFlagHelp is --jtl's help on run and demo.
const jtlFlagHelp = "write one row per attempt in JMeter's CSV result format (.jtl: its default columns; threadName is the pod that answered), streamed to disk as the run goes"

// jtlFile is a --jtl file being written: rows stream into a temporary file
// beside it, renamed into place when the run ends (interrupted or not), so
// a reader never sees half a file and a failed setup leaves none.
type jtlFile struct {
	path string
	tmp  *os.File
	w    *jtl.Writer
}

// openJTL starts the --jtl file for a run of cfg and sets cfg.Attempts;
// nil when no file was asked for.
func openJTL(path string, cfg *loadgen.Config) (*jtlFile, error) {
	if path == "" {
		return nil, nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return nil, usagef("--jtl", "cannot create %s: %v", path, unwrapPathErr(err))
	}
	f := &jtlFile{path: path, tmp: tmp, w: jtl.NewWriter(tmp, jtlTargets(cfg), runRedactor(*cfg))}
	cfg.Attempts = f.w
	return f, nil
}

// jtlTargets labels a run's requests: a --targets or --jmx run's by their
// names, a single target's by its method and path.
func jtlTargets(cfg *loadgen.Config) []jtl.Target {
	if len(cfg.Targets) == 0 {
		label := cfg.Method + " " + cfg.Target
		if u, err := url.Parse(cfg.Target); err == nil {
			label = cfg.Method + " " + u.RequestURI()
		}
		return []jtl.Target{{Label: label, URL: cfg.Target}}
	}
	ts := make([]jtl.Target, len(cfg.Targets))
	for i, t := range cfg.Targets {
		ts[i] = jtl.Target{Label: t.Name, URL: t.URL}
	}
	return ts
}

// finish flushes the rows and moves the file into place.
func (f *jtlFile) finish() (int64, error) {
	if f == nil {
		return 0, nil
	}
	rows, err := f.w.Close()
	if err == nil {
		err = f.tmp.Sync()
	}
	if err == nil {
		err = f.tmp.Chmod(atomicfile.Mode)
	}
	if cerr := f.tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.tmp.Name(), f.path)
	}
	if err != nil {
		os.Remove(f.tmp.Name())
		return rows, fmt.Errorf("--jtl: write %s: %w", f.path, err)
	}
	f.tmp = nil
	return rows, nil
}

// abort removes the temporary file of a run that never started; after
// finish it does nothing.
func (f *jtlFile) abort() {
	if f == nil || f.tmp == nil {
		return
	}
	f.tmp.Close()
	os.Remove(f.tmp.Name())
}

// refuseJTL is report's --jtl: a saved result holds its failed attempts
// only (and at most --max-failure-records of them), never one row per
// attempt, so a .jtl made from it would invent rows.
func refuseJTL(cmd *cobra.Command) error {
	if !cmd.Flags().Changed("jtl") {
		return nil
	}
	return usagef("--jtl", "a result document keeps failed attempts only, not one row per attempt; write the .jtl during the run: rolltest run … --jtl FILE")
}
