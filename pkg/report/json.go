package report

import (
	"encoding/json"
	"io"
)

// WriteJSON writes the result document, indented for people and diffs.
func WriteJSON(w io.Writer, r *Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}
