// Package groundtruth holds rolltest's result document against what the
// application under test itself counted (testapp's app.Counts, one per
// pod): the simulator's pods (`rolltest demo --ground-truth FILE`) or a
// real cluster's (testapp's /counts admin endpoint, or the
// "rolltest-testapp-counts" line each pod logs on exit).
//
// Compare is pure: a document and the pods' counts in, the list of
// disagreements out. It assumes that nothing but rolltest sent traffic to
// the pods during the load (probes and the preStop hook are counted apart
// by the app; requests before the load, such as rolltest's preflight, are
// taken out with Since) and that the counts are final (taken after the
// pods stopped).
//
// # The identities
//
// Let, from rolltest's document, A be totals.attempts; pre the attempts
// that failed before a connection existed (refused, timeout_connect,
// unreachable, dns, tls); conn those that failed on a connection without a
// response (reset, eof, timeout_response, other); r_c the responses it
// received in status class c (2xx: ok and body_mismatch; 4xx: http_4xx;
// 5xx: http_5xx), final and retried attempts together. Let, from the pods,
// R be the traffic requests received, W_c the responses written
// successfully, F the writes that failed and U the requests unanswered,
// summed over pods; by the app's own accounting R = ΣW_c + F + U.
//
//   - Responses: a response rolltest received was written successfully by
//     the pod it names, so r_c <= W_c, and per pod ok <= W_2xx. A response
//     the pod wrote may still not reach rolltest only if rolltest stopped
//     waiting for it (timeout_response). Nothing else loses one in flight
//     in the simulator: on loopback a write is delivered to the Service
//     proxy's socket as it returns, the kernel hands a reader the data
//     queued before a reset or FIN, and the proxy forwards every byte it
//     read before it passes a close or reset on; rolltest never abandons a
//     connection with a request outstanding but on its timeout. So
//     Σ_c (W_c - r_c) <= timeout_response attempts, and per pod
//     W_2xx - ok <= the timeout_response attempts blamed on the pod or on
//     no pod. On a real network the same bound holds as long as no
//     middlebox cuts connections; a pod killed (SIGKILL) with responses in
//     its socket buffer would break it. A pod that exited without draining
//     (exit on SIGTERM) may have been writing responses at that instant:
//     its counts keep them in_flight, delivered or not, so each bound
//     above gains the pod's in_flight: ok <= W_2xx + in_flight.
//   - Attempts: A = R + pre + N, where N counts the attempts that reached
//     no pod although a connection was made: the proxy (or kube-proxy)
//     found no endpoint or could not dial it and reset the connection, or
//     the request arrived on a connection the pod had already closed. A
//     user-space proxy answers a refused dial with a reset, so neither
//     side can tell these resets from a pod's: N is not observable, only
//     N = conn - (F + U + lost) >= 0 with lost = Σ_c(W_c - r_c). Compare
//     asserts R + pre <= A, i.e. N >= 0: no pod received a request that
//     rolltest did not count. Where the proxy never resets (every failure
//     count zero), this is R == A.
//   - Attempts, with the Service's count (CompareService): the simulator's
//     proxy counts the connections it reset without reaching a pod and
//     those on which the client wrote after the pod had closed; each cost
//     rolltest, which dials only to send a request and never pipelines,
//     exactly one attempt. So A = R + pre + Unrouted + S, where S >= 0 is
//     the requests that crossed a pod's close in flight (read by the proxy
//     just before the pod's FIN arrived, never read by the pod), which
//     neither side can count; CompareService asserts R + pre + Unrouted
//     <= A. S is small (at most one per connection a pod closed while
//     idle), so an undercount of rolltest's resets shows.
//
// Beside the counts it checks the rollout's shape: the new generation
// answered, the settle phase carried requests, and no failure is blamed on
// a pod that was Ready, already serving and not terminating during the
// whole attempt.
package groundtruth

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/rolltest/rolltest/internal/atomicfile"
	"github.com/rolltest/rolltest/pkg/report"
	"github.com/rolltest/rolltest/testapp/app"
)

// Schema is the version string of a ground-truth file.
const Schema = "rolltest-ground-truth/v1"

// File is the ground-truth document `rolltest demo --ground-truth FILE`
// writes.
type File struct {
	Schema string `json:"schema"`
	// Source says where the counts come from: "sim" for the simulator.
	Source string `json:"source"`
	// BeforeLoad is each pod's counts when the load started: rolltest's
	// preflight request, which the result document does not count, is
	// there.
	BeforeLoad []app.Counts `json:"before_load,omitempty"`
	// Pods is what each pod did during the load: its final counts (taken
	// after the pods stopped) minus BeforeLoad, see Since.
	Pods []app.Counts `json:"pods"`
	// Service is what the simulator's Service proxy counted during the
	// load; absent where there is no such count (a real cluster).
	Service *Service `json:"service,omitempty"`
}

// Service is what a Service proxy counted: client connections, and those on
// which it failed a request no pod saw (see sim.ServiceCounts).
type Service struct {
	Accepted       int64 `json:"accepted"`
	NoEndpoint     int64 `json:"no_endpoint"`
	DialFailed     int64 `json:"dial_failed"`
	AfterPodClosed int64 `json:"after_pod_closed"`
}

// Unrouted is the number of requests the Service failed without a pod
// seeing them: one per connection it reset for want of an endpoint or a
// listening pod, or on which the client wrote after the pod had closed.
func (s Service) Unrouted() int64 { return s.NoEndpoint + s.DialFailed + s.AfterPodClosed }

// Sub returns s minus before.
func (s Service) Sub(before Service) Service {
	return Service{
		Accepted: s.Accepted - before.Accepted, NoEndpoint: s.NoEndpoint - before.NoEndpoint,
		DialFailed: s.DialFailed - before.DialFailed, AfterPodClosed: s.AfterPodClosed - before.AfterPodClosed,
	}
}

// WithoutPreflight takes the run's preflight request (run.preflight in the
// document: one request before the run, answered by the pod it names) out
// of that pod's traffic, for counts taken from before the preflight. It
// reports false when the document names a preflight whose pod is not
// among pods, which the caller should treat as a mismatch.
func WithoutPreflight(r *report.Result, pods []app.Counts) ([]app.Counts, bool) {
	pre := r.Run.Preflight
	if pre == nil {
		return pods, true
	}
	out := append([]app.Counts(nil), pods...)
	for i := range out {
		if out[i].Pod != pre.Pod || pre.Pod == "" {
			continue
		}
		out[i].Traffic.Received--
		out[i].Traffic.Written.Add(pre.Status, -1)
		return out, true
	}
	return pods, false
}

// Since returns what each pod in after did since before: every counter
// minus its value in before (matched by pod), except InFlight and Open,
// which are after's.
func Since(before, after []app.Counts) []app.Counts {
	prev := map[string]app.Counts{}
	for _, b := range before {
		prev[b.Pod] = b
	}
	out := make([]app.Counts, len(after))
	for i, a := range after {
		b, ok := prev[a.Pod]
		if !ok {
			out[i] = a
			continue
		}
		a.Traffic = subRequests(a.Traffic, b.Traffic)
		a.Probes = subRequests(a.Probes, b.Probes)
		c, d := &a.Connections, b.Connections
		c.Accepted -= d.Accepted
		c.Closed -= d.Closed
		c.ClosedByServer -= d.ClosedByServer
		c.ClosedByClientEOF -= d.ClosedByClientEOF
		c.ClosedByClientReset -= d.ClosedByClientReset
		c.ClosedOther -= d.ClosedOther
		out[i] = a
	}
	return out
}

func subRequests(a, b app.RequestCounts) app.RequestCounts {
	sub := func(x, y app.StatusCounts) app.StatusCounts {
		return app.StatusCounts{S2xx: x.S2xx - y.S2xx, S4xx: x.S4xx - y.S4xx, S5xx: x.S5xx - y.S5xx, Other: x.Other - y.Other}
	}
	return app.RequestCounts{
		Received: a.Received - b.Received, Written: sub(a.Written, b.Written), WriteFailed: sub(a.WriteFailed, b.WriteFailed),
		Unanswered: a.Unanswered - b.Unanswered, InFlight: a.InFlight,
	}
}

// Write writes f as indented JSON to path.
func Write(path string, f File) error {
	if f.Schema == "" {
		f.Schema = Schema
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, func(w io.Writer) error { _, err := w.Write(append(b, '\n')); return err })
}

// Read reads a ground-truth file.
func Read(path string) (File, error) {
	var f File
	b, err := os.ReadFile(path)
	if err != nil {
		return f, err
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return f, fmt.Errorf("%s: %w", path, err)
	}
	if f.Schema != Schema {
		return f, fmt.Errorf("%s: schema %q, want %q", path, f.Schema, Schema)
	}
	return f, nil
}

// Mismatch is one disagreement between the document and the pods' counts.
type Mismatch struct {
	// Check names the rule: final, unknown_pod, pod_ok, responses,
	// attempts, unrouted, new_generation, settle, steady_pod_failed.
	Check  string
	Pod    string
	Detail string
}

func (m Mismatch) String() string {
	if m.Pod != "" {
		return m.Check + " [" + m.Pod + "]: " + m.Detail
	}
	return m.Check + ": " + m.Detail
}

// Slack is the margin, in seconds, by which a pod must have been steady
// before and after a failed attempt for Compare to hold the failure
// against it: run seconds are rounded to the millisecond, and timeline
// events are stamped when the simulator or the API server records them.
const Slack = 0.05

// Compare holds the result document r against the pods' own counts and
// returns every disagreement, in a stable order; none means rolltest's
// numbers are the application's. See the package documentation for the
// rules.
func Compare(r *report.Result, pods []app.Counts) []Mismatch {
	var out []Mismatch
	add := func(check, pod, format string, args ...any) {
		out = append(out, Mismatch{Check: check, Pod: pod, Detail: fmt.Sprintf(format, args...)})
	}
	outcome := func(name string) int64 {
		return r.Totals.Outcomes[name] + r.Totals.RetriedOutcomes[name]
	}

	// The document's pods by the identity their responses carried and by
	// their timeline name.
	docPod := map[string]*report.Pod{}
	for i := range r.Pods {
		p := &r.Pods[i]
		if p.ID == report.UnknownPod {
			continue
		}
		docPod[p.ID] = p
		if p.Name != "" {
			docPod[p.Name] = p
		}
	}
	truth := map[string]*app.Counts{}
	for i := range pods {
		truth[pods[i].Pod] = &pods[i]
	}

	// Timeouts that may hide a response the pod wrote, by the pod blamed
	// ("" for none).
	timeouts := map[string]int64{}
	for _, f := range r.Failures.Records {
		if f.Outcome != "timeout_response" {
			continue
		}
		key := f.Pod
		if key == report.UnknownPod {
			key = ""
		}
		if p := docPod[key]; p != nil {
			key = p.ID
		}
		timeouts[key]++
	}
	allTimeouts := outcome("timeout_response")
	capped := r.Failures.Omitted > 0

	var sum struct {
		received, undelivered, inFlight int64
		written                         app.StatusCounts
	}
	for _, pc := range pods {
		if pc.Connections.Open != 0 {
			add("final", pc.Pod, "counts not final: %d connections open", pc.Connections.Open)
		}
		sum.inFlight += pc.Traffic.InFlight
		sum.received += pc.Traffic.Received
		sum.undelivered += pc.Traffic.WriteFailed.Total() + pc.Traffic.Unanswered
		sum.written.S2xx += pc.Traffic.Written.S2xx
		sum.written.S4xx += pc.Traffic.Written.S4xx
		sum.written.S5xx += pc.Traffic.Written.S5xx
		sum.written.Other += pc.Traffic.Written.Other
	}

	// Per pod: rolltest's ok against the 2xx the pod wrote.
	ids := map[string]bool{}
	for id := range truth {
		ids[id] = true
	}
	for i := range r.Pods {
		if id := r.Pods[i].ID; id != report.UnknownPod && r.Pods[i].Requests > 0 {
			ids[id] = true
		}
	}
	for _, id := range sortedKeys(ids) {
		pc, dp := truth[id], docPod[id]
		var ok, wrote int64
		if dp != nil {
			ok = dp.OK + dp.Outcomes["body_mismatch"]
		}
		if pc == nil {
			add("unknown_pod", id, "rolltest counted %d requests (%d ok) from a pod without counts", dp.Requests, ok)
			continue
		}
		wrote = pc.Traffic.Written.S2xx
		bound := timeouts[id] + timeouts[""]
		if capped {
			bound = allTimeouts
		}
		switch {
		case ok > wrote+pc.Traffic.InFlight:
			add("pod_ok", id, "rolltest counted %d ok, the pod wrote only %d 2xx responses (and exited handling %d)", ok, wrote, pc.Traffic.InFlight)
		case wrote-ok > bound:
			add("pod_ok", id, "the pod wrote %d 2xx responses, rolltest counted %d ok; at most %d may be lost to response timeouts", wrote, ok, bound)
		}
	}

	// All pods: responses by class.
	got := [3]int64{outcome("ok") + outcome("body_mismatch"), outcome("http_4xx"), outcome("http_5xx")}
	wrote := [3]int64{sum.written.S2xx, sum.written.S4xx, sum.written.S5xx}
	var lost int64
	for i, class := range []string{"2xx", "4xx", "5xx"} {
		if got[i] > wrote[i]+sum.inFlight {
			add("responses", "", "rolltest received %d %s responses, the pods wrote %d (and exited handling %d)", got[i], class, wrote[i], sum.inFlight)
		}
		lost += max(wrote[i]-got[i], 0)
	}
	if lost > allTimeouts {
		add("responses", "", "the pods wrote %d responses (2xx %d, 4xx %d, 5xx %d) that rolltest did not count (%d, %d, %d received); at most %d may be lost to response timeouts",
			lost, wrote[0], wrote[1], wrote[2], got[0], got[1], got[2], allTimeouts)
	}

	// All pods: attempts.
	pre := preConnect(r)
	conn := outcome("reset") + outcome("eof") + outcome("timeout_response") + outcome("other")
	if sum.received+pre > r.Totals.Attempts {
		add("attempts", "", "the pods received %d requests and %d attempts failed before connecting, more than rolltest's %d attempts",
			sum.received, pre, r.Totals.Attempts)
	}
	if n := conn - sum.undelivered - lost; n < 0 {
		add("attempts", "", "the pods left %d received requests unanswered or failed to write them, and %d responses were lost, but rolltest saw only %d connection failures",
			sum.undelivered, lost, conn)
	}

	// The rollout's shape.
	if r.Rollout != nil {
		var newOK, newWrote int64
		for i := range r.Pods {
			p := &r.Pods[i]
			if p.Lifecycle == nil || p.Lifecycle.Generation != "new" {
				continue
			}
			newOK += p.OK
			if pc := truth[p.ID]; pc != nil {
				newWrote += pc.Traffic.Written.S2xx
			}
		}
		if newOK == 0 || newWrote == 0 {
			add("new_generation", "", "the new pods answered %d ok by rolltest's count, wrote %d 2xx by their own", newOK, newWrote)
		}
		settled := false
		for _, ph := range r.Phases {
			settled = settled || (ph.Name == "settle" && ph.OK > 0)
		}
		if !settled {
			add("settle", "", "the settle phase carried no successful request")
		}
	}
	for _, f := range r.Failures.Records {
		p := docPod[f.Pod]
		if p == nil {
			continue
		}
		from, to := f.StartS, f.AtS+f.LatencyMs/1000
		if steady(p, from-Slack, to+Slack) {
			add("steady_pod_failed", p.ID, "attempt %d of request %d (%s, %s, %.3f–%.3f s) failed on a pod Ready and serving since before it and not terminating until after it",
				f.Attempt, f.Seq, f.Outcome, f.AttributedBy, from, to)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Check < out[j].Check })
	return out
}

// CompareService is Compare with the Service proxy's count of requests it
// failed without reaching a pod: rolltest's attempts must cover the pods'
// requests, the failures before connecting and those.
func CompareService(r *report.Result, pods []app.Counts, svc Service) []Mismatch {
	out := Compare(r, pods)
	var received int64
	for _, pc := range pods {
		received += pc.Traffic.Received
	}
	pre := preConnect(r)
	if received+pre+svc.Unrouted() > r.Totals.Attempts {
		out = append(out, Mismatch{Check: "unrouted", Detail: fmt.Sprintf(
			"the pods received %d requests, %d attempts failed before connecting and the Service failed %d requests itself (%d without endpoint, %d dials failed, %d after the pod closed): %d, more than rolltest's %d attempts",
			received, pre, svc.Unrouted(), svc.NoEndpoint, svc.DialFailed, svc.AfterPodClosed, received+pre+svc.Unrouted(), r.Totals.Attempts)})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Check < out[j].Check })
	return out
}

func preConnect(r *report.Result) int64 {
	var n int64
	for _, o := range []string{"refused", "timeout_connect", "unreachable", "dns", "tls"} {
		n += r.Totals.Outcomes[o] + r.Totals.RetriedOutcomes[o]
	}
	return n
}

// steady reports whether p was Ready, had answered 2xx and was neither
// not-ready nor terminating during [from, to], by the timeline.
func steady(p *report.Pod, from, to float64) bool {
	if p.FirstOKS == nil || *p.FirstOKS > from {
		return false
	}
	lc := p.Lifecycle
	if lc == nil {
		return true
	}
	if lc.CreatedS != nil && (lc.ReadyS == nil || *lc.ReadyS > from) {
		return false
	}
	for _, end := range []*float64{lc.NotReadyS, lc.TerminatingS, lc.EndpointNotReadyS, lc.EndpointRemoved, lc.DeletedS} {
		if end != nil && *end < to {
			return false
		}
	}
	return true
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Format lists mismatches one per line, for test failures.
func Format(ms []Mismatch) string {
	var b strings.Builder
	for _, m := range ms {
		b.WriteString(m.String())
		b.WriteByte('\n')
	}
	return b.String()
}
