package sim

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rolltest/rolltest/internal/ctxtime"
	"github.com/rolltest/rolltest/pkg/rollout"
	"github.com/rolltest/rolltest/testapp/app"
)

// closeTimeout bounds Close. Everything it waits for is local and stops
// within milliseconds, unless an event sink blocks.
const closeTimeout = 5 * time.Second

// Cluster is a running simulation: one Deployment of testapp replicas
// behind one Service. Its methods are safe for concurrent use.
type Cluster struct {
	cfg                Config
	surge, unavailable int
	log                *slog.Logger
	ctx                context.Context // ends at Close
	cancel             context.CancelFunc
	proxy              *proxy
	probeClient        *http.Client
	events             *dispatcher
	wg                 sync.WaitGroup // every goroutine but the proxy's connections

	mu          sync.Mutex
	closed      bool
	names       *rand.Rand
	rss         []*replicaSet // oldest first; the last one is the current template
	pods        []*pod        // not yet deleted, in creation order
	history     []*pod        // every pod ever created, in creation order
	routed      []*pod        // the Service's endpoints, in creation order
	podOrd      int
	lastIP      int
	templateGen int
	roll        *rollState // the latest rollout; nil before the first Roll
	changed     chan struct{}
}

// replicaSet is one pod template's ReplicaSet.
type replicaSet struct {
	name       string
	hash       string // pod-template-hash
	appVersion string // APP_VERSION of its pods
	// eventVersion is Event.Version: the image tag when the rollout changes
	// it, else the pod-template-hash, as the Kubernetes driver reports it.
	eventVersion string
	replicas     int // spec.replicas
}

type rollState struct {
	status   rollout.Status
	complete bool
	oldGone  bool
	done     chan struct{} // closed when complete and oldGone
}

// Start starts Replicas pods of the FromVersion template and the Service in
// front of them, and returns once every pod is Ready and routed to. ctx
// bounds only the start; the cluster runs until Close.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.clone()
	ln, err := net.Listen("tcp", cfg.ServiceAddr)
	if err != nil {
		return nil, fmt.Errorf("sim: service: listen on %s: %w", cfg.ServiceAddr, err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cctx, cancel := context.WithCancel(context.Background())
	c := &Cluster{
		cfg:    cfg,
		log:    log,
		ctx:    cctx,
		cancel: cancel,
		// The kubelet probes without keep-alive and never through a proxy.
		probeClient: &http.Client{Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}},
		events:      newDispatcher(),
		// Two streams, so that pod names do not depend on how many
		// connections the load made.
		names:   rand.New(rand.NewPCG(cfg.Seed, 0x706f6473)),
		changed: make(chan struct{}),
	}
	c.surge, c.unavailable = cfg.fenceposts()
	c.proxy = newProxy(cctx, ln.(*net.TCPListener), rand.New(rand.NewPCG(cfg.Seed, 0x73766373)), log)

	c.mu.Lock()
	c.goLocked(c.proxy.serve)
	c.goLocked(func() { c.events.run(cctx) })
	rs := c.newReplicaSetLocked(cfg.FromVersion)
	rs.replicas = cfg.Replicas
	c.reconcileLocked()
	c.mu.Unlock()

	err = c.waitSteady(ctx)
	if err == nil {
		err = c.waitServing(ctx)
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("sim: start %d replicas: %w", cfg.Replicas, err)
	}
	return c, nil
}

// waitServing waits until every pod's app is past its startup delay. A
// Deployment under test has been running for a while: without a readiness
// probe its pods are Ready long before their apps serve, and the run must
// not start inside that window, or the baseline would show start-up
// failures that have nothing to do with the rollout.
func (c *Cluster) waitServing(ctx context.Context) error {
	c.mu.Lock()
	var last time.Time
	for _, p := range c.pods {
		if p.running && p.startedAt.After(last) {
			last = p.startedAt
		}
	}
	c.mu.Unlock()
	wait := time.Until(last.Add(c.cfg.App.StartupDelay))
	if wait <= 0 {
		return nil
	}
	if !ctxtime.Sleep(ctx, wait) {
		return ctx.Err()
	}
	return nil
}

// waitSteady waits until the current ReplicaSet has all its pods Ready and
// in the Service, and no other pod exists.
func (c *Cluster) waitSteady(ctx context.Context) error {
	deadline := time.NewTimer(c.cfg.ProgressDeadline)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		cur := c.currentLocked()
		n := 0
		for _, p := range c.pods {
			if p.rs == cur && p.ready && p.inEndpoints && !p.terminating {
				n++
			}
		}
		steady := n == cur.replicas && len(c.pods) == n
		ch := c.changed
		c.mu.Unlock()
		if steady {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("%d of %d pods ready: %w", n, cur.replicas, ctx.Err())
		case <-deadline.C:
			return fmt.Errorf("%d of %d pods ready after the %v progress deadline", n, cur.replicas, c.cfg.ProgressDeadline)
		case <-c.ctx.Done():
			return errors.New("cluster closed")
		}
	}
}

// URL returns the Service's URL for path, e.g. URL("/common/healthy").
func (c *Cluster) URL(path string) string {
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	return "http://" + c.Addr() + path
}

// Addr returns the Service's host:port.
func (c *Cluster) Addr() string { return c.proxy.ln.Addr().String() }

// Config returns the configuration the cluster runs with.
func (c *Cluster) Config() Config { return c.cfg.clone() }

// Pod is a snapshot of one pod.
type Pod struct {
	Name       string
	IP         string // the 10.244.0.x label (POD_IP)
	Addr       string // where its process listens on 127.0.0.1, once it does
	ReplicaSet string
	Version    string // APP_VERSION
	Created    time.Time
	Ready      bool
	// Terminating reports that the pod is deleted and its process is
	// still stopping.
	Terminating bool
	// InService reports whether the Service sends it new connections.
	InService bool
}

// Pods returns the pods that exist now, in creation order.
func (c *Cluster) Pods() []Pod {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Pod, 0, len(c.pods))
	for _, p := range c.pods {
		out = append(out, Pod{
			Name: p.name, IP: p.ip, Addr: p.addr, ReplicaSet: p.rs.name,
			Version: p.rs.appVersion, Created: p.created, Ready: p.ready,
			Terminating: p.terminating, InService: p.inEndpoints,
		})
	}
	return out
}

// PodCounts returns, for every pod whose app has started during the
// cluster's life, deleted ones included, in creation order, the app's own
// count of what it did (see app.Counts): ground truth for rolltest's
// numbers. Counts.Pod is the pod's name, which is also the POD_ID its
// responses carry, i.e. the pods[].id of rolltest's result document. The
// counts of a pod still running are live; after Close they are final
// (Close kills every pod and waits for its app to return). Probes and the
// preStop hook, sent by the simulated kubelet straight to the pod's port,
// are in Counts.Probes; everything that came through the Service is in
// Counts.Traffic.
func (c *Cluster) PodCounts() []app.Counts {
	c.mu.Lock()
	srvs := make([]*app.Server, 0, len(c.history))
	for _, p := range c.history {
		if p.srv != nil {
			srvs = append(srvs, p.srv)
		}
	}
	c.mu.Unlock()
	out := make([]app.Counts, len(srvs))
	for i, s := range srvs {
		out[i] = s.Counts()
	}
	return out
}

// ServiceCounts is what the simulated Service counted: client connections,
// and those on which a client's request reached no pod because the
// Service itself failed it.
type ServiceCounts struct {
	// Accepted counts client connections accepted while the cluster ran.
	Accepted int64 `json:"accepted"`
	// NoEndpoint counts connections reset at once because no endpoint was
	// ready (where iptables would have refused them).
	NoEndpoint int64 `json:"no_endpoint"`
	// DialFailed counts connections reset because the chosen endpoint's
	// pod did not accept the connection (not listening any more, or not
	// yet).
	DialFailed int64 `json:"dial_failed"`
	// AfterPodClosed counts connections on which the client sent bytes
	// after the pod had closed its side: a request no pod read. A request
	// that crossed the pod's close in flight is not counted.
	AfterPodClosed int64 `json:"after_pod_closed"`
}

// Unrouted is the number of client connections on which the Service
// failed a request that no pod saw: NoEndpoint + DialFailed +
// AfterPodClosed. A client that sends a request on every connection it
// opens and does not pipeline lost exactly one request on each.
func (s ServiceCounts) Unrouted() int64 { return s.NoEndpoint + s.DialFailed + s.AfterPodClosed }

// ServiceCounts returns the Service's counts so far.
func (c *Cluster) ServiceCounts() ServiceCounts {
	pc := &c.proxy.counts
	return ServiceCounts{
		Accepted: pc.accepted.Load(), NoEndpoint: pc.noEndpoint.Load(),
		DialFailed: pc.dialFailed.Load(), AfterPodClosed: pc.afterPodClosed.Load(),
	}
}

// Close stops the Service and kills every pod at once (no preStop, no
// drain: the node is gone), and waits a bounded time for all of it. A Roll
// in progress returns an error.
func (c *Cluster) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.cancel()
	c.mu.Unlock()

	c.proxy.close()
	done := make(chan struct{})
	go func() {
		c.wg.Wait()
		c.proxy.wg.Wait()
		close(done)
	}()
	t := time.NewTimer(closeTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		return fmt.Errorf("sim: close: goroutines still running after %v (a blocked event sink?)", closeTimeout)
	}
	c.probeClient.CloseIdleConnections()
	return nil
}

// goLocked runs f on a goroutine Close waits for, unless the cluster is
// closed. c.mu must be held, which orders it before Close's Wait.
func (c *Cluster) goLocked(f func()) bool {
	if c.closed {
		return false
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
	return true
}

// afterLocked runs f with c.mu held, d from now, unless the cluster closes
// first. c.mu must be held.
func (c *Cluster) afterLocked(d time.Duration, f func()) {
	c.goLocked(func() {
		if !ctxtime.Sleep(c.ctx, d) {
			return
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if !c.closed {
			f()
		}
	})
}

// broadcastLocked wakes everyone waiting for a state change.
func (c *Cluster) broadcastLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *Cluster) currentLocked() *replicaSet { return c.rss[len(c.rss)-1] }

// newReplicaSetLocked adds the ReplicaSet of a new pod template with 0
// replicas and makes it the current one.
func (c *Cluster) newReplicaSetLocked(version string) *replicaSet {
	c.templateGen++
	hash := templateHash(c.cfg.Name, version, c.templateGen)
	rs := &replicaSet{name: c.cfg.Name + "-" + hash, hash: hash, appVersion: version, eventVersion: hash}
	if c.cfg.RolloutKind == RolloutImage {
		rs.eventVersion = version
	}
	c.rss = append(c.rss, rs)
	c.emitRSLocked(rollout.EventReplicaSetCreated, rs, "")
	return rs
}

// safeChars is the alphabet of Kubernetes' generated names and hashes
// (k8s.io/apimachinery/pkg/util/rand): no vowels, no look-alikes.
const safeChars = "bcdfghjklmnpqrstvwxz2456789"

// templateHash makes a pod-template-hash the way the Deployment controller
// shapes it (a 32-bit FNV hash, decimal, safe-encoded) from what changes
// between templates here.
func templateHash(name, version string, gen int) string {
	h := fnv.New32a()
	fmt.Fprintf(h, "%s/%s/%d", name, version, gen)
	dec := strconv.FormatUint(uint64(h.Sum32()), 10)
	out := make([]byte, len(dec))
	for i := range len(dec) {
		out[i] = safeChars[int(dec[i])%len(safeChars)]
	}
	return string(out)
}

// createPodLocked is the ReplicaSet controller creating a pod.
func (c *Cluster) createPodLocked(rs *replicaSet) {
	var name string
	for {
		b := make([]byte, 5)
		for i := range b {
			b[i] = safeChars[c.names.IntN(len(safeChars))]
		}
		name = rs.name + "-" + string(b)
		if !slices.ContainsFunc(c.pods, func(p *pod) bool { return p.name == name }) {
			break
		}
	}
	c.podOrd++
	p := &pod{name: name, ord: c.podOrd, ip: c.allocIPLocked(), rs: rs, created: time.Now(), deleteCh: make(chan struct{})}
	p.live, p.kill = context.WithCancel(c.ctx)
	c.pods = append(c.pods, p)
	c.history = append(c.history, p)
	c.emitPodLocked(rollout.EventPodCreated, p, "")
	c.goLocked(func() { c.runPod(p) })
	c.broadcastLocked()
}

// allocIPLocked hands out pod IP labels round robin from 10.244.0.2–254,
// skipping those in use, like the host-local IPAM plugin.
func (c *Cluster) allocIPLocked() string {
	for i := range 253 {
		n := (c.lastIP-2+1+i)%253 + 2
		ip := "10.244.0." + strconv.Itoa(n)
		if !slices.ContainsFunc(c.pods, func(p *pod) bool { return p.ip == ip }) {
			c.lastIP = n
			return ip
		}
	}
	// Unreachable with MaxReplicas; a duplicate label is harmless anyway.
	return "10.244.0.255"
}

// deletePodLocked sets the pod's deletionTimestamp: its kubelet starts the
// termination and, in parallel, the endpoint removal starts propagating.
func (c *Cluster) deletePodLocked(p *pod, why string) {
	if p.terminating {
		return
	}
	p.terminating = true
	p.deletedAt = time.Now()
	c.emitPodLocked(rollout.EventPodTerminating, p, why)
	close(p.deleteCh)
	p.kill()
	c.scheduleEndpointLocked(p)
	c.broadcastLocked()
}

// podGone is the pod object's final deletion, once its process stopped.
func (c *Cluster) podGone(p *pod, why string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	i := slices.Index(c.pods, p)
	if i < 0 {
		return
	}
	c.pods = slices.Delete(c.pods, i, i+1)
	p.ready = false
	c.emitPodLocked(rollout.EventPodDeleted, p, why)
	c.reconcileLocked()
	c.broadcastLocked()
}

// setReadyLocked changes the pod's Ready condition.
func (c *Cluster) setReadyLocked(p *pod, ready bool, why string) {
	if p.ready == ready {
		return
	}
	p.ready = ready
	if ready {
		p.readySince = time.Now()
		c.emitPodLocked(rollout.EventPodReady, p, why)
	} else {
		c.emitPodLocked(rollout.EventPodNotReady, p, why)
	}
	c.scheduleEndpointLocked(p)
	c.reconcileLocked()
	c.broadcastLocked()
}

// scheduleEndpointLocked feeds the pod's current desired endpoint state
// into the EndpointDelay pipeline: the Service applies it EndpointDelay
// later, in order, whatever happened meanwhile — a stale kube-proxy.
func (c *Cluster) scheduleEndpointLocked(p *pod) {
	want := p.ready && !p.terminating
	if want == p.wantEndpoint {
		return
	}
	p.wantEndpoint = want
	p.epSeq++
	seq := p.epSeq
	apply := func() {
		if seq <= p.epApplied {
			return
		}
		p.epApplied = seq
		c.applyEndpointLocked(p, want)
	}
	if c.cfg.EndpointDelay == 0 {
		apply()
		return
	}
	c.afterLocked(c.cfg.EndpointDelay, apply)
}

func (c *Cluster) applyEndpointLocked(p *pod, in bool) {
	if p.inEndpoints == in {
		return
	}
	p.inEndpoints = in
	// routed is what the Service knows, apart from which pods still
	// exist: a pod deleted before its endpoint removal propagated (no
	// preStop) stays routed to, and dials to it fail.
	if in {
		i, _ := slices.BinarySearchFunc(c.routed, p.ord, func(q *pod, ord int) int { return cmp.Compare(q.ord, ord) })
		c.routed = slices.Insert(c.routed, i, p)
	} else {
		c.routed = slices.DeleteFunc(c.routed, func(q *pod) bool { return q == p })
		msg := "the Service no longer sends it new connections; open ones stay"
		if p.terminating {
			c.emitPodLocked(rollout.EventEndpointRemoved, p, msg)
		} else {
			c.emitPodLocked(rollout.EventEndpointNotReady, p, msg)
		}
	}
	// In pod creation order, so that with the seeded picks the same
	// sequence of connections is routed the same way.
	eps := make([]endpoint, len(c.routed))
	for i, q := range c.routed {
		eps[i] = endpoint{pod: q.name, addr: q.addr}
	}
	c.proxy.setEndpoints(eps)
	c.broadcastLocked()
}

// available counts the ReplicaSet's pods that count as available: Ready
// (minReadySeconds is 0) and not being deleted.
func (c *Cluster) availableLocked(rs *replicaSet) int {
	n := 0
	for _, p := range c.pods {
		if p.rs == rs && p.active() && p.ready {
			n++
		}
	}
	return n
}

func (c *Cluster) activeLocked(rs *replicaSet) []*pod {
	var out []*pod
	for _, p := range c.pods {
		if p.rs == rs && p.active() {
			out = append(out, p)
		}
	}
	return out
}

func (c *Cluster) specTotalLocked() int {
	n := 0
	for _, rs := range c.rss {
		n += rs.replicas
	}
	return n
}

func (c *Cluster) scaleLocked(rs *replicaSet, to int) {
	from := rs.replicas
	rs.replicas = to
	c.emitRSLocked(rollout.EventReplicaSetScaled, rs, fmt.Sprintf("replicas %d → %d", from, to))
}

// reconcileLocked runs the Deployment and ReplicaSet controllers until
// nothing changes, then checks the rollout's progress. Running them
// synchronously on every state change keeps the sequence of events
// deterministic for a given sequence of readiness changes.
func (c *Cluster) reconcileLocked() {
	if c.closed {
		return
	}
	for range 4*MaxReplicas + 8 {
		changed := c.deploymentStepLocked()
		for _, rs := range c.rss {
			c.syncReplicaSetLocked(rs)
		}
		if !changed {
			break
		}
	}
	c.checkRolloutLocked()
}

// deploymentStepLocked is one pass of the Deployment controller's
// rolloutRolling: scale the new ReplicaSet up within maxSurge, or else the
// old ones down within maxUnavailable (pkg/controller/deployment/rolling.go).
func (c *Cluster) deploymentStepLocked() bool {
	newRS := c.currentLocked()
	desired := c.cfg.Replicas

	// reconcileNewReplicaSet
	switch {
	case newRS.replicas > desired:
		c.scaleLocked(newRS, desired)
		return true
	case newRS.replicas < desired:
		maxTotal := desired + c.surge
		if current := c.specTotalLocked(); current < maxTotal {
			c.scaleLocked(newRS, newRS.replicas+min(maxTotal-current, desired-newRS.replicas))
			return true
		}
	}

	// reconcileOldReplicaSets
	old := c.rss[:len(c.rss)-1]
	oldCount := 0
	for _, rs := range old {
		oldCount += rs.replicas
	}
	if oldCount == 0 {
		return false
	}
	minAvailable := desired - c.unavailable
	newUnavailable := newRS.replicas - c.availableLocked(newRS)
	maxScaledDown := c.specTotalLocked() - minAvailable - newUnavailable
	if maxScaledDown <= 0 {
		return false
	}
	changed := false
	// cleanupUnhealthyReplicas: old pods that are not available cost
	// nothing to remove.
	for _, rs := range old {
		if maxScaledDown <= 0 {
			break
		}
		unhealthy := rs.replicas - c.availableLocked(rs)
		if rs.replicas == 0 || unhealthy <= 0 {
			continue
		}
		down := min(maxScaledDown, unhealthy)
		c.scaleLocked(rs, rs.replicas-down)
		maxScaledDown -= down
		changed = true
	}
	// scaleDownOldReplicaSetsForRollingUpdate
	available := 0
	for _, rs := range c.rss {
		available += c.availableLocked(rs)
	}
	if available <= minAvailable {
		return changed
	}
	total, done := available-minAvailable, 0
	for _, rs := range old {
		if done >= total {
			break
		}
		if rs.replicas == 0 {
			continue
		}
		down := min(rs.replicas, total-done)
		c.scaleLocked(rs, rs.replicas-down)
		done += down
		changed = true
	}
	return changed
}

// syncReplicaSetLocked is the ReplicaSet controller: create or delete pods
// until the active ones match spec.replicas.
func (c *Cluster) syncReplicaSetLocked(rs *replicaSet) {
	active := c.activeLocked(rs)
	for i := len(active); i < rs.replicas; i++ {
		c.createPodLocked(rs)
	}
	if extra := len(active) - rs.replicas; extra > 0 {
		// Which pods go first, after controller.ActivePodsWithRanks: not
		// yet running, then not ready, then ready for the shortest time,
		// then the newest.
		slices.SortStableFunc(active, func(a, b *pod) int {
			if a.running != b.running {
				return boolCmp(!a.running, !b.running)
			}
			if a.ready != b.ready {
				return boolCmp(!a.ready, !b.ready)
			}
			if a.ready && !a.readySince.Equal(b.readySince) {
				return b.readySince.Compare(a.readySince)
			}
			return b.created.Compare(a.created)
		})
		for _, p := range active[:extra] {
			c.deletePodLocked(p, fmt.Sprintf("ReplicaSet %s scaled to %d", rs.name, rs.replicas))
		}
	}
}

// boolCmp orders true before false.
func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return -1
	}
	return 1
}

// checkRolloutLocked records the two ends of a rollout: kubectl's
// "successfully rolled out" (all replicas updated and available, no old
// replica left — pods being deleted do not count) and the deletion of the
// last old pod.
func (c *Cluster) checkRolloutLocked() {
	r := c.roll
	if r == nil || (r.complete && r.oldGone) {
		return
	}
	newRS := c.currentLocked()
	if !r.complete {
		updated := len(c.activeLocked(newRS))
		total, available := 0, 0
		for _, rs := range c.rss {
			total += len(c.activeLocked(rs))
			available += c.availableLocked(rs)
		}
		if updated >= c.cfg.Replicas && total <= updated && available >= updated {
			r.complete = true
			r.status.Complete = time.Now()
			c.emitRSLocked(rollout.EventRolloutComplete, newRS,
				fmt.Sprintf("deployment %q successfully rolled out", c.cfg.Name))
		}
	}
	if !r.oldGone {
		left := 0
		for _, rs := range c.rss[:len(c.rss)-1] {
			left += rs.replicas
		}
		for _, p := range c.pods {
			if p.rs != newRS {
				left++
			}
		}
		if left == 0 {
			r.oldGone = true
			r.status.OldPodsGone = time.Now()
			c.emitLocked(rollout.Event{Kind: rollout.EventOldPodsGone, Message: "the last pod of the old ReplicaSets is deleted"})
		}
	}
	if r.complete && r.oldGone {
		r.status.Done = true
		close(r.done)
	}
}

// generationLocked says whether rs is the template being rolled out.
func (c *Cluster) generationLocked(rs *replicaSet) rollout.Generation {
	if c.roll != nil && rs == c.currentLocked() {
		return rollout.GenerationNew
	}
	return rollout.GenerationOld
}

func (c *Cluster) emitPodLocked(kind rollout.EventKind, p *pod, msg string) {
	c.emitLocked(rollout.Event{
		Kind: kind, Pod: p.name, PodUID: p.name, PodIP: p.ip,
		ReplicaSet: p.rs.name, Version: p.rs.eventVersion,
		Generation: c.generationLocked(p.rs), Message: msg,
	})
}

func (c *Cluster) emitRSLocked(kind rollout.EventKind, rs *replicaSet, msg string) {
	c.emitLocked(rollout.Event{
		Kind: kind, ReplicaSet: rs.name, Version: rs.eventVersion,
		Generation: c.generationLocked(rs), Message: msg,
	})
}

// emitLocked timestamps ev and queues it for the observers. Holding c.mu
// makes the order of events the order of the state changes.
func (c *Cluster) emitLocked(ev rollout.Event) {
	ev.Time = time.Now()
	c.log.Debug("sim: event", "kind", string(ev.Kind), "pod", ev.Pod, "rs", ev.ReplicaSet, "msg", ev.Message)
	c.events.publish(ev)
}

// deletePod deletes a pod by name, like `kubectl delete pod`; its
// ReplicaSet replaces it.
func (c *Cluster) deletePod(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.pods {
		if p.name == name {
			c.deletePodLocked(p, "deleted by the user")
			c.reconcileLocked()
			return nil
		}
	}
	return fmt.Errorf("sim: no pod %q", name)
}
