package main

import (
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"k8s.io/client-go/discovery"
)

// TestKubeconfigExecPlugin: a kubeconfig whose user runs an exec
// credential plugin (as EKS, GKE and AKS write them) works as in kubectl.
// The plugin is a script printing an ExecCredential; a loopback TLS server
// stands in for the API server and checks the token arrives, through the
// configuration the CLI builds (kubeCluster) and a real client-go request.
func TestKubeconfigExecPlugin(t *testing.T) {
	const token = "exec-token-Jq47"
	var authed, calls atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Unauthorized","code":401}`, http.StatusUnauthorized)
			return
		}
		authed.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"major":"1","minor":"33","gitVersion":"v1.33.0-fake"}`)
	}))
	defer srv.Close()
	dir := t.TempDir()
	for _, tc := range []struct {
		name, plugin string
		wantErr      bool
	}{
		{"token", `printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"` + token + `"}}'`, false},
		{"wrong token", `printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"nope"}}'`, true},
		{"plugin fails", `exit 1`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			script := filepath.Join(dir, tc.name+".sh")
			if err := os.WriteFile(script, []byte("#!/bin/sh\n"+tc.plugin+"\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			ca := base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
			kubeconfig := writeFile(t, filepath.Join(dir, tc.name+".yaml"), fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: %q, certificate-authority-data: %s}
users:
- name: u
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: %q
      interactiveMode: Never
contexts:
- name: x
  context: {cluster: c, user: u, namespace: shop}
current-context: x
`, srv.URL, ca, script))
			cfg, ns, err := kubeCluster(&rolloutFlags{kubeconfig: kubeconfig})
			if err != nil || ns != "shop" {
				t.Fatalf("kubeCluster: %v, namespace %q", err, ns)
			}
			dc, err := discovery.NewDiscoveryClientForConfig(cfg)
			if err != nil {
				t.Fatal(err)
			}
			before := authed.Load()
			v, err := dc.ServerVersion()
			if tc.wantErr {
				if err == nil || authed.Load() != before {
					t.Fatalf("ServerVersion: %v, %v; want an error and no authorized request", v, err)
				}
				return
			}
			if err != nil || v.GitVersion != "v1.33.0-fake" || authed.Load() != before+1 {
				t.Fatalf("ServerVersion: %v, %v (%d authorized of %d)", v, err, authed.Load(), calls.Load())
			}
		})
	}
}
