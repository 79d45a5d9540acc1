// Package clustertest connects tests to the single-node Kubernetes cluster
// that `make cluster-up` starts (test/cluster), and gives them what most
// cluster tests need: a client, a fresh namespace, the reference manifests.
//
// A test that calls Config, Clientset or Kubeconfig is skipped when the
// cluster is not running or under `go test -short`, so `go test ./...` stays
// usable anywhere. With ROLLTEST_E2E=1 (set by `make e2e` and CI) it fails
// instead: a CI run must never pass by skipping its cluster tests.
//
// NodePorts are cluster-wide: the manifest's 30080 belongs to whoever deploys
// the reference manifest as is; a test running beside others overrides the
// Service's nodePort with one of its own (the smoke test uses 30081).
package clustertest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	watchtools "k8s.io/client-go/tools/watch"
)

const (
	// ModulePath identifies the repository root: the directory whose go.mod
	// declares this module.
	ModulePath = "github.com/rolltest/rolltest"
	// KubeconfigRel is the admin kubeconfig written by `make cluster-up`,
	// relative to the repository root.
	KubeconfigRel = ".state/cluster/kubeconfig"
	// EnvE2E, when "1", turns every skip for a missing cluster into a failure.
	EnvE2E = "ROLLTEST_E2E"

	// readyzTimeout bounds the liveness check of the API server: a cluster
	// that does not answer within it counts as not running.
	readyzTimeout = 5 * time.Second
)

// E2E reports whether the run demands the cluster (ROLLTEST_E2E=1).
func E2E() bool { return os.Getenv(EnvE2E) == "1" }

// RepoRoot walks up from the working directory to the go.mod of ModulePath.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for {
		if isModuleRoot(filepath.Join(dir, "go.mod")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod of module %s above the working directory", ModulePath)
		}
		dir = parent
	}
}

func isModuleRoot(gomod string) bool {
	f, err := os.Open(gomod)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "module" {
			return strings.Trim(fields[1], `"`) == ModulePath
		}
	}
	return false
}

// Root returns the repository root or ends the test.
func Root(t testing.TB) string {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatalf("clustertest: %v", err)
	}
	return root
}

// cluster caches the outcome of the first check, so that a test binary asks
// the API server once, and every test of a run sees the same answer.
var cluster struct {
	once      sync.Once
	path      string
	config    *rest.Config
	clientset kubernetes.Interface
	reason    string // non-empty: not usable, and why
}

func connect() {
	root, err := RepoRoot()
	if err != nil {
		cluster.reason = err.Error()
		return
	}
	path := filepath.Join(root, KubeconfigRel)
	if _, err := os.Stat(path); err != nil {
		cluster.reason = fmt.Sprintf("cluster not running: run `make cluster-up` (kubeconfig %s missing)", KubeconfigRel)
		return
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		cluster.reason = fmt.Sprintf("cluster kubeconfig %s unusable: %v (re-run `make cluster-up`)", path, err)
		return
	}
	// Tests create, watch and delete in bursts; client-go's default 5 QPS
	// would throttle them for no gain on a private cluster.
	cfg.QPS, cfg.Burst = 50, 100
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		cluster.reason = fmt.Sprintf("cluster client from %s: %v", path, err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), readyzTimeout)
	defer cancel()
	body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	if err != nil {
		cluster.reason = fmt.Sprintf("cluster not running: API server %s did not answer /readyz within %v: %v "+
			"(run `make cluster-up`; logs in .state/cluster/logs/)", cfg.Host, readyzTimeout, err)
		return
	}
	if strings.TrimSpace(string(body)) != "ok" {
		cluster.reason = fmt.Sprintf("cluster not ready: %s/readyz answered %q", cfg.Host, body)
		return
	}
	cluster.path, cluster.config, cluster.clientset = path, cfg, cs
}

// require skips (or, under ROLLTEST_E2E=1, fails) the test when the cluster
// cannot be used.
func require(t testing.TB) {
	t.Helper()
	if testing.Short() && !E2E() {
		t.Skip("clustertest: cluster tests are skipped with -short")
	}
	cluster.once.Do(connect)
	if cluster.reason == "" {
		return
	}
	if E2E() {
		t.Fatalf("clustertest: %s (%s=1: a missing cluster is a failure, not a skip)", cluster.reason, EnvE2E)
	}
	t.Skipf("clustertest: %s", cluster.reason)
}

// Kubeconfig returns the path of the admin kubeconfig, for tools such as
// kubectl run by the test.
func Kubeconfig(t testing.TB) string {
	t.Helper()
	require(t)
	return cluster.path
}

// Config returns a copy of the admin REST config.
func Config(t testing.TB) *rest.Config {
	t.Helper()
	require(t)
	return rest.CopyConfig(cluster.config)
}

// Clientset returns a client with admin rights.
func Clientset(t testing.TB) kubernetes.Interface {
	t.Helper()
	require(t)
	return cluster.clientset
}

// NodePortURL is the URL of path on a NodePort of the node, through
// loopback: test traffic never leaves the machine.
func NodePortURL(port int, path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d/%s", port, strings.TrimPrefix(path, "/"))
}

// namespaceDeleteTimeout covers pods with a preStop hook and grace period
// (the reference manifest's take about 15 s) being torn down.
const namespaceDeleteTimeout = 2 * time.Minute

// Namespace creates a namespace named prefix-<random>, waits until its
// default ServiceAccount exists (pods are refused before), and deletes it at
// the end of the test, waiting until it is gone so that the next test starts
// from a quiet cluster.
func Namespace(t testing.TB, cs kubernetes.Interface, prefix string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("clustertest: create namespace %s-*: %v", prefix, err)
	}
	name := ns.Name
	t.Cleanup(func() { deleteNamespace(t, cs, name) })

	lw := cache.NewListWatchFromClient(cs.CoreV1().RESTClient(), "serviceaccounts", name,
		fields.OneTermEqualSelector("metadata.name", "default"))
	_, err = watchtools.UntilWithSync(ctx, lw, &corev1.ServiceAccount{}, nil,
		func(ev watch.Event) (bool, error) { return ev.Type != watch.Deleted, nil })
	if err != nil {
		t.Fatalf("clustertest: namespace %s: default ServiceAccount not created: %v", name, err)
	}
	return name
}

func deleteNamespace(t testing.TB, cs kubernetes.Interface, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), namespaceDeleteTimeout)
	defer cancel()
	err := cs.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return
	}
	if err != nil {
		t.Errorf("clustertest: delete namespace %s: %v", name, err)
		return
	}
	lw := cache.NewListWatchFromClient(cs.CoreV1().RESTClient(), "namespaces", metav1.NamespaceAll,
		fields.OneTermEqualSelector("metadata.name", name))
	_, err = watchtools.UntilWithSync(ctx, lw, &corev1.Namespace{},
		func(store cache.Store) (bool, error) { return len(store.List()) == 0, nil },
		func(ev watch.Event) (bool, error) { return ev.Type == watch.Deleted, nil })
	if err != nil {
		t.Errorf("clustertest: namespace %s not gone within %v: %v", name, namespaceDeleteTimeout, err)
	}
}

// Manifest decodes the multi-document YAML file at rel (relative to the
// repository root) into typed objects, in file order.
func Manifest(t testing.TB, rel string) []runtime.Object {
	t.Helper()
	path := filepath.Join(Root(t), rel)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("clustertest: read manifest: %v", err)
	}
	objs, err := DecodeManifest(data)
	if err != nil {
		t.Fatalf("clustertest: %s: %v", rel, err)
	}
	return objs
}

// DecodeManifest decodes multi-document YAML into typed objects of client-go's
// scheme; empty documents are skipped.
func DecodeManifest(data []byte) ([]runtime.Object, error) {
	reader := yaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	decoder := scheme.Codecs.UniversalDeserializer()
	var objs []runtime.Object
	for i := 0; ; i++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		obj, _, err := decoder.Decode(doc, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		objs = append(objs, obj)
	}
}

func stripComments(doc []byte) []byte {
	var out bytes.Buffer
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' {
			out.Write(line)
			out.WriteByte('\n')
		}
	}
	return out.Bytes()
}

// TestappManifest returns the Deployment and Service of the reference
// manifest manifests/testapp.yaml, ready to be changed and created.
func TestappManifest(t testing.TB) (*appsv1.Deployment, *corev1.Service) {
	t.Helper()
	var dep *appsv1.Deployment
	var svc *corev1.Service
	for _, obj := range Manifest(t, "manifests/testapp.yaml") {
		switch o := obj.(type) {
		case *appsv1.Deployment:
			dep = o
		case *corev1.Service:
			svc = o
		default:
			t.Fatalf("clustertest: manifests/testapp.yaml: unexpected %T", obj)
		}
	}
	if dep == nil || svc == nil {
		t.Fatal("clustertest: manifests/testapp.yaml must hold one Deployment and one Service")
	}
	return dep, svc
}

// ApplyRBAC creates the objects of manifests/rbac.yaml in ns and returns
// the Role.
func ApplyRBAC(t testing.TB, cs kubernetes.Interface, ns string) *rbacv1.Role {
	t.Helper()
	ctx := context.Background()
	var role *rbacv1.Role
	var created []string
	for _, obj := range Manifest(t, "manifests/rbac.yaml") {
		var err error
		switch o := obj.(type) {
		case *corev1.ServiceAccount:
			o.Namespace = ns
			_, err = cs.CoreV1().ServiceAccounts(ns).Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.Role:
			o.Namespace = ns
			role, err = cs.RbacV1().Roles(ns).Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.RoleBinding:
			o.Namespace = ns
			for i := range o.Subjects {
				o.Subjects[i].Namespace = ns
			}
			_, err = cs.RbacV1().RoleBindings(ns).Create(ctx, o, metav1.CreateOptions{})
		default:
			t.Fatalf("manifests/rbac.yaml: unexpected %T", obj)
		}
		if err != nil {
			t.Fatalf("create %T: %v", obj, err)
		}
		created = append(created, fmt.Sprintf("%T", obj))
	}
	if len(created) != 3 || role == nil {
		t.Fatalf("manifests/rbac.yaml holds %v, want ServiceAccount, Role, RoleBinding", created)
	}
	return role
}
