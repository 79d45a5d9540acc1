// Package metrics serves a running rolltest's measurements to Prometheus,
// on an endpoint of its own (--metrics-addr), so that a dashboard shows
// drops per pod and version while the rollout happens rather than after.
//
// The exporter adds nothing to the requests' path: it is a
// prometheus.Collector that, at each scrape, takes one snapshot of the
// engine's live totals (loadgen.Engine.Live: what the engine's collector
// has merged, second by second) and turns it into constant metrics. Every
// metric of one scrape comes from the same snapshot, so they agree with
// each other; they lag the requests by about a second and, once the run
// has ended, equal the result document's totals.
package metrics

import (
	"runtime"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/rolltest/rolltest/pkg/loadgen"
)

// The metric families the exporter serves (beside the Go runtime's and the
// process's go_* and process_* families). The dashboard in dist/grafana
// may use these and no others; a test holds it to them.
const (
	Requests        = "rolltest_requests_total"
	Dropped         = "rolltest_dropped_requests_total"
	Retried         = "rolltest_retried_requests_total"
	Duration        = "rolltest_request_duration_seconds"
	LateSends       = "rolltest_late_sends_total"
	Connections     = "rolltest_connections_opened_total"
	Phase           = "rolltest_rollout_phase"
	RunInfo         = "rolltest_run_info"
	BuildInfo       = "rolltest_build_info"
	phaseDone       = "done"
	unattributedPod = ""
)

// Families returns the names of the families above, with the series names
// a histogram adds (_bucket, _sum, _count).
func Families() []string {
	return []string{
		Requests, Dropped, Retried, LateSends, Connections, Phase, RunInfo, BuildInfo,
		Duration + "_bucket", Duration + "_sum", Duration + "_count",
	}
}

// Buckets are the latency histogram's upper bounds: from half a
// millisecond (a loopback or in-cluster answer) to 10 s, beyond which
// +Inf holds timeouts at the usual --timeout.
func Buckets() []time.Duration {
	ms := time.Millisecond
	return []time.Duration{
		ms / 2, ms, 5 * ms / 2, 5 * ms, 10 * ms, 25 * ms, 50 * ms, 100 * ms, 250 * ms, 500 * ms,
		time.Second, 5 * time.Second / 2, 5 * time.Second, 10 * time.Second,
	}
}

// Source is what the exporter reads at each scrape; *loadgen.Engine is one.
type Source interface {
	Live() loadgen.Live
}

// Info describes the run, for rolltest_run_info and rolltest_build_info.
type Info struct {
	Version string // rolltest's own
	Target  string // the URL loaded, without credentials
	Mode    string // "rate" (open model) or "concurrency" (closed model)
	// Workload is what the run rolls as kubectl names it
	// ("deployment/web"), and Namespace its namespace; both empty for a
	// run that only sends load.
	Workload, Namespace string
}

// NewRegistry returns a registry of its own for one run — never the
// default one, so that runs in one process (tests) do not share counters —
// holding the run's collector and the Go runtime's and the process's.
func NewRegistry(src Source, info Info) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		newCollector(src, info),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

type collector struct {
	src     Source
	info    Info
	buckets []time.Duration

	requests, dropped, retried, duration, late, conns, phase, run, build *prometheus.Desc
}

func newCollector(src Source, info Info) *collector {
	podLabels := []string{"outcome", "pod", "version"}
	return &collector{
		src:     src,
		info:    info,
		buckets: Buckets(),
		requests: prometheus.NewDesc(Requests,
			"Requests completed, by final outcome (ok, http_5xx, refused, …) and the pod and version that answered; pod=\"\" holds failures no pod was known for when they were counted.",
			podLabels, nil),
		dropped: prometheus.NewDesc(Dropped,
			"Dropped requests: the part of rolltest_requests_total whose outcome is a failure (every outcome but ok), by outcome, pod and version.",
			podLabels, nil),
		retried: prometheus.NewDesc(Retried,
			"Failed attempts that were sent again (--retries), by the outcome of the failed attempt.",
			[]string{"outcome"}, nil),
		duration: prometheus.NewDesc(Duration,
			"Latency from each request's intended send time (open model) or send time (closed model), of requests that got a response or timed out; within ±3.2% of the measured value.",
			nil, nil),
		late: prometheus.NewDesc(LateSends,
			"Requests sent more than 1 ms after they were due: the generator, not the service, delayed them.",
			nil, nil),
		conns: prometheus.NewDesc(Connections,
			"Connections opened to the target.",
			nil, nil),
		phase: prometheus.NewDesc(Phase,
			"1 for the run's current phase (load, or baseline, rollout, settle; done once the run has ended), 0 for the phases before it.",
			[]string{"phase"}, nil),
		run: prometheus.NewDesc(RunInfo,
			"Always 1: what this run loads and rolls.",
			[]string{"target", "mode", "workload", "namespace"}, nil),
		build: prometheus.NewDesc(BuildInfo,
			"Always 1: the rolltest build serving these metrics.",
			[]string{"version", "goversion"}, nil),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.requests, c.dropped, c.retried, c.duration, c.late, c.conns, c.phase, c.run, c.build} {
		ch <- d
	}
}

// podKey is one series' pod labels: pods that share a name and version
// (e.g. one pod seen at two addresses) are one series.
type podKey struct{ pod, version string }

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	l := c.src.Live()

	// The unattributed pod is always there, so that the first failure no
	// pod is known for raises a series from 0 rather than starting one,
	// which rate() and increase() would miss.
	byPod := map[podKey]*loadgen.OutcomeCounts{{unattributedPod, ""}: {}}
	for i := range l.Pods {
		p := &l.Pods[i]
		k := podKey{p.Pod, p.Version} // the unknown pod, index 0, has neither
		sum := byPod[k]
		if sum == nil {
			sum = &loadgen.OutcomeCounts{}
			byPod[k] = sum
		}
		for o, v := range p.Outcomes {
			sum[o] += v
		}
	}
	keys := make([]podKey, 0, len(byPod))
	for k := range byPod {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i].pod < keys[j].pod || keys[i].pod == keys[j].pod && keys[i].version < keys[j].version
	})
	// Every outcome of every pod, zeros included, for the same reason.
	for _, k := range keys {
		counts := byPod[k]
		for _, o := range loadgen.Outcomes() {
			v := float64(counts[o])
			ch <- prometheus.MustNewConstMetric(c.requests, prometheus.CounterValue, v, o.String(), k.pod, k.version)
			if o.Failed() {
				ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, v, o.String(), k.pod, k.version)
			}
		}
	}
	for _, o := range loadgen.Outcomes() {
		if o.Failed() {
			ch <- prometheus.MustNewConstMetric(c.retried, prometheus.CounterValue, float64(l.RetriedOutcomes[o]), o.String())
		}
	}

	cum, count, sum := l.Latency(c.buckets)
	buckets := make(map[float64]uint64, len(c.buckets))
	for i, b := range c.buckets {
		buckets[b.Seconds()] = cum[i]
	}
	ch <- prometheus.MustNewConstHistogram(c.duration, count, sum.Seconds(), buckets)

	ch <- prometheus.MustNewConstMetric(c.late, prometheus.CounterValue, float64(l.LateSends))
	ch <- prometheus.MustNewConstMetric(c.conns, prometheus.CounterValue, float64(l.ConnsOpened))

	current := l.Phase
	if l.Done {
		current = phaseDone
	}
	seen := map[string]bool{}
	for _, p := range append(l.Phases, phaseDone) {
		if seen[p] || p == phaseDone && !l.Done {
			continue
		}
		seen[p] = true
		v := 0.0
		if p == current {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(c.phase, prometheus.GaugeValue, v, p)
	}
	ch <- prometheus.MustNewConstMetric(c.run, prometheus.GaugeValue, 1, c.info.Target, c.info.Mode, c.info.Workload, c.info.Namespace)
	ch <- prometheus.MustNewConstMetric(c.build, prometheus.GaugeValue, 1, c.info.Version, runtime.Version())
}
