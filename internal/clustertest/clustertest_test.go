package clustertest

import (
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestRepoRoot(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("root %s has no go.mod: %v", root, err)
	}
}

func TestNodePortURL(t *testing.T) {
	for _, path := range []string{"/common/healthy", "common/healthy"} {
		if got, want := NodePortURL(30081, path), "http://127.0.0.1:30081/common/healthy"; got != want {
			t.Errorf("NodePortURL(30081, %q) = %q, want %q", path, got, want)
		}
	}
}

// TestTestappManifest pins the safety choices of the reference manifest, so
// that an edit that would reintroduce dropped requests fails without a
// cluster.
func TestTestappManifest(t *testing.T) {
	dep, svc := TestappManifest(t)

	if dep.Name != "testapp" || dep.Spec.Replicas == nil || *dep.Spec.Replicas != 2 {
		t.Errorf("deployment %q replicas %v, want testapp with 2", dep.Name, dep.Spec.Replicas)
	}
	ru := dep.Spec.Strategy.RollingUpdate
	if ru == nil || ru.MaxSurge.String() != "1" || ru.MaxUnavailable.String() != "0" {
		t.Errorf("rolling update %+v, want maxSurge 1 maxUnavailable 0", ru)
	}
	if dep.Spec.MinReadySeconds != 0 {
		t.Errorf("minReadySeconds %d, want 0", dep.Spec.MinReadySeconds)
	}
	pod := dep.Spec.Template.Spec
	if g := pod.TerminationGracePeriodSeconds; g == nil || *g != 20 {
		t.Errorf("terminationGracePeriodSeconds %v, want 20", g)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	if c.Image != "rolltest.local/testapp:v1" || c.ImagePullPolicy != corev1.PullNever {
		t.Errorf("image %s pull %s, want rolltest.local/testapp:v1 pull Never", c.Image, c.ImagePullPolicy)
	}
	if len(c.Ports) != 2 || c.Ports[0].Name != "http" || c.Ports[0].ContainerPort != 8080 ||
		c.Ports[1].Name != "admin" || c.Ports[1].ContainerPort != 8081 {
		t.Errorf("ports %+v, want 8080 named http, 8081 named admin", c.Ports)
	}
	env := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			env[e.Name] = e.ValueFrom.FieldRef.FieldPath
		}
	}
	if env["POD_ID"] != "metadata.name" || env["POD_IP"] != "status.podIP" {
		t.Errorf("downward API env %v, want POD_ID=metadata.name POD_IP=status.podIP", env)
	}

	probes := []struct {
		name             string
		p                *corev1.Probe
		period, failures int32
	}{
		{"readinessProbe", c.ReadinessProbe, 1, 1},
		{"livenessProbe", c.LivenessProbe, 10, 3},
		{"startupProbe", c.StartupProbe, 1, 30},
	}
	for _, pr := range probes {
		if pr.p == nil || pr.p.HTTPGet == nil {
			t.Errorf("%s: missing or not httpGet", pr.name)
			continue
		}
		h := pr.p.HTTPGet
		if h.Path != "/common/healthy" || h.Port != intstr.FromString("http") {
			t.Errorf("%s: %s on %s, want /common/healthy on http", pr.name, h.Path, h.Port.String())
		}
		if len(h.HTTPHeaders) != 1 || h.HTTPHeaders[0].Name != "checker" || h.HTTPHeaders[0].Value != pr.name {
			t.Errorf("%s: headers %+v, want checker: %s", pr.name, h.HTTPHeaders, pr.name)
		}
		if pr.p.PeriodSeconds != pr.period || pr.p.FailureThreshold != pr.failures {
			t.Errorf("%s: period %d threshold %d, want %d and %d",
				pr.name, pr.p.PeriodSeconds, pr.p.FailureThreshold, pr.period, pr.failures)
		}
	}
	if c.ReadinessProbe != nil && c.ReadinessProbe.SuccessThreshold != 1 {
		t.Errorf("readinessProbe successThreshold %d, want 1", c.ReadinessProbe.SuccessThreshold)
	}
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil ||
		c.Lifecycle.PreStop.Sleep.Seconds != 5 {
		t.Errorf("preStop %+v, want native sleep 5s", c.Lifecycle)
	}

	if svc.Name != "testapp" || svc.Spec.Type != corev1.ServiceTypeNodePort || len(svc.Spec.Ports) != 1 {
		t.Fatalf("service %q type %s ports %d, want testapp NodePort with one port", svc.Name, svc.Spec.Type, len(svc.Spec.Ports))
	}
	p := svc.Spec.Ports[0]
	if p.Port != 80 || p.TargetPort != intstr.FromString("http") || p.NodePort != 30080 {
		t.Errorf("service port %+v, want 80 -> http, nodePort 30080", p)
	}
	if svc.Spec.Selector["app.kubernetes.io/name"] != "testapp" {
		t.Errorf("service selector %v, want app.kubernetes.io/name=testapp", svc.Spec.Selector)
	}
}
