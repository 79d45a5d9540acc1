package sim

import (
	"context"
	"net"
	"runtime"
	"slices"
	"strings"
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

// The seed's puzzle: over one keep-alive connection, every request goes to
// the same pod — even after that pod was deleted and left the Service —
// until the pod closes the connection; then the client lands on another.
func TestKeepAlivePinsToOnePod(t *testing.T) {
	cfg := fastConfig(t)
	cfg.Replicas = 3
	// The seed's hook: only a sleep, so the app keeps its connections
	// open until SIGTERM.
	cfg.PreStopCallsApp = false
	cfg.PreStopDelay = 1500 * time.Millisecond
	c := startCluster(t, cfg)
	ctx := context.Background()
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
	deleted := time.Now()
	deadline := deleted.Add(10 * time.Second)
	var afterRemoval, switched int
	var next string
	for time.Now().Before(deadline) && switched < 20 {
		s := do(ctx, client, "keep-alive", url)
		if s.err != nil {
			t.Fatalf("request after deleting %s failed: %v", pinned, s)
		}
		switch {
		case s.pod() == pinned && next != "":
			t.Fatalf("went back to %s after leaving it for %s", pinned, next)
		case s.pod() == pinned:
			if s.start.Sub(deleted) > cfg.EndpointDelay+100*time.Millisecond {
				afterRemoval++ // out of the Service, still serving its connection
			}
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
	if next == "" {
		t.Fatalf("still on %s %v after deleting it", pinned, time.Since(deleted))
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
		began := time.Now()
		samples, rec, status := rollUnderLoad(t, c, 100, 500*time.Millisecond)
		took := status.OldPodsGone.Sub(status.Triggered)
		t.Logf("run %d: rollout %v: %s", run, took.Round(10*time.Millisecond), summary(samples))
		if !status.Done || status.Failed {
			t.Fatalf("run %d: status %+v", run, status)
		}
		if took > 15*time.Second {
			t.Errorf("run %d: the safe rollout of 2 replicas took %v, want < 15 s", run, took)
		}
		versions := map[string]bool{}
		for _, s := range samples {
			if s.failed() {
				t.Errorf("run %d: dropped: %v", run, s)
			} else {
				versions[s.version()] = true
			}
		}
		if len(samples) < 500 {
			t.Errorf("run %d: only %d requests in %v", run, len(samples), time.Since(began))
		}
		if !versions["v1"] || !versions["v2"] {
			t.Errorf("run %d: versions seen %v, want v1 and v2", run, versions)
		}
		checkTimeline(t, rec.all(), cfg.Replicas)
		c.Close()
	}
}

func TestUnsafeRolloutDropsOnlyAroundChangingPods(t *testing.T) {
	cfg, err := Preset(PresetUnsafe)
	if err != nil {
		t.Fatal(err)
	}
	c := startCluster(t, cfg)
	samples, rec, status := rollUnderLoad(t, c, 100, 2*time.Second)
	t.Logf("rollout %v: %s", status.OldPodsGone.Sub(status.Triggered).Round(10*time.Millisecond), summary(samples))
	if !status.Done {
		t.Fatalf("status %+v", status)
	}
	evs := rec.all()

	// A failure is explained if it started while some pod was terminating
	// (until its endpoint left the Service) or while a new pod's app was
	// still starting (until it could have answered).
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
			if !s.start.Before(w.from.Add(-slack)) && !s.start.After(w.till) {
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
	rec := &recorder{}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Driver().Observe(ctx, rec.sink); err != nil {
		t.Fatal(err)
	}
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
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := d.Roll(ctx)
		errc <- err
	}()
	// Wait until the first rollout is under way, then try a second one.
	for c.rollInProgress() == false {
		time.Sleep(5 * time.Millisecond)
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
	rec := &recorder{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c.Driver().Observe(ctx, rec.sink)
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
	before := runtime.NumGoroutine()
	cfg := fastConfig(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Leave a keep-alive connection open through the proxy and start a
	// rollout, so that Close has to cut connections and terminations.
	client := newClient(true)
	if s := do(ctx, client, "k", c.URL("/common/healthy")); s.failed() {
		t.Fatal(s)
	}
	go c.Driver().Roll(ctx)
	time.Sleep(300 * time.Millisecond)
	addrs := []string{c.Addr()}
	for _, p := range c.Pods() {
		if p.Addr != "" {
			addrs = append(addrs, p.Addr)
		}
	}
	start := time.Now()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > closeTimeout {
		t.Errorf("Close took %v", took)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	client.CloseIdleConnections()
	for _, a := range addrs {
		if conn, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			conn.Close()
			t.Errorf("%s still accepts after Close", a)
		}
	}
	if _, err := c.Driver().Roll(ctx); err == nil {
		t.Errorf("Roll after Close succeeded")
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+2 {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines after Close, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}

func TestStartHonoursContext(t *testing.T) {
	cfg := fastConfig(t)
	cfg.StartDelay = time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	c, err := Start(ctx, cfg)
	if err == nil {
		c.Close()
		t.Fatal("Start succeeded with pods that never start")
	}
	if time.Since(start) > 6*time.Second {
		t.Errorf("Start returned after %v", time.Since(start))
	}
	t.Log(err)
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
		raw := &rawClient{addr: c.Addr()}
		first := raw.do("raw", "/common/healthy")
		if first.failed() {
			t.Fatal(first)
		}
		if err := c.deletePod(first.pod()); err != nil {
			t.Fatal(err)
		}
		var failed []sample
		deadline := time.Now().Add(cfg.PreStopDelay + 2*time.Second)
		for i := 0; i < 200 && time.Now().Before(deadline); i++ {
			if s := raw.do("raw", "/common/healthy"); s.failed() {
				failed = append(failed, s)
			}
			time.Sleep(20 * time.Millisecond)
		}
		raw.close()
		switch {
		case !tc.wantLoss && len(failed) > 0:
			t.Errorf("preStop calls the app: %v, drain window %v: %d requests lost, want 0: %v", call, tc.window, len(failed), failed)
		case tc.wantLoss && len(failed) == 0:
			t.Errorf("preStop only sleeps, no drain window: no request lost; expected the idle close at SIGTERM to cost one")
		}
		t.Logf("preStop calls the app: %v, drain window %v; lost %d", call, tc.window, len(failed))
		c.Close()
	}
}
