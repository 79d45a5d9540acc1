package main

import (
	"context"
	"errors"
	"strings"

	"github.com/rolltest/rolltest/pkg/rollout"
	"github.com/rolltest/rolltest/pkg/rollout/kube"
)

type driverInfo struct {
	kind, namespace, deployment, service string
}

// kubeDriver builds the Kubernetes driver from the flags, finding the
// cluster the way kubectl does.
func kubeDriver(_ context.Context, f *rolloutFlags) (rollout.Driver, driverInfo, error) {
	info := driverInfo{deployment: f.deployment, namespace: f.namespace, service: f.service}
	rest, err := kube.RESTConfig(f.kubeconfig, f.kubeContext)
	if err != nil {
		return nil, info, usagef("--kubeconfig", "cannot load the cluster configuration: %v", err)
	}
	if info.namespace == "" {
		ns, err := kube.DefaultNamespace(f.kubeconfig, f.kubeContext)
		if err != nil {
			return nil, info, usagef("--namespace", "cannot read the default namespace from the kubeconfig: %v", err)
		}
		info.namespace = ns
	}
	cfg := kube.Config{
		REST: rest, Namespace: info.namespace, Deployment: f.deployment, Service: f.service,
		RolloutTimeout: f.timeout,
	}
	switch {
	case f.mode == "restart":
		cfg.Mode, info.kind = kube.KubeRestart, "restart"
	case f.mode == "watch":
		cfg.Mode, info.kind = kube.KubeWatch, "watch"
	case strings.HasPrefix(f.mode, "image="):
		cfg.Mode, cfg.Image, info.kind = kube.KubeImage, strings.TrimPrefix(f.mode, "image="), "image"
	}
	d, err := kube.NewDriver(cfg)
	if err != nil {
		return nil, info, setupError(err)
	}
	return d, info, nil
}

// setupError turns a problem the user must fix before a rollout can be
// tested into a usage error (exit 2); anything else is a failed rollout.
func setupError(err error) error {
	var se *kube.KubeSetupError
	if errors.As(err, &se) {
		return &usageError{msg: se.Error()}
	}
	return &rolloutError{err: err}
}
