package kube

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"github.com/rolltest/rolltest/pkg/rollout"
)

// lateObservation is how far behind the API's own timestamp an
// observation must be before the driver trusts the API's time instead of its
// own clock. API timestamps (creationTimestamp, a condition's
// lastTransitionTime) are truncated to the second and come from the server's
// clock, while a watch delivers changes within milliseconds, so the
// observation time is normally the better one; only an observation that came
// late (a re-list after a dropped watch) is worse.
const lateObservation = 2 * time.Second

// itemKind says what a queued item carries.
type itemKind int

const (
	itemWorkload itemKind = iota // obj is the workload (*appsv1.Deployment, …)
	itemRevision                 // obj is a *appsv1.ReplicaSet or *appsv1.ControllerRevision
	itemPod                      // obj is *corev1.Pod
	itemSlice                    // obj is *discoveryv1.EndpointSlice
	itemBarrier                  // close done once reached
	itemTrigger                  // Roll is about to patch; template is the expected new one
	itemConfirm                  // the patch succeeded; obj is the patched workload
	itemAbort                    // the patch failed; message says why
	itemTimeout                  // RolloutTimeout expired
	itemAPIDown                  // an informer's list or watch could not reach the API server; message names it
	itemAPIUp                    // that informer's list or watch succeeded again
	itemAttempt                  // the trigger's patch failed and is sent again; err says why
	itemService                  // obj is the *corev1.Service whose endpoints are watched
	itemAPIGone                  // the API server has been unreachable for APIGoneAfter and a fresh request failed too; err says how
)

// item is one thing for the processor to handle: an informer
// notification or a step of Roll. Routing both through one FIFO gives the
// timeline a single order and lets one goroutine call the sink.
type item struct {
	kind    itemKind
	obj     any
	deleted bool      // the informer reported obj deleted
	nsGone  bool      // with deleted: the namespace was being deleted or gone when the deletion was seen
	initial bool      // obj came with the informer's initial list
	at      time.Time // when the driver observed it
	done    chan struct{}
	err     error

	template       *corev1.PodTemplateSpec
	message        string
	versionByImage bool
}

// queue is an unbounded FIFO. Informer handlers must not block (a slow
// sink would otherwise stall the informers), so push never waits.
type queue struct {
	mu    sync.Mutex
	items []item
	ready chan struct{} // holds a token while items is non-empty
}

func newQueue() *queue {
	return &queue{ready: make(chan struct{}, 1)}
}

func (q *queue) push(it item) {
	q.mu.Lock()
	q.items = append(q.items, it)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

func (q *queue) take() []item {
	q.mu.Lock()
	defer q.mu.Unlock()
	items := q.items
	q.items = nil
	return items
}

// startInformers starts one informer per watched resource, each filtered on
// the server to the objects of this workload and Service. synced is closed
// when every handler has received its initial list; errs receives list or
// watch errors that retrying will not fix (missing RBAC, missing API), which
// the informers would otherwise retry silently forever.
func (d *Driver) startInformers(ctx context.Context, selector labels.Selector, svc string) (synced <-chan struct{}, errs <-chan error) {
	ns := d.want.Namespace
	bySelector := func(o *metav1.ListOptions) { o.LabelSelector = selector.String() }
	byService := func(o *metav1.ListOptions) {
		o.LabelSelector = labels.Set{serviceNameLabel: svc}.String()
	}
	pods, slices := d.client.CoreV1().Pods(ns), d.client.DiscoveryV1().EndpointSlices(ns)
	services := d.client.CoreV1().Services(ns)
	informers := []struct {
		what  string
		kind  itemKind
		lw    listWatch
		tweak func(*metav1.ListOptions)
	}{
		{string(d.want.Kind) + "s", itemWorkload, d.kind.listWatch(d.client, ns), byName(d.want.Name)},
		{d.kind.revisionResource(), itemRevision, d.kind.revisionListWatch(d.client, ns), bySelector},
		{"pods", itemPod, lwOf(&corev1.Pod{}, pods.List, pods.Watch), bySelector},
		{"endpointslices.discovery.k8s.io", itemSlice, lwOf(&discoveryv1.EndpointSlice{}, slices.List, slices.Watch), byService},
		{"services", itemService, lwOf(&corev1.Service{}, services.List, services.Watch), byName(svc)},
	}
	errCh := make(chan error, 1)
	var hasSynced []cache.InformerSynced
	for _, x := range informers {
		// down is touched only by this informer's reflector, which makes
		// one request at a time; the processor hears of each change.
		down := false
		report := func(rctx context.Context, err error) {
			if rctx.Err() != nil {
				return // the run is over, not the API server
			}
			switch {
			case unreachable(err) && !down:
				down = true
				d.q.push(item{kind: itemAPIDown, at: d.now(), message: x.what, err: err})
			case err == nil && down:
				down = false
				d.q.push(item{kind: itemAPIUp, at: d.now(), message: x.what})
			}
		}
		inf := x.lw.informer(x.tweak, report)
		_ = inf.SetWatchErrorHandlerWithContext(func(ctx context.Context, r *cache.Reflector, err error) {
			if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) || apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err) {
				// Reported through Observe or Roll; logging it as well
				// would only repeat it on every retry.
				select {
				case errCh <- fmt.Errorf("list and watch %s in namespace %s: %w", x.what, ns, err):
				default:
				}
				return
			}
			cache.DefaultWatchErrorHandler(ctx, r, err)
		})
		kind := x.kind
		push := func(obj any, deleted, initial bool) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			it := item{kind: kind, obj: obj, deleted: deleted, initial: initial, at: d.now()}
			if deleted && (kind == itemWorkload || kind == itemService) {
				// Whether the whole namespace is going takes a request,
				// which the handler must not wait for; the run ends on
				// this item, so its place in the queue matters little.
				go func() {
					it.nsGone = d.namespaceGone(ctx)
					d.q.push(it)
				}()
				return
			}
			d.q.push(it)
		}
		reg, err := inf.AddEventHandler(cache.ResourceEventHandlerDetailedFuncs{
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
		go inf.RunWithContext(ctx)
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
			if len(d.st.apiDown) > 0 && !d.probing && !finished {
				d.probing = true
				go d.watchAPI(ctx)
			}
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

// revRecord is what the driver keeps of one revision of the workload.
type revRecord struct {
	revision
	image        string // first container's image
	afterTrigger bool   // first seen after the rollout started: new
	isTarget     bool   // its template is the one being rolled out: new
}

// podRecord is what the driver keeps of one pod of the workload. Pods are
// keyed by UID: a StatefulSet's replacement pod has its predecessor's name.
type podRecord struct {
	name        string
	uid         types.UID
	ip          string
	rev         string // its revision's name
	ready       bool
	terminating time.Time
	deleted     time.Time
	// state is the pod's last observed state, in words (podState), for
	// the evidence of a failed rollout.
	state string
}

// endpoint is a pod's endpoint in one EndpointSlice, with the API's nil
// conditions resolved as the API documents them.
type endpoint struct {
	ready, serving, terminating bool
}

// epState is where a pod stands with respect to the Service.
type epState int

const (
	// epAbsent: not listed in any slice.
	epAbsent epState = iota
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

// epView is a pod's endpoint state with the conditions that led to it,
// for the event message.
type epView struct {
	state epState
	endpoint
}

// state is the timeline's state. It is changed only by the processor
// goroutine, under Driver.mu.
type state struct {
	kind     kind
	want     rollout.Workload
	service  string
	action   rollout.ActionKind
	timeout  time.Duration
	runStart time.Time

	uid             types.UID
	wl              workload // latest seen
	initialTemplate *corev1.PodTemplateSpec

	revs     map[string]*revRecord
	pods     map[types.UID]*podRecord
	podOrder []types.UID
	parked   map[string][]item // pod items waiting for their revision, by its name
	slices   map[string]map[types.UID]endpoint
	ep       map[types.UID]epView

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

	// pendingTrigger is the trigger event until the patch is accepted or
	// given up, or another event must follow it: held so that it can say
	// how many attempts the patch took.
	pendingTrigger *rollout.Event
	attempts       int // failed attempts of the trigger's patch so far
	lastAttemptErr error

	// apiDown holds the informers whose latest list or watch could not
	// reach the API server, with the first error; while it is not empty
	// the timeline may be missing events, from gapStart on.
	apiDown  map[string]error
	gapStart time.Time
	gapErr   error

	out []rollout.Event
}

func newState(d *Driver, w workload, svc string, runStart time.Time) *state {
	s := &state{
		kind:            d.kind,
		want:            d.want,
		service:         svc,
		action:          d.action.Kind,
		timeout:         d.timeout,
		runStart:        runStart,
		uid:             w.GetUID(),
		wl:              w,
		initialTemplate: w.template().DeepCopy(),
		revs:            map[string]*revRecord{},
		pods:            map[types.UID]*podRecord{},
		parked:          map[string][]item{},
		slices:          map[string]map[types.UID]endpoint{},
		ep:              map[types.UID]epView{},
		apiDown:         map[string]error{},
	}
	// For an image rollout the versions are known from the start: name
	// pods by image tag from the first event on, so baseline and rollout
	// agree.
	if d.action.Kind == rollout.ActionImage {
		cs := w.template().Spec.Containers
		s.versionByImage = len(cs) > 0 && cs[0].Name == d.action.Container
	}
	return s
}

// handle applies one item and returns the events it produced.
func (s *state) handle(it item) []rollout.Event {
	switch it.kind {
	case itemWorkload:
		s.onWorkload(it)
	case itemRevision:
		s.onRevision(it)
	case itemPod:
		s.onPod(it)
	case itemSlice:
		s.onSlice(it)
	case itemTrigger:
		s.onTrigger(it)
	case itemConfirm:
		s.onConfirm(it)
	case itemAbort:
		s.fail(it.at, it.message)
	case itemTimeout:
		s.onTimeout(it.at)
	case itemAttempt:
		s.attempts++
		s.lastAttemptErr = it.err
	case itemAPIDown:
		s.onAPIDown(it)
	case itemAPIUp:
		s.onAPIUp(it)
	case itemService:
		s.onService(it)
	case itemAPIGone:
		s.onAPIGone(it)
	case itemBarrier:
	}
	out := s.out
	s.out = nil
	return out
}

func (s *state) emit(e rollout.Event) {
	if e.Kind != rollout.EventTrigger {
		s.flushTrigger()
	}
	s.out = append(s.out, e)
}

// flushTrigger emits the held trigger event, saying how many attempts its
// patch took when it took more than one. Anything the patch causes comes
// after the attempt that succeeded, whose itemAttempt precedes it, so the
// count is complete unless an unrelated event came during the retries.
func (s *state) flushTrigger() {
	e := s.pendingTrigger
	if e == nil {
		return
	}
	s.pendingTrigger = nil
	if s.attempts > 0 {
		e.Message += fmt.Sprintf(" (attempt %d; the earlier ones failed: %s)", s.attempts+1, apiErrorLine(s.lastAttemptErr))
	}
	s.out = append(s.out, *e)
}

func (s *state) onAPIDown(it item) {
	if _, ok := s.apiDown[it.message]; ok {
		return
	}
	if len(s.apiDown) == 0 {
		s.gapStart, s.gapErr = it.at, it.err
	}
	s.apiDown[it.message] = it.err
}

// onAPIUp closes the gap once every informer that lost the API server has
// listed or watched successfully again: from then on the informers have
// caught up (a watch resumes from the last resource version it saw, a list
// replaces the whole cache) and the timeline is whole again.
func (s *state) onAPIUp(it item) {
	if _, ok := s.apiDown[it.message]; !ok {
		return
	}
	delete(s.apiDown, it.message)
	if len(s.apiDown) == 0 {
		s.emit(rollout.Event{Time: s.gapStart, Kind: rollout.EventAPIUnreachable, Message: fmt.Sprintf(
			"API server unreachable %.1f s; events in this span may be missing (%s)", it.at.Sub(s.gapStart).Seconds(), apiErrorLine(s.gapErr))})
	}
}

// apiErrorLine is an API error in one short line: the status code and
// reason with the server's message, or, for a request that got no answer,
// the error without the request's URL.
func apiErrorLine(err error) string {
	if err == nil {
		return "no error recorded"
	}
	var st apierrors.APIStatus
	if errors.As(err, &st) {
		s := st.Status()
		return fmt.Sprintf("%d %s: %s", s.Code, s.Reason, s.Message)
	}
	msg := err.Error()
	// client-go's url.Error: `Get "https://host/apis/...": dial tcp …`.
	if i := strings.Index(msg, `": `); i >= 0 && strings.Contains(msg[:i], ` "http`) {
		msg = msg[i+3:]
	}
	return msg
}

// eventTime picks the time of an event the API also timestamps; see
// lateObservation.
func (s *state) eventTime(api, observed time.Time) time.Time {
	if api.After(s.runStart) && observed.Sub(api) > lateObservation {
		// The API's time is truncated to the second: after a gap in the
		// watches it can fall before the trigger of the rollout that
		// caused the object, which cannot be.
		if s.triggered && observed.After(s.status.Triggered) && api.Before(s.status.Triggered) {
			return s.status.Triggered
		}
		return api
	}
	return observed
}

// generation classifies a revision: before the rollout starts every one is
// old; after, the ones created since and the one whose template is being
// rolled out (possibly an old one brought back, as in a rollback) are new.
func (s *state) generation(r *revRecord) rollout.Generation {
	if r == nil || !s.triggered {
		return rollout.GenerationOld
	}
	if r.afterTrigger || r.isTarget {
		return rollout.GenerationNew
	}
	return rollout.GenerationOld
}

// version names a revision's pod template for the report.
func (s *state) version(r *revRecord) string {
	if r == nil {
		return ""
	}
	if s.versionByImage {
		return imageTag(r.image)
	}
	return r.hash
}

// setTarget records the template being rolled out and re-classifies the
// revisions against it.
func (s *state) setTarget(t *corev1.PodTemplateSpec) {
	s.target = t
	for _, r := range s.revs {
		r.isTarget = templatesEqualIgnoreHash(r.template, t)
	}
}

func (s *state) onTrigger(it item) {
	s.triggered = true
	s.status.Triggered = it.at
	s.versionByImage = s.versionByImage || it.versionByImage
	s.setTarget(it.template)
	s.pendingTrigger = &rollout.Event{Time: it.at, Kind: rollout.EventTrigger, Message: it.message}
}

func (s *state) onConfirm(it item) {
	w := it.obj.(workload)
	s.flushTrigger()
	s.confirmed = true
	s.triggerGen = w.GetGeneration()
	s.setTarget(w.template().DeepCopy())
	if s.wl == nil || s.wl.GetGeneration() < w.GetGeneration() {
		s.wl = w
	}
	s.evaluate(it.at)
	s.checkOldGone(it.at)
}

// detect notices, when watching, a rollout started by someone else.
func (s *state) detect(at time.Time, target *corev1.PodTemplateSpec, gen int64) {
	s.triggered, s.confirmed = true, true
	s.triggerGen = gen
	s.status.Triggered = at
	s.versionByImage = firstImage(target) != firstImage(s.initialTemplate)
	s.setTarget(target.DeepCopy())
	// Every controller gives the new revision the next number after the
	// highest of the others.
	var n int64
	for _, r := range s.revs {
		if !r.isTarget && r.number > n {
			n = r.number
		}
	}
	s.emit(rollout.Event{Time: at, Kind: rollout.EventTrigger, Message: fmt.Sprintf("rollout started by someone else (revision %d)", n+1)})
}

func (s *state) onWorkload(it item) {
	w, ok := s.kind.asWorkload(it.obj)
	if !ok || w.GetName() != s.want.Name || w.GetUID() != s.uid {
		return
	}
	if it.deleted {
		s.fail(it.at, s.deletedReason(it, s.want.String()))
		return
	}
	if s.wl == nil || w.GetGeneration() >= s.wl.GetGeneration() {
		s.wl = w
	}
	if it.initial {
		return
	}
	if s.action == rollout.ActionWatch && !s.triggered && !templatesEqualIgnoreHash(w.template(), s.initialTemplate) {
		s.detect(it.at, w.template(), w.GetGeneration())
	}
	if !s.confirmed {
		return
	}
	if w.GetGeneration() > s.triggerGen {
		// Someone changed the workload again during the rollout. If the
		// template changed, that template is now the one being rolled
		// out and everything else is old.
		if !templatesEqualIgnoreHash(w.template(), s.target) {
			s.setTarget(w.template().DeepCopy())
		}
		s.triggerGen = w.GetGeneration()
	}
	s.evaluate(it.at)
	s.checkOldGone(it.at)
}

// evaluate applies kubectl's rules to the latest workload once it reflects
// the rollout.
func (s *state) evaluate(at time.Time) {
	if !s.confirmed || s.finished || s.wl == nil || s.wl.GetGeneration() < s.triggerGen {
		return
	}
	msg, done, err := s.wl.status()
	if err != nil {
		s.fail(at, err.Error())
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

// checkOldGone ends the rollout phase once no old pod that the rollout
// replaces is left in the API. Pods that are merely terminating still
// count: they can still be sent traffic.
func (s *state) checkOldGone(at time.Time) {
	if !s.confirmed || s.oldGone || s.finished {
		return
	}
	if n := s.oldPodsLeft(); n > 0 {
		return
	}
	s.oldGone = true
	s.status.OldPodsGone = at
	msg := "no pod of the old revisions is left"
	if s.lastOldPod != "" {
		msg = fmt.Sprintf("last old pod %s deleted", s.lastOldPod)
	}
	s.emit(rollout.Event{Time: at, Kind: rollout.EventOldPodsGone, Message: msg})
	s.checkDone(at)
}

// oldPodsLeft counts the pods of old revisions that exist and that the
// rollout is to replace.
func (s *state) oldPodsLeft() int {
	n := 0
	for _, p := range s.pods {
		if p.deleted.IsZero() && s.generation(s.revs[p.rev]) == rollout.GenerationOld && !s.wl.keepsOld(p.name) {
			n++
		}
	}
	return n
}

func (s *state) checkDone(time.Time) {
	if s.complete && s.oldGone && !s.finished {
		s.finished = true
		s.status.Done = true
	}
}

func (s *state) fail(at time.Time, reason string) {
	if s.finished {
		return
	}
	if len(s.apiDown) > 0 {
		s.emit(rollout.Event{Time: s.gapStart, Kind: rollout.EventAPIUnreachable, Message: fmt.Sprintf(
			"API server unreachable for the last %.1f s before the rollout failed; events in this span may be missing (%s)",
			at.Sub(s.gapStart).Seconds(), apiErrorLine(s.gapErr))})
		clear(s.apiDown)
	}
	s.flushTrigger()
	s.finished = true
	s.status.Failed = true
	s.status.Reason = reason
	s.emit(rollout.Event{Time: at, Kind: rollout.EventRolloutFailed, Message: reason})
	for _, uid := range s.podOrder {
		p := s.pods[uid]
		r := s.revs[p.rev]
		if p.ready || !p.deleted.IsZero() || !p.terminating.IsZero() || r == nil || s.generation(r) != rollout.GenerationNew {
			continue
		}
		state := p.state
		if state == "" {
			state = "not scheduled or not yet reported by the kubelet"
		}
		s.podEvent(rollout.EventPodStuck, at, p, state)
	}
}

func (s *state) onTimeout(at time.Time) {
	if s.finished {
		return
	}
	var reason string
	switch {
	case !s.triggered:
		reason = fmt.Sprintf("no rollout of %s started within the rollout timeout of %v", s.want, s.timeout)
	case !s.complete:
		reason = fmt.Sprintf("rollout of %s did not finish within the rollout timeout of %v: %s", s.want, s.timeout, s.lastMessage)
	default:
		reason = fmt.Sprintf("rollout of %s did not finish within the rollout timeout of %v: %d old pods still exist", s.want, s.timeout, s.oldPodsLeft())
	}
	s.fail(at, reason)
}

// revisionEvent is an event about revision r.
func (s *state) revisionEvent(kind rollout.EventKind, at time.Time, r *revRecord, msg string) rollout.Event {
	e := rollout.Event{Time: at, Kind: kind, Version: s.version(r), Generation: s.generation(r), Message: msg}
	s.kind.tag(&e, r.name)
	return e
}

func (s *state) onRevision(it item) {
	obj, ok := s.kind.revision(it.obj, s.uid)
	if !ok {
		return
	}
	if it.deleted {
		// Kept: old pods and later events still refer to it. Controllers
		// only delete revisions beyond revisionHistoryLimit.
		return
	}
	r := s.revs[obj.name]
	if r == nil || r.uid != obj.uid {
		r = &revRecord{}
		s.revs[obj.name] = r
		s.update(r, obj)
		parked := s.parked[obj.name]
		delete(s.parked, obj.name)
		if !it.initial {
			// A revision exists before its pods: if one of them was seen
			// first, that is the latest the revision can have appeared.
			at := it.at
			if len(parked) > 0 && parked[0].at.Before(at) {
				at = parked[0].at
			}
			if s.action == rollout.ActionWatch && !s.triggered && !templatesEqualIgnoreHash(r.template, s.initialTemplate) {
				target, gen := r.template, s.wl.GetGeneration()
				if !templatesEqualIgnoreHash(s.wl.template(), s.initialTemplate) {
					target = s.wl.template()
				}
				s.detect(at, target, gen)
			}
			r.afterTrigger = s.triggered
			msg := fmt.Sprintf("revision %d", r.number)
			if r.replicas != nil {
				msg += fmt.Sprintf(", replicas %d", *r.replicas)
			}
			s.emit(s.revisionEvent(s.kind.revisionCreated(), s.eventTime(it.createdAt(), at), r, msg))
		}
		for _, p := range parked {
			s.onPod(p)
		}
	} else {
		from := r.replicas
		s.update(r, obj)
		if !it.initial && from != nil && r.replicas != nil && *from != *r.replicas {
			s.emit(s.revisionEvent(rollout.EventReplicaSetScaled, it.at, r, fmt.Sprintf("replicas %d → %d", *from, *r.replicas)))
		}
	}
	s.checkOldGone(it.at)
}

// update takes in a revision's latest state.
func (s *state) update(r *revRecord, obj revision) {
	changed := r.template == nil || !equalJSON(r.template, obj.template)
	r.revision = obj
	if changed {
		r.image = firstImage(r.template)
		r.isTarget = templatesEqualIgnoreHash(r.template, s.target)
	}
}

// createdAt is the creationTimestamp of the item's object, if it has one.
func (it item) createdAt() time.Time {
	if m, ok := it.obj.(metav1.Object); ok {
		return m.GetCreationTimestamp().Time
	}
	return time.Time{}
}

func (s *state) podEvent(kind rollout.EventKind, at time.Time, p *podRecord, msg string) {
	r := s.revs[p.rev]
	e := rollout.Event{
		Time:       at,
		Kind:       kind,
		Pod:        p.name,
		PodUID:     string(p.uid),
		PodIP:      p.ip,
		Version:    s.version(r),
		Generation: s.generation(r),
		Message:    msg,
	}
	s.kind.tag(&e, p.rev)
	s.emit(e)
}

func (s *state) onPod(it item) {
	pod, ok := it.obj.(*corev1.Pod)
	if !ok {
		return
	}
	revName, revUID, ok := s.kind.podRevision(pod, s.wl)
	if !ok {
		return
	}
	r := s.revs[revName]
	if r == nil {
		// Informers of different resources deliver independently: the pod
		// of a new revision can arrive before the revision. Keep its
		// items, in order, until the revision shows up; pods of other
		// owners' ReplicaSets simply stay parked.
		s.parked[revName] = append(s.parked[revName], it)
		return
	}
	if revUID != "" && r.uid != revUID {
		return
	}
	p := s.pods[pod.UID]
	if it.deleted {
		if p != nil && p.deleted.IsZero() {
			p.deleted = it.at
			if s.generation(r) == rollout.GenerationOld {
				s.lastOldPod = p.name
			}
			s.podEvent(rollout.EventPodDeleted, it.at, p, "")
			s.checkOldGone(it.at)
		}
		return
	}
	ready, cond := podReady(pod)
	if p == nil {
		p = &podRecord{name: pod.Name, uid: pod.UID, rev: revName, ip: pod.Status.PodIP}
		s.pods[pod.UID] = p
		s.podOrder = append(s.podOrder, pod.UID)
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
	p.state = podState(pod)
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

// podState says in one line why a pod is where it is, as `kubectl describe
// pod` would lead a reader to: the first container that is waiting (for
// its image, in a crash loop, on its configuration) or that terminated,
// else one running but not Ready (its readiness probe failing), else the
// pod's phase and its Ready condition's message.
func podState(pod *corev1.Pod) string {
	statuses := append(append([]corev1.ContainerStatus(nil), pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...)
	for _, c := range statuses {
		if w := c.State.Waiting; w != nil && w.Reason != "" && w.Reason != "ContainerCreating" && w.Reason != "PodInitializing" {
			return clipState(fmt.Sprintf("container %s waiting: %s%s%s", c.Name, w.Reason, restarts(c), colonMsg(w.Message)))
		}
	}
	for _, c := range statuses {
		if t := c.State.Terminated; t != nil && t.ExitCode != 0 {
			return clipState(fmt.Sprintf("container %s terminated: %s (exit code %d)%s%s", c.Name, t.Reason, t.ExitCode, restarts(c), colonMsg(t.Message)))
		}
	}
	for _, c := range pod.Status.ContainerStatuses {
		if c.State.Running != nil && !c.Ready {
			return fmt.Sprintf("container %s running since %s but not Ready (its readiness probe is not passing)%s",
				c.Name, c.State.Running.StartedAt.UTC().Format(time.TimeOnly), restarts(c))
		}
	}
	state := "phase " + string(pod.Status.Phase)
	if _, cond := podReady(pod); cond != nil && cond.Message != "" {
		state += colonMsg(cond.Message)
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status != corev1.ConditionTrue {
			state = "not scheduled" + colonMsg(c.Message)
		}
	}
	return clipState(state)
}

func restarts(c corev1.ContainerStatus) string {
	if c.RestartCount == 0 {
		return ""
	}
	return fmt.Sprintf(", restarted %d times", c.RestartCount)
}

func colonMsg(m string) string {
	if m == "" {
		return ""
	}
	return ": " + m
}

// clipState keeps a state to one readable line.
func clipState(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
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

func (s *state) onSlice(it item) {
	slice, ok := it.obj.(*discoveryv1.EndpointSlice)
	if !ok || slice.Labels[serviceNameLabel] != s.service {
		return
	}
	old := s.slices[slice.Name]
	var cur map[types.UID]endpoint
	if it.deleted {
		delete(s.slices, slice.Name)
	} else {
		cur = map[types.UID]endpoint{}
		for _, e := range slice.Endpoints {
			// By UID: a StatefulSet's new pod takes the old one's name
			// while the old one may still be listed.
			if e.TargetRef == nil || e.TargetRef.Kind != "Pod" || e.TargetRef.UID == "" {
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
			cur[e.TargetRef.UID] = endpoint{ready: ready, serving: serving, terminating: terminating}
		}
		s.slices[slice.Name] = cur
	}
	affected := map[types.UID]bool{}
	for uid := range old {
		affected[uid] = true
	}
	for uid := range cur {
		affected[uid] = true
	}
	uids := make([]types.UID, 0, len(affected))
	for uid := range affected {
		uids = append(uids, uid)
	}
	sort.Slice(uids, func(i, j int) bool { return uids[i] < uids[j] })
	for _, uid := range uids {
		prev := s.ep[uid]
		now := s.endpointView(uid)
		s.ep[uid] = now
		if it.initial {
			continue
		}
		p, known := s.pods[uid]
		if !known {
			continue
		}
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
func (s *state) endpointView(uid types.UID) epView {
	var v epView
	listed := false
	for _, eps := range s.slices {
		e, ok := eps[uid]
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
