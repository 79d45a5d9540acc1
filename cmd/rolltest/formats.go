package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rolltest/rolltest/internal/atomicfile"
	"github.com/rolltest/rolltest/pkg/report"
	"github.com/rolltest/rolltest/pkg/report/html"
)

// reportFormat is one kind of file a result can be written as.
type reportFormat struct {
	name  string // as a reader calls it: "HTML"
	flag  string // the flag that asks for it, without the dashes
	help  string
	write func(io.Writer, *report.Result) error
	// rerender says whether `rolltest report` offers it; the result
	// document itself is what that command reads.
	rerender bool
}

// reportFormats is every format, in the order a run writes them. run, demo
// and report declare their flags, check their paths and write their files
// from it, so a new format is one more row here.
func reportFormats() []reportFormat {
	return []reportFormat{
		{name: "JSON", flag: "json", help: "write the result document (schema " + report.Schema + ") to this file", write: report.WriteJSON},
		{name: "HTML", flag: "html", help: "write the self-contained HTML report to this file", write: html.Write, rerender: true},
		{name: "JUnit", flag: "junit", help: "write JUnit XML, one test case per gate, to this file", write: report.WriteJUnit, rerender: true},
		{name: "Markdown", flag: "markdown", help: "write a Markdown summary (verdict, key numbers, drops by pod) for a CI job summary or merge request note to this file", write: report.WriteMarkdown, rerender: true},
		{name: ".hgrm", flag: "hgrm", help: "write the latency histogram in HdrHistogram's .hgrm format to this file", write: report.WriteHGRM, rerender: true},
	}
}

// rerenderFormats are the formats `rolltest report` writes.
func rerenderFormats() []reportFormat {
	var out []reportFormat
	for _, f := range reportFormats() {
		if f.rerender {
			out = append(out, f)
		}
	}
	return out
}

// reportFile is a format and the path its flag gave; empty: not asked for.
type reportFile struct {
	format reportFormat
	path   string
}

// reportFiles are the files a command may write, one flag each.
type reportFiles []*reportFile

// registerReportFiles declares a flag per format on cmd.
func registerReportFiles(cmd *cobra.Command, formats []reportFormat) reportFiles {
	files := make(reportFiles, len(formats))
	for i, f := range formats {
		files[i] = &reportFile{format: f}
		cmd.Flags().StringVar(&files[i].path, f.flag, "", f.help)
	}
	return files
}

// checkPaths fails before the run, not after it, when a report file could
// not be written, or when two formats would overwrite each other's file.
func (files reportFiles) checkPaths() error {
	for i, f := range files {
		if f.path == "" {
			continue
		}
		flag := "--" + f.format.flag
		if err := files[:i].notWrittenTwice(flag, f.path); err != nil {
			return err
		}
		if err := checkOutputPath(flag, f.path); err != nil {
			return err
		}
	}
	return nil
}

// checkOutputPath fails before the run, not after it, when flag's file
// (none when path is empty) could not be written: its directory is
// missing, or the path is a directory.
func checkOutputPath(flag, path string) error {
	if path == "" {
		return nil
	}
	dir := filepath.Dir(path)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return usagef(flag, "directory %s does not exist; create it or choose another path", dir)
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return usagef(flag, "%s is a directory; give a file name", path)
	}
	return nil
}

// notWrittenTwice refuses path for flag when one of files is already to
// be written there: the second write would replace the first.
func (files reportFiles) notWrittenTwice(flag, path string) error {
	for _, f := range files {
		if f.path != "" && filepath.Clean(f.path) == filepath.Clean(path) {
			return usagef(flag, "%s is also the --%s file; give each its own file", path, f.format.flag)
		}
	}
	return nil
}

// write writes every file asked for, each whole or not at all.
func (files reportFiles) write(res *report.Result) error {
	for _, f := range files {
		if f.path == "" {
			continue
		}
		if err := atomicfile.Write(f.path, func(w io.Writer) error { return f.format.write(w, res) }); err != nil {
			return fmt.Errorf("--%s: write %s: %w", f.format.flag, f.path, err)
		}
	}
	return nil
}

// usage is the flags' part of a command line: "[--html FILE] [--junit FILE]".
func (files reportFiles) usage() string {
	parts := make([]string, len(files))
	for i, f := range files {
		parts[i] = "[--" + f.format.flag + " FILE]"
	}
	return strings.Join(parts, " ")
}

// names lists the formats as a reader calls them: "HTML, JUnit or .hgrm".
func (files reportFiles) names() string {
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = f.format.name
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}
