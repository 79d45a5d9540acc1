package kubejob

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/rolltest/rolltest/pkg/agent"
)

// Config configures a run of agents.
type Config struct {
	// Clientset talks to the cluster; if nil, one is built from REST.
	Clientset kubernetes.Interface
	REST      *rest.Config
	// Namespace is where the Job runs.
	Namespace string
	// Agents is how many pods share the plan (the plan's Shards).
	Agents int
	// Image holds rolltest as its entrypoint; PullPolicy is the
	// container's imagePullPolicy ("" leaves the cluster's default).
	Image      string
	PullPolicy corev1.PullPolicy
	// Plan is the whole load; its Start must leave the pods time to be
	// scheduled, pulled and started, and it must end on its own (a
	// Duration).
	Plan agent.Plan
	// Grace is how long an agent may need after its schedule ends:
	// requests in flight finish within their timeout (and retries), then
	// the final record is written.
	Grace time.Duration
	// ReadyBefore is how long before the start every agent must be
	// running; zero means DefaultReadyBefore.
	ReadyBefore time.Duration
	// OnProgress, when set, receives each agent's progress records, from
	// one goroutine per agent.
	OnProgress func(*agent.Progress)
	// Logf, when set, is told what happens, a line at a time.
	Logf func(format string, args ...any)
}

// DefaultReadyBefore is how long before the start an agent that is not
// running fails the run: an agent that starts later refuses its plan.
const DefaultReadyBefore = 500 * time.Millisecond

// Pod is where an agent ran.
type Pod struct {
	Name, Node string
}

// Result is what came back from the agents.
type Result struct {
	// Job is the Job's namespace/name.
	Job string
	// Finals are the final records read, one per agent that wrote one, by
	// index; all of them unless Stopped is set.
	Finals []*agent.Final
	// Pods are the agents' pods, by index.
	Pods []Pod
	// Stopped says why the run ended before every agent finished: the
	// context's cause (Ctrl-C) or an agent that failed mid-run. Missing
	// then says, by index, why an agent has no final record.
	Stopped string
	Failed  bool // an agent failed (not an interruption)
	Missing map[int]string
	// LogBytes is how many bytes of log were read, re-reads included:
	// what the run cost the API server and the kubelet.
	LogBytes int64
}

// StartError is a run whose agents did not all start in time; the Job
// was deleted and nothing was sent that could be merged.
type StartError struct {
	Job     string
	Start   time.Time
	Agents  int
	Reasons map[int]string // by index: why that agent is not running
}

func (e *StartError) Error() string {
	idx := make([]int, 0, len(e.Reasons))
	for i := range e.Reasons {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	parts := make([]string, len(idx))
	for k, i := range idx {
		parts[k] = fmt.Sprintf("agent %d: %s", i, e.Reasons[i])
	}
	return fmt.Sprintf("--agents: %d of %d agents were not running before the start at %s (%s); %s was deleted; raise --agents-startup if they were only slow",
		len(idx), e.Agents, e.Start.Format("15:04:05.000"), strings.Join(parts, "; "), e.Job)
}

// Run creates the Job, waits for every agent to run before the plan's
// start, follows their logs to their final records and deletes the Job.
// Cancelling ctx (Ctrl-C) deletes the Job at once; its agents, stopped,
// write their final records, which Run still collects for up to Grace.
func Run(ctx context.Context, c Config) (*Result, error) {
	cs := c.Clientset
	if cs == nil {
		var err error
		if cs, err = kubernetes.NewForConfig(c.REST); err != nil {
			return nil, fmt.Errorf("--agents: build a client: %w", err)
		}
	}
	logf := c.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if c.Agents < 1 || c.Plan.Shards != c.Agents {
		return nil, fmt.Errorf("--agents: %d agents for a plan of %d shards", c.Agents, c.Plan.Shards)
	}
	if c.Plan.Duration <= 0 {
		return nil, errors.New("--agents: the plan must have a duration, so that agents stop on their own")
	}
	plan, err := c.Plan.Encode()
	if err != nil {
		return nil, err
	}
	if len(plan) > MaxPlanArg {
		return nil, fmt.Errorf("--agents: the plan is %d KiB, over the %d KiB one pod argument carries; use smaller bodies (--body-file, --targets)", len(plan)>>10, MaxPlanArg>>10)
	}
	if err := checkAccess(ctx, cs, c.Namespace); err != nil {
		return nil, err
	}
	end := c.Plan.Start.Add(c.Plan.Duration + c.Grace)
	job, err := cs.BatchV1().Jobs(c.Namespace).Create(ctx, jobFor(&c, plan, time.Now(), end), metav1.CreateOptions{FieldManager: "rolltest"})
	if err != nil {
		return nil, fmt.Errorf("--agents: create the agents' Job in namespace %s: %w", c.Namespace, err)
	}
	r := &run{c: c, cs: cs, job: job, logf: logf, ref: jobRef(job.Namespace, job.Name)}
	logf("%s created: %d agents, start at %s", r.ref, c.Agents, c.Plan.Start.Format("15:04:05.000"))
	defer r.deleteJob()
	return r.wait(ctx, end)
}

// run is one Job's life.
type run struct {
	c    Config
	cs   kubernetes.Interface
	job  *batchv1.Job
	ref  string
	logf func(string, ...any)

	deleteOnce sync.Once
}

// deleteJob deletes the Job with foreground propagation: its pods are
// stopped (SIGTERM: agents write their final record) and removed with it.
// It runs however the run ends, on a context of its own.
func (r *run) deleteJob() {
	r.deleteOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		fg := metav1.DeletePropagationForeground
		err := r.cs.BatchV1().Jobs(r.job.Namespace).Delete(ctx, r.job.Name, metav1.DeleteOptions{PropagationPolicy: &fg})
		if err != nil && !apierrors.IsNotFound(err) {
			r.logf("could not delete %s: %v; delete it with kubectl delete -n %s job %s", r.ref, err, r.job.Namespace, r.job.Name)
			return
		}
		r.logf("%s deleted", r.ref)
	})
}

func (r *run) wait(ctx context.Context, end time.Time) (*Result, error) {
	n := r.c.Agents
	fac := informers.NewSharedInformerFactoryWithOptions(r.cs, 0, informers.WithNamespace(r.job.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = jobNameKey + "=" + r.job.Name }))
	inf := fac.Core().V1().Pods().Informer()
	changed := make(chan struct{}, 1)
	poke := func(any) {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: poke, UpdateFunc: func(_, o any) { poke(o) }, DeleteFunc: poke}); err != nil {
		return nil, fmt.Errorf("--agents: watch the agent pods: %w", err)
	}
	infCtx, stopInf := context.WithCancel(context.WithoutCancel(ctx))
	defer stopInf()
	fac.Start(infCtx.Done())

	// Followers outlive a cancelled ctx: after Ctrl-C the stopped agents'
	// final records are still to be read.
	followCtx, stopFollowing := context.WithCancel(context.WithoutCancel(ctx))
	var followers sync.WaitGroup
	defer followers.Wait()
	defer stopFollowing() // before the Wait above
	results := make(chan followed, n)
	pending := 0 // followers running

	res := &Result{Job: r.job.Namespace + "/" + r.job.Name, Finals: make([]*agent.Final, 0, n), Pods: make([]Pod, n), Missing: map[int]string{}}
	following := make([]string, n) // pod name followed, by index
	done := make([]bool, n)
	errs := map[int]string{}
	startFollowers := func() {
		for i, p := range byIndex(inf.GetStore().List(), n) {
			if p == nil || following[i] == p.Name || !hasRun(p) {
				continue
			}
			following[i] = p.Name
			pending++
			res.Pods[i] = Pod{Name: p.Name, Node: p.Spec.NodeName}
			name := p.Name
			r.logf("agent %d running: pod %s on node %s", i, p.Name, p.Spec.NodeName)
			followers.Go(func() {
				view := func() *corev1.Pod {
					o, ok, _ := inf.GetStore().GetByKey(r.job.Namespace + "/" + name)
					if !ok {
						return nil
					}
					return o.(*corev1.Pod)
				}
				results <- follow(followCtx, r.cs, r.job.Namespace, name, i, view, r.c.OnProgress)
			})
		}
	}

	readyBefore := r.c.ReadyBefore
	if readyBefore == 0 {
		readyBefore = DefaultReadyBefore
	}
	startCheck := time.NewTimer(time.Until(r.c.Plan.Start.Add(-readyBefore)))
	defer startCheck.Stop()
	// The agents end on their own by end; a little more is for the last
	// log lines to arrive.
	deadline := time.NewTimer(time.Until(end.Add(15 * time.Second)))
	defer deadline.Stop()
	started := false
	var stopWait <-chan time.Time // after a stop: how long finals may still come
	stop := func(why string, failed bool) {
		if res.Stopped != "" {
			return
		}
		res.Stopped, res.Failed = why, failed
		r.deleteJob()
		t := time.NewTimer(r.c.Grace + 2*time.Second)
		stopWait = t.C
	}
	ctxDone := ctx.Done()
	finished := 0
	// Until every agent is done, or, once stopped, until no follower is
	// left to bring a final record.
	for finished < n && (res.Stopped == "" || pending > 0) {
		select {
		case <-changed:
			// A pod that ended is followed too: its log decides.
			startFollowers()
		case <-startCheck.C:
			startFollowers()
			reasons := map[int]string{}
			for i, p := range byIndex(inf.GetStore().List(), n) {
				if p == nil || !hasRun(p) {
					reasons[i] = problem(p)
				}
			}
			if len(reasons) > 0 {
				return nil, &StartError{Job: r.ref, Start: r.c.Plan.Start, Agents: n, Reasons: reasons}
			}
			started = true
		case f := <-results:
			res.LogBytes += f.bytes
			pending--
			finished++
			done[f.index] = true
			if f.err != nil {
				errs[f.index] = f.err.Error()
				if res.Stopped == "" {
					stop(fmt.Sprintf("agent %d failed: %v", f.index, f.err), true)
				}
				continue
			}
			res.Finals = append(res.Finals, f.final)
			if f.final.Interrupted && res.Stopped == "" {
				stop(fmt.Sprintf("agent %d was stopped before the end of its schedule (its pod was deleted or evicted)", f.index), true)
			}
		case <-ctxDone:
			ctxDone = nil
			if !started {
				return nil, ctx.Err()
			}
			stop(stopCause(ctx), false)
		case <-deadline.C:
			stop(fmt.Sprintf("not every agent wrote its final record by %s, the end of the schedule plus %v", end.Add(15*time.Second).Format("15:04:05"), r.c.Grace+15*time.Second), true)
		case <-stopWait:
			stopFollowing()
			stopWait = nil
		}
	}
	for i := range n {
		if !done[i] || errs[i] != "" {
			why := errs[i]
			if why == "" {
				why = "no final record"
			}
			res.Missing[i] = why
		}
	}
	sort.Slice(res.Finals, func(a, b int) bool { return res.Finals[a].Agent < res.Finals[b].Agent })
	return res, nil
}

// stopCause is why ctx ended, in words.
func stopCause(ctx context.Context) string {
	if c := context.Cause(ctx); c != nil && !errors.Is(c, context.Canceled) {
		return c.Error()
	}
	return "interrupted"
}
