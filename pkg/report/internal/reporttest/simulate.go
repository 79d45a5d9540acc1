package reporttest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/rolltest/rolltest/pkg/report"
	"github.com/rolltest/rolltest/pkg/rollout"
)

// This file simulates runs to make the Result fixtures in testdata: the
// requests of a run are generated one by one against a simulated rolling
// update and aggregated the way a run aggregates them, so that every sum in
// the document agrees. The fixtures are written to testdata with
// -update-fixtures and read back through report.ReadResult by Fixture;
// recorded results from real runs can replace them.

// simSpec describes one simulated run.
type simSpec struct {
	seed      uint64
	start     time.Time
	durationS int
	rate      int // requests per second, evenly spaced
	retries   int
	conns     int
	oldPods   int
	newPods   int // 0: no rollout
	oldVer    string
	newVer    string
	triggerS  float64
	stepS     float64 // between one new pod and the next
	readyS    float64 // from created to ready
	// propS is how long an old pod stays in the endpoints after its
	// termination starts; failP is the chance that a request sent to it
	// then fails (the app stops at SIGTERM without a preStop hook).
	propS     float64
	failP     float64
	graceS    float64
	maxRecs   int
	thresh    report.Thresholds
	extraRSEv bool // a replicaset_scaled event (to reach 20 events at 6 pods)
	// targets, when set, make a run of --targets: request n goes to the
	// target simSchedule gives it, as the engine's schedule does.
	targets []simTarget
}

// simTarget is one request of a simulated run of many.
type simTarget struct {
	name, method, path string
	weight             int
	extraMs            float64 // added to its successful requests' latency
}

// simSchedule is one cycle of smooth weighted round-robin over weights,
// the engine's rule, so that the fixture's per-target counts are the ones
// a run would have.
func simSchedule(ts []simTarget) []int {
	total := 0
	for _, t := range ts {
		total += t.weight
	}
	cur := make([]int, len(ts))
	var out []int
	for range total {
		best := 0
		for i, t := range ts {
			cur[i] += t.weight
			if cur[i] > cur[best] {
				best = i
			}
		}
		cur[best] -= total
		out = append(out, best)
	}
	return out
}

type simPod struct {
	name, ip, version, rs string
	gen                   rollout.Generation
	created, ready        *float64
	terminating, epGone   *float64
	deleted               *float64
}

func simF(v float64) *float64 {
	v = math.Round(v*1000) / 1000
	return &v
}

// inEndpoints says whether the Service routes to p at t.
func (p *simPod) inEndpoints(t float64) bool {
	if p.ready != nil && t < *p.ready {
		return false
	}
	if p.epGone != nil && t >= *p.epGone {
		return false
	}
	return p.deleted == nil || t < *p.deleted
}

func (p *simPod) terminatingAt(t float64) bool {
	return p.terminating != nil && t >= *p.terminating
}

type simAgg struct {
	requests, ok, failed, retried int64
	outcomes                      map[string]int64
	hist                          *hdrhistogram.Histogram
}

func newSimAgg() *simAgg {
	return &simAgg{outcomes: map[string]int64{}, hist: hdrhistogram.New(1, 60_000_000, 3)}
}

func simSummary(h *hdrhistogram.Histogram) report.LatencySummary {
	if h.TotalCount() == 0 {
		return report.LatencySummary{}
	}
	ms := func(v int64) float64 { return math.Round(float64(v)) / 1000 }
	return report.LatencySummary{
		Count:  h.TotalCount(),
		MinMs:  ms(h.Min()),
		MeanMs: math.Round(h.Mean()) / 1000,
		P50Ms:  ms(h.ValueAtQuantile(50)),
		P90Ms:  ms(h.ValueAtQuantile(90)),
		P99Ms:  ms(h.ValueAtQuantile(99)),
		P999Ms: ms(h.ValueAtQuantile(99.9)),
		MaxMs:  ms(h.Max()),
	}
}

func simPodName(rng *rand.Rand, hash string) string {
	const alnum = "bcdfghjklmnpqrstvwxz2456789"
	b := make([]byte, 5)
	for i := range b {
		b[i] = alnum[rng.IntN(len(alnum))]
	}
	return "testapp-" + hash + "-" + string(b)
}

func simTargetName(ts []simTarget, i int) string {
	if i < 0 {
		return ""
	}
	return ts[i].name
}

// simulate runs the spec and returns a complete, consistent Result.
func simulate(s simSpec) *report.Result {
	rng := rand.New(rand.NewPCG(s.seed, s.seed^0x9e3779b97f4a7c15))
	hasRollout := s.newPods > 0

	var pods []*simPod
	var events []rollout.Event
	ev := func(at float64, kind rollout.EventKind, p *simPod, msg string) {
		e := rollout.Event{AtS: math.Round(at*1000) / 1000, Kind: kind, Message: msg}
		e.Time = s.start.Add(time.Duration(e.AtS * float64(time.Second)))
		if p != nil {
			e.Pod, e.PodUID, e.PodIP, e.ReplicaSet, e.Version, e.Generation = p.name, "uid-"+p.name, p.ip, p.rs, p.version, p.gen
		}
		events = append(events, e)
	}
	oldRS, newRS := "testapp-5d7f8c9b6d", "testapp-7b8c6d5f9c"
	for i := 0; i < s.oldPods; i++ {
		pods = append(pods, &simPod{name: simPodName(rng, "5d7f8c9b6d"), ip: fmt.Sprintf("10.244.0.%d", 11+i), version: s.oldVer, rs: oldRS, gen: rollout.GenerationOld})
	}
	var triggered, complete, oldGone *float64
	if hasRollout {
		triggered = simF(s.triggerS)
		ev(s.triggerS, rollout.EventTrigger, nil, "kubectl rollout restart deployment/testapp")
		ev(s.triggerS+0.05, rollout.EventReplicaSetCreated, nil, "ReplicaSet "+newRS+" for "+s.newVer)
		t := s.triggerS + 0.1
		for i := 0; i < s.newPods; i++ {
			p := &simPod{name: simPodName(rng, "7b8c6d5f9c"), ip: fmt.Sprintf("10.244.0.%d", 31+i), version: s.newVer, rs: newRS, gen: rollout.GenerationNew}
			p.created = simF(t)
			p.ready = simF(t + s.readyS + rng.Float64()*0.6)
			pods = append(pods, p)
			ev(*p.created, rollout.EventPodCreated, p, "")
			ev(*p.ready, rollout.EventPodReady, p, "")
			if i < s.oldPods {
				o := pods[i]
				o.terminating = simF(*p.ready + 0.2 + rng.Float64()*0.3)
				o.epGone = simF(*o.terminating + s.propS*(0.7+0.6*rng.Float64()))
				o.deleted = simF(*o.terminating + s.graceS)
				ev(*o.terminating, rollout.EventPodTerminating, o, "")
				ev(*o.epGone, rollout.EventEndpointRemoved, o, "address left EndpointSlice testapp-x8k2d")
				ev(*o.deleted, rollout.EventPodDeleted, o, "")
			}
			if i == 0 && s.extraRSEv {
				ev(*p.ready+0.25, rollout.EventReplicaSetScaled, nil, fmt.Sprintf("%s replicas %d → %d", oldRS, s.oldPods, s.oldPods-1))
			}
			t = *p.ready + s.stepS
		}
		lastReady, lastDeleted := 0.0, 0.0
		for _, p := range pods {
			if p.ready != nil {
				lastReady = max(lastReady, *p.ready)
			}
			if p.deleted != nil {
				lastDeleted = max(lastDeleted, *p.deleted)
			}
		}
		complete = simF(lastReady + 0.4)
		oldGone = simF(lastDeleted)
		ev(*complete, rollout.EventRolloutComplete, nil, fmt.Sprintf("%d of %d updated replicas are available", s.newPods, s.newPods))
		ev(*oldGone, rollout.EventOldPodsGone, nil, "")
		sort.SliceStable(events, func(i, j int) bool { return events[i].AtS < events[j].AtS })
	}

	phaseOf := func(t float64) string {
		if !hasRollout {
			return "load"
		}
		switch {
		case t < *triggered:
			return "baseline"
		case t < *oldGone:
			return "rollout"
		default:
			return "settle"
		}
	}

	total := newSimAgg()
	phases := map[string]*simAgg{}
	perSec := make([]*simAgg, s.durationS)
	secByVer := make([]map[string]int64, s.durationS)
	secByPod := make([]map[string]int64, s.durationS)
	secOKByPod := make([]map[string]int64, s.durationS)
	secRetried := make([]int64, s.durationS)
	for i := range perSec {
		perSec[i] = newSimAgg()
		secByVer[i], secByPod[i], secOKByPod[i] = map[string]int64{}, map[string]int64{}, map[string]int64{}
	}
	type podAgg struct {
		requests, ok, failed, retried int64
		outcomes, attributed          map[string]int64
		first, last                   float64
		answered                      bool
	}
	podStats := map[string]*podAgg{}
	for _, p := range pods {
		podStats[p.name] = &podAgg{outcomes: map[string]int64{}, attributed: map[string]int64{}}
	}
	type verAgg struct {
		requests, ok, failed int64
		first, last          float64
		seen                 bool
	}
	verStats := map[string]*verAgg{}
	retriedOutcomes := map[string]int64{}
	statusCodes := map[string]int64{}
	var records []report.Failure
	var attempts, bytesIn, bytesOut int64
	connCount := make([]int64, s.conns)
	connID := make([]uint64, s.conns)
	nextConn := uint64(0)
	for i := range connID {
		nextConn++
		connID[i] = nextConn
	}

	pick := func(t float64, exclude *simPod) *simPod {
		var eps []*simPod
		for _, p := range pods {
			if p != exclude && p.inEndpoints(t) && (exclude == nil || !p.terminatingAt(t)) {
				eps = append(eps, p)
			}
		}
		if len(eps) == 0 {
			return nil
		}
		return eps[rng.IntN(len(eps))]
	}
	okLatency := func(t float64) float64 {
		l := 1.6 + math.Exp(rng.NormFloat64()*0.45+0.4)
		if rng.Float64() < 0.004 {
			l += 20 + rng.Float64()*60
		}
		// New pods are cold for a few seconds after they turn ready.
		for _, p := range pods {
			if p.gen == rollout.GenerationNew && p.ready != nil && t >= *p.ready && t < *p.ready+3 {
				l += rng.Float64() * 8
			}
		}
		return math.Round(l*1000) / 1000
	}

	targetAgg := make([]*simAgg, len(s.targets))
	for i := range targetAgg {
		targetAgg[i] = &simAgg{outcomes: map[string]int64{}, hist: hdrhistogram.New(1, 60_000_000, 2)}
	}
	sched := simSchedule(s.targets)
	seq := uint64(0)
	n := s.durationS * s.rate
	for i := 0; i < n; i++ {
		seq++
		ti := -1
		if len(sched) > 0 {
			ti = sched[(seq-1)%uint64(len(sched))]
		}
		t := float64(i)/float64(s.rate) + rng.Float64()*0.0004
		t = math.Round(t*1e6) / 1e6
		sec := int(t)
		ph := phaseOf(t)
		if phases[ph] == nil {
			phases[ph] = newSimAgg()
		}
		ci := i % s.conns
		p := pick(t, nil)

		outcome, status, detail, attr := "ok", 200, "", "response"
		latency := 0.0
		var servedBy *simPod = p
		attempt := 1
		retriedReq := false
		attemptFail := func(p *simPod) (string, int, string, string, float64) {
			r := rng.Float64()
			switch {
			case r < 0.42:
				return "refused", 0, "dial tcp " + p.ip + ":8080: connect: connection refused", "timeline", 0.2 + rng.Float64()*0.4
			case r < 0.72:
				return "reset", 0, "read tcp 10.244.0.1:41234->" + p.ip + ":8080: read: connection reset by peer", "connection", 1 + rng.Float64()*4
			case r < 0.87:
				return "eof", 0, "the server closed the connection before returning the first response byte", "connection", 2 + rng.Float64()*6
			default:
				return "http_5xx", 503, "HTTP 503: shutting down", "response", 0.8 + rng.Float64()
			}
		}
		if p == nil {
			outcome, status, detail, attr, latency = "refused", 0, "no endpoints available for service \"testapp\"", "none", 0.3
			servedBy = nil
		} else if p.terminatingAt(t) && rng.Float64() < s.failP {
			o, st, d, a, l := attemptFail(p)
			if o == "eof" && rng.Float64() < 0.3 {
				a = "none"
			}
			if o == "refused" && attempt <= s.retries {
				// A refused connection carried no request: the retry is safe
				// and goes to another pod.
				attempts++
				records = append(records, report.Failure{
					AtS: t, Seq: seq, Attempt: 1, Retried: true, Outcome: o, Detail: d,
					LatencyMs: math.Round(l*1000) / 1000, Conn: connID[ci], ConnRequests: connCount[ci],
					Pod: p.name, Version: p.version, AttributedBy: a, Target: simTargetName(s.targets, ti),
				})
				podStats[p.name].retried++
				podStats[p.name].attributed[a]++
				retriedOutcomes[o]++
				retriedReq = true
				attempt = 2
				nextConn++
				connID[ci], connCount[ci] = nextConn, 0
				servedBy = pick(t, p)
				latency = l
				if servedBy == nil {
					outcome, status, detail, attr = "refused", 0, "no endpoints available for service \"testapp\"", "none"
				}
			} else {
				outcome, status, detail, attr, latency = o, st, d, a, l
				if a == "none" {
					servedBy = nil
				}
			}
		}
		if outcome == "ok" {
			latency += okLatency(t)
			if ti >= 0 {
				latency += s.targets[ti].extraMs
			}
		}
		latency = math.Round(latency*1000) / 1000
		attempts++
		bytesOut += 96
		if status != 0 {
			statusCodes[strconv.Itoa(status)]++
			bytesIn += 180
		}
		if outcome == "ok" {
			connCount[ci]++
		} else {
			rec := report.Failure{
				AtS: t, Seq: seq, Attempt: attempt, Outcome: outcome, Status: status, Detail: detail,
				LatencyMs: latency, Conn: connID[ci], ConnRequests: connCount[ci], AttributedBy: attr,
				Target: simTargetName(s.targets, ti),
			}
			if servedBy != nil {
				rec.Pod, rec.Version = servedBy.name, servedBy.version
			}
			records = append(records, rec)
			if outcome != "http_5xx" {
				nextConn++
				connID[ci], connCount[ci] = nextConn, 0
			} else {
				connCount[ci]++
			}
		}

		us := int64(math.Max(1, math.Round(latency*1000)))
		aggs := []*simAgg{total, phases[ph], perSec[sec]}
		if ti >= 0 {
			aggs = append(aggs, targetAgg[ti])
		}
		for _, a := range aggs {
			a.requests++
			a.outcomes[outcome]++
			if outcome == "ok" {
				a.ok++
			} else {
				a.failed++
			}
			if retriedReq {
				a.retried++
			}
			_ = a.hist.RecordValue(us)
		}
		if retriedReq {
			secRetried[sec]++
		}
		if servedBy != nil {
			ps := podStats[servedBy.name]
			ps.requests++
			ps.outcomes[outcome]++
			if outcome == "ok" {
				ps.ok++
				if !ps.answered {
					ps.first, ps.answered = t, true
				}
				ps.last = t
				secOKByPod[sec][servedBy.name]++
			} else {
				ps.failed++
				ps.attributed[attr]++
			}
			secByPod[sec][servedBy.name]++
			secByVer[sec][servedBy.version]++
			vs := verStats[servedBy.version]
			if vs == nil {
				vs = &verAgg{}
				verStats[servedBy.version] = vs
			}
			vs.requests++
			if outcome == "ok" {
				vs.ok++
				if !vs.seen {
					vs.first, vs.seen = t, true
				}
				vs.last = t
			} else {
				vs.failed++
			}
		}
	}

	res := &report.Result{
		Schema: report.Schema,
		Tool:   report.Tool{Name: "rolltest", Version: "v0.9.0-fixture"},
		Config: report.Config{
			Target: "http://127.0.0.1:30080/common/time", Method: "GET",
			Headers: []string{"User-Agent: rolltest/v0.9.0", "Authorization: [redacted]"},
			Mode:    "rate", Rate: float64(s.rate), Connections: s.conns, KeepAlive: true,
			DurationS: float64(s.durationS), TimeoutMs: 2000, Retries: s.retries, Identity: "body",
			Thresholds: s.thresh,
		},
		Run: report.Run{
			StartedAt: s.start, EndedAt: s.start.Add(time.Duration(s.durationS)*time.Second + 37*time.Millisecond),
			DurationS: float64(s.durationS) + 0.037, StopReason: "duration reached",
		},
	}
	hs, err := report.EncodeHistogram(total.hist)
	if err != nil {
		panic(err)
	}
	res.Totals = report.Totals{
		Requests: total.requests, OK: total.ok, Failed: total.failed, Retried: total.retried, Attempts: attempts,
		Outcomes: total.outcomes, StatusCodes: statusCodes,
		AchievedRPS: math.Round(float64(total.requests)/res.Run.DurationS*100) / 100,
		Connections: int64(nextConn), BytesIn: bytesIn, BytesOut: bytesOut,
	}
	if len(retriedOutcomes) > 0 {
		res.Totals.RetriedOutcomes = retriedOutcomes
	}
	res.Latency = report.Latency{LatencySummary: simSummary(total.hist), Basis: "intended", Histogram: hs}
	if len(s.targets) > 0 {
		var methods []string
		for _, tg := range s.targets {
			if !slices.Contains(methods, tg.method) {
				methods = append(methods, tg.method)
			}
		}
		res.Config.Target, res.Config.Method, res.Config.TargetsFile = "http://127.0.0.1:30080", strings.Join(methods, ","), "targets.txt"
		for i, tg := range s.targets {
			a := targetAgg[i]
			sum := simSummary(a.hist)
			res.Targets = append(res.Targets, report.Target{
				Name: tg.name, Method: tg.method, URL: "http://127.0.0.1:30080" + tg.path, Weight: tg.weight,
				Requests: a.requests, OK: a.ok, Failed: a.failed, Retried: a.retried,
				P50Ms: sum.P50Ms, P99Ms: sum.P99Ms, MaxMs: sum.MaxMs,
			})
		}
	}

	phaseSpans := [][3]any{{"load", 0.0, float64(s.durationS)}}
	if hasRollout {
		phaseSpans = [][3]any{{"baseline", 0.0, *triggered}, {"rollout", *triggered, *oldGone}, {"settle", *oldGone, float64(s.durationS)}}
	}
	for _, sp := range phaseSpans {
		name := sp[0].(string)
		a := phases[name]
		if a == nil {
			a = newSimAgg()
		}
		res.Phases = append(res.Phases, report.Phase{
			Name: name, StartS: sp[1].(float64), EndS: sp[2].(float64),
			Requests: a.requests, OK: a.ok, Failed: a.failed, Retried: a.retried,
			Outcomes: a.outcomes, Latency: simSummary(a.hist),
		})
	}

	for _, p := range pods {
		ps := podStats[p.name]
		pod := report.Pod{
			ID: p.name, Name: p.name, IP: p.ip, Version: p.version,
			Requests: ps.requests, OK: ps.ok, Failed: ps.failed, Retried: ps.retried,
			FirstS: math.Round(ps.first*1000) / 1000, LastS: math.Round(ps.last*1000) / 1000,
		}
		if len(ps.outcomes) > 0 {
			pod.Outcomes = ps.outcomes
		}
		if len(ps.attributed) > 0 {
			pod.AttributedBy = ps.attributed
		}
		if hasRollout {
			pod.Lifecycle = &report.Lifecycle{
				Generation: string(p.gen), ReplicaSet: p.rs, CreatedS: p.created, ReadyS: p.ready,
				TerminatingS: p.terminating, EndpointRemoved: p.epGone, DeletedS: p.deleted,
			}
		}
		res.Pods = append(res.Pods, pod)
	}
	for _, ver := range []string{s.oldVer, s.newVer} {
		if vs := verStats[ver]; vs != nil {
			res.Versions = append(res.Versions, report.Version{
				Version: ver, Requests: vs.requests, OK: vs.ok, Failed: vs.failed,
				FirstS: math.Round(vs.first*1000) / 1000, LastS: math.Round(vs.last*1000) / 1000,
			})
		}
	}

	// Who answered when: runs of seconds in which the same pods answered.
	key := func(m map[string]int64) string {
		var ks []string
		for k := range m {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		return fmt.Sprint(ks)
	}
	for from := 0; from < s.durationS; {
		to := from + 1
		for to < s.durationS && key(secOKByPod[to]) == key(secOKByPod[from]) {
			to++
		}
		sum := map[string]int64{}
		for t := from; t < to; t++ {
			for k, c := range secOKByPod[t] {
				sum[k] += c
			}
		}
		for _, p := range pods {
			if c := sum[p.name]; c > 0 {
				res.Windows = append(res.Windows, report.Window{FromS: from, ToS: to, Pod: p.name, Version: p.version, Requests: c})
			}
		}
		from = to
	}

	for i, a := range perSec {
		sec := report.Second{
			T: i, Phase: phaseOf(float64(i)), Requests: a.requests, OK: a.ok, Failed: a.failed, Retried: secRetried[i],
			ByVersion: secByVer[i], ByPod: secByPod[i],
		}
		if a.failed > 0 {
			sec.Outcomes = map[string]int64{}
			for k, c := range a.outcomes {
				if k != "ok" {
					sec.Outcomes[k] = c
				}
			}
		}
		sum := simSummary(a.hist)
		sec.P50Ms, sec.P90Ms, sec.P99Ms, sec.MaxMs = sum.P50Ms, sum.P90Ms, sum.P99Ms, sum.MaxMs
		res.Series = append(res.Series, sec)
	}

	res.Failures.Total = int64(len(records))
	if s.maxRecs > 0 && len(records) > s.maxRecs {
		res.Failures.Omitted = int64(len(records) - s.maxRecs)
		records = records[:s.maxRecs]
	}
	res.Failures.Records = records
	if res.Failures.Records == nil {
		res.Failures.Records = []report.Failure{}
	}

	if hasRollout {
		var props []float64
		for _, p := range pods {
			if p.terminating != nil && p.epGone != nil {
				props = append(props, math.Round((*p.epGone-*p.terminating)*1000))
			}
		}
		sort.Float64s(props)
		mixedFrom, mixedTo := math.Inf(1), 0.0
		if vs := verStats[s.newVer]; vs != nil {
			mixedFrom = vs.first
		}
		if vs := verStats[s.oldVer]; vs != nil {
			mixedTo = vs.last
		}
		res.Rollout = &report.Rollout{
			Driver: "kubernetes", Kind: "restart", Namespace: "default", Deployment: "testapp", Service: "testapp",
			TriggeredS: triggered, CompleteS: complete, OldGoneS: oldGone, Done: true,
			MixedVersionS:               math.Round(max(0, mixedTo-mixedFrom)*1000) / 1000,
			EndpointPropagationMedianMs: (props[(len(props)-1)/2] + props[len(props)/2]) / 2,
			EndpointPropagationMaxMs:    props[len(props)-1],
			Events:                      events,
		}
	}
	res.Diagnosis = []report.Hint{}
	return res
}

// simGates fills the verdict the way the gates would decide it, for the
// fixture only (report.Judge is the reference).
func simGates(r *report.Result) {
	th := r.Config.Thresholds
	rate := 0.0
	if r.Totals.Requests > 0 {
		rate = math.Round(float64(r.Totals.Failed)/float64(r.Totals.Requests)*1e6) / 1e6
	}
	g := []report.Gate{
		{Name: "dropped_requests", Limit: float64(th.MaxErrors), Value: float64(r.Totals.Failed), Pass: r.Totals.Failed <= th.MaxErrors},
		{Name: "error_rate", Limit: th.MaxErrorRate, Value: rate, Pass: rate <= th.MaxErrorRate},
		{Name: "p99", Limit: th.MaxP99Ms, Value: r.Latency.P99Ms, Pass: r.Latency.P99Ms <= th.MaxP99Ms},
	}
	g[0].Message = fmt.Sprintf("%d of %d requests failed; at most %d may", r.Totals.Failed, r.Totals.Requests, th.MaxErrors)
	g[1].Message = fmt.Sprintf("error rate %s; the limit is %s", report.FormatPercent(r.Totals.Failed, r.Totals.Requests), strconv.FormatFloat(th.MaxErrorRate*100, 'f', -1, 64)+" %")
	g[2].Message = fmt.Sprintf("p99 latency %s ms; the limit is %s ms", strconv.FormatFloat(r.Latency.P99Ms, 'f', -1, 64), strconv.FormatFloat(th.MaxP99Ms, 'f', -1, 64))
	if r.Rollout != nil {
		var base, roll float64
		for _, p := range r.Phases {
			switch p.Name {
			case "baseline":
				base = p.Latency.P99Ms
			case "rollout":
				roll = p.Latency.P99Ms
			}
		}
		ratio := math.Round(roll/base*100) / 100
		g = append(g, report.Gate{Name: "p99_ratio", Limit: th.MaxP99Ratio, Value: ratio, Pass: ratio <= th.MaxP99Ratio,
			Message: fmt.Sprintf("p99 during the rollout (%s ms) is %s× the baseline's (%s ms); the limit is %s×",
				strconv.FormatFloat(roll, 'f', -1, 64), strconv.FormatFloat(ratio, 'f', -1, 64), strconv.FormatFloat(base, 'f', -1, 64), strconv.FormatFloat(th.MaxP99Ratio, 'f', -1, 64))})
		g = append(g, report.Gate{Name: "rollout_completed", Limit: 1, Value: 1, Pass: r.Rollout.Done && !r.Rollout.Failed,
			Message: "the rollout completed and every old pod is gone"})
	} else {
		g = append(g,
			report.Gate{Name: "p99_ratio", Limit: th.MaxP99Ratio, Skipped: true, Pass: true, Message: "no rollout, so no baseline to compare with"},
			report.Gate{Name: "rollout_completed", Limit: 1, Skipped: true, Pass: true, Message: "no rollout was requested"},
		)
	}
	pass := true
	for _, x := range g {
		if !x.Skipped && !x.Pass {
			pass = false
		}
	}
	r.Verdict = report.Verdict{Pass: pass, Gates: g}
	if pass {
		r.Verdict.Summary = fmt.Sprintf("All %d requests succeeded; p99 %s ms.", r.Totals.Requests, strconv.FormatFloat(r.Latency.P99Ms, 'f', -1, 64))
	} else {
		r.Verdict.ExitCode = 1
		r.Verdict.Summary = fmt.Sprintf("%d of %d requests failed during the rolling update; the limit is %d.", r.Totals.Failed, r.Totals.Requests, th.MaxErrors)
	}
}

func simFailingRollout() *report.Result {
	r := simulate(simSpec{
		seed: 5, start: time.Date(2026, 11, 26, 14, 3, 12, 0, time.UTC),
		durationS: 60, rate: 50, retries: 1, conns: 8,
		oldPods: 2, newPods: 2, oldVer: "v1", newVer: "v2",
		triggerS: 12.4, stepS: 1.5, readyS: 3.2, propS: 1.8, failP: 0.85, graceS: 4,
		thresh: report.Thresholds{MaxErrors: 0, MaxErrorRate: 0.001, MaxP99Ms: 250, MaxP99Ratio: 3},
	})
	simGates(r)
	var oldTerm []string
	byPod := map[string]int64{}
	var n int64
	for _, f := range r.Failures.Records {
		if !f.Retried {
			byPod[f.Pod]++
			n++
		}
	}
	for _, p := range r.Pods {
		if p.Lifecycle != nil && p.Lifecycle.TerminatingS != nil && p.Lifecycle.EndpointRemoved != nil {
			oldTerm = append(oldTerm, fmt.Sprintf("%s: %d requests failed between its termination at %s s and its endpoint's removal at %s s",
				p.Name, byPod[p.Name], strconv.FormatFloat(*p.Lifecycle.TerminatingS, 'f', -1, 64), strconv.FormatFloat(*p.Lifecycle.EndpointRemoved, 'f', -1, 64)))
		}
	}
	r.Diagnosis = []report.Hint{
		{
			Code: "terminating_pod_traffic", Severity: "error",
			Title:    "Old pods stopped serving while the Service still sent them requests",
			Detail:   fmt.Sprintf("%d requests failed while a terminating pod was still listed in the Service's endpoints. The application stops as soon as it gets SIGTERM, but removing a pod from the endpoints takes about %s ms to reach every node.", n, strconv.FormatFloat(r.Rollout.EndpointPropagationMedianMs, 'f', -1, 64)),
			Evidence: oldTerm,
			Fix:      "Add a preStop hook that waits longer than the endpoint propagation (for example sleep 5 s) and make the application finish in-flight requests on SIGTERM before it exits.",
		},
		{
			Code: "retries_hid_failures", Severity: "info",
			Title:  "Retries hid some of the failures",
			Detail: fmt.Sprintf("%d requests were retried after a refused connection and then succeeded; clients without retries would have seen these fail too.", r.Totals.Retried),
		},
	}
	return r
}

func simPassingNoRollout() *report.Result {
	r := simulate(simSpec{
		seed: 7, start: time.Date(2026, 11, 26, 15, 20, 0, 0, time.UTC),
		durationS: 30, rate: 40, retries: 0, conns: 4,
		oldPods: 2, oldVer: "v1",
		thresh: report.Thresholds{MaxErrors: 0, MaxErrorRate: 0.001, MaxP99Ms: 250, MaxP99Ratio: -1},
	})
	simGates(r)
	return r
}

// simTenMinutes is the size test's run: 600 s, 6 pods in 2 versions, 20
// events and 1000 failure records.
func simTenMinutes() *report.Result {
	r := simulate(simSpec{
		seed: 11, start: time.Date(2026, 11, 26, 16, 0, 0, 0, time.UTC),
		durationS: 600, rate: 100, retries: 1, conns: 16,
		oldPods: 3, newPods: 3, oldVer: "v1.4.2", newVer: "v1.5.0",
		triggerS: 120, stepS: 40, readyS: 6, propS: 14, failP: 0.95, graceS: 30,
		maxRecs: 1000, extraRSEv: true,
		thresh: report.Thresholds{MaxErrors: 0, MaxErrorRate: 0.001, MaxP99Ms: 250, MaxP99Ratio: 3},
	})
	simGates(r)
	return r
}

// simMultiTarget is a run of --targets through the failing rollout: three
// requests weighted 3:1:1, each failing in its share.
func simMultiTarget() *report.Result {
	r := simulate(simSpec{
		seed: 13, start: time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC),
		durationS: 40, rate: 50, retries: 1, conns: 8,
		oldPods: 2, newPods: 2, oldVer: "v1", newVer: "v2",
		triggerS: 8.2, stepS: 1.5, readyS: 3.2, propS: 1.8, failP: 0.85, graceS: 4,
		thresh: report.Thresholds{MaxErrors: 0, MaxErrorRate: 0.001, MaxP99Ms: 250, MaxP99Ratio: 3},
		targets: []simTarget{
			{name: "catalogue", method: "GET", path: "/api/items?page=1", weight: 3},
			{name: "POST /api/orders", method: "POST", path: "/api/orders", weight: 1, extraMs: 6},
			{name: "update stock", method: "PUT", path: "/api/stock/42", weight: 1, extraMs: 2.5},
		},
	})
	simGates(r)
	return r
}

// simFixtures are the generators of the fixtures in testdata, by file name.
var simFixtures = map[string]func() *report.Result{
	"failing-rollout.json":   simFailingRollout,
	"passing-norollout.json": simPassingNoRollout,
	"multi-target.json":      simMultiTarget,
}
