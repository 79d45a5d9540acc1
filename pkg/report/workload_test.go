package report

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/rolltest/rolltest/pkg/loadgen"
	"github.com/rolltest/rolltest/pkg/rollout"
)

// TestBuildRolloutWorkload: the document names the workload the driver
// rolled and the Service it found, for every kind; deployment stays the
// Deployment's name only.
func TestBuildRolloutWorkload(t *testing.T) {
	tests := []struct {
		in   rollout.Workload
		want map[string]any
	}{
		{
			rollout.Workload{Kind: rollout.KindDeployment, Namespace: "shop", Name: "web", Service: "web-svc"},
			map[string]any{"kind": "restart", "namespace": "shop", "deployment": "web", "workload": "deployment/web",
				"workload_kind": "deployment", "name": "web", "service": "web-svc"},
		},
		{
			rollout.Workload{Kind: rollout.KindStatefulSet, Namespace: "shop", Name: "db", Service: "db"},
			map[string]any{"kind": "restart", "namespace": "shop", "workload": "statefulset/db",
				"workload_kind": "statefulset", "name": "db", "service": "db"},
		},
		{
			rollout.Workload{Kind: rollout.KindDaemonSet, Namespace: "ops", Name: "agent", Service: "agent"},
			map[string]any{"kind": "restart", "namespace": "ops", "workload": "daemonset/agent",
				"workload_kind": "daemonset", "name": "agent", "service": "agent"},
		},
	}
	for _, tt := range tests {
		r := Build(Input{Stats: emptyStats(), Rollout: &RolloutInput{Driver: "d", Action: rollout.ActionRestart, Workload: tt.in}})
		var buf bytes.Buffer
		if err := json.NewEncoder(&buf).Encode(r.Rollout); err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"kind", "namespace", "deployment", "workload", "workload_kind", "name", "service"} {
			if got[k] != tt.want[k] {
				t.Errorf("%s: rollout.%s = %v, want %v", tt.in.Ref(), k, got[k], tt.want[k])
			}
		}
	}
}

// TestBuildPodsByUID: a StatefulSet's replacement pod takes its
// predecessor's name. Pods whose identity is their UID are linked to their
// own lifecycle, not to the other pod of the same name.
func TestBuildPodsByUID(t *testing.T) {
	start := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return start.Add(time.Duration(s * float64(time.Second))) }
	st := emptyStats()
	st.Start = start
	var oldPod, newPod loadgen.PodStats
	oldPod.PodIdentity = loadgen.PodIdentity{Pod: "uid-old", IP: "10.0.0.1", Version: "v1"}
	oldPod.Outcomes[loadgen.OK] = 5
	newPod.PodIdentity = loadgen.PodIdentity{Pod: "uid-new", IP: "10.0.0.2", Version: "v1"}
	newPod.Outcomes[loadgen.OK] = 7
	newPod.First = 2 * time.Second
	st.Pods = append(st.Pods, oldPod, newPod)
	// One refused connect while the old db-1 was terminating: the timeline
	// blames it, by ID since two pods are named db-1.
	st.Pods[0].Outcomes[loadgen.Refused] = 1
	st.Pods[0].AttributedBy[loadgen.AttrNone] = 1
	st.Counts.Outcomes[loadgen.OK], st.Counts.Outcomes[loadgen.Refused] = 12, 1
	st.Failures = []loadgen.FailureRecord{{Seq: 9, Attempt: 1, Intended: 1200 * time.Millisecond, Latency: time.Millisecond,
		Outcome: loadgen.Refused, AttributedBy: loadgen.AttrNone}}
	ev := func(s float64, kind rollout.EventKind, uid, ip, rev string, gen rollout.Generation) rollout.Event {
		return rollout.Event{Time: at(s), Kind: kind, Pod: "db-1", PodUID: uid, PodIP: ip, Revision: rev, Generation: gen}
	}
	r := Build(Input{Stats: st, Rollout: &RolloutInput{Action: rollout.ActionRestart,
		Workload: rollout.Workload{Kind: rollout.KindStatefulSet, Name: "db"},
		Events: []rollout.Event{
			ev(1, rollout.EventPodTerminating, "uid-old", "10.0.0.1", "db-aaa", rollout.GenerationOld),
			ev(1.5, rollout.EventPodDeleted, "uid-old", "10.0.0.1", "db-aaa", rollout.GenerationOld),
			ev(1.6, rollout.EventPodCreated, "uid-new", "", "db-bbb", rollout.GenerationNew),
			ev(1.9, rollout.EventPodReady, "uid-new", "10.0.0.2", "db-bbb", rollout.GenerationNew),
		}}})
	if len(r.Pods) != 2 {
		t.Fatalf("pods %+v, want the two db-1 (the unattributed bucket emptied)", r.Pods)
	}
	for _, p := range r.Pods {
		lc := p.Lifecycle
		if lc == nil || p.Name != "db-1" {
			t.Fatalf("pod %+v: want linked to db-1's lifecycle", p)
		}
		switch p.ID {
		case "uid-old":
			if lc.Generation != "old" || lc.Revision != "db-aaa" || lc.DeletedS == nil || lc.CreatedS != nil {
				t.Errorf("old db-1 lifecycle %+v", lc)
			}
		case "uid-new":
			if lc.Generation != "new" || lc.Revision != "db-bbb" || lc.CreatedS == nil || lc.DeletedS != nil {
				t.Errorf("new db-1 lifecycle %+v", lc)
			}
		default:
			t.Errorf("unexpected pod %q", p.ID)
		}
	}
	if f := r.Failures.Records; len(f) != 1 || f[0].Pod != "uid-old" || f[0].AttributedBy != "timeline" {
		t.Errorf("failures %+v, want the refused connect on uid-old by timeline", f)
	}

	// Identities by name (POD_ID = metadata.name) cannot tell the two
	// apart; the pod that answered keeps the first lifecycle and the other
	// gets an entry of its own under its UID.
	st2 := emptyStats()
	st2.Start = start
	var byName loadgen.PodStats
	byName.PodIdentity = loadgen.PodIdentity{Pod: "db-1", IP: "10.0.0.1", Version: "v1"}
	byName.Outcomes[loadgen.OK] = 12
	st2.Pods = append(st2.Pods, byName)
	r = Build(Input{Stats: st2, Rollout: &RolloutInput{Action: rollout.ActionRestart,
		Workload: rollout.Workload{Kind: rollout.KindStatefulSet, Name: "db"},
		Events: []rollout.Event{
			ev(1.5, rollout.EventPodDeleted, "uid-old", "10.0.0.1", "db-aaa", rollout.GenerationOld),
			ev(1.6, rollout.EventPodCreated, "uid-new", "", "db-bbb", rollout.GenerationNew),
		}}})
	ids := map[string]string{}
	for _, p := range r.Pods {
		ids[p.ID] = p.Lifecycle.Generation
	}
	if len(ids) != 2 || ids["db-1"] != "old" || ids["uid-new"] != "new" {
		t.Errorf("pods by id and generation %v, want db-1 old and uid-new new", ids)
	}
}

// emptyStats is a run that sent nothing, with the unattributed pod slot.
func emptyStats() *loadgen.Stats {
	return &loadgen.Stats{Start: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC), End: time.Second,
		Latency: hdrhistogram.New(1, 10_000_000, 3), Pods: []loadgen.PodStats{{}}}
}
