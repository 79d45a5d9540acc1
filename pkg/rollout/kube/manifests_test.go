package kube

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/rolltest/rolltest/internal/clustertest"
)

// TestWorkloadManifests pins what makes the StatefulSet and DaemonSet
// manifests safe or unsafe, so that nobody changes it by accident: the e2e
// tests' verdicts depend on it.
func TestWorkloadManifests(t *testing.T) {
	type pinned struct {
		rel            string
		name           string
		nodePort       int32
		podID          string // POD_ID's field path
		safe           bool   // readiness probe, preStop, drain within the grace period
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
			if c.ReadinessProbe != nil || c.Lifecycle != nil || len(c.Args) != 1 || c.Args[0] != "--exit-on-sigterm" || grace == nil || *grace != 1 {
				t.Errorf("unsafe manifest: want no readiness probe, no preStop, --exit-on-sigterm alone, grace 1 s; got %+v grace %v", c, grace)
			}
		})
	}
}
