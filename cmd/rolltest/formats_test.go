package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/spf13/cobra"

	"github.com/rolltest/rolltest/pkg/report"
)

// TestReportFormatFlags: run and demo take a flag for every format, report
// for every format it re-renders, each with the table's help.
func TestReportFormatFlags(t *testing.T) {
	for _, c := range []struct {
		cmd     *cobra.Command
		formats []reportFormat
	}{
		{newRunCmd(io.Discard, io.Discard), reportFormats()},
		{newDemoCmd(io.Discard, io.Discard), reportFormats()},
		{newReportCmd(io.Discard, io.Discard), rerenderFormats()},
	} {
		want := map[string]bool{}
		for _, f := range c.formats {
			want[f.flag] = true
			fl := c.cmd.Flags().Lookup(f.flag)
			if fl == nil || fl.Usage != f.help {
				t.Errorf("%s: --%s is %+v, want the flag with help %q", c.cmd.Name(), f.flag, fl, f.help)
			}
		}
		for _, f := range reportFormats() {
			if !want[f.flag] && c.cmd.Flags().Lookup(f.flag) != nil {
				t.Errorf("%s declares --%s, which it does not write", c.cmd.Name(), f.flag)
			}
		}
	}
	if len(rerenderFormats()) == len(reportFormats()) {
		t.Error("report re-renders the result document into itself")
	}
}

// TestReportFilesWrite: every format asked for is written, and a failure
// names its flag.
func TestReportFilesWrite(t *testing.T) {
	enc, err := report.EncodeHistogram(hdrhistogram.New(1, 60_000_000, 3))
	if err != nil {
		t.Fatal(err)
	}
	res := &report.Result{Schema: report.Schema, Latency: report.Latency{Histogram: enc}, Verdict: report.Verdict{Pass: true, Summary: "ok"}}
	dir := t.TempDir()
	var files reportFiles
	for _, f := range reportFormats() {
		files = append(files, &reportFile{format: f, path: filepath.Join(dir, "r."+f.flag)})
	}
	if err := files.checkPaths(); err != nil {
		t.Fatal(err)
	}
	if err := files.write(res); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if st, err := os.Stat(f.path); err != nil || st.Size() == 0 {
			t.Errorf("--%s: %s not written: %v", f.format.flag, f.path, err)
		}
	}
	for _, f := range files {
		bad := reportFiles{{format: f.format, path: filepath.Join(dir, "missing", "r")}}
		if err := bad.checkPaths(); err == nil || !strings.HasPrefix(err.Error(), "--"+f.format.flag+": ") {
			t.Errorf("checkPaths for a missing directory: %v, want an error naming --%s", err, f.format.flag)
		}
		if err := bad.write(res); err == nil || !strings.HasPrefix(err.Error(), "--"+f.format.flag+": ") {
			t.Errorf("write into a missing directory: %v, want an error naming --%s", err, f.format.flag)
		}
	}
}
