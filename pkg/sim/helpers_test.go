package sim

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rolltest/rolltest/pkg/rollout"
)

// fastConfig is the safe preset with every delay shrunk, for tests about
// mechanics rather than about the preset itself.
func fastConfig(t *testing.T) Config {
	t.Helper()
	cfg, err := Preset(PresetSafe)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ReadinessProbe.Period = 100 * time.Millisecond
	cfg.EndpointDelay = 200 * time.Millisecond
	cfg.PreStopDelay = 600 * time.Millisecond
	cfg.TerminationGracePeriod = 5 * time.Second
	cfg.StartDelay = 50 * time.Millisecond
	cfg.App.StartupDelay = 200 * time.Millisecond
	cfg.ProgressDeadline = 30 * time.Second
	return cfg
}

func startCluster(t *testing.T, cfg Config) *Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := Start(ctx, cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

// hangGuard bounds waits on conditions that hold within seconds on any
// machine: it only turns a hang into a clear failure, and no timing is
// asserted against it. Generous on purpose: the CI machine is slow and
// shared.
const hangGuard = 3 * time.Minute

// requestGuard bounds one test request. Nothing in the simulation makes a
// request hang (a dead pod or a missing endpoint resets at once), so it
// only keeps a stuck request from holding up the load; it is long enough
// that a slow machine never turns a slow answer into a failure.
const requestGuard = 30 * time.Second

// recorder collects the timeline. Once sealed (the rollout judged), any
// further event is late: it is kept apart and fails the test in done, so
// that an event the checks did not see can never pass unnoticed.
type recorder struct {
	mu      sync.Mutex
	events  []rollout.Event
	sealed  bool
	late    []rollout.Event
	changed chan struct{} // closed and replaced on every event
	stop    context.CancelFunc
	checked bool
}

// observe subscribes a recorder to c's events until done, which the
// test's cleanup calls if the test does not.
func observe(t *testing.T, c *Cluster) *recorder {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	r := &recorder{changed: make(chan struct{}), stop: stop}
	if err := c.Driver().Observe(ctx, r.sink); err != nil {
		stop()
		t.Fatalf("Observe: %v", err)
	}
	t.Cleanup(func() { r.done(t, c) })
	return r
}

func (r *recorder) sink(ev rollout.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sealed {
		r.late = append(r.late, ev)
	} else {
		r.events = append(r.events, ev)
	}
	if r.changed != nil {
		close(r.changed)
	}
	r.changed = make(chan struct{})
}

func (r *recorder) all() []rollout.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]rollout.Event(nil), r.events...)
}

// waitFor waits until cond holds for the events so far. Only ctx bounds
// it; its expiry is an error naming what was awaited.
func (r *recorder) waitFor(ctx context.Context, what string, cond func([]rollout.Event) bool) error {
	for {
		r.mu.Lock()
		ok := cond(r.events)
		ch := r.changed
		n := len(r.events)
		r.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s (%d events so far): %w", what, n, ctx.Err())
		}
	}
}

// waitEvent waits for the first event of kind for pod (any pod if "").
func (r *recorder) waitEvent(ctx context.Context, kind rollout.EventKind, pod string) (rollout.Event, error) {
	var ev rollout.Event
	err := r.waitFor(ctx, fmt.Sprintf("%s %s", kind, pod), func(evs []rollout.Event) bool {
		var ok bool
		ev, ok = first(evs, kind, pod)
		return ok
	})
	return ev, err
}

// seal delivers every event emitted so far, then closes the timeline:
// later events are late.
func (r *recorder) seal(t *testing.T, c *Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	if err := c.events.flush(ctx, c.ctx.Done()); err != nil {
		t.Fatalf("delivering the events emitted so far: %v", err)
	}
	r.mu.Lock()
	r.sealed = true
	r.mu.Unlock()
}

// done delivers every event emitted so far (unless the cluster is already
// closed), stops observing, and fails the test on any late event.
func (r *recorder) done(t *testing.T, c *Cluster) {
	t.Helper()
	if c.ctx.Err() == nil {
		ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
		err := c.events.flush(ctx, c.ctx.Done())
		cancel()
		if err != nil && c.ctx.Err() == nil {
			t.Errorf("delivering the last events: %v", err)
		}
	}
	r.stop()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.checked {
		return
	}
	r.checked = true
	for _, ev := range r.late {
		t.Errorf("late event, after the timeline was judged: %s %s %s", ev.Kind, ev.Pod, ev.Message)
	}
}

func (r *recorder) count(kind rollout.EventKind) int {
	n := 0
	for _, ev := range r.all() {
		if ev.Kind == kind {
			n++
		}
	}
	return n
}

// first returns the first event of kind for pod (any pod if pod is "").
func first(evs []rollout.Event, kind rollout.EventKind, pod string) (rollout.Event, bool) {
	for _, ev := range evs {
		if ev.Kind == kind && (pod == "" || ev.Pod == pod) {
			return ev, true
		}
	}
	return rollout.Event{}, false
}

// sample is one request of the test load.
type sample struct {
	client     string
	start, end time.Time
	code       int
	body       string
	err        error
	retried    bool // net/http re-sent it on a new connection
	conn       string
}

func (s sample) failed() bool { return s.err != nil || s.code != http.StatusOK }

// pod returns the POD_ID of a healthy body.
func (s sample) pod() string {
	id, _, _ := strings.Cut(s.body, " >> ")
	return id
}

func (s sample) version() string {
	parts := strings.Split(s.body, " >> ")
	if len(parts) != 3 {
		return ""
	}
	return parts[2]
}

func (s sample) String() string {
	if s.err != nil {
		return fmt.Sprintf("%s %s: %v", s.client, s.start.Format("15:04:05.000"), s.err)
	}
	return fmt.Sprintf("%s %s: %d %q", s.client, s.start.Format("15:04:05.000"), s.code, s.body)
}

// newClient returns a client that either opens a connection per request or
// reuses one. Environment proxies are ignored: traffic stays on loopback.
func newClient(keepAlive bool) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:               nil,
			DisableKeepAlives:   !keepAlive,
			MaxIdleConnsPerHost: 1,
			MaxConnsPerHost:     1,
		},
		Timeout: requestGuard,
	}
}

// do sends one GET and records how it went. A request net/http sent more
// than once (it retries idempotent requests whose reused connection broke)
// is marked retried: its error is hidden from the caller but not from us.
func do(ctx context.Context, client *http.Client, name, url string) sample {
	s := sample{client: name, start: time.Now()}
	conns := 0
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		conns++
		s.conn = info.Conn.LocalAddr().String()
	}}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, url, nil)
	if err != nil {
		s.err = err
		return s
	}
	resp, err := client.Do(req)
	if err != nil {
		s.err, s.end = err, time.Now()
		return s
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	s.code, s.body, s.err, s.end = resp.StatusCode, string(b), err, time.Now()
	s.retried = conns > 1
	return s
}

// rawClient owns one keep-alive connection the way rolltest's load engine
// does: it writes the next request without first looking for a FIN,
// reconnects only after an error or a Connection: close, and never
// re-sends. Every connection a server closes under it while idle costs a
// request, so it sees what net/http's retries hide.
type rawClient struct {
	addr string
	conn net.Conn
	br   *bufio.Reader
}

func (r *rawClient) close() {
	if r.conn != nil {
		r.conn.Close()
		r.conn = nil
	}
}

func (r *rawClient) do(name, path string) sample {
	s := sample{client: name, start: time.Now()}
	if r.conn == nil {
		c, err := net.DialTimeout("tcp", r.addr, requestGuard)
		if err != nil {
			s.err, s.end = err, time.Now()
			return s
		}
		r.conn, r.br = c, bufio.NewReader(c)
	}
	s.conn = r.conn.LocalAddr().String()
	r.conn.SetDeadline(time.Now().Add(requestGuard))
	_, err := io.WriteString(r.conn, "GET "+path+" HTTP/1.1\r\nHost: sim\r\n\r\n")
	var resp *http.Response
	if err == nil {
		resp, err = http.ReadResponse(r.br, nil)
	}
	if err != nil {
		s.err, s.end = err, time.Now()
		r.close()
		return s
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	s.code, s.body, s.err, s.end = resp.StatusCode, string(b), err, time.Now()
	if err != nil || resp.Close {
		r.close()
	}
	return s
}

// progress holds each client's samples as they complete, so that a test
// can wait until the load has reached a point instead of sleeping.
type progress struct {
	mu      sync.Mutex
	per     [][]sample
	changed chan struct{}
}

func newProgress(clients int) *progress {
	return &progress{per: make([][]sample, clients), changed: make(chan struct{})}
}

func (p *progress) add(i int, s sample) {
	p.mu.Lock()
	p.per[i] = append(p.per[i], s)
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

// wait waits until cond holds for every client's samples; only ctx bounds it.
func (p *progress) wait(ctx context.Context, what string, cond func([]sample) bool) error {
	for {
		p.mu.Lock()
		ok := true
		var counts []int
		for _, ss := range p.per {
			ok = ok && cond(ss)
			counts = append(counts, len(ss))
		}
		ch := p.changed
		p.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s (samples per client %v): %w", what, counts, ctx.Err())
		}
	}
}

func (p *progress) all() []sample {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Concat(p.per...)
}

// load sends requests at about rate per second with send, one at a time,
// passing each to record, until ctx is done.
func load(ctx context.Context, send func() sample, rate float64, record func(sample)) {
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		record(send())
	}
}

// rollUnderLoad starts three clients at rate/3 each — net/http without
// keep-alive, net/http with keep-alive, and a rawClient — waits until each
// has had an answer, rolls the cluster, keeps the load on until each
// client has sent after more requests that started once the rollout was
// done, and returns every sample, the sealed timeline and the status.
// Nothing here is timed: every wait is on a condition, and hangGuard only
// turns a hang into a failure.
func rollUnderLoad(t *testing.T, c *Cluster, rate float64, after int) ([]sample, *recorder, rollout.Status) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	rec := observe(t, c)

	const path = "/common/healthy"
	newConn, keepAlive := newClient(false), newClient(true)
	defer keepAlive.CloseIdleConnections()
	raw := &rawClient{addr: c.Addr()}
	// Requests run under ctx, not loadCtx: stopping the load must not turn
	// the requests in flight into failures.
	senders := []func() sample{
		func() sample { return do(ctx, newConn, "new-conn", c.URL(path)) },
		func() sample { return do(ctx, keepAlive, "keep-alive", c.URL(path)) },
		func() sample { return raw.do("raw-keep-alive", path) },
	}
	prog := newProgress(len(senders))
	var wg sync.WaitGroup
	defer raw.close()
	defer wg.Wait()
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	for i, send := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			load(loadCtx, send, rate/float64(len(senders)), func(s sample) { prog.add(i, s) })
		}()
	}
	// A baseline: every client has had an answer before the trigger.
	if err := prog.wait(ctx, "a first answer", func(ss []sample) bool { return len(ss) > 0 }); err != nil {
		t.Fatalf("hang guard: %v", err)
	}
	status, err := c.Driver().Roll(ctx)
	if err != nil {
		t.Fatalf("Roll did not end (hang guard %v): %v; status %+v; %d events: %v", hangGuard, err, status, len(rec.all()), rec.all())
	}
	ended := time.Now()
	if err := prog.wait(ctx, fmt.Sprintf("%d requests after the rollout", after), func(ss []sample) bool {
		n := 0
		for _, s := range ss {
			if s.start.After(ended) {
				n++
			}
		}
		return n >= after
	}); err != nil {
		t.Fatalf("hang guard: %v", err)
	}
	stopLoad()
	wg.Wait()
	rec.seal(t, c)
	return prog.all(), rec, status
}

// summary counts outcomes for the test log.
func summary(samples []sample) string {
	var ok, failed, retried int
	causes := map[string]int{}
	pods := map[string]int{}
	clients := map[string]int{}
	for _, s := range samples {
		if s.retried {
			retried++
		}
		if s.failed() {
			failed++
			clients[s.client]++
			switch {
			case s.err != nil:
				causes[errClass(s.err)]++
			default:
				causes[fmt.Sprintf("%d %s", s.code, s.body)]++
			}
			continue
		}
		ok++
		pods[s.pod()]++
	}
	return fmt.Sprintf("%d requests: %d ok, %d failed %v by client %v, %d retried by net/http; ok per pod %v",
		len(samples), ok, failed, causes, clients, retried, pods)
}

func errClass(err error) string {
	msg := err.Error()
	for _, k := range []string{"connection reset", "connection refused", "EOF", "timeout", "deadline"} {
		if strings.Contains(msg, k) {
			return k
		}
	}
	return msg
}
