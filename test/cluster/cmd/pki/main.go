// Command pki writes the certificates, keys and kubeconfigs of the test
// cluster. Doing this in Go (instead of the recipe's openssl + kubectl
// script) keeps the harness free of another host tool and makes the output
// reproducible in layout.
//
// It is idempotent: when the CA exists and stays valid for at least a day,
// nothing is rewritten, so a restarted cluster keeps working kubeconfigs.
package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"log"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// validity is long enough for a machine kept across several sessions and
// short enough that a stray copy of the CA key is worthless soon.
const validity = 30 * 24 * time.Hour

type opts struct {
	dir        string
	kubeconfig string
	node       string
	nodeIP     net.IP
	serviceIP  net.IP
	server     string
}

func main() {
	var o opts
	var nodeIP, serviceIP string
	flag.StringVar(&o.dir, "dir", "", "output directory for keys, certificates and component kubeconfigs (required)")
	flag.StringVar(&o.kubeconfig, "admin-kubeconfig", "", "path of the admin kubeconfig (required)")
	flag.StringVar(&o.node, "node", "rolltest", "node name; the kubelet's client certificate is system:node:<node>")
	flag.StringVar(&nodeIP, "node-ip", "10.255.255.1", "node IP (API server address)")
	flag.StringVar(&serviceIP, "service-ip", "10.96.0.1", "first IP of the service CIDR (kubernetes.default)")
	flag.StringVar(&o.server, "server", "https://10.255.255.1:6443", "API server URL written into kubeconfigs")
	flag.Parse()
	if o.dir == "" || o.kubeconfig == "" {
		log.Fatal("pki: -dir and -admin-kubeconfig are required")
	}
	o.nodeIP, o.serviceIP = net.ParseIP(nodeIP), net.ParseIP(serviceIP)
	if o.nodeIP == nil || o.serviceIP == nil {
		log.Fatalf("pki: bad -node-ip %q or -service-ip %q", nodeIP, serviceIP)
	}
	fresh, err := caStillValid(filepath.Join(o.dir, "ca.crt"), o.kubeconfig)
	if err != nil {
		log.Fatalf("pki: %v", err)
	}
	if fresh {
		fmt.Println("pki: existing CA still valid, keeping certificates")
		return
	}
	if err := generate(o); err != nil {
		log.Fatalf("pki: %v", err)
	}
	fmt.Printf("pki: wrote certificates to %s and admin kubeconfig %s\n", o.dir, o.kubeconfig)
}

func caStillValid(caPath, kubeconfig string) (bool, error) {
	if _, err := os.Stat(kubeconfig); err != nil {
		return false, nil
	}
	data, err := os.ReadFile(caPath)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read CA: %w", err)
	}
	b, _ := pem.Decode(data)
	if b == nil {
		return false, nil
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return false, nil
	}
	return time.Until(c.NotAfter) > 24*time.Hour, nil
}

type keyPair struct {
	cert *x509.Certificate
	key  crypto.Signer
	der  []byte
}

func generate(o opts) error {
	if err := os.MkdirAll(o.dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", o.dir, err)
	}
	now := time.Now().Add(-time.Hour) // tolerate small clock differences
	ca, err := newCert(nil, &x509.Certificate{
		Subject:               pkix.Name{CommonName: "rolltest-ca"},
		NotBefore:             now,
		NotAfter:              now.Add(validity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	})
	if err != nil {
		return fmt.Errorf("CA: %w", err)
	}
	if err := writePair(o.dir, "ca", ca); err != nil {
		return err
	}

	serving, err := newCert(ca, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:   now,
		NotAfter:    now.Add(validity),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
			"kubernetes.default.svc.cluster.local"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), o.serviceIP, o.nodeIP},
	})
	if err != nil {
		return fmt.Errorf("apiserver serving cert: %w", err)
	}
	if err := writePair(o.dir, "apiserver", serving); err != nil {
		return err
	}

	clients := []struct{ file, cn, org string }{
		{"admin", "admin", "system:masters"},
		{"apiserver-kubelet-client", "kube-apiserver-kubelet-client", "system:masters"},
		{"controller-manager", "system:kube-controller-manager", ""},
		{"scheduler", "system:kube-scheduler", ""},
		{"kube-proxy", "system:kube-proxy", ""},
		{"kubelet", "system:node:" + o.node, "system:nodes"},
	}
	for _, c := range clients {
		subj := pkix.Name{CommonName: c.cn}
		if c.org != "" {
			subj.Organization = []string{c.org}
		}
		kp, err := newCert(ca, &x509.Certificate{
			Subject:     subj,
			NotBefore:   now,
			NotAfter:    now.Add(validity),
			KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		})
		if err != nil {
			return fmt.Errorf("client cert %s: %w", c.file, err)
		}
		if err := writePair(o.dir, c.file, kp); err != nil {
			return err
		}
		if c.file == "apiserver-kubelet-client" {
			continue
		}
		path := filepath.Join(o.dir, c.file+".kubeconfig")
		if c.file == "admin" {
			path = o.kubeconfig
		}
		if err := writeKubeconfig(path, o.server, c.file, ca, kp); err != nil {
			return err
		}
	}

	// Service-account tokens are signed with this key; the API server
	// verifies them with the public half.
	sa, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("service-account key: %w", err)
	}
	if err := writeKey(filepath.Join(o.dir, "sa.key"), sa); err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&sa.PublicKey)
	if err != nil {
		return fmt.Errorf("service-account public key: %w", err)
	}
	return writePEM(filepath.Join(o.dir, "sa.pub"), "PUBLIC KEY", pub, 0o644)
}

func newCert(parent *keyPair, tmpl *x509.Certificate) (*keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, fmt.Errorf("serial: %w", err)
	}
	tmpl.SerialNumber = serial
	issuer, signer := tmpl, crypto.Signer(key)
	if parent != nil {
		issuer, signer = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, key.Public(), signer)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse signed certificate: %w", err)
	}
	return &keyPair{cert: cert, key: key, der: der}, nil
}

func writePair(dir, name string, kp *keyPair) error {
	if err := writePEM(filepath.Join(dir, name+".crt"), "CERTIFICATE", kp.der, 0o644); err != nil {
		return err
	}
	return writeKey(filepath.Join(dir, name+".key"), kp.key)
}

func writeKey(path string, key crypto.Signer) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("marshal key for %s: %w", path, err)
	}
	return writePEM(path, "PRIVATE KEY", der, 0o600)
}

func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	data := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	if err := os.WriteFile(path, data, mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func writeKubeconfig(path, server, user string, ca, client *keyPair) error {
	keyDER, err := x509.MarshalPKCS8PrivateKey(client.key)
	if err != nil {
		return fmt.Errorf("marshal key for %s: %w", path, err)
	}
	b64 := func(typ string, der []byte) string {
		return base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
	}
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: rolltest
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: %s
  user:
    client-certificate-data: %s
    client-key-data: %s
contexts:
- name: rolltest
  context:
    cluster: rolltest
    user: %s
current-context: rolltest
`, server, b64("CERTIFICATE", ca.der), user, b64("CERTIFICATE", client.der), b64("PRIVATE KEY", keyDER), user)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create dir for %s: %w", path, err)
	}
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
