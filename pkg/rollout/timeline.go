// Package rollout is the vendor-neutral vocabulary of a rolling update: what
// is rolled (Workload), how the rollout is started (Action), the Driver that
// starts and observes it, and the timeline of events it records (Event,
// Status, PodInfo).
//
// It owns no API client: the Kubernetes driver lives in pkg/rollout/kube
// (client-go), the local simulator behind `rolltest demo` in pkg/sim, and
// the report that attributes failed requests to pods reads these types
// without depending on a cluster. A test of this package keeps it that way.
package rollout

import (
	"context"
	"time"
)

// EventKind names one thing that happened to the workload during a run.
// The string values are part of the rolltest/v1 result schema.
type EventKind string

// Event kinds, in the order they usually happen during a rolling update.
const (
	// EventTrigger: rolltest started the rollout (restart, image change), or,
	// when observing, noticed that someone else started one.
	EventTrigger EventKind = "trigger"
	// EventReplicaSetCreated: a ReplicaSet for the new pod template appeared
	// (Deployments).
	EventReplicaSetCreated EventKind = "replicaset_created"
	// EventRevisionCreated: a ControllerRevision for the new pod template
	// appeared (StatefulSets and DaemonSets, whose pods carry its hash in
	// the controller-revision-hash label).
	EventRevisionCreated EventKind = "revision_created"
	// EventReplicaSetScaled: a ReplicaSet's desired replicas changed
	// (Message says from → to).
	EventReplicaSetScaled EventKind = "replicaset_scaled"
	// EventPodCreated: a pod object was created.
	EventPodCreated EventKind = "pod_created"
	// EventPodReady: the pod's Ready condition became True.
	EventPodReady EventKind = "pod_ready"
	// EventPodNotReady: the pod's Ready condition went from True to False.
	EventPodNotReady EventKind = "pod_not_ready"
	// EventPodTerminating: the pod's deletionTimestamp was set; the kubelet
	// runs preStop and then sends SIGTERM. The pod may still get traffic
	// until it leaves the Service's endpoints.
	EventPodTerminating EventKind = "pod_terminating"
	// EventEndpointNotReady: the pod's endpoint is still listed but no longer
	// ready (EndpointSlice condition ready=false); new connections stop
	// going to it once every proxy has seen this.
	EventEndpointNotReady EventKind = "endpoint_not_ready"
	// EventEndpointRemoved: the pod's address left the Service's
	// EndpointSlices (or its endpoint lost the serving condition).
	EventEndpointRemoved EventKind = "endpoint_removed"
	// EventPodDeleted: the pod object is gone.
	EventPodDeleted EventKind = "pod_deleted"
	// EventRolloutComplete: `kubectl rollout status` would return success
	// now. Old pods may still be terminating and taking traffic.
	EventRolloutComplete EventKind = "rollout_complete"
	// EventOldPodsGone: the last pod of the old revisions (ReplicaSets or
	// ControllerRevisions) that the rollout replaces is deleted; the
	// rollout phase of the run ends here.
	EventOldPodsGone EventKind = "old_pods_gone"
	// EventRolloutFailed: the rollout exceeded its progress deadline or the
	// driver's rollout timeout, or the workload went away (Message says
	// which).
	EventRolloutFailed EventKind = "rollout_failed"
	// EventPodStuck: when a rollout fails, one per new pod that was not
	// Ready, with the last state the driver saw (Message: a container
	// waiting for an image or in a crash loop, terminated, or running but
	// not passing its readiness probe): why the rollout could not go on.
	EventPodStuck EventKind = "pod_stuck"
	// EventAPIUnreachable: the driver's lists and watches could not reach
	// the API server (Time is when the first failed; Message says for how
	// long, until every one succeeded again, and what failed): events
	// that happened in this span may be missing or observed late. The
	// load is not affected.
	EventAPIUnreachable EventKind = "api_unreachable"
)

// Generation tells whether a pod belongs to the pod template being rolled
// out (new) or to one being replaced (old).
type Generation string

// Pod generations.
const (
	GenerationOld Generation = "old"
	GenerationNew Generation = "new"
)

// Event is one observation on the timeline.
type Event struct {
	// Time is when the event was observed (or, where the API records it,
	// when it happened, e.g. a pod's creationTimestamp).
	Time time.Time `json:"time"`
	// AtS is Time as seconds since the start of the run; filled in by the
	// report so that events line up with the per-second series.
	AtS float64 `json:"at_s"`
	// Kind is what happened.
	Kind EventKind `json:"kind"`
	// Pod is the pod's name, when the event concerns a pod.
	Pod string `json:"pod,omitempty"`
	// PodUID is the pod's UID (the seed's POD_ID is metadata.uid).
	PodUID string `json:"pod_uid,omitempty"`
	// PodIP is the pod's IP address, once it has one.
	PodIP string `json:"pod_ip,omitempty"`
	// ReplicaSet is the owning ReplicaSet's name (a Deployment's pods).
	ReplicaSet string `json:"replicaset,omitempty"`
	// Revision is the ControllerRevision of the pod's template (a
	// StatefulSet's or DaemonSet's pods).
	Revision string `json:"revision,omitempty"`
	// Version is what distinguishes the pod template: the image tag of the
	// first container when it differs between old and new, else the
	// ReplicaSet's pod-template-hash or the ControllerRevision's hash.
	Version string `json:"version,omitempty"`
	// Generation says whether the pod is old or new relative to the rollout.
	Generation Generation `json:"generation,omitempty"`
	// Message is a human sentence for the event (e.g. "replicas 2 → 1").
	Message string `json:"message,omitempty"`
}

// Status is how a rollout ended.
type Status struct {
	// Triggered is when the rollout started (zero if it never did).
	Triggered time.Time
	// Complete is when kubectl's rollout status rules were first satisfied.
	Complete time.Time
	// OldPodsGone is when the last old pod the rollout replaces was
	// deleted: the end of the rollout phase.
	OldPodsGone time.Time
	// Done reports that the rollout completed and every old pod is gone.
	Done bool
	// Failed reports that the rollout failed or did not finish in time;
	// Reason says why in one sentence.
	Failed bool
	Reason string
}

// Driver carries out or observes one rolling update.
//
// The orchestrator calls Observe once at the start of a run, keeps sending
// load for the baseline phase, calls Roll, and after the settle phase
// cancels Observe's context. Implementations must honour cancellation.
type Driver interface {
	// Describe says in a few words what the driver does, for reports
	// ("restart deployment default/testapp").
	Describe() string
	// Action says how the rollout is started, for reports.
	Action() ActionKind
	// Workload says what is rolled. It is complete once Observe has
	// returned nil: only then does it name the Service the driver found.
	Workload() Workload
	// Observe starts watching the workload and returns once its initial
	// state is known; from then on every lifecycle event is passed to sink,
	// from one goroutine at a time, until ctx is done.
	Observe(ctx context.Context, sink func(Event)) error
	// Roll triggers the rollout (or waits for one started elsewhere) and
	// blocks until the last old pod it replaces is gone, the rollout fails,
	// or ctx is done.
	Roll(ctx context.Context) (Status, error)
}
