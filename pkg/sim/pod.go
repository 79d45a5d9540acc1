package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/rolltest/rolltest/internal/ctxtime"
	"github.com/rolltest/rolltest/testapp/app"
)

// pod is one replica. Fields below the line are guarded by Cluster.mu.
type pod struct {
	name    string
	ord     int    // creation order
	ip      string // 10.244.0.x: a label in events and POD_IP, never dialled
	rs      *replicaSet
	created time.Time
	// deleteCh is closed when the pod is deleted (its deletionTimestamp set).
	deleteCh chan struct{}
	// live ends when the pod is deleted or the cluster closes; kill ends it.
	live context.Context
	kill context.CancelFunc

	// srv is the pod's app once its process has started; set once, under
	// Cluster.mu. Its counts outlive the pod.
	srv *app.Server

	// ---
	addr        string    // 127.0.0.1:port once the process listens
	running     bool      // the process has started
	startedAt   time.Time // when the process (the app) started
	ready       bool      // the pod's Ready condition
	readySince  time.Time
	terminating bool
	deletedAt   time.Time

	// Endpoint propagation: the last desired state handed to the
	// EndpointDelay pipeline, its sequence number, the last one applied,
	// and whether the Service currently routes new connections here.
	wantEndpoint bool
	epSeq        uint64
	epApplied    uint64
	inEndpoints  bool
}

// active reports whether the ReplicaSet controller counts the pod: pods
// being deleted are not counted, so their replacement is created at once.
func (p *pod) active() bool { return !p.terminating }

// process is a pod's running testapp.
type process struct {
	addr string
	ln   *podListener
	// sigterm cancels Serve's context: the app drains, or exits at once
	// with ExitOnSIGTERM.
	sigterm context.CancelFunc
	done    chan struct{} // Serve returned
}

// kill is SIGKILL: the kernel resets every connection of the process and its
// port refuses from now on. It waits for Serve to return, bounded, since
// the app's goroutines do not outlive their connections.
func (pr *process) kill() {
	pr.ln.kill()
	pr.sigterm()
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case <-pr.done:
	case <-t.C:
	}
}

// podListener is the process's socket table: it owns the listener and every
// accepted connection, so that a kill can close them all with RST as the
// kernel does when a process dies, which the app cannot do for itself.
type podListener struct {
	*net.TCPListener
	mu     sync.Mutex
	conns  map[*net.TCPConn]struct{}
	killed bool
}

func newPodListener(ln *net.TCPListener) *podListener {
	return &podListener{TCPListener: ln, conns: make(map[*net.TCPConn]struct{})}
}

func (l *podListener) Accept() (net.Conn, error) {
	c, err := l.TCPListener.AcceptTCP()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.killed {
		reset(c)
		return nil, net.ErrClosed
	}
	l.conns[c] = struct{}{}
	return &podConn{TCPConn: c, l: l}, nil
}

func (l *podListener) kill() {
	l.mu.Lock()
	l.killed = true
	conns := make([]*net.TCPConn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	clear(l.conns)
	l.mu.Unlock()
	l.TCPListener.Close()
	for _, c := range conns {
		reset(c)
	}
}

type podConn struct {
	*net.TCPConn
	l    *podListener
	once sync.Once
}

func (c *podConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c.TCPConn)
		c.l.mu.Unlock()
	})
	return c.TCPConn.Close()
}

// runPod is the kubelet for one pod: start the container, probe it, and on
// deletion run preStop, SIGTERM and, after the grace period, SIGKILL.
func (c *Cluster) runPod(p *pod) {
	if !ctxtime.Sleep(p.live, c.cfg.StartDelay) {
		c.podGone(p, "deleted before its container started")
		return
	}
	proc, err := c.startProcess(p)
	if err != nil {
		// Like a container that keeps crashing: never ready, gone when
		// deleted.
		c.log.Error("sim: pod failed to start", "pod", p.name, "err", err)
		select {
		case <-p.deleteCh:
		case <-c.ctx.Done():
		}
		c.podGone(p, fmt.Sprintf("never started: %v", err))
		return
	}

	c.mu.Lock()
	p.addr, p.running, p.startedAt = proc.addr, true, time.Now()
	if c.cfg.ReadinessProbe == nil {
		c.setReadyLocked(p, true, "no readiness probe: ready once the process listens")
	}
	var stopProbe context.CancelFunc = func() {}
	if c.cfg.ReadinessProbe != nil {
		var pctx context.Context
		pctx, stopProbe = context.WithCancel(c.ctx)
		c.goLocked(func() { c.probe(pctx, p, proc.addr) })
	}
	c.mu.Unlock()
	defer stopProbe()

	select {
	case <-p.deleteCh:
	case <-c.ctx.Done():
		proc.kill()
		return
	case <-proc.done:
		// The app stopped by itself: not ready, and without a restart
		// policy to model, it stays down until deleted.
		c.mu.Lock()
		c.setReadyLocked(p, false, "process exited")
		c.mu.Unlock()
		select {
		case <-p.deleteCh:
		case <-c.ctx.Done():
			return
		}
	}
	msg := c.terminate(p, proc)
	stopProbe()
	c.podGone(p, msg)
}

// terminate runs the kubelet's termination sequence after the pod's
// deletion and returns how it ended. The endpoint removal runs in parallel
// (scheduled by deletePodLocked): nothing here waits for it, which is the
// race a preStop sleep exists to win.
func (c *Cluster) terminate(p *pod, proc *process) string {
	c.mu.Lock()
	deadline := p.deletedAt.Add(c.cfg.TerminationGracePeriod)
	c.mu.Unlock()
	grace := time.NewTimer(time.Until(deadline))
	defer grace.Stop()
	killed := fmt.Sprintf("killed (SIGKILL) at the end of the %v grace period", c.cfg.TerminationGracePeriod)

	if c.cfg.PreStopCallsApp {
		// A failed hook is only logged by the kubelet; termination goes on.
		if err := c.callPreStop(p, proc); err != nil {
			c.log.Info("sim: preStop hook failed", "pod", p.name, "err", err)
		}
	}
	if d := c.cfg.PreStopDelay; d > 0 {
		hook := time.NewTimer(d)
		select {
		case <-hook.C:
		case <-grace.C:
			hook.Stop()
			proc.kill()
			return killed + " during preStop"
		case <-proc.done:
			hook.Stop()
			return "process exited during preStop"
		case <-c.ctx.Done():
			hook.Stop()
			proc.kill()
			return "cluster closed"
		}
	}
	proc.sigterm()
	select {
	case <-proc.done:
		if c.cfg.App.ExitOnSIGTERM {
			return "process exited at once on SIGTERM"
		}
		return "process drained and exited after SIGTERM"
	case <-grace.C:
		proc.kill()
		return killed + " after SIGTERM"
	case <-c.ctx.Done():
		proc.kill()
		return "cluster closed"
	}
}

// callPreStop is the hook's HTTP call, bounded by what is left of the grace
// period.
func (c *Cluster) callPreStop(p *pod, proc *process) error {
	c.mu.Lock()
	deadline := p.deletedAt.Add(c.cfg.TerminationGracePeriod)
	c.mu.Unlock()
	ctx, cancel := context.WithDeadline(c.ctx, deadline)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+proc.addr+app.PathPreStop, nil)
	if err != nil {
		return err
	}
	resp, err := c.probeClient.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", app.PathPreStop, err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<10))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d", app.PathPreStop, resp.StatusCode)
	}
	return nil
}

// startProcess starts the pod's testapp on its own loopback port.
func (c *Cluster) startProcess(p *pod) (*process, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("sim: pod %s: listen: %w", p.name, err)
	}
	pl := newPodListener(ln.(*net.TCPListener))
	srv := app.New(app.Config{
		PodID:         p.name,
		PodIP:         p.ip,
		Version:       p.rs.appVersion,
		PreStopMode:   c.cfg.App.PreStopMode,
		ExitOnSIGTERM: c.cfg.App.ExitOnSIGTERM,
		StartupDelay:  c.cfg.App.StartupDelay,
		ShutdownDelay: c.cfg.App.ShutdownDelay,
		DrainTimeout:  c.cfg.App.DrainTimeout,
		Logger:        c.log.With("pod", p.name),
	})
	// Serve's context is not derived from the cluster's: SIGTERM and
	// SIGKILL are decided by the kubelet code above, Close included.
	sctx, sigterm := context.WithCancel(context.Background())
	proc := &process{addr: ln.Addr().String(), ln: pl, sigterm: sigterm, done: make(chan struct{})}
	c.mu.Lock()
	p.srv = srv
	ok := c.goLocked(func() {
		defer close(proc.done)
		if err := srv.Serve(sctx, pl); err != nil {
			c.log.Info("sim: app stopped with an error", "pod", p.name, "err", err)
		}
	})
	c.mu.Unlock()
	if !ok {
		sigterm()
		pl.kill()
		return nil, errors.New("sim: cluster closed")
	}
	return proc, nil
}

// probe is the kubelet's readiness prober: first probe after InitialDelay,
// then one per Period; the Ready condition follows the thresholds. It keeps
// probing a terminating pod, as the kubelet does.
func (c *Cluster) probe(ctx context.Context, p *pod, addr string) {
	pc := c.cfg.ReadinessProbe
	if !ctxtime.Sleep(ctx, pc.InitialDelay) {
		return
	}
	tick := time.NewTicker(pc.Period)
	defer tick.Stop()
	successes, failures := 0, 0
	for {
		ok, why := c.probeOnce(ctx, addr, pc.Timeout)
		if ctx.Err() != nil {
			return
		}
		if ok {
			successes, failures = successes+1, 0
		} else {
			successes, failures = 0, failures+1
		}
		c.mu.Lock()
		switch {
		case ok && !p.ready && successes >= pc.SuccessThreshold:
			c.setReadyLocked(p, true, "readiness probe succeeded")
		case !ok && p.ready && failures >= pc.FailureThreshold:
			c.setReadyLocked(p, false, "readiness probe failed: "+why)
		}
		c.mu.Unlock()
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

// probeOnce is one HTTP probe as the kubelet sends it: a fresh connection,
// the manifest's header, success on 2xx and 3xx.
func (c *Cluster) probeOnce(ctx context.Context, addr string, timeout time.Duration) (bool, string) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+app.PathHealthy, nil)
	if err != nil {
		return false, err.Error()
	}
	req.Header.Set("checker", "readinessProbe")
	req.Header.Set("User-Agent", "kube-probe/1.34")
	req.Header.Set("Accept", "*/*")
	resp, err := c.probeClient.Do(req)
	if err != nil {
		return false, err.Error()
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return false, fmt.Sprintf("HTTP %d %q", resp.StatusCode, body)
	}
	return true, ""
}
