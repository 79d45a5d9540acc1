package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rolltest/rolltest/internal/nettest"
	"github.com/rolltest/rolltest/testapp/app"
)

// waitBound is how long a test waits for something that should happen
// promptly; generous because the machine is shared and noisy.
const waitBound = 30 * time.Second

func TestParseOptions(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(options) string // returns a complaint, or ""
		wantErr string
	}{
		{name: "defaults", check: func(o options) string {
			if o.addr != ":8080" || o.cfg.PreStopMode != app.PreStopDrain || o.cfg.DrainTimeout != app.DefaultDrainTimeout ||
				o.logLevel != slog.LevelInfo || o.cfg.ExitOnSIGTERM || o.cfg.StartupDelay != 0 || o.cfg.PodID != "" {
				return fmt.Sprintf("%+v", o)
			}
			return ""
		}},
		{name: "downward API env", env: map[string]string{"POD_ID": "uid-1", "POD_IP": "10.244.0.7", "APP_VERSION": "v3"}, check: func(o options) string {
			if o.cfg.PodID != "uid-1" || o.cfg.PodIP != "10.244.0.7" || o.cfg.Version != "v3" {
				return fmt.Sprintf("%+v", o.cfg)
			}
			return ""
		}},
		{name: "PORT", env: map[string]string{"PORT": "9000"}, check: func(o options) string {
			return cmp(o.addr, ":9000")
		}},
		{name: "ADDR beats PORT", env: map[string]string{"PORT": "9000", "ADDR": "127.0.0.1:7000"}, check: func(o options) string {
			return cmp(o.addr, "127.0.0.1:7000")
		}},
		{name: "flag beats env", args: []string{"--addr", "127.0.0.1:1", "--prestop-mode", "reject", "--drain-timeout=3s"},
			env: map[string]string{"PORT": "9000", "PRESTOP_MODE": "drain", "DRAIN_TIMEOUT": "bogus"}, check: func(o options) string {
				return cmp(fmt.Sprintf("%v|%v|%v", o.addr, o.cfg.PreStopMode, o.cfg.DrainTimeout), "127.0.0.1:1|reject|3s")
			}},
		{name: "all flags", args: []string{"--exit-on-sigterm", "--startup-delay=2s", "--listen-delay=1s", "--shutdown-delay=5s", "--log-level=debug", "--app-version=v9"},
			check: func(o options) string {
				return cmp(fmt.Sprintf("%v|%v|%v|%v|%v|%v", o.cfg.ExitOnSIGTERM, o.cfg.StartupDelay, o.cfg.ListenDelay, o.cfg.ShutdownDelay, o.logLevel, o.cfg.Version),
					"true|2s|1s|5s|DEBUG|v9")
			}},
		{name: "all env", env: map[string]string{"EXIT_ON_SIGTERM": "true", "STARTUP_DELAY": "2s", "LISTEN_DELAY": "1s", "SHUTDOWN_DELAY": "5s", "LOG_LEVEL": "debug", "PRESTOP_MODE": "reject"},
			check: func(o options) string {
				return cmp(fmt.Sprintf("%v|%v|%v|%v|%v|%v", o.cfg.ExitOnSIGTERM, o.cfg.StartupDelay, o.cfg.ListenDelay, o.cfg.ShutdownDelay, o.logLevel, o.cfg.PreStopMode),
					"true|2s|1s|5s|DEBUG|reject")
			}},
		{name: "bad mode", args: []string{"--prestop-mode=close"}, wantErr: "pre-stop mode"},
		{name: "bad env duration", env: map[string]string{"STARTUP_DELAY": "soon"}, wantErr: "STARTUP_DELAY"},
		{name: "bad env bool", env: map[string]string{"EXIT_ON_SIGTERM": "maybe"}, wantErr: "EXIT_ON_SIGTERM"},
		{name: "bad level", args: []string{"--log-level=loud"}, wantErr: "log level"},
		{name: "zero drain timeout", args: []string{"--drain-timeout=0s"}, wantErr: "drain timeout"},
		{name: "stray argument", args: []string{"serve"}, wantErr: "unexpected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseOptions(tc.args, func(k string) string { return tc.env[k] }, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("error %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if msg := tc.check(o); msg != "" {
				t.Error(msg)
			}
		})
	}
}

func cmp(got, want string) string {
	if got != want {
		return fmt.Sprintf("got %q, want %q", got, want)
	}
	return ""
}

// buildBinary builds testapp as the image does: static, no cgo.
func buildBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command:", err)
	}
	bin := filepath.Join(t.TempDir(), "testapp")
	cmd := exec.Command(goTool, "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

type proc struct {
	cmd   *exec.Cmd
	addr  string
	lines chan string // stderr, line by line
	done  chan struct{}

	mu  sync.Mutex
	log []string
}

var listeningRE = regexp.MustCompile(`msg=listening addr=(\S+)`)

// startBinary runs bin with args on a free 127.0.0.1 port and waits until it
// logs that it is listening.
func startBinary(t *testing.T, bin string, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--addr", "127.0.0.1:0", "--log-level", "debug"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, lines: make(chan string, 1000), done: make(chan struct{})}
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.log = append(p.log, sc.Text())
			p.mu.Unlock()
			select {
			case p.lines <- sc.Text():
			default: // nobody is waiting for lines this far on
			}
		}
	}()
	go func() {
		cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			p.mu.Lock()
			t.Logf("testapp stderr:\n%s", strings.Join(p.log, "\n"))
			p.mu.Unlock()
		}
	})
	m := p.waitLine(t, listeningRE)
	p.addr = m[1]
	return p
}

// waitLine waits for a stderr line matching re and returns its submatches.
func (p *proc) waitLine(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	timeout := time.After(waitBound)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				t.Fatalf("testapp exited before logging %v", re)
			}
			if m := re.FindStringSubmatch(l); m != nil {
				return m
			}
		case <-timeout:
			t.Fatalf("testapp did not log %v within %v", re, waitBound)
		}
	}
}

// waitExit waits for the process to exit and returns its exit code.
func (p *proc) waitExit(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(waitBound):
		t.Fatalf("testapp did not exit within %v", waitBound)
		return -1
	}
}

// startInFlight opens a connection and sends a request whose headers are
// complete but whose small body is withheld: the handler has run, and
// net/http keeps the request active, reading the body before it answers.
// That is an in-flight request without any sleep in the product: the body
// is sent (and the response read) by finish. It returns once the handler
// has logged the probe, i.e. the server is past reading the headers.
func startInFlight(t *testing.T, p *proc) (finish func() (*http.Response, error)) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", p.addr, waitBound)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(2 * waitBound))
	fmt.Fprintf(conn, "GET /common/healthy HTTP/1.1\r\nHost: t\r\nchecker: livenessProbe\r\nContent-Length: 4\r\n\r\n")
	p.waitLine(t, regexp.MustCompile(`msg=probe checker=livenessProbe remote=`+regexp.QuoteMeta(conn.LocalAddr().String())))
	return func() (*http.Response, error) {
		// A write error here is fine: what matters is the answer.
		io.WriteString(conn, "ping")
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			return nil, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(strings.NewReader(string(body)))
		return resp, err
	}
}

func TestBinaryGracefulSIGTERM(t *testing.T) {
	bin := buildBinary(t)
	p := startBinary(t, bin, []string{"POD_ID=pod-a", "POD_IP=10.1.2.3", "APP_VERSION=v7"}, "--drain-timeout", waitBound.String())

	c := &http.Client{Timeout: waitBound, Transport: &http.Transport{}}
	resp, err := c.Get("http://" + p.addr + "/common/healthy")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "pod-a >> 10.1.2.3 >> v7" {
		t.Fatalf("healthy: %d %q", resp.StatusCode, body)
	}
	c.CloseIdleConnections()

	finish := startInFlight(t, p)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.waitLine(t, regexp.MustCompile(`msg="closing listener`))
	nettest.WaitRefused(t, p.addr, waitBound)
	select {
	case <-p.done:
		t.Fatal("testapp exited with a request in flight")
	default:
	}

	resp, err = finish()
	if err != nil {
		t.Fatalf("in-flight request: %v", err)
	}
	body, _ = io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "pod-a >> 10.1.2.3 >> v7" {
		t.Errorf("in-flight request: %d %q, want 200 and the payload", resp.StatusCode, body)
	}
	if code := p.waitExit(t); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
}

func TestBinaryExitOnSIGTERM(t *testing.T) {
	bin := buildBinary(t)
	p := startBinary(t, bin, nil, "--exit-on-sigterm", "--drain-timeout", waitBound.String())

	finish := startInFlight(t, p)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.waitExit(t); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	if resp, err := finish(); err == nil {
		t.Errorf("in-flight request got %d, want it dropped", resp.StatusCode)
	}
}

func TestBinaryBadFlag(t *testing.T) {
	bin := buildBinary(t)
	cmd := exec.Command(bin, "--prestop-mode=close")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Errorf("exit: %v, want code 2\n%s", err, out)
	}
}

var adminRE = regexp.MustCompile(`msg="admin listening" addr=(\S+)`)

// TestBinaryCounts checks the admin port's /counts and the counts line the
// binary logs on exit, after the server has shut down.
func TestBinaryCounts(t *testing.T) {
	bin := buildBinary(t)
	p := startBinary(t, bin, []string{"POD_ID=pod-c", "APP_VERSION=v4", "ADMIN_ADDR=127.0.0.1:0"}, "--shutdown-delay", "0s")
	var admin string
	p.mu.Lock()
	for _, l := range p.log {
		if m := adminRE.FindStringSubmatch(l); m != nil {
			admin = m[1]
		}
	}
	p.mu.Unlock()
	if admin == "" {
		t.Fatal("no admin address logged")
	}

	c := &http.Client{Timeout: waitBound, Transport: &http.Transport{}}
	get := func(url string) []byte {
		t.Helper()
		resp, err := c.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
		}
		return b
	}
	get("http://" + p.addr + "/common/healthy")
	get("http://" + p.addr + "/common/time")
	var live app.Counts
	if err := json.Unmarshal(get("http://"+admin+"/counts"), &live); err != nil {
		t.Fatal(err)
	}
	// The second response may not be settled yet: the client can read it
	// before the server's ConnState hook runs.
	if live.Pod != "pod-c" || live.Version != "v4" || live.Traffic.Received != 2 || live.Traffic.Written.S2xx < 1 {
		t.Errorf("live counts %+v", live)
	}
	c.CloseIdleConnections()

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.waitExit(t); code != 0 {
		t.Errorf("exit code %d", code)
	}
	// Wait for the reader to drain stderr.
	for range p.lines {
	}
	p.mu.Lock()
	var lines []string
	for _, l := range p.log {
		if rest, ok := strings.CutPrefix(l, app.CountsLogPrefix+" "); ok {
			lines = append(lines, rest)
		}
	}
	last := p.log[len(p.log)-1]
	p.mu.Unlock()
	if len(lines) != 1 || !strings.HasPrefix(last, app.CountsLogPrefix) {
		t.Fatalf("%d counts lines, the last line %q; want one, last", len(lines), last)
	}
	var final app.Counts
	if err := json.Unmarshal([]byte(lines[0]), &final); err != nil {
		t.Fatal(err)
	}
	want := app.RequestCounts{Received: 2, Written: app.StatusCounts{S2xx: 2}}
	if final.Pod != "pod-c" || final.Traffic != want || final.Connections.Accepted != 1 ||
		final.Connections.Open != 0 || final.Connections.Closed != 1 {
		t.Errorf("final counts %+v", final)
	}
}
