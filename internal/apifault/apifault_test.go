package apifault

import (
	"bufio"
	"context"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// upstream is a loopback TLS server standing in for the API server: /echo
// answers with the Authorization header it got, /stream sends one line and
// then holds the response open like a watch.
func upstream(t *testing.T) *rest.Config {
	t.Helper()
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/stream":
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, "event\n")
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		default:
			_, _ = io.WriteString(w, "auth="+r.Header.Get("Authorization"))
		}
	}))
	t.Cleanup(ts.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw})
	return &rest.Config{Host: ts.URL, BearerToken: "admin-token", TLSClientConfig: rest.TLSClientConfig{CAData: ca}}
}

// start starts a proxy in front of upstream and returns it with a client
// built, as rolltest's would be, from the kubeconfig it writes.
func start(t *testing.T) (*Proxy, *http.Client) {
	t.Helper()
	p, err := StartConfig(upstream(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := p.WriteKubeconfig(path, "ns1"); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(cfg.Host, "https://127.0.0.1:") || cfg.BearerToken != "" {
		t.Fatalf("kubeconfig: host %q token %q, want the proxy's loopback address and no credentials", cfg.Host, cfg.BearerToken)
	}
	rt, err := rest.TransportFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p, &http.Client{Transport: rt, Timeout: 5 * time.Second}
}

func get(ctx context.Context, c *http.Client, url string) (int, string, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header, err
}

func TestProxyPassesThroughWithAdminCredentials(t *testing.T) {
	p, c := start(t)
	code, body, _, err := get(context.Background(), c, p.URL()+"/echo")
	if err != nil || code != 200 || body != "auth=Bearer admin-token" {
		t.Fatalf("got %d %q %v, want 200 with the admin's token added upstream", code, body, err)
	}
}

func TestProxyFailsTheNextNMatching(t *testing.T) {
	p, c := start(t)
	r := p.Fail(http.MethodGet, "^/echo$", 2, http.StatusServiceUnavailable)
	var codes []int
	for range 3 {
		code, body, _, err := get(context.Background(), c, p.URL()+"/echo")
		if err != nil {
			t.Fatal(err)
		}
		if code == http.StatusServiceUnavailable && !strings.Contains(body, `"reason":"ServiceUnavailable"`) {
			t.Errorf("503 body %q is not a Status", body)
		}
		codes = append(codes, code)
	}
	if codes[0] != 503 || codes[1] != 503 || codes[2] != 200 || p.Hits(r) != 2 {
		t.Fatalf("codes %v hits %d, want 503 503 200 and 2 hits", codes, p.Hits(r))
	}
	// Another path is not matched.
	p.Fail(http.MethodGet, "^/other$", -1, http.StatusInternalServerError)
	if code, _, _, _ := get(context.Background(), c, p.URL()+"/echo"); code != 200 {
		t.Fatalf("/echo got %d under a rule for /other", code)
	}
}

func TestProxyThrottlesWithRetryAfter(t *testing.T) {
	p, c := start(t)
	p.Throttle("", "^/echo$", 1, 2)
	code, _, h, err := get(context.Background(), c, p.URL()+"/echo")
	if err != nil || code != http.StatusTooManyRequests || h.Get("Retry-After") != "2" {
		t.Fatalf("got %d Retry-After %q %v, want 429 with Retry-After 2", code, h.Get("Retry-After"), err)
	}
}

func TestProxyHangsUntilTheClientGivesUp(t *testing.T) {
	p, c := start(t)
	p.Hang(http.MethodGet, "^/echo$", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	_, _, _, err := get(ctx, c, p.URL()+"/echo")
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(t0) < 300*time.Millisecond {
		t.Fatalf("hung request returned %v after %v, want the client's deadline", err, time.Since(t0))
	}
	if code, _, _, err := get(context.Background(), c, p.URL()+"/echo"); err != nil || code != 200 {
		t.Fatalf("next request: %d %v, want 200", code, err)
	}
}

func TestProxyGoesDarkAndComesBack(t *testing.T) {
	p, c := start(t)
	req, err := http.NewRequest(http.MethodGet, p.URL()+"/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	stream := &http.Client{Transport: c.Transport} // no timeout: a watch
	resp, err := stream.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if line, err := br.ReadString('\n'); err != nil || line != "event\n" {
		t.Fatalf("stream: %q %v", line, err)
	}

	p.GoDark()
	// The open stream is cut, not left hanging.
	cut := make(chan error, 1)
	go func() { _, err := br.ReadString('\n'); cut <- err }()
	select {
	case err := <-cut:
		if err == nil {
			t.Fatal("the stream went on while dark")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the open stream was not cut within 5 s of going dark")
	}
	// New connections are refused.
	_, _, _, err = get(context.Background(), c, p.URL()+"/echo")
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("request while dark: %v, want connection refused", err)
	}

	if err := p.Restore(); err != nil {
		t.Fatal(err)
	}
	if code, _, _, err := get(context.Background(), c, p.URL()+"/echo"); err != nil || code != 200 {
		t.Fatalf("after Restore: %d %v, want 200 on the same address", code, err)
	}
}
