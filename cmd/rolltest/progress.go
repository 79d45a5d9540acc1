package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"

	"github.com/rolltest/rolltest/pkg/loadgen"
)

// progress shows a running engine: a live bar on a terminal, a plain line
// every few seconds otherwise (CI logs stay readable and greppable).
type progress struct {
	eng   progressSource
	mu    sync.Mutex
	name  string
	done  chan struct{}
	wg    sync.WaitGroup
	p     *mpb.Progress
	bar   *mpb.Bar
	total time.Duration
}

const plainEvery = 5 * time.Second

// progressSource is what a progress view reads: an Engine, or agents'
// progress records summed.
type progressSource interface{ Progress() loadgen.Progress }

func startProgress(w io.Writer, eng progressSource, off bool, total time.Duration) *progress {
	pr := &progress{eng: eng, done: make(chan struct{}), name: "load", total: total}
	if off {
		return pr
	}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		pr.startBar(w)
	} else {
		pr.startPlain(w)
	}
	return pr
}

func (pr *progress) phase(name string) {
	pr.mu.Lock()
	pr.name = name
	pr.mu.Unlock()
}

func (pr *progress) phaseName() string {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return pr.name
}

func (pr *progress) line() string {
	s := pr.eng.Progress()
	rate := 0.0
	if s.Elapsed > 0 {
		rate = float64(s.Requests) / s.Elapsed.Seconds()
	}
	return fmt.Sprintf("%-8s %6.0f req/s  %d requests  %d dropped  %d retried  %d pods",
		pr.phaseName(), rate, s.Requests, s.Failed, s.Retried, s.Pods)
}

func (pr *progress) startBar(w io.Writer) {
	pr.p = mpb.New(mpb.WithOutput(w), mpb.WithRefreshRate(250*time.Millisecond), mpb.WithWidth(24))
	total := int64(pr.total / time.Millisecond)
	elapsed := decor.Any(func(decor.Statistics) string {
		e := pr.eng.Progress().Elapsed.Truncate(time.Second)
		if pr.total > 0 {
			return fmt.Sprintf("%v/%v", e, pr.total)
		}
		return e.String()
	}, decor.WC{W: 9})
	info := decor.Any(func(decor.Statistics) string { return pr.line() })
	if total > 0 {
		pr.bar = pr.p.New(total, mpb.BarStyle(), mpb.PrependDecorators(elapsed), mpb.AppendDecorators(info))
	} else {
		pr.bar = pr.p.New(0, mpb.SpinnerStyle(), mpb.PrependDecorators(elapsed), mpb.AppendDecorators(info))
	}
	pr.wg.Add(1)
	go func() {
		defer pr.wg.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-pr.done:
				return
			case <-t.C:
				if total > 0 {
					pr.bar.SetCurrent(min(int64(pr.eng.Progress().Elapsed/time.Millisecond), total-1))
				}
			}
		}
	}()
}

func (pr *progress) startPlain(w io.Writer) {
	pr.wg.Add(1)
	go func() {
		defer pr.wg.Done()
		t := time.NewTicker(plainEvery)
		defer t.Stop()
		for {
			select {
			case <-pr.done:
				return
			case <-t.C:
				fmt.Fprintf(w, "rolltest: %5.0fs  %s\n", pr.eng.Progress().Elapsed.Seconds(), pr.line())
			}
		}
	}()
}

func (pr *progress) stop() {
	close(pr.done)
	pr.wg.Wait()
	if pr.bar != nil {
		pr.bar.Abort(false)
		pr.p.Wait()
	}
}
