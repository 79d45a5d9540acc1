// Package kube is the rollout.Driver for Kubernetes: it starts the rolling
// update of a Deployment, StatefulSet or DaemonSet through the API the way
// kubectl does (`kubectl rollout restart`, `kubectl set image`), or waits
// for one started elsewhere, and records its timeline from informers on the
// workload, the objects that keep its pod templates (ReplicaSets or
// ControllerRevisions), its pods and its Service's EndpointSlices. It
// decides that a rollout is complete by `kubectl rollout status` rules.
//
// It owns every client-go dependency of rolltest's libraries; pkg/rollout
// holds the vendor-neutral types it produces. Each workload kind is one
// file (deployment.go, statefulset.go, daemonset.go) implementing the kind
// interface of kind.go.
package kube
