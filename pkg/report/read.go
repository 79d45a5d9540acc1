package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// MaxResultBytes bounds what ReadResult reads. A 10-minute run's result is
// a few megabytes; the bound only keeps a wrong file (a disk image, /dev/zero)
// from exhausting memory.
const MaxResultBytes = 512 << 20

// schemaVersionRE matches schema names of this product's result documents,
// so that a newer document is told apart from a file that is not one.
var schemaVersionRE = regexp.MustCompile(`^rolltest/v[0-9]+$`)

// ReadResult reads a result document written by `rolltest run --json`.
//
// The schema field is checked before anything else: a document written by a
// newer rolltest must not be half-decoded into this version's types and
// rendered with silently missing fields.
func ReadResult(r io.Reader) (*Result, error) {
	return readResult(r, MaxResultBytes)
}

// readResult is ReadResult with its bound a parameter, for its test.
func readResult(r io.Reader, limit int64) (*Result, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read result: %w", err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("read result: larger than %d MiB; this is not a rolltest result", limit>>20)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("read result: the input is empty")
	}

	var head map[string]json.RawMessage
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("read result: not a rolltest result (expected a JSON object): %w", err)
	}
	raw, ok := head["schema"]
	if !ok {
		return nil, errors.New(`read result: not a rolltest result: the JSON object has no "schema" field`)
	}
	var schema string
	if err := json.Unmarshal(raw, &schema); err != nil {
		return nil, fmt.Errorf(`read result: not a rolltest result: "schema" is %s, not a string`, readClip(string(raw), 60))
	}
	switch {
	case schema == Schema:
	case schemaVersionRE.MatchString(schema):
		return nil, fmt.Errorf("unsupported result schema %q: this rolltest reads %s; upgrade rolltest to render it", schema, Schema)
	default:
		return nil, fmt.Errorf("read result: not a rolltest result: schema is %q, expected %q", readClip(schema, 60), Schema)
	}

	var res Result
	if err := json.Unmarshal(data, &res); err != nil {
		return nil, fmt.Errorf("read result: %w", err)
	}
	// Documents written before config.agents and config.load_from
	// existed came from one local process.
	if res.Config.Agents == 0 {
		res.Config.Agents = 1
	}
	if res.Config.LoadFrom == "" {
		res.Config.LoadFrom = "local"
	}
	return &res, nil
}

// readClip shortens s for an error message, so that a hostile file cannot make
// the message itself unwieldy.
func readClip(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
