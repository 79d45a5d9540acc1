package sim

import (
	"context"
	"errors"
	"net"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rolltest/rolltest/pkg/rollout"
)

func TestStartServesEveryPod(t *testing.T) {
	cfg := fastConfig(t)
	cfg.Replicas = 3
	c := startCluster(t, cfg)

	pods := c.Pods()
	if len(pods) != 3 {
		t.Fatalf("got %d pods, want 3", len(pods))
	}
	want := map[string]string{} // POD_ID → healthy body
	for _, p := range pods {
		if !p.Ready || !p.InService || p.Terminating {
			t.Errorf("pod %+v: want ready, in service, not terminating", p)
		}
		if !strings.HasPrefix(p.Name, p.ReplicaSet+"-") || len(p.Name) != len(p.ReplicaSet)+6 {
			t.Errorf("pod name %q does not look like %s-xxxxx", p.Name, p.ReplicaSet)
		}
		if !strings.HasPrefix(p.IP, "10.244.0.") {
			t.Errorf("pod IP label %q not in 10.244.0.0/24", p.IP)
		}
		want[p.Name] = p.Name + " >> " + p.IP + " >> v1"
	}

	// A new connection per request: the Service spreads connections, so
	// every pod answers sooner or later.
	client := newClient(false)
	seen := map[string]bool{}
	ctx := context.Background()
	for range 60 {
		s := do(ctx, client, "new-conn", c.URL("/common/healthy"))
		if s.failed() {
			t.Fatalf("request failed: %v", s)
		}
		if s.body != want[s.pod()] {
			t.Fatalf("body %q is not one of the pods' payloads %v", s.body, want)
		}
		seen[s.pod()] = true
	}
	if len(seen) != 3 {
		t.Errorf("60 new connections reached %d of 3 pods: %v", len(seen), seen)
	}
}

func TestSameSeedSameNames(t *testing.T) {
	cfg := fastConfig(t)
	a := startCluster(t, cfg)
	b := startCluster(t, cfg)
	names := func(c *Cluster) (out []string) {
		for _, p := range c.Pods() {
			out = append(out, p.Name)
		}
		return out
	}
	if na, nb := names(a), names(b); !slices.Equal(na, nb) {
		t.Errorf("same seed, different pod names: %v vs %v", na, nb)
	}
}

// Pinning: over one keep-alive connection, every request goes to
// the same pod — even after that pod was deleted and left the Service —
// until the pod closes the connection; then the client lands on another.
func TestKeepAlivePinsToOnePod(t *testing.T) {
	cfg := fastConfig(t)
	cfg.Replicas = 3
	// A hook that only sleeps, so the app keeps its connections
	// open until SIGTERM.
	cfg.PreStopCallsApp = false
	cfg.PreStopDelay = 1500 * time.Millisecond
	c := startCluster(t, cfg)
	rec := observe(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	client := newClient(true)
	defer client.CloseIdleConnections()
	url := c.URL("/common/healthy")

	var pinned string
	for i := range 30 {
		s := do(ctx, client, "keep-alive", url)
		if s.failed() {
			t.Fatalf("request %d failed: %v", i, s)
		}
		if pinned == "" {
			pinned = s.pod()
		}
		if s.pod() != pinned {
			t.Fatalf("request %d went to %s, want %s: a keep-alive connection must stay on one pod", i, s.pod(), pinned)
		}
	}

	if err := c.deletePod(pinned); err != nil {
		t.Fatal(err)
	}
	// Until the client has moved on for 20 requests. The pod leaves the
	// Service (endpoint_removed) long before its preStop sleep ends and
	// the app closes the connection; only the hang guard bounds the loop.
	var onPinned []time.Time // when each request that still reached pinned started
	var switched int
	var next string
	for switched < 20 {
		if ctx.Err() != nil {
			t.Fatalf("hang guard %v: still on %s after deleting it (%d requests since)", hangGuard, pinned, len(onPinned))
		}
		s := do(ctx, client, "keep-alive", url)
		if s.err != nil {
			t.Fatalf("request after deleting %s failed: %v", pinned, s)
		}
		switch {
		case s.pod() == pinned && next != "":
			t.Fatalf("went back to %s after leaving it for %s", pinned, next)
		case s.pod() == pinned:
			onPinned = append(onPinned, s.start)
		default:
			if next == "" {
				next = s.pod()
			}
			if s.pod() != next {
				t.Fatalf("the new connection moved from %s to %s", next, s.pod())
			}
			switched++
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Judged against the endpoint_removed event, not a guess of when the
	// Service dropped the pod: requests that started after it still
	// reached the pod over its open connection.
	rm, err := rec.waitEvent(ctx, rollout.EventEndpointRemoved, pinned)
	if err != nil {
		t.Fatalf("hang guard: %v", err)
	}
	afterRemoval := 0
	for _, st := range onPinned {
		if st.After(rm.Time) {
			afterRemoval++
		}
	}
	if afterRemoval == 0 {
		t.Errorf("no request reached %s after its endpoint removal: the connection was not pinned", pinned)
	}
	t.Logf("pinned to %s; %d requests still went there after it left the Service; then %s", pinned, afterRemoval, next)
}

// checkTimeline asserts the order of the lifecycle events of one rollout.
func checkTimeline(t *testing.T, evs []rollout.Event, replicas int) {
	t.Helper()
	for _, kind := range []rollout.EventKind{rollout.EventTrigger, rollout.EventReplicaSetCreated, rollout.EventRolloutComplete, rollout.EventOldPodsGone} {
		n := 0
		for _, ev := range evs {
			if ev.Kind == kind {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d %s events, want 1", n, kind)
		}
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].Time.Before(evs[i-1].Time) {
			t.Errorf("event %d (%s) is earlier than event %d (%s)", i, evs[i].Kind, i-1, evs[i-1].Kind)
		}
	}
	trigger, _ := first(evs, rollout.EventTrigger, "")
	var oldPods, newPods []string
	for _, ev := range evs {
		if ev.Kind == rollout.EventPodTerminating && ev.Generation == rollout.GenerationOld {
			oldPods = append(oldPods, ev.Pod)
		}
		if ev.Kind == rollout.EventPodCreated && ev.Generation == rollout.GenerationNew {
			newPods = append(newPods, ev.Pod)
		}
	}
	if len(oldPods) != replicas || len(newPods) != replicas {
		t.Errorf("%d old pods terminated and %d new created, want %d each", len(oldPods), len(newPods), replicas)
	}
	for _, p := range oldPods {
		term, _ := first(evs, rollout.EventPodTerminating, p)
		rm, okR := first(evs, rollout.EventEndpointRemoved, p)
		del, okD := first(evs, rollout.EventPodDeleted, p)
		switch {
		case !okR || !okD:
			t.Errorf("old pod %s: endpoint_removed %v, pod_deleted %v", p, okR, okD)
		case !term.Time.After(trigger.Time) || !rm.Time.After(term.Time) || del.Time.Before(rm.Time):
			t.Errorf("old pod %s: want trigger < terminating < endpoint_removed ≤ deleted, got %v, %v, %v, %v",
				p, trigger.Time, term.Time, rm.Time, del.Time)
		}
		if term.PodIP == "" || term.ReplicaSet == "" || term.Version == "" || term.PodUID != p {
			t.Errorf("old pod %s: incomplete event %+v", p, term)
		}
	}
	gone, _ := first(evs, rollout.EventOldPodsGone, "")
	for _, p := range newPods {
		cr, _ := first(evs, rollout.EventPodCreated, p)
		rd, ok := first(evs, rollout.EventPodReady, p)
		if !ok || !rd.Time.After(cr.Time) {
			t.Errorf("new pod %s: want created < ready, got ready %v", p, ok)
		}
		if rd.Generation != rollout.GenerationNew {
			t.Errorf("new pod %s: generation %q", p, rd.Generation)
		}
		if _, del := first(evs, rollout.EventPodTerminating, p); del {
			t.Errorf("new pod %s was deleted", p)
		}
	}
	complete, _ := first(evs, rollout.EventRolloutComplete, "")
	if complete.Time.After(gone.Time) {
		t.Errorf("rollout_complete after old_pods_gone")
	}
}

func TestSafeRolloutDropsNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three rollouts of the safe preset, ~30 s")
	}
	for run := range 3 {
		cfg, err := Preset(PresetSafe)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Seed = uint64(run + 1)
		c := startCluster(t, cfg)
		// No bound on how long the rollout takes: a slow machine makes it
		// slower, not wrong. Roll returns once it is complete and the last
		// old pod is gone (or the progress deadline passed, which is a
		// failure); hangGuard only catches a hang.
		samples, rec, status := rollUnderLoad(t, c, 100, 15)
		took := status.OldPodsGone.Sub(status.Triggered)
		t.Logf("run %d: rollout %v: %s", run, took.Round(10*time.Millisecond), summary(samples))
		if !status.Done || status.Failed {
			t.Fatalf("run %d: status %+v", run, status)
		}
		versions := map[string]bool{}
		during := map[string]int{} // requests started while the rollout ran, per client
		for _, s := range samples {
			if s.failed() {
				t.Errorf("run %d: dropped: %v", run, s)
			} else {
				versions[s.version()] = true
			}
			if s.start.After(status.Triggered) && s.start.Before(status.OldPodsGone) {
				during[s.client]++
			}
		}
		// The load must have covered the rollout, from every client.
		for _, name := range []string{"new-conn", "keep-alive", "raw-keep-alive"} {
			if during[name] < 10 {
				t.Errorf("run %d: client %s sent %d requests during the rollout, want ≥ 10", run, name, during[name])
			}
		}
		if !versions["v1"] || !versions["v2"] {
			t.Errorf("run %d: versions seen %v, want v1 and v2", run, versions)
		}
		checkTimeline(t, rec.all(), cfg.Replicas)
		rec.done(t, c) // fails on any event after the timeline was judged
		c.Close()
	}
}

func TestUnsafeRolloutDropsOnlyAroundChangingPods(t *testing.T) {
	cfg, err := Preset(PresetUnsafe)
	if err != nil {
		t.Fatal(err)
	}
	c := startCluster(t, cfg)
	// About 2 s of load after the rollout at 100/s, counted, not slept.
	samples, rec, status := rollUnderLoad(t, c, 100, 60)
	t.Logf("rollout %v: %s", status.OldPodsGone.Sub(status.Triggered).Round(10*time.Millisecond), summary(samples))
	if !status.Done {
		t.Fatalf("status %+v", status)
	}
	evs := rec.all()

	// A failure is explained if it was in flight while some pod was
	// terminating (until its endpoint left the Service) or while a new
	// pod's app was still starting (until it could have answered). In
	// flight, not only started: on a slow machine a request can start
	// well before the window it fails in.
	type window struct {
		pod        string
		from, till time.Time
	}
	const slack = 500 * time.Millisecond
	var windows []window
	for _, ev := range evs {
		switch ev.Kind {
		case rollout.EventPodTerminating:
			rm, ok := first(evs, rollout.EventEndpointRemoved, ev.Pod)
			till := time.Now()
			if ok {
				till = rm.Time
			}
			windows = append(windows, window{ev.Pod + " (terminating)", ev.Time, till.Add(slack)})
		case rollout.EventPodCreated:
			rd, ok := first(evs, rollout.EventPodReady, ev.Pod)
			till := time.Now()
			if ok {
				till = rd.Time.Add(cfg.App.StartupDelay)
			}
			windows = append(windows, window{ev.Pod + " (not ready)", ev.Time, till.Add(slack)})
		}
	}
	failed := 0
	for _, s := range samples {
		if !s.failed() {
			continue
		}
		failed++
		explained := false
		for _, w := range windows {
			if !s.end.Before(w.from.Add(-slack)) && !s.start.After(w.till) {
				explained = true
				break
			}
		}
		if !explained {
			t.Errorf("failure while no pod was terminating or starting: %v", s)
		}
	}
	if failed == 0 {
		t.Errorf("the unsafe preset dropped nothing; it should show drops")
	}
}

func TestRestartRollout(t *testing.T) {
	cfg := fastConfig(t)
	cfg.RolloutKind = RolloutRestart
	cfg.Replicas = 3
	cfg.MaxSurge, cfg.MaxUnavailable = "0", "1"
	c := startCluster(t, cfg)
	rec := observe(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	oldRS := c.Pods()[0].ReplicaSet
	status, err := c.Driver().Roll(ctx)
	if err != nil || !status.Done {
		t.Fatalf("Roll: %+v, %v", status, err)
	}
	checkTimeline(t, rec.all(), 3)
	for _, p := range c.Pods() {
		if p.ReplicaSet == oldRS || p.Version != "v1" {
			t.Errorf("after a restart: pod %s of %s runs %s, want a new ReplicaSet running v1", p.Name, p.ReplicaSet, p.Version)
		}
	}
	// Event.Version is the template hash when the image does not change.
	for _, ev := range rec.all() {
		if ev.ReplicaSet != "" && !strings.HasSuffix(ev.ReplicaSet, "-"+ev.Version) {
			t.Errorf("event %s: version %q is not the hash of %s", ev.Kind, ev.Version, ev.ReplicaSet)
		}
	}
	// maxSurge 0: never more than 3 pods counted, so an old pod goes first.
	evs := rec.all()
	firstTerm, _ := first(evs, rollout.EventPodTerminating, "")
	firstNew, _ := first(evs, rollout.EventPodCreated, "")
	if firstNew.Time.Before(firstTerm.Time) {
		t.Errorf("maxSurge 0: a new pod was created before an old one was deleted")
	}
	// A second restart works too and rolls the pods again.
	if _, err := c.Driver().Roll(ctx); err != nil {
		t.Fatalf("second Roll: %v", err)
	}
}

func TestRollRefusals(t *testing.T) {
	cfg := fastConfig(t)
	c := startCluster(t, cfg)
	d := c.Driver()
	rec := observe(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := d.Roll(ctx)
		errc <- err
	}()
	// Wait until the first rollout is under way (its trigger event), then
	// try a second one.
	if _, err := rec.waitEvent(ctx, rollout.EventTrigger, ""); err != nil {
		t.Fatalf("hang guard: %v", err)
	}
	if _, err := d.Roll(ctx); err == nil || !strings.Contains(err.Error(), "in progress") {
		t.Errorf("second concurrent Roll: %v, want an in-progress error", err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if _, err := d.Roll(ctx); err == nil || !strings.Contains(err.Error(), "already at v2") {
		t.Errorf("image Roll to the current version: %v", err)
	}
	if !strings.Contains(d.Describe(), "simulated deployment testapp") {
		t.Errorf("Describe: %q", d.Describe())
	}
}

func TestRollHonoursContext(t *testing.T) {
	cfg := fastConfig(t)
	c := startCluster(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	status, err := c.Driver().Roll(ctx)
	if err == nil || status.Done || status.Triggered.IsZero() {
		t.Fatalf("Roll with a short context: %+v, %v", status, err)
	}
}

func TestProgressDeadline(t *testing.T) {
	cfg := fastConfig(t)
	// The new pods never pass the probe within the deadline.
	cfg.App.StartupDelay = 0
	c := startCluster(t, cfg)
	c.cfg.App.StartupDelay = time.Hour
	c.cfg.ProgressDeadline = 500 * time.Millisecond
	rec := observe(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	status, err := c.Driver().Roll(ctx)
	if err != nil || !status.Failed || status.Done || !strings.Contains(status.Reason, "progress deadline") {
		t.Fatalf("Roll: %+v, %v", status, err)
	}
	if rec.count(rollout.EventRolloutFailed) != 1 {
		t.Errorf("want one rollout_failed event, got %v", rec.all())
	}
	// The old pods keep serving: maxUnavailable 0.
	if s := do(ctx, newClient(false), "x", c.URL("/common/healthy")); s.failed() || s.version() != "v1" {
		t.Errorf("after a stuck rollout: %v", s)
	}
}

func TestCloseReleasesEverything(t *testing.T) {
	before := goroutines()
	cfg := fastConfig(t)
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	c, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	rec := observe(t, c)
	// Leave a keep-alive connection open through the proxy and start a
	// rollout, so that Close has to cut connections and terminations.
	client := newClient(true)
	if s := do(ctx, client, "k", c.URL("/common/healthy")); s.failed() {
		t.Fatal(s)
	}
	rolled := make(chan error, 1)
	go func() {
		_, err := c.Driver().Roll(ctx)
		rolled <- err
	}()
	// Under way means an old pod in its termination (its preStop sleep)
	// and a new one running: not a guess of how long that takes.
	if err := rec.waitFor(ctx, "an old pod terminating", func(evs []rollout.Event) bool {
		ev, ok := first(evs, rollout.EventPodTerminating, "")
		return ok && ev.Generation == rollout.GenerationOld
	}); err != nil {
		t.Fatalf("hang guard: %v", err)
	}
	addrs := []string{c.Addr()}
	for _, p := range c.Pods() {
		if p.Addr != "" {
			addrs = append(addrs, p.Addr)
		}
	}
	// Close waits for every goroutine it started; it reports an error if
	// they do not stop within its own bound.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	// The Roll in progress returns, with an error.
	select {
	case err := <-rolled:
		if err == nil {
			t.Errorf("the Roll in progress at Close returned no error")
		}
	case <-ctx.Done():
		t.Fatalf("hang guard %v: the Roll in progress at Close never returned", hangGuard)
	}
	client.CloseIdleConnections()
	// Every listener is closed: a dial is refused outright (not timed
	// out, not accepted).
	for _, a := range addrs {
		conn, err := net.DialTimeout("tcp", a, hangGuard)
		switch {
		case err == nil:
			conn.Close()
			t.Errorf("%s still accepts after Close", a)
		case !errors.Is(err, syscall.ECONNREFUSED):
			t.Errorf("%s after Close: %v, want connection refused", a, err)
		}
	}
	if _, err := c.Driver().Roll(ctx); err == nil {
		t.Errorf("Roll after Close succeeded")
	}
	// Every goroutine that started during the test ends: the cluster's,
	// the pods' apps and their connections, the proxy's pipes, the
	// client's connection. A goroutine has no exit event to wait on, so
	// this checks the condition until it holds; only the guard ends it,
	// with the stacks of the goroutines still there.
	rec.done(t, c)
	if left := waitGoroutinesGone(before, hangGuard); len(left) > 0 {
		t.Errorf("%d goroutines started during the test still run %v after Close:\n%s", len(left), hangGuard, strings.Join(left, "\n\n"))
	}
}

// goroutines returns the stack of every goroutine, by goroutine id.
func goroutines() map[string]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := map[string]string{}
	for _, g := range strings.Split(string(buf), "\n\n") {
		head, _, _ := strings.Cut(g, "\n")
		if f := strings.Fields(head); len(f) >= 2 && f[0] == "goroutine" {
			out[f[1]] = g
		}
	}
	return out
}

// waitGoroutinesGone waits until no goroutine exists that is not in
// before, and returns the stacks of those left when guard expires.
func waitGoroutinesGone(before map[string]string, guard time.Duration) []string {
	deadline := time.Now().Add(guard)
	for {
		var left []string
		for id, stack := range goroutines() {
			if _, ok := before[id]; !ok {
				left = append(left, stack)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestStartHonoursContext(t *testing.T) {
	cfg := fastConfig(t)
	cfg.StartDelay = time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	type started struct {
		c   *Cluster
		err error
	}
	done := make(chan started, 1)
	go func() {
		c, err := Start(ctx, cfg)
		done <- started{c, err}
	}()
	// The pods would start in an hour: returning at all proves Start
	// gave up on its context. The guard only turns a hang into a failure.
	guard := time.NewTimer(hangGuard)
	defer guard.Stop()
	select {
	case r := <-done:
		if r.err == nil {
			r.c.Close()
			t.Fatal("Start succeeded with pods that never start")
		}
		if !errors.Is(r.err, context.DeadlineExceeded) {
			t.Errorf("Start: %v, want the context's deadline error", r.err)
		}
		t.Log(r.err)
	case <-guard.C:
		t.Fatalf("hang guard %v: Start did not return after its context ended", hangGuard)
	}
}

// Why the app needs a drain window: with a preStop sleep alone the app
// learns of its end only at SIGTERM; if it then closes its idle keep-alive
// connections at once, it does so under a client that may be writing its
// next request — which a client that neither retries nor checks for a
// close first (this rawClient) loses. Either the preStop hook tells the app
// to drain, or the app keeps answering with Connection: close for a moment
// after SIGTERM (the safe preset's way, testapp's default): then every
// connection ends after a response.
func TestDrainWindowSavesIdleKeepAlive(t *testing.T) {
	for _, tc := range []struct {
		call     bool
		window   time.Duration
		wantLoss bool
	}{
		{call: false, window: 0, wantLoss: true},
		{call: true, window: 0, wantLoss: false},
		{call: false, window: 300 * time.Millisecond, wantLoss: false},
	} {
		call := tc.call
		cfg := fastConfig(t)
		cfg.PreStopCallsApp = call
		cfg.App.ShutdownDelay = tc.window
		c := startCluster(t, cfg)
		rec := observe(t, c)
		raw := &rawClient{addr: c.Addr()}
		s0 := raw.do("raw", "/common/healthy")
		if s0.failed() {
			t.Fatal(s0)
		}
		pod := s0.pod()
		if err := c.deletePod(pod); err != nil {
			t.Fatal(err)
		}
		// Keep the client busy through the pod's whole termination: until
		// its pod_deleted event (its app has exited, every close it made is
		// behind us), then a few more requests. Only the guard bounds it.
		ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
		var failed []sample
		for extra := 0; extra < 5; {
			if ctx.Err() != nil {
				t.Fatalf("hang guard %v: pod %s never deleted", hangGuard, pod)
			}
			if s := raw.do("raw", "/common/healthy"); s.failed() {
				failed = append(failed, s)
			}
			if _, gone := first(rec.all(), rollout.EventPodDeleted, pod); gone {
				extra++
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		raw.close()
		switch {
		case !tc.wantLoss && len(failed) > 0:
			t.Errorf("preStop calls the app: %v, drain window %v: %d requests lost, want 0: %v", call, tc.window, len(failed), failed)
		case tc.wantLoss && len(failed) == 0:
			t.Errorf("preStop only sleeps, no drain window: no request lost; expected the idle close at SIGTERM to cost one")
		}
		t.Logf("preStop calls the app: %v, drain window %v; lost %d", call, tc.window, len(failed))
		rec.done(t, c)
		c.Close()
	}
}
