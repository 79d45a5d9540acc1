// Package jtl writes JMeter's CSV result format (a .jtl file), one row per
// attempt, so that the tools that read JMeter results (its HTML dashboard
// generator, the Jenkins Performance plugin, Taurus) read rolltest's too.
//
// The columns are JMeter's default set, in its order (Header). What
// rolltest puts in each where JMeter's meaning differs:
//
//   - timeStamp is when the attempt began (its dial or its write), in
//     milliseconds since the Unix epoch; elapsed runs from there to the
//     last response byte (or the failure). rolltest's own latency, in the
//     JSON and HTML reports, counts from when the request was due instead.
//   - label is the target's name (with --targets or --jmx) or the method
//     and path.
//   - threadName is the pod that answered, or that was last heard from on
//     the attempt's connection ("unattributed" when none was yet), so that
//     JMeter-side tools group by pod.
//   - responseCode and responseMessage are the HTTP status and its text;
//     an attempt without a response has "Non HTTP response code: OUTCOME"
//     and "Non HTTP response message: DETAIL", as JMeter writes its own.
//   - success is false for any failed attempt; failureMessage names the
//     outcome, and starts "retried: " on an attempt that was sent again
//     (--retries), so a row per attempt never hides a re-send.
//   - grpThreads and allThreads are the workers (each with at most one
//     connection) running when the attempt ended.
//   - Latency (time to first byte) is not measured apart: it equals
//     elapsed for an attempt that got a response, 0 for one that did not.
//     IdleTime is 0. Connect is the dial (and TLS) time, 0 on a reused
//     connection.
package jtl

import (
	"bufio"
	"io"
	"net/http"
	"strconv"
	"sync"

	"github.com/rolltest/rolltest/pkg/loadgen"
)

// Header is JMeter's default CSV column set, in its order.
var Header = []string{
	"timeStamp", "elapsed", "label", "responseCode", "responseMessage", "threadName",
	"success", "failureMessage", "bytes", "sentBytes", "grpThreads", "allThreads",
	"URL", "Latency", "IdleTime", "Connect",
}

// Target is what a row says of the request an attempt sent.
type Target struct {
	Label, URL string
}

// Writer streams rows to an io.Writer as attempts end; it is a
// loadgen.AttemptSink. Rows are buffered and written in the order attempts
// end, as JMeter writes them, so memory stays flat however long the run.
type Writer struct {
	mu      sync.Mutex
	bw      *bufio.Writer
	targets []Target
	row     []byte // scratch, reused for every row
	rows    int64
	err     error
}

// NewWriter writes the header line to w and returns a Writer for the rows
// of a run whose targets are indexed as loadgen.Config.Targets (one entry
// for a run of one target).
func NewWriter(w io.Writer, targets []Target) *Writer {
	jw := &Writer{bw: bufio.NewWriterSize(w, 256<<10), targets: targets, row: make([]byte, 0, 512)}
	for i, h := range Header {
		if i > 0 {
			jw.row = append(jw.row, ',')
		}
		jw.row = append(jw.row, h...)
	}
	jw.row = append(jw.row, '\n')
	_, jw.err = jw.bw.Write(jw.row)
	return jw
}

// Attempt writes one row. It is safe for concurrent use.
func (w *Writer) Attempt(a *loadgen.Attempt) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return
	}
	t := Target{}
	if a.Target >= 0 && a.Target < len(w.targets) {
		t = w.targets[a.Target]
	}
	elapsed := (a.End - a.Start).Milliseconds()
	b := w.row[:0]
	b = strconv.AppendInt(b, a.Begin.UnixMilli(), 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, elapsed, 10)
	b = append(b, ',')
	b = appendField(b, t.Label)
	b = append(b, ',')
	if a.Status > 0 {
		b = strconv.AppendInt(b, int64(a.Status), 10)
		b = append(b, ',')
		b = appendField(b, http.StatusText(a.Status))
	} else {
		b = appendField2(b, "Non HTTP response code: ", a.Outcome.String())
		b = append(b, ',')
		b = appendField2(b, "Non HTTP response message: ", a.Detail)
	}
	b = append(b, ',')
	if a.Pod.Pod != "" {
		b = appendField(b, a.Pod.Pod)
	} else {
		b = append(b, "unattributed"...)
	}
	b = append(b, ',')
	ok := a.Outcome == loadgen.OK && !a.Retried
	b = strconv.AppendBool(b, ok)
	b = append(b, ',')
	if !ok {
		prefix := ""
		if a.Retried {
			prefix = "retried: "
		}
		msg := a.Outcome.String()
		if a.Detail != "" {
			msg = a.Outcome.String() + ": " + a.Detail
		}
		b = appendField2(b, prefix, msg)
	}
	b = append(b, ',')
	b = strconv.AppendInt(b, a.BytesIn, 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, a.BytesOut, 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(a.Active), 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(a.Active), 10)
	b = append(b, ',')
	b = appendField(b, t.URL)
	b = append(b, ',')
	if a.Status > 0 {
		b = strconv.AppendInt(b, elapsed, 10)
	} else {
		b = append(b, '0')
	}
	b = append(b, ",0,"...)
	b = strconv.AppendInt(b, a.Connect.Milliseconds(), 10)
	b = append(b, '\n')
	w.row = b
	if _, err := w.bw.Write(b); err != nil {
		w.err = err
		return
	}
	w.rows++
}

// Close flushes what is buffered. It returns the first error any write
// met, and how many rows were written.
func (w *Writer) Close() (rows int64, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = w.bw.Flush()
	}
	return w.rows, w.err
}

// appendField appends s as one CSV field, quoted as JMeter quotes: only
// when it holds the delimiter, a quote or a line break, with quotes
// doubled.
func appendField(b []byte, s string) []byte { return appendField2(b, "", s) }

// appendField2 appends the field prefix+s without concatenating them.
func appendField2(b []byte, prefix, s string) []byte {
	if !needsQuote(prefix) && !needsQuote(s) {
		b = append(b, prefix...)
		return append(b, s...)
	}
	b = append(b, '"')
	b = appendDoubled(b, prefix)
	b = appendDoubled(b, s)
	return append(b, '"')
}

func needsQuote(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ',', '"', '\n', '\r':
			return true
		}
	}
	return false
}

func appendDoubled(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			b = append(b, '"')
		}
		b = append(b, s[i])
	}
	return b
}
