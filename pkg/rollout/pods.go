package rollout

import "time"

// PodInfo is what the driver knows about one pod of the workload, for
// attributing requests to pods. Pods deleted during the run stay in the
// snapshot: failed requests often arrive after their pod is gone. A
// StatefulSet reuses pod names, so UID, not Name, tells two pods apart.
type PodInfo struct {
	Name string
	UID  string
	IP   string
	// ReplicaSet (Deployments) or Revision (StatefulSets, DaemonSets) is
	// the object holding the pod's template.
	ReplicaSet string
	Revision   string
	Version    string
	Generation Generation
	// Ready reports the pod's Ready condition as last seen.
	Ready bool
	// Terminating is when the driver saw the pod's deletionTimestamp set;
	// zero if it did not.
	Terminating time.Time
	// Deleted is when the driver saw the pod object disappear; zero while
	// it exists.
	Deleted time.Time
}
