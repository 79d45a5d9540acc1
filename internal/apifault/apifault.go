// Package apifault puts a fault-injecting HTTPS reverse proxy on loopback in
// front of a real Kubernetes API server, so that tests can show what rolltest
// does when the API misbehaves: it goes dark (as during an API server
// restart: new connections refused, open ones — long watches included —
// cut), answers some requests with a server error or hangs them, or
// throttles them with 429 and Retry-After (API priority and fairness).
//
// The proxy authenticates upstream with the admin kubeconfig's credentials
// (client-go's own transport), serves its own self-signed certificate on
// 127.0.0.1 and writes a kubeconfig for the client under test that trusts
// it and carries no credentials of its own.
package apifault

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strconv"
	"sync"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Proxy is a running fault-injecting proxy. Its methods are safe for
// concurrent use.
type Proxy struct {
	addr  string // 127.0.0.1:port, kept across dark spans
	caPEM []byte
	srv   *http.Server
	done  chan struct{} // closed by Close: releases hung requests

	mu    sync.Mutex
	ln    net.Listener // nil while dark or closed
	conns map[net.Conn]struct{}
	rules []*Rule
	dark  bool
	shut  bool
	serve sync.WaitGroup
}

// Rule answers up to N requests that match Method (empty: any) and Path
// with a fault. Hits says how many it has answered.
type Rule struct {
	method     string
	path       *regexp.Regexp
	left       int // requests still to answer; <0: every matching one
	status     int // 0: hang until the client gives up
	retryAfter int // seconds, for 429
	hits       int
}

// Start starts a proxy in front of the API server of the admin kubeconfig
// at path, listening on 127.0.0.1 on a free port.
func Start(adminKubeconfig string) (*Proxy, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", adminKubeconfig)
	if err != nil {
		return nil, fmt.Errorf("apifault: load %s: %w", adminKubeconfig, err)
	}
	return StartConfig(cfg)
}

// StartConfig starts a proxy in front of the API server cfg reaches, with
// cfg's TLS settings and credentials.
func StartConfig(cfg *rest.Config) (*Proxy, error) {
	upstream, err := url.Parse(cfg.Host)
	if err != nil || upstream.Host == "" {
		return nil, fmt.Errorf("apifault: API server address %q: not a URL", cfg.Host)
	}
	rt, err := rest.TransportFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("apifault: upstream transport: %w", err)
	}
	cert, caPEM, err := selfSigned()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("apifault: listen: %w", err)
	}
	p := &Proxy{addr: ln.Addr().String(), caPEM: caPEM, done: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(upstream)
			// The client under test has no credentials: the upstream
			// transport adds the admin's.
			r.Out.Header.Del("Authorization")
		},
		Transport: rt,
		// Watches stream: every event must reach the client at once.
		FlushInterval: -1,
		ErrorLog:      nil,
	}
	p.srv = &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { p.handle(w, r, rp) }),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
		ConnState:         p.connState,
	}
	p.mu.Lock()
	p.startServing(ln)
	p.mu.Unlock()
	return p, nil
}

// startServing serves on ln; p.mu is held.
func (p *Proxy) startServing(ln net.Listener) {
	p.ln = ln
	p.serve.Add(1)
	go func() {
		defer p.serve.Done()
		// It returns when ln is closed (dark) or the server is.
		_ = p.srv.ServeTLS(ln, "", "")
	}()
}

// connState tracks open connections so that GoDark can cut them; one
// accepted in the instant the proxy went dark is cut at once.
func (p *Proxy) connState(c net.Conn, s http.ConnState) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch s {
	case http.StateNew:
		if p.dark || p.shut {
			_ = c.Close()
			return
		}
		p.conns[c] = struct{}{}
	case http.StateClosed, http.StateHijacked:
		delete(p.conns, c)
	}
}

// URL is the proxy's address, https://127.0.0.1:PORT.
func (p *Proxy) URL() string { return "https://" + p.addr }

// CAData is the PEM certificate a client must trust to reach the proxy.
func (p *Proxy) CAData() []byte { return append([]byte(nil), p.caPEM...) }

// RESTConfig is a client configuration for the proxy, without credentials.
func (p *Proxy) RESTConfig() *rest.Config {
	return &rest.Config{Host: p.URL(), TLSClientConfig: rest.TLSClientConfig{CAData: p.CAData()}}
}

// WriteKubeconfig writes a kubeconfig at path whose only context reaches
// the proxy with namespace ns.
func (p *Proxy) WriteKubeconfig(path, ns string) error {
	c := clientcmdapi.NewConfig()
	c.Clusters["apifault"] = &clientcmdapi.Cluster{Server: p.URL(), CertificateAuthorityData: p.CAData()}
	c.AuthInfos["apifault"] = &clientcmdapi.AuthInfo{}
	c.Contexts["apifault"] = &clientcmdapi.Context{Cluster: "apifault", AuthInfo: "apifault", Namespace: ns}
	c.CurrentContext = "apifault"
	if err := clientcmd.WriteToFile(*c, path); err != nil {
		return fmt.Errorf("apifault: write kubeconfig: %w", err)
	}
	return nil
}

// GoDark makes the API unreachable until Restore: the listening socket is
// closed, so new connections are refused, and every open connection is
// cut, long watches included — what a client sees of an API server restart.
func (p *Proxy) GoDark() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dark || p.shut {
		return
	}
	p.dark = true
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		_ = c.Close()
		delete(p.conns, c)
	}
}

// Restore ends a dark span: the proxy listens again on the same address.
func (p *Proxy) Restore() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.dark || p.shut {
		return nil
	}
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		return fmt.Errorf("apifault: listen again on %s: %w", p.addr, err)
	}
	p.dark = false
	p.startServing(ln)
	return nil
}

// Fail answers the next n requests matching method (empty: any) and path
// with status and a Kubernetes Status body; n < 0 means every one.
func (p *Proxy) Fail(method, path string, n, status int) *Rule {
	return p.add(&Rule{method: method, path: regexp.MustCompile(path), left: n, status: status})
}

// Hang holds the next n matching requests, unanswered, until their client
// gives up (or the proxy closes).
func (p *Proxy) Hang(method, path string, n int) *Rule {
	return p.add(&Rule{method: method, path: regexp.MustCompile(path), left: n})
}

// Throttle answers the next n matching requests with 429 Too Many Requests
// and Retry-After: retryAfter seconds, as API priority and fairness does.
func (p *Proxy) Throttle(method, path string, n, retryAfter int) *Rule {
	return p.add(&Rule{method: method, path: regexp.MustCompile(path), left: n, status: http.StatusTooManyRequests, retryAfter: retryAfter})
}

func (p *Proxy) add(r *Rule) *Rule {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = append(p.rules, r)
	return r
}

// Hits says how many requests r has answered with its fault.
func (p *Proxy) Hits(r *Rule) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return r.hits
}

// Clear removes every rule.
func (p *Proxy) Clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = nil
}

// match returns the first rule with requests left that matches r, and
// counts the hit.
func (p *Proxy) match(r *http.Request) *Rule {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, x := range p.rules {
		if x.left == 0 || (x.method != "" && x.method != r.Method) || !x.path.MatchString(r.URL.Path) {
			continue
		}
		if x.left > 0 {
			x.left--
		}
		x.hits++
		copied := *x
		return &copied
	}
	return nil
}

func (p *Proxy) handle(w http.ResponseWriter, r *http.Request, next http.Handler) {
	x := p.match(r)
	if x == nil {
		next.ServeHTTP(w, r)
		return
	}
	if x.status == 0 {
		select {
		case <-r.Context().Done():
		case <-p.done:
		}
		return
	}
	if x.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(x.retryAfter))
	}
	// The body is the Status the API server would send, so that
	// client-go's errors carry the code, reason and message.
	reason := map[int]string{
		http.StatusForbidden:           "Forbidden",
		http.StatusNotFound:            "NotFound",
		http.StatusTooManyRequests:     "TooManyRequests",
		http.StatusInternalServerError: "InternalError",
		http.StatusServiceUnavailable:  "ServiceUnavailable",
		http.StatusGatewayTimeout:      "Timeout",
	}[x.status]
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(x.status)
	fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"apifault: injected %d","reason":%q,"code":%d}`,
		x.status, reason, x.status)
}

// Close stops the proxy, cuts every connection and releases hung requests.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.shut {
		p.mu.Unlock()
		return nil
	}
	p.shut = true
	close(p.done)
	p.mu.Unlock()
	err := p.srv.Close()
	p.serve.Wait()
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("apifault: close: %w", err)
	}
	return nil
}

// selfSigned makes the proxy's certificate for 127.0.0.1, its own CA.
func selfSigned() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("apifault: key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "apifault"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("apifault: certificate: %w", err)
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, caPEM, nil
}
