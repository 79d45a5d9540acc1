package jmx

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// maxCSVRows bounds the rows a CSV Data Set Config contributes: each row
// of each sampler that uses it becomes a request of the mix.
const maxCSVRows = 10000

// maxCSVRecords is as many records as are split: a header line and one row
// more than is kept, which tells that rows were left out.
const maxCSVRecords = maxCSVRows + 2

const (
	// maxCSVColumns bounds the variables of one CSV Data Set Config.
	maxCSVColumns = 1000
	// maxCSVTotal bounds the CSV data one plan reads, which many CSV
	// elements naming one large file would otherwise multiply.
	maxCSVTotal = 2 * MaxPlanSize
)

// csvData is a CSV Data Set Config read whole.
type csvData struct {
	vars []string
	rows [][]string
}

// loadCSV reads the file a CSV Data Set Config names, relative to t.dir;
// nil, with a note, when there is no such file.
func (t *translator) loadCSV(el *element, path string) (*csvData, error) {
	n := el.props
	name, err := t.expand(str(n, "filename"), path, nil)
	if err != nil {
		return nil, err
	}
	if name == "" {
		return nil, fmt.Errorf("%s: no filename", path)
	}
	file := name
	if !filepath.IsAbs(file) {
		if t.dir == "" {
			return nil, fmt.Errorf("%s: CSV file %s is relative to the plan's directory, which is not known", path, name)
		}
		file = filepath.Join(t.dir, file)
	}
	data, err := readBounded(file)
	if errors.Is(err, fs.ErrNotExist) {
		// JMeter starts anyway and sends its variables as they are
		// written (or <EOF>): shipped plans, JMeter's own templates
		// among them, name a placeholder file. The importer carries over
		// the rest and says so; a file that exists but cannot be read or
		// parsed is still an error, as it is likely the one meant.
		t.note(path, fmt.Sprintf("CSV file %q not found: requests that use its variables sent with ${var} verbatim", file))
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: CSV file: %w", path, err)
	}
	if t.csvRead += len(data); t.csvRead > maxCSVTotal {
		return nil, fmt.Errorf("%s: the plan's CSV files come to more than %d MiB", path, maxCSVTotal>>20)
	}
	if enc := strings.ToLower(str(n, "fileEncoding")); enc != "" && enc != "utf-8" && enc != "utf8" {
		t.note(path, fmt.Sprintf("file encoding %s not supported: read as UTF-8", enc))
	}
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("%s: CSV file %s is not UTF-8", path, name)
	}
	delim, err := t.expand(str(n, "delimiter"), path, nil)
	if err != nil {
		return nil, err
	}
	switch delim {
	case "":
		delim = ","
	case `\t`:
		delim = "\t"
	}
	recs, err := records(data, delim, str(n, "quotedData") == "true")
	if err != nil {
		return nil, fmt.Errorf("%s: CSV file %s: %w", path, name, err)
	}
	d := &csvData{}
	names, err := t.expand(str(n, "variableNames"), path, nil)
	if err != nil {
		return nil, err
	}
	if names == "" {
		// As in JMeter: without variable names the first line names them.
		if len(recs) == 0 {
			return nil, fmt.Errorf("%s: CSV file %s is empty and the element names no variables", path, name)
		}
		d.vars, recs = recs[0], recs[1:]
	} else {
		d.vars = strings.Split(names, ",")
		if str(n, "ignoreFirstLine") == "true" && len(recs) > 0 {
			recs = recs[1:]
		}
	}
	if len(d.vars) > maxCSVColumns {
		return nil, fmt.Errorf("%s: CSV file %s has %d columns, more than %d", path, name, len(d.vars), maxCSVColumns)
	}
	for i := range d.vars {
		d.vars[i] = strings.TrimSpace(d.vars[i])
	}
	if len(recs) > maxCSVRows {
		t.note(path, fmt.Sprintf("more than %d rows: only the first %d used", maxCSVRows, maxCSVRows))
		recs = recs[:maxCSVRows]
	}
	d.rows = recs
	mode := strings.TrimPrefix(str(n, "shareMode"), "shareMode.")
	if mode == "" {
		mode = "all"
	}
	t.note(path, fmt.Sprintf("sharing mode %q approximated: every row becomes a request of the mix, at an equal share; recycle and stop-thread are not kept", mode))
	return d, nil
}

// readBounded reads a file of at most MaxPlanSize bytes.
func readBounded(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxPlanSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxPlanSize {
		return nil, fmt.Errorf("%s is larger than %d MiB", name, MaxPlanSize>>20)
	}
	return b, nil
}

// records splits CSV data into fields. With quotedData JMeter honours
// double quotes around fields; without it a quote is an ordinary character.
func records(data []byte, delim string, quoted bool) ([][]string, error) {
	var recs [][]string
	if quoted {
		r, size := utf8.DecodeRuneInString(delim)
		if size != len(delim) || r == '"' || r == '\r' || r == '\n' || r == utf8.RuneError {
			return nil, fmt.Errorf("delimiter %q cannot be used with quoted data", delim)
		}
		cr := csv.NewReader(bytes.NewReader(data))
		cr.Comma = r
		cr.FieldsPerRecord = -1
		cr.LazyQuotes = true
		for {
			rec, err := cr.Read()
			if errors.Is(err, io.EOF) {
				return recs, nil
			}
			if err != nil {
				return nil, err
			}
			recs = append(recs, rec)
			if len(recs) >= maxCSVRecords {
				return recs, nil
			}
		}
	}
	for line := range strings.Lines(string(data)) {
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			continue
		}
		recs = append(recs, strings.Split(line, delim))
		if len(recs) >= maxCSVRecords {
			break
		}
	}
	return recs, nil
}
