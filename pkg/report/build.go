package report

import (
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/rolltest/rolltest/internal/redact"
	"github.com/rolltest/rolltest/pkg/loadgen"
	"github.com/rolltest/rolltest/pkg/rollout"
)

// Input is everything a run produced, for Build.
type Input struct {
	Tool        Tool
	Config      Config
	Stats       *loadgen.Stats
	EndedAt     time.Time
	Interrupted bool
	StopReason  string
	// Preflight is the request sent before the run, if one was.
	Preflight *Preflight
	// Rollout is nil for a run without one.
	Rollout *RolloutInput
	// Redactor holds the run's secrets (credential header values, URL
	// passwords and tokens), hidden wherever they turn up; nil hides
	// credentials by pattern alone. See Result.Redact.
	Redactor *redact.Redactor
	// Agents, when several processes sent the load, are each one's share
	// (their Stats are merged into Stats); LoadFrom is where the load was
	// sent from, "" meaning "local".
	Agents   []Agent
	LoadFrom string
}

// RolloutInput is what the rollout driver reported.
type RolloutInput struct {
	// Driver is the driver's Describe, Action how it started the rollout.
	Driver string
	Action rollout.ActionKind
	// Workload is what was rolled, with the Service the driver watched.
	Workload rollout.Workload
	Status   rollout.Status
	Events   []rollout.Event
}

// UnknownPod is the pod ID under which requests that no method could
// attribute are counted.
const UnknownPod = "(unattributed)"

// Build assembles the Result document from a run's measurements. The
// verdict is left empty: see Judge.
func Build(in Input) *Result {
	st := in.Stats
	r := &Result{
		Schema:    Schema,
		Tool:      in.Tool,
		Config:    in.Config,
		Diagnosis: []Hint{},
	}
	r.Config.Agents, r.Config.LoadFrom = max(len(in.Agents), 1), in.LoadFrom
	if r.Config.LoadFrom == "" {
		r.Config.LoadFrom = "local"
	}
	if len(in.Agents) > 0 {
		r.Agents = append([]Agent(nil), in.Agents...)
	}
	if r.Config.IdentityRule == "" {
		// The rule is found during the run (--identity auto), not set.
		r.Config.IdentityRule = st.IdentityRule
	}
	r.Run = Run{
		StartedAt:   st.Start,
		EndedAt:     in.EndedAt,
		DurationS:   seconds(st.End),
		Interrupted: in.Interrupted,
		StopReason:  in.StopReason,
		Preflight:   in.Preflight,
	}
	if r.Run.EndedAt.IsZero() {
		r.Run.EndedAt = st.Start.Add(st.End)
	}
	r.Totals = totals(st)
	r.Latency = Latency{LatencySummary: summarize(st.Latency), Basis: "sent"}
	if in.Config.Mode == "rate" {
		r.Latency.Basis = "intended"
	}
	if enc, err := EncodeHistogram(st.Latency); err == nil {
		r.Latency.Histogram = enc
	}
	for _, p := range st.Phases {
		r.Phases = append(r.Phases, Phase{
			Name: p.Name, StartS: seconds(p.Start), EndS: seconds(p.End),
			Requests: p.Requests(), OK: p.Outcomes[loadgen.OK], Failed: p.Failed(), Retried: p.Retried,
			Outcomes: outcomeMap(&p.Counts.Outcomes, false), Latency: summarize(p.Latency),
		})
	}
	if in.Rollout != nil {
		r.Rollout = buildRollout(in.Rollout, st.Start)
	}
	r.Targets = buildTargets(st)
	r.Pods = buildPods(st, r.Rollout)
	r.Failures = buildFailures(st, r.Pods)
	r.Series = buildSeries(st, r)
	attributeByTimeline(r)
	r.Versions = buildVersions(r.Pods)
	r.Windows = buildWindows(r.Series, r.Pods)
	if r.Rollout != nil {
		r.Rollout.MixedVersionS = mixedVersionSeconds(r.Series)
	}
	// Here, where the document is made, rather than per request: the
	// engine's hot path stays as it is, and nothing rendered from r can
	// miss it.
	r.Redact(in.Redactor)
	return r
}

func seconds(d time.Duration) float64 { return round3(d.Seconds()) }

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

func ms(us int64) float64 { return round3(float64(us) / 1000) }

func summarize(h *hdrhistogram.Histogram) LatencySummary {
	if h == nil || h.TotalCount() == 0 {
		return LatencySummary{}
	}
	return LatencySummary{
		Count:  h.TotalCount(),
		MinMs:  ms(h.Min()),
		MeanMs: round3(h.Mean() / 1000),
		P50Ms:  ms(h.ValueAtQuantile(50)),
		P90Ms:  ms(h.ValueAtQuantile(90)),
		P99Ms:  ms(h.ValueAtQuantile(99)),
		P999Ms: ms(h.ValueAtQuantile(99.9)),
		MaxMs:  ms(h.Max()),
	}
}

// outcomeMap names the outcomes; with failuresOnly, the outcomes that are
// no drop (ok) and zero counts are left out (for compact per-second
// entries). Otherwise every outcome is present, so consumers never need to
// test for a missing key.
func outcomeMap(counts *loadgen.OutcomeCounts, failuresOnly bool) map[string]int64 {
	m := map[string]int64{}
	for _, o := range loadgen.Outcomes() {
		v := counts[o]
		if failuresOnly && (!o.Failed() || v == 0) {
			continue
		}
		m[o.String()] = v
	}
	return m
}

func totals(st *loadgen.Stats) Totals {
	t := Totals{
		Requests:         st.Requests(),
		OK:               st.Outcomes[loadgen.OK],
		Failed:           st.Failed(),
		Retried:          st.Retried,
		Attempts:         st.Requests() + st.Retried,
		Outcomes:         outcomeMap(&st.Outcomes, false),
		LateSends:        st.LateSends,
		MaxSendDelayMs:   round3(float64(st.MaxSendDelay) / float64(time.Millisecond)),
		Connections:      st.ConnsOpened,
		BehindSends:      st.BehindSends,
		PoolWaits:        st.PoolWaits,
		ConnectionsPeak:  st.PeakConns,
		BytesIn:          st.BytesIn,
		BytesOut:         st.BytesOut,
		ServerMaxStreams: st.ServerMaxStreams,
	}
	if st.Retried > 0 {
		t.RetriedOutcomes = outcomeMap(&st.RetriedOutcomes, true)
	}
	if len(st.StatusCodes) > 0 {
		t.StatusCodes = map[string]int64{}
		for code, n := range st.StatusCodes {
			t.StatusCodes[strconv.Itoa(code)] = n
		}
	}
	// The rate is the requests sent over the span in which they were sent:
	// n requests span n-1 intervals.
	if n := t.Requests; n > 1 && st.SendEnd > 0 {
		t.AchievedRPS = math.Round(float64(n-1)/st.SendEnd.Seconds()*10) / 10
	}
	return t
}

func buildRollout(in *RolloutInput, start time.Time) *Rollout {
	at := func(t time.Time) *float64 {
		if t.IsZero() {
			return nil
		}
		v := round3(t.Sub(start).Seconds())
		return &v
	}
	w := in.Workload
	ro := &Rollout{
		Driver: in.Driver, Kind: string(in.Action), Namespace: w.Namespace, Service: w.Service,
		Workload: w.Ref(), WorkloadKind: string(w.Kind), Name: w.Name,
		TriggeredS: at(in.Status.Triggered), CompleteS: at(in.Status.Complete), OldGoneS: at(in.Status.OldPodsGone),
		Done: in.Status.Done, Failed: in.Status.Failed, Reason: in.Status.Reason,
		Events: make([]rollout.Event, len(in.Events)),
	}
	// deployment keeps its meaning from before other kinds existed.
	if w.Kind == rollout.KindDeployment {
		ro.Deployment = w.Name
	}
	copy(ro.Events, in.Events)
	for i := range ro.Events {
		ro.Events[i].AtS = round3(ro.Events[i].Time.Sub(start).Seconds())
	}
	sort.SliceStable(ro.Events, func(i, j int) bool { return ro.Events[i].Time.Before(ro.Events[j].Time) })
	// Propagation ends when the endpoint stops being offered for new
	// connections: marked not ready (kept, terminating) or removed,
	// whichever the EndpointSlice shows first.
	var props []float64
	term := map[string]float64{}
	for _, e := range ro.Events {
		switch e.Kind {
		case rollout.EventPodTerminating:
			term[e.Pod] = e.AtS
		case rollout.EventEndpointNotReady, rollout.EventEndpointRemoved:
			if t0, ok := term[e.Pod]; ok {
				props = append(props, (e.AtS-t0)*1000)
				delete(term, e.Pod)
			}
		}
	}
	if len(props) > 0 {
		sort.Float64s(props)
		ro.EndpointPropagationMedianMs = round3(props[len(props)/2])
		ro.EndpointPropagationMaxMs = round3(props[len(props)-1])
	}
	return ro
}

// buildTargets lists the traffic per target of a run of many; nil
// otherwise.
func buildTargets(st *loadgen.Stats) []Target {
	var out []Target
	for _, t := range st.Targets {
		lat := summarize(t.Latency)
		out = append(out, Target{
			Name: t.Name, Method: t.Method, URL: t.URL, Weight: t.Weight,
			Requests: t.Requests(), OK: t.Outcomes[loadgen.OK], Failed: t.Failed(), Retried: t.Retried,
			P50Ms: lat.P50Ms, P99Ms: lat.P99Ms, MaxMs: lat.MaxMs,
		})
	}
	return out
}

// buildPods lists the pods that answered, plus the unattributed bucket when
// it holds anything, linking each to its lifecycle on the timeline by name,
// UID or IP (a POD_ID may be the pod's UID or, as in testapp's manifests,
// its name).
func buildPods(st *loadgen.Stats, ro *Rollout) []Pod {
	var pods []Pod
	for i, p := range st.Pods {
		if p.Requests() == 0 && p.Retried == 0 {
			continue
		}
		id := p.Pod
		if i == 0 {
			id = UnknownPod
		}
		out := Pod{
			ID: id, IP: p.IP, Version: p.Version,
			Requests: p.Requests(), OK: p.Outcomes[loadgen.OK], Failed: p.Failed(), Retried: p.Retried,
			Outcomes: outcomeMap(&p.Outcomes, true),
			FirstS:   seconds(p.First), LastS: seconds(p.Last),
		}
		if p.FirstOK >= 0 {
			v := seconds(p.FirstOK)
			out.FirstOKS = &v
		}
		for a, n := range p.AttributedBy {
			if n > 0 && loadgen.Attribution(a) != loadgen.AttrResponse && out.Failed > 0 {
				if out.AttributedBy == nil {
					out.AttributedBy = map[string]int64{}
				}
				out.AttributedBy[loadgen.Attribution(a).String()] += n
			}
		}
		pods = append(pods, out)
	}
	// Pods that never answered still belong in the table when the timeline
	// knows them: a pod that was created and deleted without serving is
	// part of the story.
	if ro != nil {
		known := map[string]int{}
		for i := range pods {
			known[pods[i].ID] = i
		}
		// A StatefulSet's replacement pod has its predecessor's name:
		// events are linked by UID first, and by name only to a pod that
		// no other UID has claimed.
		byUID := map[string]int{}
		uidOf := map[int]string{}
		for _, e := range ro.Events {
			if e.Pod == "" {
				continue
			}
			i, ok := byUID[e.PodUID]
			if !ok && e.PodUID != "" {
				i, ok = known[e.PodUID]
			}
			if !ok {
				if j, found := known[e.Pod]; found && (e.PodUID == "" || uidOf[j] == "" || uidOf[j] == e.PodUID) {
					i, ok = j, true
				}
			}
			if !ok && e.PodIP != "" {
				for j := range pods {
					if pods[j].IP == e.PodIP && pods[j].Name == "" && pods[j].ID != UnknownPod {
						i, ok = j, true
						break
					}
				}
			}
			if !ok {
				id := e.Pod
				if _, taken := known[id]; taken && e.PodUID != "" {
					id = e.PodUID
				}
				pods = append(pods, Pod{ID: id, IP: e.PodIP, Version: e.Version})
				i = len(pods) - 1
			}
			known[e.Pod] = i
			if e.PodUID != "" {
				byUID[e.PodUID] = i
				uidOf[i] = e.PodUID
			}
			p := &pods[i]
			p.Name = e.Pod
			if p.IP == "" {
				p.IP = e.PodIP
			}
			if p.Version == "" {
				p.Version = e.Version
			}
			if p.Lifecycle == nil {
				p.Lifecycle = &Lifecycle{}
			}
			lc := p.Lifecycle
			if e.Generation != "" {
				lc.Generation = string(e.Generation)
			}
			if e.ReplicaSet != "" {
				lc.ReplicaSet = e.ReplicaSet
			}
			if e.Revision != "" {
				lc.Revision = e.Revision
			}
			v := e.AtS
			set := func(f **float64) {
				if *f == nil {
					*f = &v
				}
			}
			switch e.Kind {
			case rollout.EventPodCreated:
				set(&lc.CreatedS)
			case rollout.EventPodReady:
				set(&lc.ReadyS)
			case rollout.EventPodNotReady:
				set(&lc.NotReadyS)
			case rollout.EventPodTerminating:
				set(&lc.TerminatingS)
			case rollout.EventEndpointNotReady:
				set(&lc.EndpointNotReadyS)
			case rollout.EventEndpointRemoved:
				set(&lc.EndpointRemoved)
			case rollout.EventPodDeleted:
				set(&lc.DeletedS)
			}
		}
	}
	// A pod that never answered has only the timeline's version (in a
	// restart, the pod-template hash); its siblings of the same ReplicaSet
	// or ControllerRevision that did answer say what version the template
	// runs.
	rsVersion := map[string]string{}
	for _, p := range pods {
		if p.Lifecycle != nil && p.Lifecycle.template() != "" && p.Requests > 0 && p.Version != "" {
			rsVersion[p.Lifecycle.template()] = p.Version
		}
	}
	for i := range pods {
		p := &pods[i]
		if p.Requests == 0 && p.Lifecycle != nil {
			if v, ok := rsVersion[p.Lifecycle.template()]; ok {
				p.Version = v
			}
		}
	}
	sort.SliceStable(pods, func(i, j int) bool {
		a, b := &pods[i], &pods[j]
		if (a.ID == UnknownPod) != (b.ID == UnknownPod) {
			return b.ID == UnknownPod
		}
		if a.FirstS != b.FirstS {
			return a.FirstS < b.FirstS
		}
		return a.ID < b.ID
	})
	return pods
}

// template names the object holding the pod's template: its ReplicaSet or
// ControllerRevision.
func (lc *Lifecycle) template() string {
	if lc.ReplicaSet != "" {
		return lc.ReplicaSet
	}
	return lc.Revision
}

func podIndex(pods []Pod) map[string]int {
	m := make(map[string]int, len(pods))
	for i, p := range pods {
		m[p.ID] = i
	}
	return m
}

func buildFailures(st *loadgen.Stats, pods []Pod) Failures {
	f := Failures{Total: st.Failed() + st.Retried, Omitted: st.FailuresOmitted, Records: make([]Failure, 0, len(st.Failures))}
	for _, rec := range st.Failures {
		out := Failure{
			AtS: round3(rec.Intended.Seconds()), StartS: round3(rec.Start.Seconds()), Seq: rec.Seq + 1, Attempt: rec.Attempt, Retried: rec.Retried,
			Outcome: rec.Outcome.String(), Status: rec.Status, Detail: rec.Detail,
			LatencyMs: round3(float64(rec.Latency) / float64(time.Millisecond)),
			Conn:      rec.Conn, ConnRequests: rec.ConnRequests, AttributedBy: rec.AttributedBy.String(),
		}
		if rec.Pod > 0 && rec.Pod < len(st.Pods) {
			p := st.Pods[rec.Pod]
			out.Pod, out.Version = p.Pod, p.Version
		}
		if rec.Target >= 0 && rec.Target < len(st.Targets) {
			out.Target = st.Targets[rec.Target].Name
		}
		f.Records = append(f.Records, out)
	}
	return f
}

// attributeByTimeline gives a pod to failures that carried none, when the
// timeline leaves exactly one candidate: the only pod that, at that moment,
// was terminating but still in the endpoints, or in the endpoints but not
// yet Ready. The failure's counts move from the unattributed bucket to that
// pod.
func attributeByTimeline(r *Result) {
	if r.Rollout == nil {
		return
	}
	idx := podIndex(r.Pods)
	unknown, hasUnknown := idx[UnknownPod]
	// A failure names its pod by name where the name is the pod's alone; a
	// StatefulSet's old and new pod share theirs, so then by ID.
	named := map[string]int{}
	for _, p := range r.Pods {
		if p.Name != "" {
			named[p.Name]++
		}
	}
	for i := range r.Failures.Records {
		f := &r.Failures.Records[i]
		if f.AttributedBy != loadgen.AttrNone.String() {
			continue
		}
		cand, _ := suspects(r.Pods, f)
		if len(cand) != 1 {
			continue
		}
		p := &r.Pods[cand[0]]
		f.Pod, f.Version, f.AttributedBy = p.ID, p.Version, "timeline"
		if p.Name != "" && named[p.Name] == 1 {
			f.Pod = p.Name
		}
		if p.AttributedBy == nil {
			p.AttributedBy = map[string]int64{}
		}
		if p.Outcomes == nil {
			p.Outcomes = map[string]int64{}
		}
		if f.Retried {
			p.Retried++
		} else {
			p.Requests++
			p.Failed++
			p.Outcomes[f.Outcome]++
		}
		p.AttributedBy["timeline"]++
		if i := seriesAt(r.Series, int(f.AtS)); !f.Retried && f.AtS >= 0 && i >= 0 && r.Series[i].ByPod[UnknownPod] > 0 {
			sec := &r.Series[i]
			sec.ByPod[UnknownPod]--
			if sec.ByPod[UnknownPod] == 0 {
				delete(sec.ByPod, UnknownPod)
			}
			sec.ByPod[p.ID]++
		}
		if hasUnknown {
			u := &r.Pods[unknown]
			if f.Retried {
				u.Retried--
			} else {
				u.Requests--
				u.Failed--
				u.Outcomes[f.Outcome]--
				if u.Outcomes[f.Outcome] == 0 {
					delete(u.Outcomes, f.Outcome)
				}
			}
			if u.AttributedBy != nil {
				u.AttributedBy["none"]--
			}
		}
	}
	if hasUnknown {
		u := r.Pods[unknown]
		if u.Requests == 0 && u.Retried == 0 {
			r.Pods = append(r.Pods[:unknown], r.Pods[unknown+1:]...)
		}
	}
}

// Suspect states: why a pod may have failed a request at some moment.
const (
	suspectNone        = ""
	suspectTerminating = "terminating"
	suspectStarting    = "starting"
)

// suspectAt says whether pod p was, at some moment of the span [from, to]
// (run seconds: a failed attempt's due time and its end), in a state in
// which requests routed to it may fail: terminating and still possibly
// routed to (until both its deletion and its endpoint removal), or Ready —
// without a readiness probe that is as soon as its container starts — but
// not yet serving (before its first 2xx). answered says the failure came
// with an HTTP response, which a pod deleted before the span cannot send.
func suspectAt(p *Pod, from, to float64, answered bool) string {
	lc := p.Lifecycle
	if lc == nil {
		return suspectNone
	}
	const eps = 0.001
	by := func(x *float64, t float64) bool { return x != nil && *x <= t+eps }
	if by(lc.TerminatingS, to) {
		if answered && by(lc.DeletedS, from) {
			return suspectNone
		}
		// A deleted pod can stay in the endpoints until the removal
		// propagates; a removed endpoint can still hold open connections
		// until the pod is gone.
		if lc.DeletedS == nil || lc.EndpointRemoved == nil || from <= max(*lc.DeletedS, *lc.EndpointRemoved)+eps {
			return suspectTerminating
		}
		return suspectNone
	}
	// A pod that is not Ready is not in the endpoints and gets no traffic.
	if by(lc.CreatedS, to) && by(lc.ReadyS, to) && (p.FirstOKS == nil || *p.FirstOKS > from) {
		return suspectStarting
	}
	return suspectNone
}

// suspects lists the pods that may have failed the attempt f, and the
// state they share ("" when they differ or none).
func suspects(pods []Pod, f *Failure) (idx []int, shared string) {
	from, to := f.span()
	answered := f.Status > 0
	for i := range pods {
		k := suspectAt(&pods[i], from, to, answered)
		if k == suspectNone || !couldFail(k, f) {
			continue
		}
		if len(idx) == 0 {
			shared = k
		} else if shared != k {
			shared = suspectNone
		}
		idx = append(idx, i)
	}
	return idx, shared
}

// couldFail says whether a pod in the given suspect state can cause f's
// outcome. A starting pod's container is running, so its kernel answers
// every SYN, by accepting or refusing: a connect that timed out or found
// no route without any answer is a pod that is gone or going (its network
// torn down while a proxy still routes to it), never one that is starting.
// Refusals fit both and stay ambiguous.
func couldFail(state string, f *Failure) bool {
	if state != suspectStarting || f.Status > 0 {
		return true
	}
	o, _ := loadgen.ParseOutcome(f.Outcome)
	return o != loadgen.TimeoutConnect && o != loadgen.Unreachable
}

func buildVersions(pods []Pod) []Version {
	byV := map[string]*Version{}
	var order []string
	for _, p := range pods {
		if p.ID == UnknownPod || p.Requests == 0 {
			continue
		}
		v, ok := byV[p.Version]
		if !ok {
			v = &Version{Version: p.Version, FirstS: p.FirstS, LastS: p.LastS}
			byV[p.Version] = v
			order = append(order, p.Version)
		}
		v.Requests += p.Requests
		v.OK += p.OK
		v.Failed += p.Failed
		v.FirstS = math.Min(v.FirstS, p.FirstS)
		v.LastS = math.Max(v.LastS, p.LastS)
	}
	out := make([]Version, 0, len(order))
	for _, k := range order {
		out = append(out, *byV[k])
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].FirstS < out[j].FirstS })
	return out
}

func buildSeries(st *loadgen.Stats, r *Result) []Second {
	out := make([]Second, len(st.Seconds))
	for i, s := range st.Seconds {
		t := i
		if s.Width > 0 {
			t = s.Start
		}
		sec := Second{
			T: t, Requests: s.Requests(), OK: s.Outcomes[loadgen.OK], Failed: s.Failed(), Retried: s.Retried,
			LateSends: s.LateSends,
			P50Ms:     durMs(s.P50), P90Ms: durMs(s.P90), P99Ms: durMs(s.P99), MaxMs: durMs(s.Max),
		}
		if sec.Failed > 0 {
			sec.Outcomes = outcomeMap(&s.Outcomes, true)
		}
		for _, ph := range r.Phases {
			if float64(t) >= math.Floor(ph.StartS) {
				sec.Phase = ph.Name
			}
		}
		for pi, n := range s.ByPod {
			if pi < 0 || pi >= len(st.Pods) {
				continue
			}
			p := st.Pods[pi]
			id, ver := p.Pod, p.Version
			if pi == 0 {
				id, ver = UnknownPod, ""
			}
			if sec.ByPod == nil {
				sec.ByPod = map[string]int64{}
			}
			sec.ByPod[id] += n
			if pi != 0 {
				if sec.ByVersion == nil {
					sec.ByVersion = map[string]int64{}
				}
				sec.ByVersion[ver] += n - s.FailedByPod[pi]
			}
		}
		if s.Width > 1 {
			sec.WidthS = s.Width
		}
		out[i] = sec
	}
	return out
}

func durMs(d time.Duration) float64 { return round3(float64(d) / float64(time.Millisecond)) }

// buildWindows computes "Who answered when": the run cut into maximal spans
// of seconds in which the same set of pods answered, with each pod's count.
// With one keep-alive connection it shows the pinning directly: one pod per
// window, the window changing only when that pod goes away.
func buildWindows(series []Second, pods []Pod) []Window {
	version := map[string]string{}
	for _, p := range pods {
		version[p.ID] = p.Version
	}
	var out []Window
	var cur []Window
	setOf := func(s Second) []string {
		var ids []string
		for id, n := range s.ByPod {
			if n > 0 && id != UnknownPod {
				ids = append(ids, id)
			}
		}
		sort.Strings(ids)
		return ids
	}
	same := func(a []Window, ids []string) bool {
		if len(a) != len(ids) {
			return false
		}
		for i := range a {
			if a[i].Pod != ids[i] {
				return false
			}
		}
		return true
	}
	for _, s := range series {
		ids := setOf(s)
		if len(ids) == 0 {
			out = append(out, cur...)
			cur = nil
			continue
		}
		if !same(cur, ids) {
			out = append(out, cur...)
			cur = make([]Window, len(ids))
			for i, id := range ids {
				cur[i] = Window{FromS: s.T, ToS: s.T + s.Width(), Pod: id, Version: version[id]}
			}
		}
		for i := range cur {
			cur[i].ToS = s.T + s.Width()
			cur[i].Requests += s.ByPod[cur[i].Pod]
		}
	}
	return append(out, cur...)
}

// mixedVersionSeconds is how many seconds saw responses from more than one
// version. A bucket of merged seconds counts whole (an upper bound; buckets
// lie away from the rollout, which keeps 1 s resolution).
func mixedVersionSeconds(series []Second) float64 {
	n := 0
	for _, s := range series {
		versions := 0
		for _, c := range s.ByVersion {
			if c > 0 {
				versions++
			}
		}
		if versions > 1 {
			n += s.Width()
		}
	}
	return float64(n)
}
