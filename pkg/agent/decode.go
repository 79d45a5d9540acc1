package agent

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/rolltest/rolltest/pkg/loadgen"
)

// Decoder reads one agent's stream. Lines that do not start with '{' are
// human messages (a pod log interleaves stderr with stdout) and are skipped;
// every line that does must be a valid record of this protocol version.
type Decoder struct {
	r     *bufio.Reader
	agent int
	line  int
	final bool
	// maxLine bounds any line; tests lower it.
	maxLine int
}

// NewDecoder reads the stream of the agent with index agent: every record
// must name it, so that streams cannot be mixed up.
func NewDecoder(r io.Reader, agent int) *Decoder {
	return &Decoder{r: bufio.NewReaderSize(r, 64<<10), agent: agent, maxLine: MaxFinalLine}
}

// Error is a problem with an agent's stream, naming the agent and the line.
type Error struct {
	Agent, Line int
	Msg         string
	// Err, when set, is the sentinel the problem is (ErrNoFinal).
	Err error
}

func (e *Error) Unwrap() error { return e.Err }

func (e *Error) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("agent %d: %s", e.Agent, e.Msg)
	}
	return fmt.Sprintf("agent %d line %d: %s", e.Agent, e.Line, e.Msg)
}

func (d *Decoder) errf(format string, args ...any) error {
	return &Error{Agent: d.agent, Line: d.line, Msg: fmt.Sprintf(format, args...)}
}

// ErrNoFinal is wrapped by the error of a stream that ended without its
// final record: the agent died or its log was cut.
var ErrNoFinal = errors.New("stream ended without a final record")

// Next returns the next record, a *Progress or a *Final, or io.EOF after
// the final record once the stream ends. A stream that ends before its final
// record gives an error wrapping ErrNoFinal.
func (d *Decoder) Next() (any, error) {
	for {
		b, err := d.readLine()
		if err == io.EOF {
			if !d.final {
				return nil, &Error{Agent: d.agent, Msg: fmt.Sprintf("%v after %d lines (the agent stopped or its log was cut)", ErrNoFinal, d.line), Err: ErrNoFinal}
			}
			return nil, io.EOF
		}
		if err != nil {
			return nil, err
		}
		b = bytes.TrimRight(b, "\r")
		if len(b) == 0 || b[0] != '{' {
			continue
		}
		return d.record(b)
	}
}

// readLine returns the next whole line without its newline, at most
// d.maxLine bytes; a last line without a newline is a truncated record.
func (d *Decoder) readLine() ([]byte, error) {
	var line []byte
	for {
		chunk, err := d.r.ReadSlice('\n')
		if len(line)+len(chunk) > d.maxLine+1 {
			d.line++
			return nil, d.errf("line longer than %d bytes", d.maxLine)
		}
		line = append(line, chunk...)
		switch {
		case err == nil:
			d.line++
			return line[:len(line)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF && len(line) == 0:
			return nil, io.EOF
		case err == io.EOF:
			d.line++
			return nil, d.errf("truncated record: the stream ends inside a line of %d bytes", len(line))
		default:
			return nil, fmt.Errorf("agent %d: read: %w", d.agent, err)
		}
	}
}

func (d *Decoder) record(b []byte) (any, error) {
	var head struct {
		V     *int   `json:"v"`
		Kind  string `json:"kind"`
		Agent *int   `json:"agent"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, d.errf("not a record: %v", err)
	}
	switch {
	case head.V == nil:
		return nil, d.errf("record without a version (\"v\")")
	case *head.V != Version:
		return nil, d.errf("record version %d; this rolltest reads version %d (agents and controller must be the same release)", *head.V, Version)
	case head.Agent == nil || *head.Agent != d.agent:
		return nil, d.errf("record of another agent (%v)", agentName(head.Agent))
	case d.final:
		return nil, d.errf("record after the final record")
	}
	switch head.Kind {
	case KindProgress:
		if len(b) > MaxProgressLine {
			return nil, d.errf("progress record of %d bytes; at most %d", len(b), MaxProgressLine)
		}
		var p Progress
		if err := json.Unmarshal(b, &p); err != nil {
			return nil, d.errf("progress record: %v", err)
		}
		if err := checkProgress(&p); err != nil {
			return nil, d.errf("progress record: %v", err)
		}
		return &p, nil
	case KindFinal:
		var f Final
		if err := json.Unmarshal(b, &f); err != nil {
			return nil, d.errf("final record: %v", err)
		}
		st, err := restore(&f)
		if err != nil {
			return nil, d.errf("final record: %v", err)
		}
		f.stats = st
		d.final = true
		return &f, nil
	}
	return nil, d.errf("unknown record kind %q", head.Kind)
}

func agentName(p *int) string {
	if p == nil {
		return "none named"
	}
	return fmt.Sprintf("agent %d", *p)
}

func checkProgress(p *Progress) error {
	if p.Sec < 0 || p.Requests < 0 || p.OK < 0 || p.Failed < 0 || p.LateSends < 0 {
		return errors.New("negative count")
	}
	for name, n := range p.Outcomes {
		if _, ok := loadgen.ParseOutcome(name); !ok || n < 0 {
			return fmt.Errorf("outcome %q: %d", name, n)
		}
	}
	return nil
}

// ReadFinal reads an agent's whole stream, handing each progress record to
// onProgress (nil: dropped), and returns its final record.
func ReadFinal(r io.Reader, agent int, onProgress func(*Progress)) (*Final, error) {
	d := NewDecoder(r, agent)
	var final *Final
	for {
		rec, err := d.Next()
		if err == io.EOF {
			return final, nil
		}
		if err != nil {
			return nil, err
		}
		switch rec := rec.(type) {
		case *Progress:
			if onProgress != nil {
				onProgress(rec)
			}
		case *Final:
			final = rec
		}
	}
}

// restore checks a decoded final record's Stats — every count, index and
// size, since they come from outside — and puts its histograms back.
func restore(f *Final) (*loadgen.Stats, error) {
	st := f.Stats // the slices are the record's own, fresh from Unmarshal
	if err := checkStats(&st); err != nil {
		return nil, err
	}
	var err error
	if f.Hists.Latency == nil {
		return nil, errors.New("no latency histogram")
	}
	if st.Latency, err = f.Hists.Latency.histogram(); err != nil {
		return nil, fmt.Errorf("latency histogram: %w", err)
	}
	if len(f.Hists.Phases) != len(st.Phases) || len(f.Hists.Targets) != len(st.Targets) {
		return nil, fmt.Errorf("%d phase and %d target histograms for %d phases and %d targets", len(f.Hists.Phases), len(f.Hists.Targets), len(st.Phases), len(st.Targets))
	}
	for i, h := range f.Hists.Phases {
		if st.Phases[i].Latency, err = h.histogram(); err != nil {
			return nil, fmt.Errorf("phase %d histogram: %w", i, err)
		}
	}
	for i, h := range f.Hists.Targets {
		if st.Targets[i].Latency, err = h.histogram(); err != nil {
			return nil, fmt.Errorf("target %d histogram: %w", i, err)
		}
	}
	return &st, nil
}

// histogram rebuilds the histogram, refusing a geometry or counts no engine
// produces: the geometry bounds the memory it takes.
func (h *Hist) histogram() (*hdrhistogram.Histogram, error) {
	switch {
	case h == nil:
		return nil, errors.New("missing")
	case h.Sig < 1 || h.Sig > 3:
		return nil, fmt.Errorf("%d significant figures; 1 to 3", h.Sig)
	case h.Lowest < 1 || h.Highest < 2*h.Lowest || h.Highest > maxHistValue:
		return nil, fmt.Errorf("range %d..%d out of bounds", h.Lowest, h.Highest)
	}
	s := hdrhistogram.New(h.Lowest, h.Highest, int(h.Sig)).Export()
	var total int64
	for _, p := range h.Counts {
		i, c := p[0], p[1]
		if i < 0 || i >= int64(len(s.Counts)) || c < 0 || c > math.MaxInt64-total {
			return nil, fmt.Errorf("count %d at index %d out of bounds", c, i)
		}
		s.Counts[i] += c
		total += c
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return hdrhistogram.Import(s), nil
}

func nonNeg(c *loadgen.Counts) bool {
	if c.Retried < 0 {
		return false
	}
	for i := range c.Outcomes {
		if c.Outcomes[i] < 0 || c.RetriedOutcomes[i] < 0 || c.Outcomes[i] > math.MaxInt64/int64(2*len(c.Outcomes)) {
			return false
		}
	}
	return true
}

// checkStats refuses what no engine produces and what Merge or
// report.Build would trip on: negative counts or offsets, indexes out of
// range, unbounded lists, a series that is not contiguous.
func checkStats(st *loadgen.Stats) error {
	nOut := len(loadgen.Outcomes())
	switch {
	case st.Start.IsZero():
		return errors.New("no start time")
	case st.SendEnd < 0 || st.End < 0 || st.MaxSendDelay < 0:
		return errors.New("negative time offset")
	case !nonNeg(&st.Counts):
		return errors.New("negative or oversized counts")
	case st.LateSends < 0 || st.BehindSends < 0 || st.ConnsOpened < 0 || st.PeakConns < 0 || st.MaxConns < 0 || st.PoolWaits < 0 || st.BytesIn < 0 || st.BytesOut < 0:
		return errors.New("negative totals")
	case len(st.Pods) > maxPods:
		return fmt.Errorf("%d pods; at most %d", len(st.Pods), maxPods)
	case len(st.Targets) > loadgen.MaxTargets:
		return fmt.Errorf("%d targets; at most %d", len(st.Targets), loadgen.MaxTargets)
	case len(st.Phases) > 64:
		return fmt.Errorf("%d phases; at most 64", len(st.Phases))
	case len(st.StatusCodes) > 1000:
		return fmt.Errorf("%d status codes; at most 1000", len(st.StatusCodes))
	case len(st.Failures) > maxFailures || st.FailuresOmitted < 0 || st.FailureCap < 0:
		return errors.New("failure records out of bounds")
	case len(st.Seconds) > maxSeconds:
		return fmt.Errorf("%d seconds; at most %d", len(st.Seconds), maxSeconds)
	}
	for code, n := range st.StatusCodes {
		if code < 100 || code > 999 || n < 0 {
			return fmt.Errorf("status %d counted %d times", code, n)
		}
	}
	nPods := max(len(st.Pods), 1)
	for i := range st.Pods {
		p := &st.Pods[i]
		if !nonNeg(&p.Counts) || p.First < 0 || p.Last < 0 || p.FirstOK < -1 {
			return fmt.Errorf("pod %d: negative counts or times", i)
		}
		for _, n := range p.AttributedBy {
			if n < 0 {
				return fmt.Errorf("pod %d: negative attribution", i)
			}
		}
	}
	for i := range st.Phases {
		p := &st.Phases[i]
		if !nonNeg(&p.Counts) || p.Start < 0 || p.End < 0 {
			return fmt.Errorf("phase %d: negative counts or times", i)
		}
	}
	for i := range st.Targets {
		if !nonNeg(&st.Targets[i].Counts) || st.Targets[i].Weight < 0 {
			return fmt.Errorf("target %d: negative counts", i)
		}
	}
	if err := checkSeconds(st.Seconds, nPods); err != nil {
		return err
	}
	nTargets := max(len(st.Targets), 1)
	for i := range st.Failures {
		f := &st.Failures[i]
		switch {
		case f.Pod < 0 || f.Pod >= nPods:
			return fmt.Errorf("failure %d names pod %d of %d", i, f.Pod, nPods)
		case f.Target < 0 || f.Target >= nTargets:
			return fmt.Errorf("failure %d names target %d of %d", i, f.Target, nTargets)
		case int(f.Outcome) >= nOut || f.AttributedBy.String() == "invalid":
			return fmt.Errorf("failure %d: unknown outcome or attribution", i)
		case f.Attempt < 0 || f.Intended < 0 || f.Start < 0 || f.Latency < 0 || f.ConnRequests < 0:
			return fmt.Errorf("failure %d: negative field", i)
		}
	}
	return nil
}

// checkSeconds requires the series the engine writes: entries of width at
// least 1, contiguous, within maxSeconds of the start, pods in range.
func checkSeconds(secs []loadgen.SecondStats, nPods int) error {
	next := -1
	for i := range secs {
		s := &secs[i]
		if s.Width == 0 && s.Start == 0 { // a literal without spans: its index
			s.Start, s.Width = i, 1
		}
		switch {
		case s.Width < 1 || s.Start < 0 || s.Start > maxSeconds || s.Width > maxSeconds:
			return fmt.Errorf("second %d: span %d+%d out of bounds", i, s.Start, s.Width)
		case next >= 0 && s.Start != next:
			return fmt.Errorf("second %d starts at %d, not %d: the series is not contiguous", i, s.Start, next)
		case !nonNeg(&s.Counts) || s.LateSends < 0:
			return fmt.Errorf("second %d: negative counts", i)
		}
		next = s.Start + s.Width
		if next > 2*maxSeconds {
			return fmt.Errorf("second %d: the series spans past %d s", i, 2*maxSeconds)
		}
		for _, m := range []map[int]int64{s.ByPod, s.FailedByPod} {
			for p, n := range m {
				if p < 0 || p >= nPods || n < 0 {
					return fmt.Errorf("second %d counts pod %d of %d", s.Start, p, nPods)
				}
			}
		}
	}
	return nil
}
