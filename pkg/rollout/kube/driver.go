package kube

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/rolltest/rolltest/pkg/rollout"
)

// Names kubectl and the EndpointSlice controller use for every kind.
const (
	// restartedAtAnnotation is the pod-template annotation that
	// `kubectl rollout restart` sets; any change to the pod template makes
	// the workload's controller roll its pods.
	restartedAtAnnotation = "kubectl.kubernetes.io/restartedAt"
	// serviceNameLabel ties an EndpointSlice to its Service.
	serviceNameLabel = "kubernetes.io/service-name"
)

// patchOptions are those of every patch the driver sends.
func patchOptions() metav1.PatchOptions { return metav1.PatchOptions{FieldManager: "rolltest"} }

// Config configures a Driver.
type Config struct {
	// Clientset talks to the cluster. If nil, one is built from REST.
	Clientset kubernetes.Interface
	// REST is used to build the clientset when Clientset is nil; see
	// RESTConfig for kubectl's way of finding it.
	REST *rest.Config
	// Workload names what to roll: Kind, Namespace and Name are required.
	// Service is the Service whose endpoints are watched; if empty, the
	// driver looks for the one Service in the namespace whose selector
	// matches the workload's pod labels.
	Workload rollout.Workload
	// Action is how the rollout is started.
	Action rollout.Action
	// RolloutTimeout bounds Roll: waiting for a rollout to start (watch)
	// and for it to finish. Zero means no bound other than a Deployment's
	// own progressDeadlineSeconds.
	RolloutTimeout time.Duration
	// APIGoneAfter is how long the API server may be unreachable before
	// the driver asks it directly and, if that fails too, fails the
	// rollout; zero means DefaultAPIGoneAfter.
	APIGoneAfter time.Duration
	// Now is the clock for event times; nil means time.Now. Tests set it.
	Now func() time.Time
}

// Driver is the rollout.Driver for a Kubernetes workload. It triggers the
// rollout through the API and builds the timeline from informers on the
// workload, its revisions (ReplicaSets or ControllerRevisions), its pods
// and the Service's EndpointSlices.
//
// A Driver runs one rollout: Observe once, then Roll once.
type Driver struct {
	client  kubernetes.Interface
	kind    kind
	want    rollout.Workload // as configured; the Service found is in st
	action  rollout.Action
	timeout time.Duration
	// apiGoneAfter: see Config.APIGoneAfter.
	apiGoneAfter time.Duration
	now          func() time.Time
	q            *queue
	finished     chan struct{} // closed by the processor when the rollout is decided
	stopped      chan struct{} // closed when the processor exits (Observe's ctx done)
	startOnce    sync.Once     // guards the first Observe
	rollOnce     sync.Once     // guards the first Roll
	mu           sync.Mutex    // guards st; held by the processor while it updates st
	st           *state
	observedOK   bool         // Observe returned nil; guarded by mu
	probing      bool         // a watchAPI goroutine runs; guarded by mu
	watchErr     <-chan error // informers' fatal errors; guarded by mu
}

var _ rollout.Driver = (*Driver)(nil)

// NewDriver checks cfg and returns a driver for it. It does not contact the
// cluster: Observe does, so that every API call honours a context.
func NewDriver(cfg Config) (*Driver, error) {
	w := cfg.Workload
	if w.Namespace == "" {
		return nil, rollout.SetupErrorf(rollout.InputNamespace, "no namespace given")
	}
	if w.Name == "" {
		return nil, rollout.SetupErrorf(rollout.InputWorkload, "no workload name given")
	}
	wk, err := rollout.ParseWorkloadKind(string(w.Kind))
	if err != nil {
		return nil, &rollout.SetupError{Input: rollout.InputWorkload, Msg: err.Error()}
	}
	w.Kind = wk
	k := kindFor(wk)
	if k == nil {
		return nil, rollout.SetupErrorf(rollout.InputWorkload, "this driver cannot roll a %s", wk)
	}
	if err := cfg.Action.Validate(); err != nil {
		return nil, &rollout.SetupError{Input: rollout.InputAction, Msg: err.Error()}
	}
	if cfg.RolloutTimeout < 0 {
		return nil, fmt.Errorf("rollout timeout %v is negative", cfg.RolloutTimeout)
	}
	d := &Driver{
		client:       cfg.Clientset,
		kind:         k,
		want:         w,
		action:       cfg.Action,
		timeout:      cfg.RolloutTimeout,
		apiGoneAfter: cfg.APIGoneAfter,
		now:          cfg.Now,
		q:            newQueue(),
		finished:     make(chan struct{}),
		stopped:      make(chan struct{}),
	}
	if d.now == nil {
		d.now = time.Now
	}
	if d.apiGoneAfter <= 0 {
		d.apiGoneAfter = DefaultAPIGoneAfter
	}
	if d.client == nil {
		if cfg.REST == nil {
			return nil, fmt.Errorf("kube driver for %s: neither a clientset nor a REST config given", w)
		}
		cs, err := kubernetes.NewForConfig(cfg.REST)
		if err != nil {
			return nil, fmt.Errorf("build Kubernetes client: %w", err)
		}
		d.client = cs
	}
	return d, nil
}

// Describe says what the driver does, e.g. "restart deployment default/testapp".
func (d *Driver) Describe() string {
	switch d.action.Kind {
	case rollout.ActionImage:
		return fmt.Sprintf("set image %s=%s on %s", d.action.Container, d.action.Image, d.want)
	case rollout.ActionWatch:
		return fmt.Sprintf("watch %s for a rollout started elsewhere", d.want)
	default:
		return fmt.Sprintf("restart %s", d.want)
	}
}

// Action implements rollout.Driver.
func (d *Driver) Action() rollout.ActionKind { return d.action.Kind }

// Workload implements rollout.Driver: the configured workload, with the
// Service the driver found once Observe has returned.
func (d *Driver) Workload() rollout.Workload {
	d.mu.Lock()
	defer d.mu.Unlock()
	w := d.want
	if d.st != nil {
		w.Service = d.st.service
	}
	return w
}

// Pods returns every pod of the workload the driver has known since
// Observe began, in the order it first saw them, including pods that have
// since been deleted.
func (d *Driver) Pods() []rollout.PodInfo {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.st == nil {
		return nil
	}
	out := make([]rollout.PodInfo, 0, len(d.st.podOrder))
	for _, uid := range d.st.podOrder {
		p := d.st.pods[uid]
		rev := d.st.revs[p.rev]
		var tag rollout.Event
		d.kind.tag(&tag, p.rev)
		out = append(out, rollout.PodInfo{
			Name:        p.name,
			UID:         string(p.uid),
			IP:          p.ip,
			ReplicaSet:  tag.ReplicaSet,
			Revision:    tag.Revision,
			Version:     d.st.version(rev),
			Generation:  d.st.generation(rev),
			Ready:       p.ready,
			Terminating: p.terminating,
			Deleted:     p.deleted,
		})
	}
	return out
}

// Observe implements rollout.Driver. It reads the workload, finds its
// Service, checks that the configured rollout can start (a Deployment is
// not paused, a StatefulSet or DaemonSet rolls its pods by RollingUpdate,
// the image action's container exists and would change), starts the
// informers and returns once their initial lists are processed. Objects
// that exist at that point produce no events; they are the baseline.
//
// sink is called from a single goroutine, in the order the driver observed
// things, without any lock held: it may call Pods. Events wait in an
// unbounded queue while it runs, so a slow sink delays the timeline but never
// the informers. It must not wait for Roll, which waits for the events.
func (d *Driver) Observe(ctx context.Context, sink func(rollout.Event)) error {
	first := false
	d.startOnce.Do(func() { first = true })
	if !first {
		return fmt.Errorf("observe %s: Observe called twice", d.want)
	}
	if sink == nil {
		sink = func(rollout.Event) {}
	}
	runStart := d.now()
	w, err := d.get(ctx)
	if err != nil {
		return err
	}
	if w.selector() == nil {
		return fmt.Errorf("%s has no selector", d.want)
	}
	selector, err := metav1.LabelSelectorAsSelector(w.selector())
	if err != nil {
		return fmt.Errorf("%s selector: %w", d.want, err)
	}
	svc, err := d.findService(ctx, w)
	if err != nil {
		return err
	}
	if err := d.preflight(w); err != nil {
		return err
	}

	st := newState(d, w, svc, runStart)
	d.mu.Lock()
	d.st = st
	d.mu.Unlock()

	// The informers and the processor live until ctx is done, or until
	// Observe fails: then nothing is left running.
	octx, cancel := context.WithCancel(ctx)
	ok := false
	defer func() {
		if !ok {
			cancel()
		}
	}()
	syncedCh, errCh := d.startInformers(octx, selector, svc)
	go d.process(octx, sink)

	select {
	case <-syncedCh:
	case err := <-errCh:
		return err
	case <-ctx.Done():
		return fmt.Errorf("observe %s: %w", d.want, ctx.Err())
	}
	// Every initial object is in the queue ahead of the barrier, so once the
	// processor reaches it the baseline state is complete.
	barrier := make(chan struct{})
	d.q.push(item{kind: itemBarrier, done: barrier})
	select {
	case <-barrier:
	case <-ctx.Done():
		return fmt.Errorf("observe %s: %w", d.want, ctx.Err())
	}
	ok = true
	d.mu.Lock()
	d.observedOK = true
	d.watchErr = errCh
	d.mu.Unlock()
	return nil
}

// get reads the workload, turning "not found" into a setup error.
func (d *Driver) get(ctx context.Context) (workload, error) {
	w, err := d.kind.get(ctx, d.client, d.want.Namespace, d.want.Name)
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, rollout.SetupErrorf(rollout.InputWorkload, "%s not found", d.want)
		}
		return nil, fmt.Errorf("get %s: %w", d.want, err)
	}
	return w, nil
}

// findService returns the configured Service after checking that it selects
// the workload's pods, or the only Service in the namespace that does.
func (d *Driver) findService(ctx context.Context, w workload) (string, error) {
	ns, name := d.want.Namespace, d.want.Service
	podLabels := labels.Set(w.template().Labels)
	pods := fmt.Sprintf("the pods of %s %s", d.want.Kind, d.want.Name)
	if name != "" {
		svc, err := d.client.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			if apierrors.IsNotFound(err) {
				return "", rollout.SetupErrorf(rollout.InputService, "service %s/%s not found", ns, name)
			}
			return "", fmt.Errorf("get service %s/%s: %w", ns, name, err)
		}
		if !serviceSelects(svc, podLabels) {
			return "", rollout.SetupErrorf(rollout.InputService, "service %s/%s does not select %s (selector %s, pod labels %s)",
				ns, name, pods, labels.Set(svc.Spec.Selector), podLabels)
		}
		return svc.Name, nil
	}
	list, err := d.client.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", fmt.Errorf("list services in %s to find the one for %s %s: %w", ns, d.want.Kind, d.want.Name, err)
	}
	var names []string
	for i := range list.Items {
		if serviceSelects(&list.Items[i], podLabels) {
			names = append(names, list.Items[i].Name)
		}
	}
	sort.Strings(names)
	switch len(names) {
	case 0:
		return "", rollout.SetupErrorf(rollout.InputService, "no service in namespace %s selects %s (labels %s): name the one to watch",
			ns, pods, podLabels)
	case 1:
		return names[0], nil
	default:
		return "", rollout.SetupErrorf(rollout.InputService, "services %s in namespace %s all select %s: choose one",
			strings.Join(names, ", "), ns, pods)
	}
}

// serviceSelects reports whether svc sends traffic to pods labelled
// podLabels. A Service without a selector has hand-made endpoints and never
// follows a rollout, so it does not count.
func serviceSelects(svc *corev1.Service, podLabels labels.Set) bool {
	if len(svc.Spec.Selector) == 0 {
		return false
	}
	return labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels)
}

// preflight checks, before any load is sent, that Roll will be able to start
// the configured rollout and follow it. Roll checks again on fresh state.
func (d *Driver) preflight(w workload) error {
	if err := w.rollable(d.action.Kind); err != nil {
		return err
	}
	if d.action.Kind == rollout.ActionImage {
		if _, err := d.containerIndex(w); err != nil {
			return err
		}
	}
	return nil
}

// containerIndex returns the index of the image action's container in w's
// pod template, or an error naming the containers that exist or saying that
// the image would not change.
func (d *Driver) containerIndex(w workload) (int, error) {
	var names []string
	for i, c := range w.template().Spec.Containers {
		if c.Name == d.action.Container {
			if c.Image == d.action.Image {
				return i, rollout.SetupErrorf(rollout.InputAction, "nothing to roll out: container %s of %s already runs image %s",
					d.action.Container, d.want, d.action.Image)
			}
			return i, nil
		}
		names = append(names, c.Name)
	}
	return -1, rollout.SetupErrorf(rollout.InputAction, "%s has no container %q (containers: %s)",
		d.want, d.action.Container, strings.Join(names, ", "))
}
