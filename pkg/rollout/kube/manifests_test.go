package kube

import (
	"encoding/json"
	"path/filepath"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/rolltest/rolltest/internal/clustertest"
)

// TestWorkloadManifests pins what makes the StatefulSet, DaemonSet and
// gRPC Deployment manifests safe or unsafe, so that nobody changes it by
// accident: the e2e tests' verdicts depend on it.
func TestWorkloadManifests(t *testing.T) {
	type pinned struct {
		rel            string
		name           string
		nodePort       int32
		podID          string   // POD_ID's field path
		safe           bool     // readiness probe, preStop, drain within the grace period
		unsafeArgs     []string // the unsafe container's args; nil means --exit-on-sigterm alone
		check          func(t *testing.T, obj any)
		wantWorkloadOf func(any) (corev1.PodTemplateSpec, bool)
	}
	sts := func(o any) (corev1.PodTemplateSpec, bool) {
		s, ok := o.(*appsv1.StatefulSet)
		if !ok {
			return corev1.PodTemplateSpec{}, false
		}
		return s.Spec.Template, true
	}
	ds := func(o any) (corev1.PodTemplateSpec, bool) {
		d, ok := o.(*appsv1.DaemonSet)
		if !ok {
			return corev1.PodTemplateSpec{}, false
		}
		return d.Spec.Template, true
	}
	deployment := func(o any) (corev1.PodTemplateSpec, bool) {
		d, ok := o.(*appsv1.Deployment)
		if !ok {
			return corev1.PodTemplateSpec{}, false
		}
		return d.Spec.Template, true
	}
	rollingDeployment := func(t *testing.T, o any) {
		d := o.(*appsv1.Deployment)
		ru := d.Spec.Strategy.RollingUpdate
		if d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || ru == nil ||
			ru.MaxSurge == nil || ru.MaxSurge.IntValue() != 1 || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 ||
			d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
			t.Errorf("%s: want 2 replicas, RollingUpdate maxSurge 1 maxUnavailable 0; got %+v", d.Name, d.Spec)
		}
	}
	rollingStatefulSet := func(t *testing.T, o any) {
		s := o.(*appsv1.StatefulSet)
		ru := s.Spec.UpdateStrategy.RollingUpdate
		if s.Spec.UpdateStrategy.Type != appsv1.RollingUpdateStatefulSetStrategyType || ru == nil || ru.Partition == nil || *ru.Partition != 0 ||
			s.Spec.Replicas == nil || *s.Spec.Replicas != 2 || s.Spec.ServiceName != s.Name {
			t.Errorf("%s: want 2 replicas, RollingUpdate with partition 0, serviceName %s; got %+v", s.Name, s.Name, s.Spec)
		}
	}
	for _, tt := range []pinned{
		{rel: "manifests/testapp-statefulset.yaml", name: "testapp-sts", nodePort: 30091, podID: "metadata.uid", safe: true,
			wantWorkloadOf: sts, check: rollingStatefulSet},
		{rel: "manifests/testapp-statefulset-unsafe.yaml", name: "testapp-sts-unsafe", nodePort: 30093, podID: "metadata.uid",
			wantWorkloadOf: sts, check: rollingStatefulSet},
		{rel: "manifests/testapp-daemonset.yaml", name: "testapp-ds", nodePort: 30092, podID: "metadata.name", safe: true,
			wantWorkloadOf: ds, check: func(t *testing.T, o any) {
				d := o.(*appsv1.DaemonSet)
				ru := d.Spec.UpdateStrategy.RollingUpdate
				if d.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType || ru == nil ||
					ru.MaxSurge == nil || ru.MaxSurge.IntValue() != 1 || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 {
					t.Errorf("%s: want RollingUpdate maxSurge 1 maxUnavailable 0 (one node: no pod left otherwise); got %+v", d.Name, d.Spec.UpdateStrategy)
				}
				spec := d.Spec.Template.Spec
				for _, c := range spec.Containers {
					for _, p := range c.Ports {
						if p.HostPort != 0 {
							t.Errorf("%s: hostPort %d: the surge pod could not run beside the old one", d.Name, p.HostPort)
						}
					}
				}
				if spec.HostNetwork {
					t.Errorf("%s: hostNetwork: the surge pod's ports would collide with the old one's", d.Name)
				}
			}},
		{rel: "manifests/testapp-grpc.yaml", name: "testapp-grpc", nodePort: 30094, podID: "metadata.name", safe: true,
			wantWorkloadOf: deployment, check: func(t *testing.T, o any) {
				rollingDeployment(t, o)
				c := o.(*appsv1.Deployment).Spec.Template.Spec.Containers[0]
				for _, p := range []struct {
					kind    string
					probe   *corev1.Probe
					service string
				}{
					{"startup", c.StartupProbe, "startupProbe"},
					{"readiness", c.ReadinessProbe, "readinessProbe"},
					{"liveness", c.LivenessProbe, "livenessProbe"},
				} {
					checkGRPCProbe(t, p.kind, p.probe, p.service)
				}
			}},
		{rel: "manifests/testapp-grpc-unsafe.yaml", name: "testapp-grpc-unsafe", nodePort: 30095, podID: "metadata.name",
			unsafeArgs:     []string{"--exit-on-sigterm", "--startup-delay=3s"},
			wantWorkloadOf: deployment, check: func(t *testing.T, o any) {
				rollingDeployment(t, o)
				c := o.(*appsv1.Deployment).Spec.Template.Spec.Containers[0]
				// A startup probe would hold a starting pod unready,
				// hiding the missing readiness probe.
				if c.StartupProbe != nil {
					t.Errorf("unsafe manifest: a startup probe %+v, want none", c.StartupProbe)
				}
				checkGRPCProbe(t, "liveness", c.LivenessProbe, "livenessProbe")
			}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			objs := clustertest.Manifest(t, tt.rel)
			if len(objs) != 2 {
				t.Fatalf("%d objects, want a workload and a Service", len(objs))
			}
			tpl, ok := tt.wantWorkloadOf(objs[0])
			svc, ok2 := objs[1].(*corev1.Service)
			if !ok || !ok2 {
				t.Fatalf("objects %T, %T", objs[0], objs[1])
			}
			tt.check(t, objs[0])
			labels := map[string]string{"app.kubernetes.io/name": tt.name}
			if !equalJSON(tpl.Labels, labels) || !equalJSON(svc.Spec.Selector, labels) || svc.Name != tt.name {
				t.Errorf("labels %v, service %s selector %v; want %v", tpl.Labels, svc.Name, svc.Spec.Selector, labels)
			}
			if svc.Spec.Type != corev1.ServiceTypeNodePort || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].NodePort != tt.nodePort {
				t.Errorf("service %+v, want NodePort %d", svc.Spec, tt.nodePort)
			}
			if len(tpl.Spec.Containers) != 1 {
				t.Fatalf("%d containers, want the testapp alone", len(tpl.Spec.Containers))
			}
			c := tpl.Spec.Containers[0]
			if fieldEnv(c.Env, "POD_ID") != tt.podID || fieldEnv(c.Env, "POD_IP") != "status.podIP" {
				t.Errorf("POD_ID from %q, want %q", fieldEnv(c.Env, "POD_ID"), tt.podID)
			}
			grace := tpl.Spec.TerminationGracePeriodSeconds
			if tt.safe {
				if c.ReadinessProbe == nil || c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil ||
					len(c.Args) != 0 || grace == nil || *grace != 20 {
					t.Errorf("safe manifest: want readiness probe, preStop sleep, no args, grace 20 s; got %+v grace %v", c, grace)
				}
				return
			}
			args := tt.unsafeArgs
			if args == nil {
				args = []string{"--exit-on-sigterm"}
			}
			if c.ReadinessProbe != nil || c.Lifecycle != nil || !equalJSON(c.Args, args) || grace == nil || *grace != 1 {
				t.Errorf("unsafe manifest: want no readiness probe, no preStop, args %q, grace 1 s; got %+v grace %v", args, c, grace)
			}
		})
	}
}

// checkGRPCProbe: the probe is Kubernetes' native gRPC probe on testapp's
// port, naming itself in the health service, which the app answers as a
// probe of that kind (testapp/app/grpc.go).
func checkGRPCProbe(t *testing.T, kind string, p *corev1.Probe, service string) {
	t.Helper()
	if p == nil || p.GRPC == nil || p.GRPC.Port != 8080 || p.GRPC.Service == nil || *p.GRPC.Service != service {
		t.Errorf("%s probe %+v: want gRPC on port 8080 with service %q", kind, p, service)
	}
}

// TestManifestServicesDistinct: every Service in manifests/ has NodePorts
// of its own and selects pods no other Service selects, so that any of
// them can be deployed beside the others.
func TestManifestServicesDistinct(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(clustertest.Root(t), "manifests", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("manifests: %v, %d files", err, len(files))
	}
	nodePorts := map[int32]string{}
	selectors := map[string]string{}
	for _, f := range files {
		rel := filepath.Join("manifests", filepath.Base(f))
		for _, obj := range clustertest.Manifest(t, rel) {
			svc, ok := obj.(*corev1.Service)
			if !ok {
				continue
			}
			where := rel + " " + svc.Name
			for _, p := range svc.Spec.Ports {
				if p.NodePort == 0 {
					continue
				}
				if other, dup := nodePorts[p.NodePort]; dup {
					t.Errorf("NodePort %d: %s and %s", p.NodePort, other, where)
				}
				nodePorts[p.NodePort] = where
			}
			sel, err := json.Marshal(svc.Spec.Selector)
			if err != nil {
				t.Fatal(err)
			}
			if other, dup := selectors[string(sel)]; dup {
				t.Errorf("selector %s: %s and %s", sel, other, where)
			}
			selectors[string(sel)] = where
		}
	}
}
