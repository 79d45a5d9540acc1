package loadgen

import (
	"runtime"
	"testing"
	"time"
)

// BenchmarkCollectorSeries measures what the per-second series costs in
// memory: it feeds the collector a run of synthetic seconds as 64 workers
// do (5,000 requests a second, each worker's slot on one of 3 pods, a few
// failing seconds) through its channel, and reports the live heap the
// collector holds at the end of the run (heap-MB, B/s-of-run) and what the
// conversion to []SecondStats adds (stats-MB). Memory, not time, is the
// result: run with -benchtime=1x.
func BenchmarkCollectorSeries(b *testing.B) {
	for _, run := range []struct {
		name string
		secs int
	}{{"1h", 3600}, {"24h", 86_400}} {
		b.Run(run.name, func(b *testing.B) {
			for range b.N {
				benchSeries(b, run.secs)
			}
		})
	}
}

func benchSeries(b *testing.B, secs int) {
	const workers = 64
	b.StopTimer()
	var m0, m1, m2 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	b.StartTimer()
	c := newCollector(workers, 12*time.Second)
	go c.run()
	owner := make(chan *secSlot, 2*workers)
	for range 2 * workers {
		owner <- &secSlot{owner: owner, pods: make([]secPod, 0, 8)}
	}
	for sec := range secs {
		for w := range workers {
			s := <-owner
			s.reset(sec)
			n := int64(5000 / workers)
			s.counts.Outcomes[OK] = n
			s.pods = append(s.pods, secPod{pod: int32(1 + w%3), requests: n})
			if sec%600 == 7 && w == 0 { // a failing second now and then
				s.counts.Outcomes[OK] -= 3
				s.counts.Outcomes[HTTP5xx] = 3
				s.pods[0].failed = 3
			}
			for i := range 4 {
				s.lat.record(int64(800 + 10*i + sec%100 + w))
			}
			c.in <- s
		}
	}
	close(c.in)
	<-c.done
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&m1)
	st := c.seconds()
	runtime.GC()
	runtime.ReadMemStats(&m2)
	runtime.KeepAlive(c)
	runtime.KeepAlive(st)
	held := float64(m1.HeapAlloc) - float64(m0.HeapAlloc)
	b.ReportMetric(held/(1<<20), "heap-MB")
	b.ReportMetric(held/float64(secs), "B/s-of-run")
	b.ReportMetric((float64(m2.HeapAlloc)-float64(m1.HeapAlloc))/(1<<20), "stats-MB")
	b.ReportMetric(float64(len(st)), "entries")
	b.StartTimer()
}
