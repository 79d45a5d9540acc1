package report

import (
	"strings"

	"github.com/rolltest/rolltest/internal/redact"
)

// Redact hides credentials in every field of r that holds what the run
// was given (URLs, headers, target names) or what servers sent back
// (failure details): every renderer writes from r alone, so hiding them
// here, once, hides them in JSON, HTML, text, Markdown and JUnit alike.
// rd adds the run's own secrets to the patterns; nil hides by pattern
// alone, as for a document read back from disk.
func (r *Result) Redact(rd *redact.Redactor) {
	c := &r.Config
	c.Target = rd.URL(c.Target)
	for i, h := range c.Headers {
		if name, value, ok := strings.Cut(h, ":"); ok {
			c.Headers[i] = name + ": " + rd.Text(redact.Header(name, strings.TrimSpace(value)))
		} else {
			c.Headers[i] = rd.Text(h)
		}
	}
	c.TargetsFile = rd.Text(c.TargetsFile)
	r.Run.StopReason = rd.Text(r.Run.StopReason)
	for i := range r.Targets {
		t := &r.Targets[i]
		t.URL, t.Name = rd.URL(t.URL), rd.Text(t.Name)
	}
	for i := range r.Failures.Records {
		f := &r.Failures.Records[i]
		f.Detail, f.Target = rd.Text(f.Detail), rd.Text(f.Target)
	}
	if r.Rollout != nil {
		r.Rollout.Reason = rd.Text(r.Rollout.Reason)
	}
}
