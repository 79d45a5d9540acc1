package kube

import (
	"github.com/rolltest/rolltest/pkg/rollout"

	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	discoveryinformers "k8s.io/client-go/informers/discovery/v1"
	"k8s.io/client-go/tools/cache"
)

// kubeLateObservation is how far behind the API's own timestamp an
// observation must be before the driver trusts the API's time instead of its
// own clock. API timestamps (creationTimestamp, a condition's
// lastTransitionTime) are truncated to the second and come from the server's
// clock, while a watch delivers changes within milliseconds, so the
// observation time is normally the better one; only an observation that came
// late (a re-list after a dropped watch) is worse.
const kubeLateObservation = 2 * time.Second

// kubeItemKind says what a queued item carries.
type kubeItemKind int

const (
	kubeItemDeployment kubeItemKind = iota // obj is *appsv1.Deployment
	kubeItemReplicaSet                     // obj is *appsv1.ReplicaSet
	kubeItemPod                            // obj is *corev1.Pod
	kubeItemSlice                          // obj is *discoveryv1.EndpointSlice
	kubeItemBarrier                        // close done once reached
	kubeItemTrigger                        // Roll is about to patch; template is the expected new one
	kubeItemConfirm                        // the patch succeeded; obj is the patched *appsv1.Deployment
	kubeItemAbort                          // the patch failed; message says why
	kubeItemTimeout                        // RolloutTimeout expired
)

// kubeItem is one thing for the processor to handle: an informer
// notification or a step of Roll. Routing both through one FIFO gives the
// timeline a single order and lets one goroutine call the sink.
type kubeItem struct {
	kind    kubeItemKind
	obj     any
	deleted bool      // the informer reported obj deleted
	initial bool      // obj came with the informer's initial list
	at      time.Time // when the driver observed it
	done    chan struct{}

	template       *corev1.PodTemplateSpec
	message        string
	versionByImage bool
}

// kubeQueue is an unbounded FIFO. Informer handlers must not block (a slow
// sink would otherwise stall the informers), so push never waits.
type kubeQueue struct {
	mu    sync.Mutex
	items []kubeItem
	ready chan struct{} // holds a token while items is non-empty
}

func newKubeQueue() *kubeQueue {
	return &kubeQueue{ready: make(chan struct{}, 1)}
}

func (q *kubeQueue) push(it kubeItem) {
	q.mu.Lock()
	q.items = append(q.items, it)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

func (q *kubeQueue) take() []kubeItem {
	q.mu.Lock()
	defer q.mu.Unlock()
	items := q.items
	q.items = nil
	return items
}

// startInformers starts one informer per watched kind, each filtered on the
// server to the objects of this Deployment and Service. synced is closed
// when every handler has received its initial list; errs receives list or
// watch errors that retrying will not fix (missing RBAC, missing API), which
// the informers would otherwise retry silently forever.
func (d *Driver) startInformers(ctx context.Context, selector labels.Selector, svc string) (synced <-chan struct{}, errs <-chan error) {
	byName := func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("metadata.name", d.name).String()
	}
	bySelector := func(o *metav1.ListOptions) { o.LabelSelector = selector.String() }
	byService := func(o *metav1.ListOptions) {
		o.LabelSelector = labels.Set{kubeServiceNameLabel: svc}.String()
	}
	informers := []struct {
		what string
		kind kubeItemKind
		inf  cache.SharedIndexInformer
	}{
		{"deployments", kubeItemDeployment, appsinformers.NewFilteredDeploymentInformer(d.client, d.ns, 0, cache.Indexers{}, byName)},
		{"replicasets", kubeItemReplicaSet, appsinformers.NewFilteredReplicaSetInformer(d.client, d.ns, 0, cache.Indexers{}, bySelector)},
		{"pods", kubeItemPod, coreinformers.NewFilteredPodInformer(d.client, d.ns, 0, cache.Indexers{}, bySelector)},
		{"endpointslices.discovery.k8s.io", kubeItemSlice, discoveryinformers.NewFilteredEndpointSliceInformer(d.client, d.ns, 0, cache.Indexers{}, byService)},
	}
	errCh := make(chan error, 1)
	var hasSynced []cache.InformerSynced
	for _, x := range informers {
		_ = x.inf.SetWatchErrorHandlerWithContext(func(ctx context.Context, r *cache.Reflector, err error) {
			if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) || apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err) {
				// Reported through Observe or Roll; logging it as well
				// would only repeat it on every retry.
				select {
				case errCh <- fmt.Errorf("list and watch %s in namespace %s: %w", x.what, d.ns, err):
				default:
				}
				return
			}
			cache.DefaultWatchErrorHandler(ctx, r, err)
		})
		push := func(obj any, deleted, initial bool) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			d.q.push(kubeItem{kind: x.kind, obj: obj, deleted: deleted, initial: initial, at: d.now()})
		}
		reg, err := x.inf.AddEventHandler(cache.ResourceEventHandlerDetailedFuncs{
			AddFunc:    func(obj any, initial bool) { push(obj, false, initial) },
			UpdateFunc: func(_, obj any) { push(obj, false, false) },
			DeleteFunc: func(obj any) { push(obj, true, false) },
		})
		if err != nil {
			// Only possible once the informer has stopped, which it has
			// not: it has not been started.
			panic(err)
		}
		hasSynced = append(hasSynced, reg.HasSynced)
		go x.inf.RunWithContext(ctx)
	}
	syncedCh := make(chan struct{})
	go func() {
		if cache.WaitForCacheSync(ctx.Done(), hasSynced...) {
			close(syncedCh)
		}
	}()
	return syncedCh, errCh
}

// process is the only goroutine that changes the timeline state and the
// only one that calls sink. It stops when ctx (Observe's) is done.
func (d *Driver) process(ctx context.Context, sink func(rollout.Event)) {
	defer close(d.stopped)
	signalled := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.q.ready:
		}
		for _, it := range d.q.take() {
			if ctx.Err() != nil {
				return
			}
			d.mu.Lock()
			events := d.st.handle(it)
			finished := d.st.finished
			d.mu.Unlock()
			// The sink runs without the lock so that it may call Pods.
			for _, e := range events {
				sink(e)
			}
			if finished && !signalled {
				signalled = true
				close(d.finished)
			}
			if it.done != nil {
				close(it.done)
			}
		}
	}
}

// kubeRS is what the driver keeps of one ReplicaSet of the Deployment.
type kubeRS struct {
	name         string
	uid          types.UID
	hash         string // pod-template-hash label
	image        string // first container's image
	template     *corev1.PodTemplateSpec
	replicas     int32
	revision     int64
	afterTrigger bool // first seen after the rollout started: new
	isTarget     bool // its template is the one being rolled out: new
}

// kubePod is what the driver keeps of one pod of the Deployment.
type kubePod struct {
	name        string
	uid         types.UID
	ip          string
	rs          string
	ready       bool
	terminating time.Time
	deleted     time.Time
}

// kubeEndpoint is a pod's endpoint in one EndpointSlice, with the API's
// nil conditions resolved as the API documents them.
type kubeEndpoint struct {
	ready, serving, terminating bool
}

// kubeEPState is where a pod stands with respect to the Service.
type kubeEPState int

const (
	// epAbsent: not listed in any slice.
	epAbsent kubeEPState = iota
	// epReady: listed and ready; proxies send new connections to it.
	epReady
	// epNotReady: listed but not ready (terminating yet still serving, or
	// failing its readiness probe); proxies stop choosing it once they
	// have seen the change.
	epNotReady
	// epRemoved: listed as terminating and no longer serving: gone from
	// the Service as far as any proxy is concerned.
	epRemoved
)

// kubeEPView is a pod's endpoint state with the conditions that led to it,
// for the event message.
type kubeEPView struct {
	state kubeEPState
	kubeEndpoint
}

// kubeState is the timeline's state. It is changed only by the processor
// goroutine, under Driver.mu.
type kubeState struct {
	ns, name, service string
	mode              KubeMode
	timeout           time.Duration
	runStart          time.Time

	depUID          types.UID
	dep             *appsv1.Deployment // latest seen
	initialTemplate *corev1.PodTemplateSpec

	rs        map[string]*kubeRS
	pods      map[types.UID]*kubePod
	podOrder  []types.UID
	podByName map[string]types.UID
	parked    map[string][]kubeItem // pod items waiting for their ReplicaSet, by its name
	slices    map[string]map[string]kubeEndpoint
	ep        map[string]kubeEPView // by pod name

	triggered      bool
	confirmed      bool // the target template and generation are the API's
	target         *corev1.PodTemplateSpec
	triggerGen     int64
	versionByImage bool
	complete       bool
	oldGone        bool
	finished       bool
	lastMessage    string // kubectl's latest sentence, for the timeout reason
	lastOldPod     string
	status         rollout.Status

	out []rollout.Event
}

func newKubeState(d *Driver, dep *appsv1.Deployment, svc string, runStart time.Time) *kubeState {
	s := &kubeState{
		ns:              d.ns,
		name:            d.name,
		service:         svc,
		mode:            d.mode,
		timeout:         d.timeout,
		runStart:        runStart,
		depUID:          dep.UID,
		dep:             dep,
		initialTemplate: dep.Spec.Template.DeepCopy(),
		rs:              map[string]*kubeRS{},
		pods:            map[types.UID]*kubePod{},
		podByName:       map[string]types.UID{},
		parked:          map[string][]kubeItem{},
		slices:          map[string]map[string]kubeEndpoint{},
		ep:              map[string]kubeEPView{},
	}
	// In image mode the versions are known from the start: name pods by
	// image tag from the first event on, so baseline and rollout agree.
	if d.mode == KubeImage {
		cs := dep.Spec.Template.Spec.Containers
		s.versionByImage = len(cs) > 0 && cs[0].Name == d.container
	}
	return s
}

// handle applies one item and returns the events it produced.
func (s *kubeState) handle(it kubeItem) []rollout.Event {
	switch it.kind {
	case kubeItemDeployment:
		s.onDeployment(it)
	case kubeItemReplicaSet:
		s.onReplicaSet(it)
	case kubeItemPod:
		s.onPod(it)
	case kubeItemSlice:
		s.onSlice(it)
	case kubeItemTrigger:
		s.onTrigger(it)
	case kubeItemConfirm:
		s.onConfirm(it)
	case kubeItemAbort:
		s.fail(it.at, it.message)
	case kubeItemTimeout:
		s.onTimeout(it.at)
	case kubeItemBarrier:
	}
	out := s.out
	s.out = nil
	return out
}

func (s *kubeState) emit(e rollout.Event) { s.out = append(s.out, e) }

// eventTime picks the time of an event the API also timestamps; see
// kubeLateObservation.
func (s *kubeState) eventTime(api, observed time.Time) time.Time {
	if api.After(s.runStart) && observed.Sub(api) > kubeLateObservation {
		return api
	}
	return observed
}

// generation classifies a ReplicaSet: before the rollout starts every one is
// old; after, the ones created since and the one whose template is being
// rolled out (possibly an old ReplicaSet scaled back up, as in a rollback)
// are new.
func (s *kubeState) generation(rs *kubeRS) rollout.Generation {
	if rs == nil || !s.triggered {
		return rollout.GenerationOld
	}
	if rs.afterTrigger || rs.isTarget {
		return rollout.GenerationNew
	}
	return rollout.GenerationOld
}

// version names a ReplicaSet's pod template for the report.
func (s *kubeState) version(rs *kubeRS) string {
	if rs == nil {
		return ""
	}
	if s.versionByImage {
		return imageTag(rs.image)
	}
	return rs.hash
}

// setTarget records the template being rolled out and re-classifies the
// ReplicaSets against it.
func (s *kubeState) setTarget(t *corev1.PodTemplateSpec) {
	s.target = t
	for _, rs := range s.rs {
		rs.isTarget = templatesEqualIgnoreHash(rs.template, t)
	}
}

func (s *kubeState) onTrigger(it kubeItem) {
	s.triggered = true
	s.status.Triggered = it.at
	s.versionByImage = s.versionByImage || it.versionByImage
	s.setTarget(it.template)
	s.emit(rollout.Event{Time: it.at, Kind: rollout.EventTrigger, Message: it.message})
}

func (s *kubeState) onConfirm(it kubeItem) {
	dep := it.obj.(*appsv1.Deployment)
	s.confirmed = true
	s.triggerGen = dep.Generation
	s.setTarget(dep.Spec.Template.DeepCopy())
	if s.dep == nil || s.dep.Generation < dep.Generation {
		s.dep = dep
	}
	s.evaluate(it.at)
	s.checkOldGone(it.at)
}

// detect notices, in KubeWatch mode, a rollout started by someone else.
func (s *kubeState) detect(at time.Time, target *corev1.PodTemplateSpec, gen int64) {
	s.triggered, s.confirmed = true, true
	s.triggerGen = gen
	s.status.Triggered = at
	s.versionByImage = firstImage(target) != firstImage(s.initialTemplate)
	s.setTarget(target.DeepCopy())
	// The deployment controller gives the new ReplicaSet the next revision
	// after the highest of the others (MaxRevision(oldRSs)+1).
	var rev int64
	for _, rs := range s.rs {
		if !rs.isTarget && rs.revision > rev {
			rev = rs.revision
		}
	}
	s.emit(rollout.Event{Time: at, Kind: rollout.EventTrigger, Message: fmt.Sprintf("rollout started by someone else (revision %d)", rev+1)})
}

func (s *kubeState) onDeployment(it kubeItem) {
	dep, ok := it.obj.(*appsv1.Deployment)
	if !ok || dep.Name != s.name || dep.UID != s.depUID {
		return
	}
	if it.deleted {
		s.fail(it.at, fmt.Sprintf("deployment %s/%s was deleted", s.ns, s.name))
		return
	}
	if s.dep == nil || dep.Generation >= s.dep.Generation {
		s.dep = dep
	}
	if it.initial {
		return
	}
	if s.mode == KubeWatch && !s.triggered && !templatesEqualIgnoreHash(&dep.Spec.Template, s.initialTemplate) {
		s.detect(it.at, &dep.Spec.Template, dep.Generation)
	}
	if !s.confirmed {
		return
	}
	if dep.Generation > s.triggerGen {
		// Someone changed the Deployment again during the rollout. If the
		// template changed, that template is now the one being rolled
		// out and everything else is old.
		if !templatesEqualIgnoreHash(&dep.Spec.Template, s.target) {
			s.setTarget(dep.Spec.Template.DeepCopy())
		}
		s.triggerGen = dep.Generation
	}
	s.evaluate(it.at)
	s.checkOldGone(it.at)
}

// evaluate applies kubectl's rules to the latest Deployment once it
// reflects the rollout.
func (s *kubeState) evaluate(at time.Time) {
	if !s.confirmed || s.finished || s.dep == nil || s.dep.Generation < s.triggerGen {
		return
	}
	msg, done, err := DeploymentRolloutStatus(s.dep)
	if err != nil {
		reason := err.Error()
		if pds := s.dep.Spec.ProgressDeadlineSeconds; pds != nil {
			reason = fmt.Sprintf("%s (progressDeadlineSeconds %d)", reason, *pds)
		}
		s.fail(at, reason)
		return
	}
	s.lastMessage = msg
	if done && !s.complete {
		s.complete = true
		s.status.Complete = at
		s.emit(rollout.Event{Time: at, Kind: rollout.EventRolloutComplete, Message: msg})
		s.checkDone(at)
	}
}

// checkOldGone ends the rollout phase once no pod of an old ReplicaSet is
// left in the API. Pods that are merely terminating still count: they can
// still be sent traffic.
func (s *kubeState) checkOldGone(at time.Time) {
	if !s.confirmed || s.oldGone || s.finished {
		return
	}
	if n := s.oldPodsLeft(); n > 0 {
		return
	}
	s.oldGone = true
	s.status.OldPodsGone = at
	msg := "no pod of the old ReplicaSets is left"
	if s.lastOldPod != "" {
		msg = fmt.Sprintf("last old pod %s deleted", s.lastOldPod)
	}
	s.emit(rollout.Event{Time: at, Kind: rollout.EventOldPodsGone, Message: msg})
	s.checkDone(at)
}

func (s *kubeState) oldPodsLeft() int {
	n := 0
	for _, p := range s.pods {
		if p.deleted.IsZero() && s.generation(s.rs[p.rs]) == rollout.GenerationOld {
			n++
		}
	}
	return n
}

func (s *kubeState) checkDone(time.Time) {
	if s.complete && s.oldGone && !s.finished {
		s.finished = true
		s.status.Done = true
	}
}

func (s *kubeState) fail(at time.Time, reason string) {
	if s.finished {
		return
	}
	s.finished = true
	s.status.Failed = true
	s.status.Reason = reason
	s.emit(rollout.Event{Time: at, Kind: rollout.EventRolloutFailed, Message: reason})
}

func (s *kubeState) onTimeout(at time.Time) {
	if s.finished {
		return
	}
	var reason string
	switch {
	case !s.triggered:
		reason = fmt.Sprintf("no rollout of deployment %s/%s started within %v (--rollout-timeout)", s.ns, s.name, s.timeout)
	case !s.complete:
		reason = fmt.Sprintf("rollout of deployment %s/%s did not finish within %v (--rollout-timeout): %s", s.ns, s.name, s.timeout, s.lastMessage)
	default:
		reason = fmt.Sprintf("rollout of deployment %s/%s did not finish within %v (--rollout-timeout): %d old pods still exist", s.ns, s.name, s.timeout, s.oldPodsLeft())
	}
	s.fail(at, reason)
}

func (s *kubeState) onReplicaSet(it kubeItem) {
	obj, ok := it.obj.(*appsv1.ReplicaSet)
	if !ok {
		return
	}
	if ref := metav1.GetControllerOf(obj); ref == nil || ref.Kind != "Deployment" || ref.UID != s.depUID {
		return
	}
	if it.deleted {
		// Kept: old pods and later events still refer to it. The
		// controller only deletes ReplicaSets beyond revisionHistoryLimit.
		return
	}
	replicas := int32(1)
	if obj.Spec.Replicas != nil {
		replicas = *obj.Spec.Replicas
	}
	rs := s.rs[obj.Name]
	if rs == nil || rs.uid != obj.UID {
		rs = &kubeRS{name: obj.Name, uid: obj.UID}
		s.rs[obj.Name] = rs
		rs.update(obj, replicas, s.target)
		parked := s.parked[obj.Name]
		delete(s.parked, obj.Name)
		if !it.initial {
			// A ReplicaSet exists before its pods: if one of them was seen
			// first, that is the latest the ReplicaSet can have appeared.
			at := it.at
			if len(parked) > 0 && parked[0].at.Before(at) {
				at = parked[0].at
			}
			if s.mode == KubeWatch && !s.triggered && !templatesEqualIgnoreHash(rs.template, s.initialTemplate) {
				target, gen := rs.template, s.dep.Generation
				if !templatesEqualIgnoreHash(&s.dep.Spec.Template, s.initialTemplate) {
					target = &s.dep.Spec.Template
				}
				s.detect(at, target, gen)
			}
			rs.afterTrigger = s.triggered
			s.emit(rollout.Event{
				Time:       s.eventTime(obj.CreationTimestamp.Time, at),
				Kind:       rollout.EventReplicaSetCreated,
				ReplicaSet: rs.name,
				Version:    s.version(rs),
				Generation: s.generation(rs),
				Message:    fmt.Sprintf("revision %d, replicas %d", rs.revision, replicas),
			})
		}
		for _, p := range parked {
			s.onPod(p)
		}
	} else {
		from := rs.replicas
		rs.update(obj, replicas, s.target)
		if !it.initial && from != replicas {
			s.emit(rollout.Event{
				Time:       it.at,
				Kind:       rollout.EventReplicaSetScaled,
				ReplicaSet: rs.name,
				Version:    s.version(rs),
				Generation: s.generation(rs),
				Message:    fmt.Sprintf("replicas %d → %d", from, replicas),
			})
		}
	}
	s.checkOldGone(it.at)
}

func (rs *kubeRS) update(obj *appsv1.ReplicaSet, replicas int32, target *corev1.PodTemplateSpec) {
	rs.replicas = replicas
	rs.revision = deploymentRevision(obj)
	rs.hash = obj.Labels[kubePodTemplateHashLabel]
	if rs.hash == "" {
		rs.hash = obj.Spec.Template.Labels[kubePodTemplateHashLabel]
	}
	if rs.template == nil || !equalJSON(rs.template, &obj.Spec.Template) {
		rs.template = obj.Spec.Template.DeepCopy()
		rs.image = firstImage(rs.template)
		rs.isTarget = templatesEqualIgnoreHash(rs.template, target)
	}
}

func (s *kubeState) podEvent(kind rollout.EventKind, at time.Time, p *kubePod, msg string) {
	rs := s.rs[p.rs]
	s.emit(rollout.Event{
		Time:       at,
		Kind:       kind,
		Pod:        p.name,
		PodUID:     string(p.uid),
		PodIP:      p.ip,
		ReplicaSet: p.rs,
		Version:    s.version(rs),
		Generation: s.generation(rs),
		Message:    msg,
	})
}

func (s *kubeState) onPod(it kubeItem) {
	pod, ok := it.obj.(*corev1.Pod)
	if !ok {
		return
	}
	ref := metav1.GetControllerOf(pod)
	if ref == nil || ref.Kind != "ReplicaSet" {
		return
	}
	rs := s.rs[ref.Name]
	if rs == nil {
		// Informers of different kinds deliver independently: the pod of
		// a new ReplicaSet can arrive before the ReplicaSet. Keep its
		// items, in order, until the ReplicaSet shows up; pods of other
		// owners' ReplicaSets simply stay parked.
		s.parked[ref.Name] = append(s.parked[ref.Name], it)
		return
	}
	if rs.uid != ref.UID {
		return
	}
	p := s.pods[pod.UID]
	if it.deleted {
		if p != nil && p.deleted.IsZero() {
			p.deleted = it.at
			if s.generation(rs) == rollout.GenerationOld {
				s.lastOldPod = p.name
			}
			s.podEvent(rollout.EventPodDeleted, it.at, p, "")
			s.checkOldGone(it.at)
		}
		return
	}
	ready, cond := podReady(pod)
	if p == nil {
		p = &kubePod{name: pod.Name, uid: pod.UID, rs: ref.Name, ip: pod.Status.PodIP}
		s.pods[pod.UID] = p
		s.podOrder = append(s.podOrder, pod.UID)
		s.podByName[pod.Name] = pod.UID
		if it.initial {
			// A baseline pod: known, but nothing happened to it yet.
			p.ready = ready
			if pod.DeletionTimestamp != nil {
				p.terminating = it.at
			}
			return
		}
		s.podEvent(rollout.EventPodCreated, s.eventTime(pod.CreationTimestamp.Time, it.at), p, "")
	}
	if pod.Status.PodIP != "" {
		p.ip = pod.Status.PodIP
	}
	if pod.DeletionTimestamp != nil && p.terminating.IsZero() {
		// deletionTimestamp is when the grace period ends (the time of the
		// delete call plus the grace period), not when termination began,
		// so the observation time is the start of termination.
		p.terminating = it.at
		msg := ""
		if g := pod.DeletionGracePeriodSeconds; g != nil {
			msg = fmt.Sprintf("grace period %ds", *g)
		}
		s.podEvent(rollout.EventPodTerminating, it.at, p, msg)
	}
	if ready != p.ready {
		p.ready = ready
		at := it.at
		if cond != nil {
			at = s.eventTime(cond.LastTransitionTime.Time, it.at)
		}
		if ready {
			s.podEvent(rollout.EventPodReady, at, p, "")
		} else {
			s.podEvent(rollout.EventPodNotReady, at, p, "")
		}
	}
}

// podReady returns the pod's Ready condition.
func podReady(pod *corev1.Pod) (bool, *corev1.PodCondition) {
	for i := range pod.Status.Conditions {
		c := &pod.Status.Conditions[i]
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue, c
		}
	}
	return false, nil
}

func (s *kubeState) onSlice(it kubeItem) {
	slice, ok := it.obj.(*discoveryv1.EndpointSlice)
	if !ok || slice.Labels[kubeServiceNameLabel] != s.service {
		return
	}
	old := s.slices[slice.Name]
	var cur map[string]kubeEndpoint
	if it.deleted {
		delete(s.slices, slice.Name)
	} else {
		cur = map[string]kubeEndpoint{}
		for _, e := range slice.Endpoints {
			if e.TargetRef == nil || e.TargetRef.Kind != "Pod" {
				continue
			}
			// The API documents nil ready and serving as "unknown, treat
			// as ready", and nil terminating as false.
			ready := e.Conditions.Ready == nil || *e.Conditions.Ready
			serving := ready
			if e.Conditions.Serving != nil {
				serving = *e.Conditions.Serving
			}
			terminating := e.Conditions.Terminating != nil && *e.Conditions.Terminating
			cur[e.TargetRef.Name] = kubeEndpoint{ready: ready, serving: serving, terminating: terminating}
		}
		s.slices[slice.Name] = cur
	}
	affected := map[string]bool{}
	for name := range old {
		affected[name] = true
	}
	for name := range cur {
		affected[name] = true
	}
	names := make([]string, 0, len(affected))
	for name := range affected {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		prev := s.ep[name]
		now := s.endpointView(name)
		s.ep[name] = now
		if it.initial {
			continue
		}
		uid, known := s.podByName[name]
		if !known {
			continue
		}
		p := s.pods[uid]
		if now.terminating && p.terminating.IsZero() && p.deleted.IsZero() {
			// The EndpointSlice controller copies the pod's
			// deletionTimestamp into the terminating condition, and its
			// update can reach us before the pod's own: termination began
			// no later than now.
			p.terminating = it.at
			s.podEvent(rollout.EventPodTerminating, it.at, p, "seen first on the Service's EndpointSlice")
		}
		switch {
		case prev.state == epReady && now.state == epNotReady:
			s.podEvent(rollout.EventEndpointNotReady, it.at, p, fmt.Sprintf("ready=false serving=%t terminating=%t", now.serving, now.terminating))
		case (prev.state == epReady || prev.state == epNotReady) && now.state == epAbsent:
			s.podEvent(rollout.EventEndpointRemoved, it.at, p, "address left the Service's EndpointSlices")
		case (prev.state == epReady || prev.state == epNotReady) && now.state == epRemoved:
			s.podEvent(rollout.EventEndpointRemoved, it.at, p, "serving=false terminating=true")
		}
	}
}

// endpointView merges a pod's endpoints across the Service's slices (a pod
// can briefly be listed in two while the controller moves it).
func (s *kubeState) endpointView(pod string) kubeEPView {
	var v kubeEPView
	listed := false
	for _, eps := range s.slices {
		e, ok := eps[pod]
		if !ok {
			continue
		}
		listed = true
		v.ready = v.ready || e.ready
		v.serving = v.serving || e.serving
		v.terminating = v.terminating || e.terminating
	}
	switch {
	case !listed:
		v.state = epAbsent
	case v.ready:
		v.state = epReady
	case v.serving || !v.terminating:
		v.state = epNotReady
	default:
		v.state = epRemoved
	}
	return v
}

// firstImage returns the image of the template's first container.
func firstImage(t *corev1.PodTemplateSpec) string {
	if t == nil || len(t.Spec.Containers) == 0 {
		return ""
	}
	return t.Spec.Containers[0].Image
}

// imageTag returns the part of an image reference that names the version:
// the tag ("v2" of "rolltest.local/testapp:v2"), else the digest shortened
// to 12 hex digits, else "latest" as the container runtime would assume.
func imageTag(image string) string {
	if _, digest, ok := strings.Cut(image, "@"); ok {
		if algo, hex, ok := strings.Cut(digest, ":"); ok && len(hex) > 12 {
			return algo + ":" + hex[:12]
		}
		return digest
	}
	slash := strings.LastIndex(image, "/")
	if colon := strings.LastIndex(image, ":"); colon > slash {
		return image[colon+1:]
	}
	if image == "" {
		return ""
	}
	return "latest"
}
