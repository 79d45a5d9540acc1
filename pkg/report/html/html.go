// Package html renders a rolltest result as one self-contained HTML page:
// the template, the tables' view of the document, and the SVG charts drawn
// with gonum/plot. It is the only package that imports gonum, so that the
// document and the plain renderers in package report stay free of it.
package html

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"sync"

	"github.com/rolltest/rolltest/pkg/report"
)

//go:embed html.tmpl
var templateText string

var pageTemplate = sync.OnceValues(func() (*template.Template, error) {
	return template.New("report").Funcs(template.FuncMap{
		"jf":           jsonFloat,
		"kvs":          kvs,
		"insecureNote": func() string { return report.InsecureNote },
	}).Parse(templateText)
})

// Write renders the result as one self-contained HTML page: inline CSS
// and inline SVG charts, no script, no external resource, so that it opens
// the same from a CI artifact store, an e-mail or a disk without network.
// Everything taken from the result is escaped by html/template.
func Write(w io.Writer, r *report.Result) error {
	if r == nil {
		return fmt.Errorf("write html: no result")
	}
	t, err := pageTemplate()
	if err != nil {
		return fmt.Errorf("write html: template: %w", err)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, newView(r)); err != nil {
		return fmt.Errorf("write html: %w", err)
	}
	_, err = w.Write(buf.Bytes())
	return err
}
