package agent

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/rolltest/rolltest/pkg/loadgen"
	"github.com/rolltest/rolltest/pkg/report"
)

// FuzzDecoder: whatever an agent's stream holds, the decoder returns
// records or a one-line error naming the agent, never panics, and a final
// record it accepts merges (twice, as two agents would) and builds a report
// without panicking.
func FuzzDecoder(f *testing.F) {
	st := seedStats(f)
	var buf bytes.Buffer
	p := Progress{V: Version, Kind: KindProgress, Agent: 0, Requests: 1, OK: 1}
	if _, err := Write(&buf, &p); err != nil {
		f.Fatal(err)
	}
	fin := NewFinal(0, "h", false, st)
	if _, err := Write(&buf, &fin); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte(`{"v":1,"kind":"final","agent":0,"stats":{"Start":"2026-01-01T00:00:00Z","Seconds":[{"Start":5,"Width":1,"ByPod":{"0":1}}]},"hists":{"latency":{"lo":1,"hi":100,"sig":1,"c":[[1,1]]}}}` + "\n"))
	f.Add([]byte("hello\n{\"v\":1}\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		d := NewDecoder(bytes.NewReader(in), 0)
		for range 1000 { // a record needs at least 2 bytes: more lines than this cannot fit
			rec, err := d.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				var de *Error
				if !errors.As(err, &de) || de.Agent != 0 || bytes.ContainsRune([]byte(err.Error()), '\n') {
					t.Fatalf("error %q: not one line naming the agent", err)
				}
				return
			}
			final, ok := rec.(*Final)
			if !ok {
				continue
			}
			var m loadgen.Stats
			for range 2 {
				if err := m.Merge(final.StatsOf()); err != nil {
					return
				}
			}
			report.Build(report.Input{Stats: &m, Config: report.Config{Mode: "rate"}})
		}
	})
}

// seedStats is a real engine's Stats with a failure, two pods, phases and
// targets, so the fuzzer starts from every part of a final record.
func seedStats(f *testing.F) *loadgen.Stats {
	return &loadgen.Stats{
		Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), SendEnd: time.Second, End: 2 * time.Second,
		Counts:  loadgen.Counts{Outcomes: loadgen.OutcomeCounts{3, 0, 1}},
		Latency: mustHist(f), StatusCodes: map[int]int64{200: 3, 503: 1},
		Phases: []loadgen.PhaseStats{{Name: "load", Counts: loadgen.Counts{Outcomes: loadgen.OutcomeCounts{3, 0, 1}}, Latency: mustHist(f)}},
		Pods:   []loadgen.PodStats{{FirstOK: -1}, {PodIdentity: loadgen.PodIdentity{Pod: "a"}, Counts: loadgen.Counts{Outcomes: loadgen.OutcomeCounts{3, 0, 1}}}},
		Targets: []loadgen.TargetStats{{Name: "t", Method: "GET", URL: "http://127.0.0.1:1/", Weight: 1,
			Counts: loadgen.Counts{Outcomes: loadgen.OutcomeCounts{3, 0, 1}}, Latency: mustHist(f)}},
		Seconds:  []loadgen.SecondStats{{Start: 0, Width: 1, Counts: loadgen.Counts{Outcomes: loadgen.OutcomeCounts{3, 0, 1}}, ByPod: map[int]int64{1: 4}, FailedByPod: map[int]int64{1: 1}}},
		Failures: []loadgen.FailureRecord{{Seq: 2, Outcome: loadgen.HTTP5xx, Status: 503, Pod: 1}}, FailureCap: 10,
	}
}

func mustHist(f *testing.F) *hdrHist {
	h := newHist()
	for _, v := range []int64{100, 2000, 30000, 400000} {
		if err := h.RecordValue(v); err != nil {
			f.Fatal(err)
		}
	}
	return h
}

type hdrHist = hdrhistogram.Histogram

func newHist() *hdrHist { return hdrhistogram.New(1, 20_000_000, 3) }
