package report

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/rolltest/rolltest/pkg/loadgen"
	"github.com/rolltest/rolltest/pkg/rollout"
)

// Hint codes, stable in the schema.
const (
	HintPreStopTooShort    = "prestop_shorter_than_endpoint_propagation"
	HintTrafficBeforeReady = "traffic_before_ready"
	HintNoDrain            = "app_does_not_drain"
	HintKeepAlivePinning   = "keepalive_pinning"
	HintRetriesHidDrops    = "retries_hid_drops"
	HintGeneratorBehind    = "generator_behind_schedule"
	HintNoIdentity         = "no_pod_identity"
	HintRolloutFailed      = "rollout_failed"
	HintFailuresByPod      = "failures_by_pod"
	// HTTP/2 (h2, h2c, gRPC): a connection carries many requests, so how
	// it ends decides the fate of all of them.
	HintHTTP2CloseWithoutGoAway = "http2_close_without_goaway"
	HintHTTP2GoAwayWithoutDrain = "http2_goaway_without_drain"
	HintHTTP2MultiplexPinning   = "http2_multiplexing_pinning"
)

// Diagnose explains what the run saw, each hint with its evidence and
// what to change, and sets r.Diagnosis. It reads only the Result, so a
// saved result can be diagnosed again by a newer rolltest.
func Diagnose(r *Result) {
	var hints []Hint
	add := func(h *Hint) {
		if h != nil {
			hints = append(hints, *h)
		}
	}
	add(rolloutFailedHint(r))
	add(preStopHint(r))
	add(notReadyHint(r))
	if r.Config.HTTP2() {
		for _, h := range http2CloseHints(r) {
			add(h)
		}
	} else {
		add(noDrainHint(r))
	}
	add(failuresByPodHint(r, hints))
	add(retriesHint(r))
	add(pinningHint(r))
	add(generatorHint(r))
	add(identityHint(r))
	if hints == nil {
		hints = []Hint{}
	}
	r.Diagnosis = hints
}

// failure classes as the hints group them.
// span is when the failed attempt could have met the pod that failed it:
// from its start until it ended; for a connection that was never made,
// only the moment its dial began (the SYN went to whichever pod the proxy
// chose then; waiting out the timeout involves no pod).
func (f *Failure) span() (from, to float64) {
	from = f.StartS
	if from < f.AtS {
		from = f.AtS // documents from before start_s existed
	}
	if connecting(f.Outcome) {
		return from, from
	}
	return from, f.AtS + f.LatencyMs/1000
}

// connecting says whether the outcome ended an attempt before it had a
// connection.
func connecting(outcome string) bool {
	switch o, _ := loadgen.ParseOutcome(outcome); o {
	case loadgen.Refused, loadgen.TimeoutConnect, loadgen.Unreachable, loadgen.DNS, loadgen.TLS:
		return true
	}
	return false
}

// connFailure says whether the outcome is the connection's failure rather
// than an answer: what a pod that stopped listening or went away causes.
func connFailure(outcome string) bool {
	switch o, _ := loadgen.ParseOutcome(outcome); o {
	case loadgen.Refused, loadgen.Unreachable, loadgen.Reset, loadgen.EOF, loadgen.TimeoutConnect, loadgen.TimeoutResponse:
		return true
	}
	return false
}

// closedOrReset says whether the outcome is the connection closed or reset
// under the attempt.
func closedOrReset(outcome string) bool {
	o, _ := loadgen.ParseOutcome(outcome)
	return o == loadgen.Reset || o == loadgen.EOF
}

type podFailures struct {
	pod   *Pod
	fails []Failure
}

// failuresOn groups failure records by the pod they were attributed to.
func failuresOn(r *Result, keep func(*Pod, Failure) bool) []podFailures {
	byName := map[string]int{}
	for i := range r.Pods {
		byName[r.Pods[i].ID] = i
		if r.Pods[i].Name != "" {
			byName[r.Pods[i].Name] = i
		}
	}
	groups := map[int]*podFailures{}
	var order []int
	for _, f := range r.Failures.Records {
		i, ok := byName[f.Pod]
		if !ok || f.Pod == "" {
			continue
		}
		p := &r.Pods[i]
		if !keep(p, f) {
			continue
		}
		g, ok := groups[i]
		if !ok {
			g = &podFailures{pod: p}
			groups[i] = g
			order = append(order, i)
		}
		g.fails = append(g.fails, f)
	}
	out := make([]podFailures, 0, len(order))
	for _, i := range order {
		out = append(out, *groups[i])
	}
	return out
}

func podLabel(p *Pod) string {
	if p.Name != "" {
		return p.Name
	}
	return p.ID
}

func between(t float64, from, to *float64) bool {
	return from != nil && t >= *from-0.001 && (to == nil || t <= *to+0.001)
}

func countOutcomes(fs []Failure) string {
	m := map[string]int64{}
	for _, f := range fs {
		m[f.Outcome]++
	}
	return outcomeSentence(m)
}

// inWindows counts failures no method could pin on one pod that fall in a
// window in which some pod was in the given state, and whose kind fits it:
// a connection that fails without any response, on a new connection, fits
// a terminating pod (its process is gone while the Service still routes to
// it); an HTTP error or a refusal fits a pod that is routed to but not yet
// serving. It names the pods whose windows matched, and counts how many of
// the failures fit the other state as well: a refusal while one pod leaves
// and another starts could be either's, and the hints must say so rather
// than each claim it. This is evidence for the hints, not attribution: the
// records keep "none".
func inWindows(r *Result, state string) (n, alsoOther int, outcomes map[string]int64, pods []string) {
	other := suspectStarting
	if state == suspectStarting {
		other = suspectTerminating
	}
	outcomes = map[string]int64{}
	seen := map[string]bool{}
	for _, f := range r.Failures.Records {
		if f.AttributedBy != "none" || !fitsState(&f, state) {
			continue
		}
		from, to := f.span()
		answered := f.Status > 0
		matched, matchedOther := false, false
		for i := range r.Pods {
			switch suspectAt(&r.Pods[i], from, to, answered) {
			case state:
				matched = true
				if name := podLabel(&r.Pods[i]); !seen[name] {
					seen[name] = true
					pods = append(pods, name)
				}
			case other:
				matchedOther = true
			}
		}
		if matched {
			n++
			outcomes[f.Outcome]++
			if matchedOther && fitsState(&f, other) {
				alsoOther++
			}
		}
	}
	return n, alsoOther, outcomes, pods
}

// fitsState says whether an unattributed failure's kind fits a pod in the
// given suspect state (see inWindows).
func fitsState(f *Failure, state string) bool {
	answered := f.Status > 0
	switch state {
	case suspectTerminating:
		return !answered && f.ConnRequests == 0
	case suspectStarting:
		return answered || f.Outcome == loadgen.Refused.String()
	}
	return false
}

// alsoFits qualifies an evidence line whose failures may be another
// state's pods' doing.
func alsoFits(n int, other string) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" (%d of them fit %s as well: from outside the cluster they cannot be told apart)", n, other)
}

func preStopHint(r *Result) *Hint {
	if r.Rollout == nil {
		return nil
	}
	groups := failuresOn(r, func(p *Pod, f Failure) bool {
		lc := p.Lifecycle
		if lc == nil || lc.TerminatingS == nil {
			return false
		}
		// New connections still routed to a terminating pod: the proxy had
		// not yet heard that the pod is gone when the app stopped listening.
		end := lc.EndpointRemoved
		if end == nil {
			end = lc.DeletedS
		}
		from, _ := f.span()
		return between(from, lc.TerminatingS, end) && f.ConnRequests == 0 && connFailure(f.Outcome)
	})
	amb, ambBoth, ambOut, ambPods := inWindows(r, suspectTerminating)
	if len(groups) == 0 && amb == 0 {
		return nil
	}
	h := &Hint{
		Code: HintPreStopTooShort, Severity: "error",
		Title:  "Terminating pods still received new connections after they stopped serving",
		Detail: "Kubernetes removes a terminating pod from the Service's endpoints and runs its preStop hook at the same time; every node's proxy learns of the removal a little later. A pod that stops accepting connections before that moment drops the requests still routed to it.",
	}
	for _, g := range groups {
		lc := g.pod.Lifecycle
		e := fmt.Sprintf("%d failed requests (%s) on %s from %.1fs, after it began terminating at %.1fs", len(g.fails), countOutcomes(g.fails), podLabel(g.pod), g.fails[0].AtS, *lc.TerminatingS)
		if lc.EndpointRemoved != nil {
			e += fmt.Sprintf(" and before it left the endpoints at %.1fs", *lc.EndpointRemoved)
		}
		h.Evidence = append(h.Evidence, e)
	}
	if amb > 0 {
		h.Evidence = append(h.Evidence, fmt.Sprintf("%d failures (%s) on new connections, without any response, while these pods were terminating but still routed to: %s%s",
			amb, outcomeSentence(ambOut), strings.Join(ambPods, ", "), alsoFits(ambBoth, "a new pod that had not yet served")))
	}
	prop := "a few seconds"
	if r.Rollout.EndpointPropagationMaxMs > 0 {
		prop = fmt.Sprintf("the %s measured here", msText(r.Rollout.EndpointPropagationMaxMs))
		h.Evidence = append(h.Evidence, fmt.Sprintf("endpoints were withdrawn median %s, max %s after termination began (plus each proxy's own sync delay)",
			msText(r.Rollout.EndpointPropagationMedianMs), msText(r.Rollout.EndpointPropagationMaxMs)))
	}
	h.Fix = fmt.Sprintf("Add a preStop hook that sleeps longer than endpoint propagation (%s; e.g. lifecycle.preStop.sleep.seconds: 5), keep serving during it, and set terminationGracePeriodSeconds to cover preStop plus draining.", prop)
	return h
}

func notReadyHint(r *Result) *Hint {
	groups := failuresOn(r, func(p *Pod, f Failure) bool {
		lc := p.Lifecycle
		if lc == nil || lc.CreatedS == nil || lc.Generation == "old" {
			return false
		}
		if lc.TerminatingS != nil && f.AtS >= *lc.TerminatingS {
			return false
		}
		servedYet := p.FirstOKS != nil && f.AtS >= *p.FirstOKS
		beforeReady := lc.ReadyS == nil || f.AtS < *lc.ReadyS
		return !servedYet || beforeReady
	})
	amb, ambBoth, ambOut, ambPods := inWindows(r, suspectStarting)
	if len(groups) == 0 && amb == 0 {
		return nil
	}
	h := &Hint{
		Code: HintTrafficBeforeReady, Severity: "error",
		Title:  "New pods received traffic before they could serve it",
		Detail: "A pod joins the Service's endpoints as soon as Kubernetes considers it Ready. Without a readiness probe that is the moment its container starts, long before an application that takes time to boot can answer.",
		Fix:    "Add a readinessProbe that succeeds only when the app can serve (e.g. httpGet /common/healthy with periodSeconds 1 and failureThreshold 1), and a startupProbe for slow starts.",
	}
	for _, g := range groups {
		lc := g.pod.Lifecycle
		e := fmt.Sprintf("%d failed requests (%s) on new pod %s", len(g.fails), countOutcomes(g.fails), podLabel(g.pod))
		if lc.CreatedS != nil {
			e += fmt.Sprintf(", created at %.1fs", *lc.CreatedS)
		}
		if lc.ReadyS != nil {
			e += fmt.Sprintf(", Ready at %.1fs", *lc.ReadyS)
		}
		if g.pod.FirstOKS != nil {
			e += fmt.Sprintf(", first successful answer at %.1fs", *g.pod.FirstOKS)
		}
		h.Evidence = append(h.Evidence, e)
	}
	if amb > 0 {
		h.Evidence = append(h.Evidence, fmt.Sprintf("%d failures (%s) while these pods were routed to but had not yet served a request: %s%s",
			amb, outcomeSentence(ambOut), strings.Join(ambPods, ", "), alsoFits(ambBoth, "a terminating pod")))
	}
	return h
}

// noDrainHint: HTTP/1.1 keep-alive connections a stopping pod reset
// under requests.
func noDrainHint(r *Result) *Hint {
	return closedUnderRequests(r, Hint{
		Code: HintNoDrain, Severity: "error",
		Title:  "Pods closed keep-alive connections with requests in flight when they stopped",
		Detail: "On SIGTERM the application must stop accepting, finish the requests it has, and close idle keep-alive connections (or answer with Connection: close). An app that exits at once, or is killed when the grace period runs out, resets its clients.",
		Fix:    "Handle SIGTERM by draining (e.g. Go's http.Server.Shutdown), answer with Connection: close once draining so clients move to other pods, and make terminationGracePeriodSeconds longer than preStop plus the longest request.",
	}, "reused connections", func(f Failure) bool { return f.ConnRequests > 0 && closedOrReset(f.Outcome) })
}

// http2CloseHints explain requests lost with the HTTP/2 connections of
// terminating pods: closed without GOAWAY, or closed after a GOAWAY that
// promised to finish them. A drained HTTP/2 server sends GOAWAY, finishes
// every stream up to its last stream id, then closes; streams above it are
// not processed and count as goaway_unprocessed, which retries may re-send.
func http2CloseHints(r *Result) []*Hint {
	lost := func(f Failure, afterGoAway bool) bool {
		o, _ := loadgen.ParseOutcome(f.Outcome)
		return (closedOrReset(f.Outcome) || o == loadgen.StreamReset) && strings.Contains(f.Detail, loadgen.AfterGoAway) == afterGoAway
	}
	return []*Hint{
		closedUnderRequests(r, Hint{
			Code: HintHTTP2CloseWithoutGoAway, Severity: "error",
			Title:  "Pods closed HTTP/2 connections without GOAWAY when they stopped",
			Detail: "An HTTP/2 connection carries many requests at once. A server that stops by closing it, without first sending GOAWAY, fails every stream in flight on it, and the client cannot tell which were processed.",
			Fix:    "On SIGTERM, send GOAWAY and finish the streams in flight before closing (Go: http.Server.Shutdown; grpc-go: GracefulStop; Envoy and nginx drain on their own), keep serving through the preStop sleep, and make terminationGracePeriodSeconds longer than preStop plus the longest request.",
		}, "HTTP/2 connections", func(f Failure) bool { return lost(f, false) }),
		closedUnderRequests(r, Hint{
			Code: HintHTTP2GoAwayWithoutDrain, Severity: "error",
			Title:  "Pods sent GOAWAY but closed the connection before finishing its streams",
			Detail: "GOAWAY names the last stream the server will process; the streams up to it must still be answered. These pods announced the close and then dropped streams they had promised to finish.",
			Fix:    "After GOAWAY, wait for the streams in flight to finish before closing (Go: http.Server.Shutdown with a deadline longer than the longest request; grpc-go: GracefulStop, not Stop), and make terminationGracePeriodSeconds long enough for it.",
		}, "HTTP/2 connections", func(f Failure) bool { return lost(f, true) }),
	}
}

// closedUnderRequests is h with the failures keep picks among those on a
// pod after it began terminating, as evidence by pod; nil when there are
// none. conns names the connections in the evidence.
func closedUnderRequests(r *Result, h Hint, conns string, keep func(Failure) bool) *Hint {
	groups := failuresOn(r, func(p *Pod, f Failure) bool {
		lc := p.Lifecycle
		return lc != nil && lc.TerminatingS != nil && f.AtS >= *lc.TerminatingS-0.001 && keep(f)
	})
	if len(groups) == 0 {
		return nil
	}
	for _, g := range groups {
		h.Evidence = append(h.Evidence, fmt.Sprintf("%d requests (%s) failed on %s to %s after it began terminating at %.1fs",
			len(g.fails), countOutcomes(g.fails), conns, podLabel(g.pod), *g.pod.Lifecycle.TerminatingS))
	}
	return &h
}

// failuresByPodHint says where failures happened when no rollout-specific
// hint explains them (e.g. a load test of a failing service).
func failuresByPodHint(r *Result, earlier []Hint) *Hint {
	if r.Totals.Failed+r.Totals.Retried == 0 {
		return nil
	}
	for _, h := range earlier {
		switch h.Code {
		case HintPreStopTooShort, HintTrafficBeforeReady, HintNoDrain, HintHTTP2CloseWithoutGoAway, HintHTTP2GoAwayWithoutDrain:
			return nil
		}
	}
	h := &Hint{
		Code: HintFailuresByPod, Severity: "error",
		Title:  fmt.Sprintf("%s requests were dropped", FormatCount(r.Totals.Failed)),
		Detail: "These failures are not explained by a pod starting or stopping; the service itself failed them.",
	}
	for _, p := range r.Pods {
		if p.Failed == 0 && p.Retried == 0 {
			continue
		}
		e := fmt.Sprintf("%s: %s of %s requests failed (%s)", podLabel(&p), FormatCount(p.Failed), FormatCount(p.Requests), outcomeSentence(p.Outcomes))
		if p.Retried > 0 {
			e += fmt.Sprintf(", %s more attempts retried", FormatCount(p.Retried))
		}
		var how []string
		for k, v := range p.AttributedBy {
			if v > 0 {
				how = append(how, fmt.Sprintf("%d by %s", v, k))
			}
		}
		sort.Strings(how)
		if len(how) > 0 {
			e += "; attributed " + strings.Join(how, ", ")
		}
		h.Evidence = append(h.Evidence, e)
	}
	reused := 0
	for _, f := range r.Failures.Records {
		if f.ConnRequests > 0 && closedOrReset(f.Outcome) {
			reused++
		}
	}
	if reused > 0 {
		h.Evidence = append(h.Evidence, fmt.Sprintf("%d failures were resets or closes of keep-alive connections that had already served requests", reused))
	}
	h.Fix = "Look at the failure records (request number, time, connection) next to the server's logs; --request-id-header X-Request-Id sends each request's number to match them."
	return h
}

func retriesHint(r *Result) *Hint {
	if r.Totals.Retried == 0 {
		return nil
	}
	return &Hint{
		Code: HintRetriesHidDrops, Severity: "warning",
		Title:    fmt.Sprintf("%s attempts failed and were silently re-sent", FormatCount(r.Totals.Retried)),
		Detail:   "A client that retries (Go's net/http, browsers, --retries) hides these drops; a non-idempotent request, or a client without retries, would have failed.",
		Evidence: []string{"retried attempts by outcome: " + outcomeSentence(r.Totals.RetriedOutcomes)},
		Fix:      "Treat retried attempts as drops when judging a rollout: run with --retries 0 (the default) to see them as failures.",
	}
}

// pinningHint recognises a run pinned to one pod at a time: with few
// keep-alive connections, one pod answers almost everything while others
// are ready, because kube-proxy balances connections, not requests.
func pinningHint(r *Result) *Hint {
	if !r.Config.KeepAlive || r.Totals.Requests < 100 {
		return nil
	}
	answering := 0
	for _, p := range r.Pods {
		if p.ID != UnknownPod && p.OK > 0 {
			answering++
		}
	}
	if answering < 2 {
		return nil
	}
	// Seconds in which a pod started, stopped or left the endpoints show
	// the hand-over, not the pinning: leave them out.
	transition := map[int]bool{}
	if r.Rollout != nil {
		for _, e := range r.Rollout.Events {
			switch e.Kind {
			case rollout.EventPodReady, rollout.EventPodTerminating, rollout.EventEndpointRemoved, rollout.EventPodDeleted:
				for d := -1; d <= 1; d++ {
					transition[int(e.AtS)+d] = true
				}
			}
		}
	}
	// An entry of a long run's series may be a bucket of merged seconds
	// (width_s): it counts as that many seconds, and is left out if it
	// holds a transition.
	pinned, busy := 0, 0
	var top string
	var topShare float64
	for _, s := range r.Series {
		w := min(s.Width(), MaxRunSeconds) // a damaged document's width cannot overflow the sums
		if s.Requests < int64(5*w) || transitionIn(transition, s.T, w) {
			continue
		}
		busy += w
		for id, n := range s.ByPod {
			if share := float64(n) / float64(s.Requests); share >= 0.9 {
				pinned += w
				if share > topShare || top == "" {
					top, topShare = id, share
				}
				break
			}
		}
	}
	if busy < 2 || float64(pinned)/float64(busy) < 0.8 {
		return nil
	}
	if r.Config.HTTP2() && r.Config.Streams > 1 {
		return &Hint{
			Code: HintHTTP2MultiplexPinning, Severity: "info",
			Title:  "One pod at a time answered: HTTP/2 multiplexing puts many requests on one connection, and one pod",
			Detail: fmt.Sprintf("kube-proxy (and any L4 load balancer) balances connections, not requests. With --streams %d, each HTTP/2 connection carries up to %d requests at once, all to the pod it reached, so few connections pin most of the load to few pods. gRPC clients do the same unless they balance per call.", r.Config.Streams, r.Config.Streams),
			Evidence: []string{
				fmt.Sprintf("in %d of %d seconds away from pod start/stop events one pod answered ≥90%% of requests (e.g. %s), while %d pods answered during the run", pinned, busy, top, answering),
				fmt.Sprintf("the run used %d connection(s) of %d streams each", r.Config.Connections, r.Config.Streams),
			},
			Fix: "To spread load as many clients would, open more connections (--connections) with fewer streams each; in production, balance HTTP/2 and gRPC per request (a proxy such as Envoy or a service mesh, or client-side balancing over a headless Service).",
		}
	}
	return &Hint{
		Code: HintKeepAlivePinning, Severity: "info",
		Title:  "One pod at a time answered: keep-alive connections stay on one pod",
		Detail: "kube-proxy (and any L4 load balancer) balances connections, not requests. A keep-alive connection goes to one pod and stays there until the pod closes it, so with few connections one pod serves everything while the others sit idle. It is not a load-balancing fault.",
		Evidence: []string{
			fmt.Sprintf("in %d of %d seconds away from pod start/stop events one pod answered ≥90%% of requests (e.g. %s), while %d pods answered during the run", pinned, busy, top, answering),
			fmt.Sprintf("the run used %d keep-alive connection(s)", r.Config.Connections),
		},
		Fix: "To measure the way many independent clients load a service, open more connections (--connections 64) or none at all (--keepalive=false); the table \"Who answered when\" (time windows × pods) shows how traffic moved between pods.",
	}
}

// transitionIn reports whether any second of [t, t+w) is a transition.
func transitionIn(transition map[int]bool, t, w int) bool {
	if w == 1 {
		return transition[t]
	}
	for k := range transition {
		if k >= t && k-t < w {
			return true
		}
	}
	return false
}

// generatorHint reports a run that did not keep its schedule: then the
// generator, not the service, shaped the load, and every other number is
// in doubt. Lateness within the tolerance is timer jitter that the
// latencies already include (they count from the due time): no hint.
func generatorHint(r *Result) *Hint {
	kept, share := scheduleKept(r)
	if kept {
		return nil
	}
	t := r.Totals
	evidence := []string{
		fmt.Sprintf("%s of %s requests (%s) left more than %s after they were due (--max-late %s), up to %s late",
			FormatCount(t.BehindSends), FormatCount(t.Requests), percent(share), msText(scheduleToleranceMs), percent(maxLateShare(r)), msText(t.MaxSendDelayMs)),
		fmt.Sprintf("achieved %s req/s of the %s asked for", trimFloat(t.AchievedRPS), trimFloat(r.Config.Rate)),
	}
	if t.MaxSendDelayMs >= r.Config.TimeoutMs {
		evidence = append(evidence, fmt.Sprintf("a request left later than its own timeout (%s)", msText(r.Config.TimeoutMs)))
	}
	fix := "The sending machine could not keep up: run rolltest on a less loaded machine or core, or lower --rate."
	if t.PoolWaits > 0 {
		evidence = append(evidence, fmt.Sprintf("%s requests found all %s connections busy (--max-connections) and waited for one; %s were open at most",
			FormatCount(t.PoolWaits), FormatCount(int64(r.Config.MaxConnections)), FormatCount(int64(t.ConnectionsPeak))))
		fix = fmt.Sprintf("Raise --max-connections above %d (each connection carries one request at a time, so a slow service needs rate × latency of them), or lower --rate.", r.Config.MaxConnections)
	}
	return &Hint{
		Code: HintGeneratorBehind, Severity: "error",
		Title:    "rolltest could not keep its schedule: this run measured the generator as much as the service",
		Detail:   "In the open model request n leaves at n/rate whatever the service does; that is what makes the drop count the service's. Requests that left late met a different service than the one the schedule would have met: a stall ended, a rollout moved on. Their latency counts from the due time, so the delay shows, but failures and successes during the delay cannot be trusted.",
		Evidence: evidence,
		Fix:      fix,
	}
}

func identityHint(r *Result) *Hint {
	if r.Config.Identity == "none" || r.Totals.OK == 0 {
		return nil
	}
	for _, p := range r.Pods {
		if p.ID != UnknownPod && p.OK > 0 {
			return nil
		}
	}
	detail := fmt.Sprintf("With --identity %s rolltest found no pod identity in the responses, so nothing is attributed to pods or versions.", r.Config.Identity)
	if r.Config.Identity == "auto" {
		detail = "--identity auto tried every rule it knows (" + strings.Join(loadgen.AutoRuleNames(), ", ") +
			") and none named a pod, so nothing is attributed to pods or versions."
	}
	return &Hint{
		Code: HintNoIdentity, Severity: "warning",
		Title:  "Responses did not say which pod answered",
		Detail: detail,
		Fix:    "Point --target at an endpoint whose body names the pod as 'POD_ID >> POD_IP >> version' (as the reference app, testapp, does on /common/healthy), or tell rolltest where your app names it: --identity header:NAME or --identity 'regex:(?P<pod>...)'.",
	}
}

func rolloutFailedHint(r *Result) *Hint {
	if r.Rollout == nil || !r.Rollout.Failed {
		return nil
	}
	h := &Hint{
		Code: HintRolloutFailed, Severity: "error",
		Title:  "The rollout did not complete",
		Detail: r.Rollout.Reason,
		Fix:    "Check `kubectl rollout status` and the new pods' events (image, probes, resources); the report still covers the load up to this point.",
	}
	// The new pods that never became Ready say why the rollout stopped.
	for _, e := range r.Rollout.Events {
		if e.Kind == rollout.EventPodStuck {
			h.Evidence = append(h.Evidence, fmt.Sprintf("new pod %s, not Ready: %s", e.Pod, e.Message))
		}
	}
	if len(h.Evidence) > 0 {
		h.Fix = "Fix what keeps the new pods from becoming Ready (above; `kubectl describe pod` shows their events), then roll again; the report still covers the load up to this point."
	}
	return h
}

// HintCodes lists the codes of the diagnosis' hints, in order.
func (r *Result) HintCodes() []string {
	codes := make([]string, len(r.Diagnosis))
	for i, h := range r.Diagnosis {
		codes[i] = h.Code
	}
	return codes
}

// HasHint reports whether the diagnosis holds a hint with any of codes: a
// script asks whether the run explained itself one way or another.
func (r *Result) HasHint(codes ...string) bool {
	for _, h := range r.Diagnosis {
		if slices.Contains(codes, h.Code) {
			return true
		}
	}
	return false
}
