package loadgen

import (
	"runtime"
	"time"
)

// saturation tells whether the generator is using all the CPU it has. A
// pool whose workers are all busy needs more connections when the service
// holds them, but not when the workers are merely waiting for CPU: a dial
// then only adds work, each request leaves later, more find every worker
// busy, and the pool spirals (20,000 req/s on one core collapsed to 5,500
// with 18,000 connections). It samples the process's CPU time at most
// every saturationEvery, from the dispatcher alone.
type saturation struct {
	at, cpu time.Duration
	busy    bool
	cpus    float64
	now     func() time.Duration
	usage   func() time.Duration
}

const (
	saturationEvery = 10 * time.Millisecond
	// saturatedShare is the share of its CPUs above which the process
	// counts as saturated.
	saturatedShare = 0.7
)

func newSaturation(now func() time.Duration) *saturation {
	s := &saturation{cpus: float64(runtime.GOMAXPROCS(0)), now: now, usage: processCPU}
	s.at, s.cpu = now(), s.usage()
	return s
}

// saturated reports whether the process used more than saturatedShare of
// its CPUs over the last sample.
func (s *saturation) saturated() bool {
	now := s.now()
	if d := now - s.at; d >= saturationEvery {
		cpu := s.usage()
		s.busy = cpu > 0 && float64(cpu-s.cpu) >= saturatedShare*s.cpus*float64(d)
		s.at, s.cpu = now, cpu
	}
	return s.busy
}
