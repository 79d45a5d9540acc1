package agent

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/rolltest/rolltest/pkg/loadgen"
)

// ProgressOf is the progress record of agent at second sec of its plan,
// from its engine's live totals.
func ProgressOf(agent, sec int, l *loadgen.Live) Progress {
	p := Progress{V: Version, Kind: KindProgress, Agent: agent, Sec: sec,
		Requests: l.Requests(), OK: l.Outcomes[loadgen.OK], Failed: l.Failed(), LateSends: l.LateSends, Done: l.Done}
	for o, n := range l.Outcomes {
		if n != 0 && loadgen.Outcome(o) != loadgen.OK {
			if p.Outcomes == nil {
				p.Outcomes = map[string]int64{}
			}
			p.Outcomes[loadgen.Outcome(o).String()] = n
		}
	}
	return p
}

// NewFinal is the final record of agent: st with its histograms moved into
// Hists, so that the record is plain JSON. st is not changed.
func NewFinal(agent int, host string, interrupted bool, st *loadgen.Stats) Final {
	f := Final{V: Version, Kind: KindFinal, Agent: agent, Host: host, Interrupted: interrupted, Stats: *st}
	f.Stats.Latency = nil
	f.Hists.Latency = histOf(st.Latency)
	f.Stats.Phases = append([]loadgen.PhaseStats(nil), st.Phases...)
	for i := range f.Stats.Phases {
		f.Hists.Phases = append(f.Hists.Phases, histOf(f.Stats.Phases[i].Latency))
		f.Stats.Phases[i].Latency = nil
	}
	f.Stats.Targets = append([]loadgen.TargetStats(nil), st.Targets...)
	for i := range f.Stats.Targets {
		f.Hists.Targets = append(f.Hists.Targets, histOf(f.Stats.Targets[i].Latency))
		f.Stats.Targets[i].Latency = nil
	}
	return f
}

// histOf is h's sparse form; nil for nil.
func histOf(h *hdrhistogram.Histogram) *Hist {
	if h == nil {
		return nil
	}
	s := h.Export()
	out := &Hist{Lowest: s.LowestTrackableValue, Highest: s.HighestTrackableValue, Sig: s.SignificantFigures, Counts: [][2]int64{}}
	for i, c := range s.Counts {
		if c != 0 {
			out.Counts = append(out.Counts, [2]int64{int64(i), c})
		}
	}
	return out
}

// Write writes one record (a Progress or a Final) as one line and returns
// its size in bytes, newline included.
func Write(w io.Writer, rec any) (int, error) {
	b, err := json.Marshal(rec)
	if err != nil {
		return 0, fmt.Errorf("agent: encode record: %w", err)
	}
	b = append(b, '\n')
	if _, err := w.Write(b); err != nil {
		return 0, fmt.Errorf("agent: write record: %w", err)
	}
	if f, ok := w.(*bufio.Writer); ok {
		if err := f.Flush(); err != nil {
			return 0, fmt.Errorf("agent: write record: %w", err)
		}
	}
	return len(b), nil
}
