package kube

import (
	"context"
	"encoding/json"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/rolltest/rolltest/pkg/rollout"
)

// kind is everything the driver does differently for one workload kind. One
// file per kind implements it (deployment.go, statefulset.go,
// daemonset.go); kindFor returns them. Adding a kind is one more file and one
// more case there.
type kind interface {
	// get reads the workload.
	get(ctx context.Context, cs kubernetes.Interface, ns, name string) (workload, error)
	// patch applies a strategic merge patch to the workload.
	patch(ctx context.Context, cs kubernetes.Interface, ns, name string, data []byte) (workload, error)
	// listWatch lists and watches the workloads of ns.
	listWatch(cs kubernetes.Interface, ns string) listWatch
	// asWorkload converts an object of that informer.
	asWorkload(obj any) (workload, bool)

	// revisionResource names the objects that keep the workload's pod
	// templates (for messages and RBAC errors): ReplicaSets or
	// ControllerRevisions.
	revisionResource() string
	// revisionListWatch lists and watches them in ns.
	revisionListWatch(cs kubernetes.Interface, ns string) listWatch
	// revision converts an object of that informer when the workload with
	// UID owner controls it.
	revision(obj any, owner types.UID) (revision, bool)
	// podRevision names the revision a pod of w belongs to, and the UID
	// that revision must have ("" when the pod's labels, not an owner
	// reference, name it); ok is false for a pod w does not control.
	podRevision(pod *corev1.Pod, w workload) (name string, uid types.UID, ok bool)
	// revisionCreated is the event kind of a new revision; tag names the
	// revision on an event (Event.ReplicaSet or Event.Revision).
	revisionCreated() rollout.EventKind
	tag(e *rollout.Event, revision string)
}

// kindFor returns the implementation of a workload kind, or nil for a
// kind it does not know, as kubectl's StatusViewerFor does.
func kindFor(k rollout.WorkloadKind) kind {
	switch k {
	case rollout.KindDeployment:
		return newDeploymentKind()
	case rollout.KindStatefulSet:
		return newStatefulSetKind()
	case rollout.KindDaemonSet:
		return newDaemonSetKind()
	}
	return nil
}

// typedClient is the part of a typed client-go client (DeploymentInterface,
// StatefulSetInterface, ...) that a kind uses.
type typedClient[T any] interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
	Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, subresources ...string) (T, error)
}

// typedKind implements the part of kind that differs between kinds only by
// their API type T: reading, patching and watching the workload.
type typedKind[T any] struct {
	client func(cs kubernetes.Interface, ns string) typedClient[T]
	wrap   func(T) workload
	lw     func(cs kubernetes.Interface, ns string) listWatch
}

func (k typedKind[T]) get(ctx context.Context, cs kubernetes.Interface, ns, name string) (workload, error) {
	o, err := k.client(cs, ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return k.wrap(o), nil
}

func (k typedKind[T]) patch(ctx context.Context, cs kubernetes.Interface, ns, name string, data []byte) (workload, error) {
	o, err := k.client(cs, ns).Patch(ctx, name, types.StrategicMergePatchType, data, patchOptions())
	if err != nil {
		return nil, err
	}
	return k.wrap(o), nil
}

func (k typedKind[T]) listWatch(cs kubernetes.Interface, ns string) listWatch {
	return k.lw(cs, ns)
}

func (k typedKind[T]) asWorkload(obj any) (workload, bool) {
	o, ok := obj.(T)
	if !ok {
		return nil, false
	}
	return k.wrap(o), true
}

// controllerRevisions implements the part of kind shared by the kinds whose
// pod templates are ControllerRevisions (StatefulSet, DaemonSet); ownerKind
// is the owning kind as ownerReferences name it.
type controllerRevisions struct{ ownerKind string }

func (controllerRevisions) revisionResource() string { return "controllerrevisions" }

func (controllerRevisions) revisionListWatch(cs kubernetes.Interface, ns string) listWatch {
	c := cs.AppsV1().ControllerRevisions(ns)
	return lwOf(&appsv1.ControllerRevision{}, c.List, c.Watch)
}

func (c controllerRevisions) revision(obj any, owner types.UID) (revision, bool) {
	return controllerRevision(obj, c.ownerKind, owner)
}

func (controllerRevisions) revisionCreated() rollout.EventKind { return rollout.EventRevisionCreated }

func (controllerRevisions) tag(e *rollout.Event, rev string) { e.Revision = rev }

// workload is one observed state of the workload.
type workload interface {
	metav1.Object
	// template is the pod template being rolled out.
	template() *corev1.PodTemplateSpec
	selector() *metav1.LabelSelector
	// rollable says why a rollout started by action could not start or
	// could not be followed (a paused Deployment, the OnDelete strategy,
	// a partition that leaves every pod alone); nil if it can.
	rollable(action rollout.ActionKind) error
	// status applies `kubectl rollout status` rules: kubectl's sentence
	// (without its newline), whether the rollout is complete, or why it
	// failed.
	status() (msg string, done bool, err error)
	// keepsOld reports whether the rollout leaves the pod named pod at its
	// old revision on purpose (a StatefulSet's partition).
	keepsOld(pod string) bool
}

// revision is a ReplicaSet or ControllerRevision: one pod template of the
// workload.
type revision struct {
	name string
	uid  types.UID
	// hash is the template's hash label (pod-template-hash,
	// controller-revision-hash): its version when the image stays.
	hash     string
	template *corev1.PodTemplateSpec
	// number is its place in the workload's history.
	number int64
	// replicas is how many pods it should have: ReplicaSets only.
	replicas *int32
}

// controlledBy reports whether obj's controller is the workload with UID
// owner, of the given kind.
func controlledBy(obj metav1.Object, kind string, owner types.UID) bool {
	ref := metav1.GetControllerOf(obj)
	return ref != nil && ref.Kind == kind && ref.UID == owner
}

// controllerRevision converts a StatefulSet's or DaemonSet's
// ControllerRevision. Both controllers store the pod template as the
// strategic merge patch {"spec":{"template":{…,"$patch":"replace"}}}.
func controllerRevision(obj any, ownerKind string, owner types.UID) (revision, bool) {
	cr, ok := obj.(*appsv1.ControllerRevision)
	if !ok || !controlledBy(cr, ownerKind, owner) {
		return revision{}, false
	}
	raw := cr.Data.Raw
	if len(raw) == 0 && cr.Data.Object != nil {
		var err error
		if raw, err = json.Marshal(cr.Data.Object); err != nil {
			return revision{}, false
		}
	}
	var data struct {
		Spec struct {
			Template *corev1.PodTemplateSpec `json:"template"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(raw, &data); err != nil || data.Spec.Template == nil {
		return revision{}, false
	}
	// The StatefulSet controller labels its revisions with the hash as
	// controller.kubernetes.io/hash, the DaemonSet controller as
	// controller-revision-hash; both name them <owner>-<hash>.
	hash := cr.Labels[statefulSetRevisionHashLabel]
	if hash == "" {
		hash = cr.Labels[appsv1.ControllerRevisionHashLabelKey]
	}
	if hash == "" {
		hash = strings.TrimPrefix(cr.Name, metav1.GetControllerOf(cr).Name+"-")
	}
	return revision{
		name:     cr.Name,
		uid:      cr.UID,
		hash:     hash,
		template: data.Spec.Template,
		number:   cr.Revision,
	}, true
}

// statefulSetRevisionHashLabel is the label in which the StatefulSet
// controller (k8s.io/kubernetes/pkg/controller/history) stores a
// ControllerRevision's hash.
const statefulSetRevisionHashLabel = "controller.kubernetes.io/hash"

// rollingUpdateOnly is the error of a StatefulSet or DaemonSet whose update
// strategy is not RollingUpdate: its pods are replaced only when someone
// deletes them, and `kubectl rollout status` refuses to follow it.
func rollingUpdateOnly(w workload, kind, strategy string) error {
	return rollout.SetupErrorf(rollout.InputWorkload,
		"%s %s/%s uses the %s update strategy: its pods change only when deleted, and `kubectl rollout status` follows %s only",
		kind, w.GetNamespace(), w.GetName(), strategy, appsv1.RollingUpdateStatefulSetStrategyType)
}

// byName selects one object by name.
func byName(name string) func(*metav1.ListOptions) {
	return func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("metadata.name", name).String()
	}
}
