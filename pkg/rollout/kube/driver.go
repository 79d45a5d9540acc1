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
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// KubeMode says how the Kubernetes driver starts the rollout.
type KubeMode string

// Rollout modes, the values of `rolltest run --rollout`.
const (
	// KubeRestart does what `kubectl rollout restart` does: it stamps the
	// pod template with the kubectl.kubernetes.io/restartedAt annotation,
	// so every pod is replaced by an identical one.
	KubeRestart KubeMode = "restart"
	// KubeImage does what `kubectl set image` does for one container: the
	// new pods run a new version.
	KubeImage KubeMode = "image"
	// KubeWatch starts nothing: it waits for someone else (a CD pipeline,
	// a colleague with kubectl) to change the Deployment's pod template and
	// observes that rollout.
	KubeWatch KubeMode = "watch"
)

// Config configures a Driver.
type Config struct {
	// Clientset talks to the cluster. If nil, one is built from REST.
	Clientset kubernetes.Interface
	// REST is used to build the clientset when Clientset is nil; see
	// RESTConfig for kubectl's way of finding it.
	REST *rest.Config
	// Namespace and Deployment name the workload to roll (required).
	Namespace  string
	Deployment string
	// Service is the Service whose endpoints are watched. If empty, the
	// driver looks for the one Service in Namespace whose selector matches
	// the Deployment's pod labels.
	Service string
	// Mode is how the rollout is started; empty means KubeRestart.
	Mode KubeMode
	// Image is "CONTAINER=IMAGE" for KubeImage, as in `kubectl set image`
	// (the CLI's --rollout image=CONTAINER=IMAGE).
	Image string
	// RolloutTimeout bounds Roll: waiting for a rollout to start (in
	// KubeWatch mode) and for it to finish. Zero means no bound other than
	// the Deployment's own progressDeadlineSeconds.
	RolloutTimeout time.Duration
	// Now is the clock for event times; nil means time.Now. Tests set it.
	Now func() time.Time
}

// KubeSetupError reports a problem the user fixes before a rollout can be
// tested: a flag that names nothing, a Service that cannot be found, a paused
// Deployment. Its message says which flag or command fixes it. The CLI treats
// it as a usage error (exit code 2) rather than a failed rollout.
type KubeSetupError struct {
	Msg string
}

func (e *KubeSetupError) Error() string { return e.Msg }

func setupErrorf(format string, args ...any) error {
	return &KubeSetupError{Msg: fmt.Sprintf(format, args...)}
}

// Driver is the Driver for a Kubernetes Deployment. It triggers the
// rollout through the API and builds the timeline from informers on the
// Deployment, its ReplicaSets and pods, and the Service's EndpointSlices.
//
// A Driver runs one rollout: Observe once, then Roll once.
type Driver struct {
	client     kubernetes.Interface
	ns         string
	name       string
	service    string // as configured; the resolved one is in st
	mode       KubeMode
	container  string // KubeImage only
	image      string // KubeImage only
	timeout    time.Duration
	now        func() time.Time
	q          *kubeQueue
	finished   chan struct{} // closed by the processor when the rollout is decided
	stopped    chan struct{} // closed when the processor exits (Observe's ctx done)
	startOnce  sync.Once     // guards the first Observe
	rollOnce   sync.Once     // guards the first Roll
	mu         sync.Mutex    // guards st; held by the processor while it updates st
	st         *kubeState
	observedOK bool         // Observe returned nil; guarded by mu
	watchErr   <-chan error // informers' fatal errors; guarded by mu
}

// NewDriver checks cfg and returns a driver for it. It does not contact
// the cluster: Observe does, so that every API call honours a context.
func NewDriver(cfg Config) (*Driver, error) {
	if cfg.Namespace == "" {
		return nil, setupErrorf("no namespace given: use -n/--namespace")
	}
	if cfg.Deployment == "" {
		return nil, setupErrorf("no deployment given: use --deployment")
	}
	d := &Driver{
		client:   cfg.Clientset,
		ns:       cfg.Namespace,
		name:     cfg.Deployment,
		service:  cfg.Service,
		mode:     cfg.Mode,
		timeout:  cfg.RolloutTimeout,
		now:      cfg.Now,
		q:        newKubeQueue(),
		finished: make(chan struct{}),
		stopped:  make(chan struct{}),
	}
	if d.mode == "" {
		d.mode = KubeRestart
	}
	if d.now == nil {
		d.now = time.Now
	}
	if d.timeout < 0 {
		return nil, setupErrorf("rollout timeout %v is negative", d.timeout)
	}
	switch d.mode {
	case KubeRestart, KubeWatch:
		if cfg.Image != "" {
			return nil, setupErrorf("an image (%q) is only used with --rollout image=CONTAINER=IMAGE (the mode is %s)", cfg.Image, d.mode)
		}
	case KubeImage:
		container, image, ok := strings.Cut(cfg.Image, "=")
		if !ok || container == "" || image == "" {
			return nil, setupErrorf("image %q: want CONTAINER=IMAGE, as in --rollout image=app=registry/app:v2 or `kubectl set image deployment/%s CONTAINER=IMAGE`", cfg.Image, d.name)
		}
		d.container, d.image = container, image
	default:
		return nil, setupErrorf("unknown rollout mode %q: want restart, image or watch", d.mode)
	}
	if d.client == nil {
		if cfg.REST == nil {
			return nil, fmt.Errorf("kube driver for deployment %s/%s: neither a clientset nor a REST config given", d.ns, d.name)
		}
		cs, err := kubernetes.NewForConfig(cfg.REST)
		if err != nil {
			return nil, fmt.Errorf("build Kubernetes client: %w", err)
		}
		d.client = cs
	}
	return d, nil
}

// RESTConfig finds the cluster the way kubectl does: the kubeconfig file
// named by kubeconfig, else the files listed in $KUBECONFIG, else
// ~/.kube/config, with context selecting a context other than the current
// one; when none of these exist and the process runs in a pod, the pod's
// service account (in-cluster config). Empty arguments mean kubectl's
// defaults, like omitting --kubeconfig and --context.
func RESTConfig(kubeconfig, context string) (*rest.Config, error) {
	cfg, err := kubeClientConfig(kubeconfig, context).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig: %w", err)
	}
	cfg.UserAgent = "rolltest"
	return cfg, nil
}

// DefaultNamespace returns the namespace kubectl would use without -n: the
// namespace of the selected context, else the pod's own namespace when
// running in-cluster, else "default".
func DefaultNamespace(kubeconfig, context string) (string, error) {
	ns, _, err := kubeClientConfig(kubeconfig, context).Namespace()
	if err != nil {
		return "", fmt.Errorf("load kubeconfig: %w", err)
	}
	return ns, nil
}

// kubeClientConfig builds the same loader as kubectl's --kubeconfig and
// --context flags (genericclioptions.ConfigFlags.ToRawKubeConfigLoader):
// the deferred loader falls back to the in-cluster config on its own.
func kubeClientConfig(kubeconfig, context string) clientcmd.ClientConfig {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	overrides := &clientcmd.ConfigOverrides{CurrentContext: context}
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
}

// Describe says what the driver does, e.g. "restart deployment default/testapp".
func (d *Driver) Describe() string {
	switch d.mode {
	case KubeImage:
		return fmt.Sprintf("set image %s=%s on deployment %s/%s", d.container, d.image, d.ns, d.name)
	case KubeWatch:
		return fmt.Sprintf("watch deployment %s/%s for a rollout started elsewhere", d.ns, d.name)
	default:
		return fmt.Sprintf("restart deployment %s/%s", d.ns, d.name)
	}
}

// Service returns the name of the Service whose endpoints are watched,
// once Observe has found it.
func (d *Driver) Service() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.st == nil {
		return d.service
	}
	return d.st.service
}

// Pods returns every pod of the Deployment the driver has known since
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
		rs := d.st.rs[p.rs]
		out = append(out, rollout.PodInfo{
			Name:        p.name,
			UID:         string(p.uid),
			IP:          p.ip,
			ReplicaSet:  p.rs,
			Version:     d.st.version(rs),
			Generation:  d.st.generation(rs),
			Ready:       p.ready,
			Terminating: p.terminating,
			Deleted:     p.deleted,
		})
	}
	return out
}

// Observe implements Driver. It reads the Deployment, finds its Service,
// checks that the configured rollout can start (the Deployment is not
// paused, the image mode's container exists and would change), starts the
// informers and returns once their initial lists are processed. Objects that
// exist at that point produce no events; they are the baseline.
//
// sink is called from a single goroutine, in the order the driver observed
// things, without any lock held: it may call Pods. Events wait in an
// unbounded queue while it runs, so a slow sink delays the timeline but never
// the informers. It must not wait for Roll, which waits for the events.
func (d *Driver) Observe(ctx context.Context, sink func(rollout.Event)) error {
	first := false
	d.startOnce.Do(func() { first = true })
	if !first {
		return fmt.Errorf("observe deployment %s/%s: Observe called twice", d.ns, d.name)
	}
	if sink == nil {
		sink = func(rollout.Event) {}
	}
	runStart := d.now()
	dep, err := d.client.AppsV1().Deployments(d.ns).Get(ctx, d.name, metav1.GetOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) {
			return setupErrorf("deployment %s/%s not found: check --deployment and -n/--namespace", d.ns, d.name)
		}
		return fmt.Errorf("get deployment %s/%s: %w", d.ns, d.name, err)
	}
	if dep.Spec.Selector == nil {
		return fmt.Errorf("deployment %s/%s has no selector", d.ns, d.name)
	}
	selector, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
	if err != nil {
		return fmt.Errorf("deployment %s/%s selector: %w", d.ns, d.name, err)
	}
	svc, err := d.findService(ctx, dep)
	if err != nil {
		return err
	}
	if err := d.preflight(dep); err != nil {
		return err
	}

	st := newKubeState(d, dep, svc, runStart)
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
		return fmt.Errorf("observe deployment %s/%s: %w", d.ns, d.name, ctx.Err())
	}
	// Every initial object is in the queue ahead of the barrier, so once the
	// processor reaches it the baseline state is complete.
	barrier := make(chan struct{})
	d.q.push(kubeItem{kind: kubeItemBarrier, done: barrier})
	select {
	case <-barrier:
	case <-ctx.Done():
		return fmt.Errorf("observe deployment %s/%s: %w", d.ns, d.name, ctx.Err())
	}
	ok = true
	d.mu.Lock()
	d.observedOK = true
	d.watchErr = errCh
	d.mu.Unlock()
	return nil
}

// findService returns the configured Service after checking that it selects
// the Deployment's pods, or the only Service in the namespace that does.
func (d *Driver) findService(ctx context.Context, dep *appsv1.Deployment) (string, error) {
	podLabels := labels.Set(dep.Spec.Template.Labels)
	if d.service != "" {
		svc, err := d.client.CoreV1().Services(d.ns).Get(ctx, d.service, metav1.GetOptions{})
		if err != nil {
			if apierrors.IsNotFound(err) {
				return "", setupErrorf("service %s/%s not found: check --service", d.ns, d.service)
			}
			return "", fmt.Errorf("get service %s/%s: %w", d.ns, d.service, err)
		}
		if !serviceSelects(svc, podLabels) {
			return "", setupErrorf("service %s/%s does not select the pods of deployment %s (selector %s, pod labels %s): check --service",
				d.ns, d.service, d.name, labels.Set(svc.Spec.Selector), podLabels)
		}
		return svc.Name, nil
	}
	list, err := d.client.CoreV1().Services(d.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", fmt.Errorf("list services in %s to find the one for deployment %s: %w", d.ns, d.name, err)
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
		return "", setupErrorf("no service in namespace %s selects the pods of deployment %s (labels %s): name it with --service",
			d.ns, d.name, podLabels)
	case 1:
		return names[0], nil
	default:
		return "", setupErrorf("services %s in namespace %s all select the pods of deployment %s: choose one with --service",
			strings.Join(names, ", "), d.ns, d.name)
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
// the configured rollout. Roll checks again on fresh state.
func (d *Driver) preflight(dep *appsv1.Deployment) error {
	switch d.mode {
	case KubeRestart, KubeImage:
		if dep.Spec.Paused {
			return setupErrorf("deployment %s/%s is paused: resume it with `kubectl rollout resume deployment/%s -n %s` or use --rollout watch",
				d.ns, d.name, d.name, d.ns)
		}
	}
	if d.mode == KubeImage {
		if _, err := d.containerIndex(dep); err != nil {
			return err
		}
	}
	return nil
}

// containerIndex returns the index of the image mode's container in dep's
// pod template, or an error naming the containers that exist or saying that
// the image would not change.
func (d *Driver) containerIndex(dep *appsv1.Deployment) (int, error) {
	var names []string
	for i, c := range dep.Spec.Template.Spec.Containers {
		if c.Name == d.container {
			if c.Image == d.image {
				return i, setupErrorf("nothing to roll out: container %s of deployment %s/%s already runs image %s",
					d.container, d.ns, d.name, d.image)
			}
			return i, nil
		}
		names = append(names, c.Name)
	}
	return -1, setupErrorf("deployment %s/%s has no container %q (containers: %s): check --rollout image=CONTAINER=IMAGE",
		d.ns, d.name, d.container, strings.Join(names, ", "))
}
