package rollout

import (
	"fmt"
	"strings"
)

// WorkloadKind is a kind of workload whose pods a rolling update replaces,
// as `kubectl rollout restart` knows them. The values are part of the
// rolltest/v1 result schema.
type WorkloadKind string

// Workload kinds.
const (
	KindDeployment  WorkloadKind = "deployment"
	KindStatefulSet WorkloadKind = "statefulset"
	KindDaemonSet   WorkloadKind = "daemonset"
)

// workloadKindNamed returns the kind of every name kubectl accepts for it:
// singular, plural and short name (the API group is trimmed by callers).
func workloadKindNamed(name string) (WorkloadKind, bool) {
	switch name {
	case "deployment", "deployments", "deploy":
		return KindDeployment, true
	case "statefulset", "statefulsets", "sts":
		return KindStatefulSet, true
	case "daemonset", "daemonsets", "ds":
		return KindDaemonSet, true
	}
	return "", false
}

// WorkloadKinds lists the kinds, in the order messages name them.
func WorkloadKinds() []WorkloadKind {
	return []WorkloadKind{KindDeployment, KindStatefulSet, KindDaemonSet}
}

// Workload is what a Driver rolls.
type Workload struct {
	Kind      WorkloadKind
	Namespace string
	Name      string
	// Service is the Service whose endpoints the driver watches: the one
	// it was given, or the one it found by its selector.
	Service string
}

// Ref is the workload as kubectl names it: "statefulset/db".
func (w Workload) Ref() string {
	if w.Name == "" {
		return ""
	}
	return string(w.Kind) + "/" + w.Name
}

// String is the workload with its namespace: "statefulset shop/db".
func (w Workload) String() string {
	if w.Namespace == "" {
		return string(w.Kind) + " " + w.Name
	}
	return string(w.Kind) + " " + w.Namespace + "/" + w.Name
}

// ParseWorkloadRef reads KIND/NAME the way kubectl does: KIND is a kind's
// singular, plural or short name (deploy, sts, ds), optionally with its API
// group ("deployments.apps"), in any letter case.
func ParseWorkloadRef(ref string) (WorkloadKind, string, error) {
	kindName, name, ok := strings.Cut(ref, "/")
	if !ok || kindName == "" || name == "" || strings.Contains(name, "/") {
		return "", "", fmt.Errorf("%q is not KIND/NAME, e.g. deployment/web, statefulset/db or daemonset/agent", ref)
	}
	kindName = strings.TrimSuffix(strings.ToLower(kindName), ".apps")
	kind, ok := workloadKindNamed(kindName)
	if !ok {
		return "", "", fmt.Errorf("%q in %q is not a kind rolltest can roll: want %s", kindName, ref, kindList())
	}
	return kind, name, nil
}

// ParseWorkloadKind reads one of the names of a kind, as ParseWorkloadRef
// reads the part before the slash.
func ParseWorkloadKind(s string) (WorkloadKind, error) {
	kind, ok := workloadKindNamed(strings.TrimSuffix(strings.ToLower(s), ".apps"))
	if !ok {
		return "", fmt.Errorf("unknown workload kind %q: want %s", s, kindList())
	}
	return kind, nil
}

func kindList() string {
	kinds := WorkloadKinds()
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = string(k)
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}
