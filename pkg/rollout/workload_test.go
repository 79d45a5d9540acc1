package rollout

import "testing"

func TestParseWorkloadRef(t *testing.T) {
	tests := []struct {
		ref      string
		kind     WorkloadKind
		name     string
		wantErr  string
		wantRef  string
		wantText string
	}{
		{ref: "deployment/web", kind: KindDeployment, name: "web"},
		{ref: "deploy/web", kind: KindDeployment, name: "web"},
		{ref: "deployments.apps/web", kind: KindDeployment, name: "web"},
		{ref: "Deployment/web", kind: KindDeployment, name: "web"},
		{ref: "statefulset/db", kind: KindStatefulSet, name: "db"},
		{ref: "sts/db", kind: KindStatefulSet, name: "db"},
		{ref: "statefulsets/db", kind: KindStatefulSet, name: "db"},
		{ref: "daemonset/agent", kind: KindDaemonSet, name: "agent"},
		{ref: "ds/agent", kind: KindDaemonSet, name: "agent"},
		{ref: "daemonsets.apps/agent", kind: KindDaemonSet, name: "agent"},
		{ref: "web", wantErr: `"web" is not KIND/NAME, e.g. deployment/web, statefulset/db or daemonset/agent`},
		{ref: "deployment/", wantErr: `"deployment/" is not KIND/NAME, e.g. deployment/web, statefulset/db or daemonset/agent`},
		{ref: "/web", wantErr: `"/web" is not KIND/NAME, e.g. deployment/web, statefulset/db or daemonset/agent`},
		{ref: "deployment/a/b", wantErr: `"deployment/a/b" is not KIND/NAME, e.g. deployment/web, statefulset/db or daemonset/agent`},
		{ref: "job/x", wantErr: `"job" in "job/x" is not a kind rolltest can roll: want deployment, statefulset or daemonset`},
		{ref: "replicaset/x", wantErr: `"replicaset" in "replicaset/x" is not a kind rolltest can roll: want deployment, statefulset or daemonset`},
	}
	for _, tt := range tests {
		kind, name, err := ParseWorkloadRef(tt.ref)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("ParseWorkloadRef(%q) error %v, want %q", tt.ref, err, tt.wantErr)
			}
			continue
		}
		if err != nil || kind != tt.kind || name != tt.name {
			t.Errorf("ParseWorkloadRef(%q) = %q, %q, %v; want %q, %q", tt.ref, kind, name, err, tt.kind, tt.name)
		}
		w := Workload{Kind: kind, Namespace: "ns", Name: name}
		if want := string(tt.kind) + "/" + tt.name; w.Ref() != want {
			t.Errorf("Ref() = %q, want %q", w.Ref(), want)
		}
		if want := string(tt.kind) + " ns/" + tt.name; w.String() != want {
			t.Errorf("String() = %q, want %q", w.String(), want)
		}
	}
}

func TestParseWorkloadKind(t *testing.T) {
	for in, want := range map[string]WorkloadKind{"sts": KindStatefulSet, "DaemonSet": KindDaemonSet, "deployments.apps": KindDeployment} {
		if got, err := ParseWorkloadKind(in); err != nil || got != want {
			t.Errorf("ParseWorkloadKind(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseWorkloadKind("cronjob"); err == nil || err.Error() != `unknown workload kind "cronjob": want deployment, statefulset or daemonset` {
		t.Errorf("ParseWorkloadKind(cronjob) error %v", err)
	}
}

func TestParseAction(t *testing.T) {
	tests := []struct {
		in      string
		want    Action
		wantErr string
	}{
		{in: "restart", want: Action{Kind: ActionRestart}},
		{in: "watch", want: Action{Kind: ActionWatch}},
		{in: "image=app=registry/app:v2", want: Action{Kind: ActionImage, Container: "app", Image: "registry/app:v2"}},
		// The image may itself hold "=" only after the container's name.
		{in: "image=app=host:5000/app@sha256:ab", want: Action{Kind: ActionImage, Container: "app", Image: "host:5000/app@sha256:ab"}},
		{in: "image=x", wantErr: "an image rollout needs CONTAINER=IMAGE, e.g. image=app=registry/app:v2"},
		{in: "image==v2", wantErr: "an image rollout needs CONTAINER=IMAGE, e.g. image=app=registry/app:v2"},
		{in: "image=app=", wantErr: "an image rollout needs CONTAINER=IMAGE, e.g. image=app=registry/app:v2"},
		{in: "image", wantErr: `"image" is not one of restart, image=CONTAINER=IMAGE, watch`},
		{in: "bounce", wantErr: `"bounce" is not one of restart, image=CONTAINER=IMAGE, watch`},
		{in: "", wantErr: `"" is not one of restart, image=CONTAINER=IMAGE, watch`},
	}
	for _, tt := range tests {
		got, err := ParseAction(tt.in)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("ParseAction(%q) error %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseAction(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
		if got.String() != tt.in {
			t.Errorf("ParseAction(%q).String() = %q", tt.in, got.String())
		}
	}
}

func TestActionValidate(t *testing.T) {
	tests := []struct {
		a       Action
		wantErr string
	}{
		{a: Action{Kind: ActionRestart}},
		{a: Action{Kind: ActionImage, Container: "c", Image: "i:v2"}},
		{a: Action{}, wantErr: "no rollout action given: want restart, image=CONTAINER=IMAGE or watch"},
		{a: Action{Kind: ActionRestart, Image: "x:v2"}, wantErr: `a restart names no container or image (got ""="x:v2")`},
		{a: Action{Kind: ActionSimulated}, wantErr: `unknown rollout action "sim": want restart, image=CONTAINER=IMAGE or watch`},
	}
	for _, tt := range tests {
		err := tt.a.Validate()
		if (err == nil) != (tt.wantErr == "") || (err != nil && err.Error() != tt.wantErr) {
			t.Errorf("%+v.Validate() = %v, want %q", tt.a, err, tt.wantErr)
		}
	}
}
