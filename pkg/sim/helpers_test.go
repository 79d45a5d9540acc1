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

// recorder collects the timeline.
type recorder struct {
	mu     sync.Mutex
	events []rollout.Event
}

func (r *recorder) sink(ev rollout.Event) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
}

func (r *recorder) all() []rollout.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]rollout.Event(nil), r.events...)
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
		Timeout: 3 * time.Second,
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
		c, err := net.DialTimeout("tcp", r.addr, 2*time.Second)
		if err != nil {
			s.err, s.end = err, time.Now()
			return s
		}
		r.conn, r.br = c, bufio.NewReader(c)
	}
	s.conn = r.conn.LocalAddr().String()
	r.conn.SetDeadline(time.Now().Add(3 * time.Second))
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

// load sends at most max requests at about rate per second with send, one
// at a time, until ctx is done.
func load(ctx context.Context, send func() sample, rate float64, max int) []sample {
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	var out []sample
	for len(out) < max {
		select {
		case <-ctx.Done():
			return out
		case <-tick.C:
		}
		out = append(out, send())
	}
	return out
}

// rollUnderLoad starts three clients at rate/3 each — net/http without
// keep-alive, net/http with keep-alive, and a rawClient — rolls the
// cluster, keeps the load on for settle after the rollout, and returns
// every sample and the timeline.
func rollUnderLoad(t *testing.T, c *Cluster, rate float64, settle time.Duration) ([]sample, *recorder, rollout.Status) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	rec := &recorder{}
	obsCtx, stopObs := context.WithCancel(ctx)
	defer stopObs()
	if err := c.Driver().Observe(obsCtx, rec.sink); err != nil {
		t.Fatalf("Observe: %v", err)
	}

	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	const path = "/common/healthy"
	const maxPerClient = 3000
	newConn, keepAlive := newClient(false), newClient(true)
	defer keepAlive.CloseIdleConnections()
	raw := &rawClient{addr: c.Addr()}
	defer raw.close()
	// Requests run under ctx, not loadCtx: stopping the load must not turn
	// the requests in flight into failures.
	senders := []func() sample{
		func() sample { return do(ctx, newConn, "new-conn", c.URL(path)) },
		func() sample { return do(ctx, keepAlive, "keep-alive", c.URL(path)) },
		func() sample { return raw.do("raw-keep-alive", path) },
	}
	results := make([][]sample, len(senders))
	var wg sync.WaitGroup
	for i, send := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = load(loadCtx, send, rate/float64(len(senders)), maxPerClient)
		}()
	}
	time.Sleep(300 * time.Millisecond) // a short baseline
	status, err := c.Driver().Roll(ctx)
	if err != nil {
		t.Errorf("Roll: %v", err)
	}
	time.Sleep(settle)
	stopLoad()
	wg.Wait()
	return slices.Concat(results...), rec, status
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
