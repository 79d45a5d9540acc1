package main

import (
	"errors"

	"k8s.io/client-go/rest"

	"github.com/rolltest/rolltest/pkg/rollout"
	"github.com/rolltest/rolltest/pkg/rollout/kube"
)

// kubeDriver builds the Kubernetes driver from the validated flags, finding
// the cluster the way kubectl does.
func kubeDriver(f *rolloutFlags) (rollout.Driver, error) {
	rest, ns, err := kubeCluster(f)
	if err != nil {
		return nil, err
	}
	w := f.target
	w.Namespace, w.Service = ns, f.service
	d, err := kube.NewDriver(kube.Config{REST: rest, Workload: w, Action: f.action, RolloutTimeout: f.timeout})
	if err != nil {
		return nil, setupError(err, f)
	}
	return d, nil
}

// kubeCluster resolves --kubeconfig, --context and -n/--namespace as
// kubectl does, without contacting the cluster: its REST configuration and
// the namespace to work in.
func kubeCluster(f *rolloutFlags) (*rest.Config, string, error) {
	cfg, err := kube.RESTConfig(f.kubeconfig, f.kubeContext)
	if err != nil {
		return nil, "", usagef("--kubeconfig", "cannot load the cluster configuration: %v", err)
	}
	ns := f.namespace
	if ns == "" {
		ns, err = kube.DefaultNamespace(f.kubeconfig, f.kubeContext)
		if err != nil {
			return nil, "", usagef("--namespace", "cannot read the default namespace from the kubeconfig: %v", err)
		}
	}
	return cfg, ns, nil
}

// setupError turns a problem the user must fix before a rollout can be
// tested into a usage error (exit 2) naming the flag that fixes it;
// anything else is a failed rollout (exit 3). f may be nil (no flags
// configured the driver).
func setupError(err error, f *rolloutFlags) error {
	var se *rollout.SetupError
	if !errors.As(err, &se) {
		return &rolloutError{err: err}
	}
	flag := map[rollout.Input]string{
		rollout.InputNamespace: "-n/--namespace",
		rollout.InputService:   "--service",
		rollout.InputAction:    "--rollout",
		rollout.InputWorkload:  "--workload",
	}[se.Input]
	if se.Input == rollout.InputWorkload && f != nil && f.workloadFlag != "" {
		flag = f.workloadFlag
	}
	if flag == "" {
		return &usageError{msg: se.Msg}
	}
	return usagef(flag, "%s", se.Msg)
}
