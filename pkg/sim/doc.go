// Package sim is a local stand-in for a Kubernetes Deployment behind a
// Service, for `rolltest demo` and for tests of the whole pipeline: it
// runs testapp replicas in-process on loopback ports, puts an L4 proxy in
// front of them, and rolls them with the Deployment controller's algorithm
// while the real load engine loads the proxy. Its Driver emits the same
// timeline as the Kubernetes driver, so the same report comes out.
//
//	c, err := sim.Start(ctx, cfg)      // replicas Ready and routed to
//	defer c.Close()
//	target := c.URL("/common/healthy") // load this
//	status, err := c.Driver().Roll(ctx)
//
// # What is modelled
//
//   - Pods: each one a testapp app.Server with its own listener on
//     127.0.0.1:0, POD_ID = its name (testapp-<template-hash>-<5 chars>),
//     POD_IP = a 10.244.0.x label that is never dialled, APP_VERSION from
//     its template. The process starts StartDelay after the pod is created
//     (refusing until then, since there is no listener) and the app may
//     start slowly on top of that (App.StartupDelay, 503 "starting").
//   - The readiness probe: the kubelet's HTTP GET of /common/healthy with
//     "checker: readinessProbe", on a new connection to the pod's own port,
//     with initial delay, period, timeout and both thresholds. Without a
//     probe a pod is Ready once its process listens.
//   - The Service: a proxy that picks a ready endpoint at random per
//     connection, like kube-proxy's iptables mode, and then copies bytes.
//     A keep-alive connection therefore stays on one pod for its whole
//     life — why one of several replicas gets all of a client's requests — and removing an endpoint does not cut
//     the connections already made (conntrack). A backend reset is passed
//     on as a reset, a clean close as a clean close.
//   - Endpoint propagation: a readiness change or a deletion reaches the
//     Service EndpointDelay later (EndpointSlice controller plus kube-proxy
//     sync), in order, racing the pod's termination.
//   - Termination: on deletion, in parallel: the endpoint removal; the
//     preStop hook (optionally a GET of the app's /common/preStop, then
//     sleep PreStopDelay), then SIGTERM (the app drains, or
//     exits at once with App.ExitOnSIGTERM); and SIGKILL at
//     TerminationGracePeriod after the deletion — the listener and every
//     accepted connection closed with RST.
//   - The Deployment controller's rolling update (maxSurge rounded up,
//     maxUnavailable rounded down, the new ReplicaSet scaled up within the
//     surge, old ones scaled down while enough pods stay available,
//     unhealthy old pods first) and the ReplicaSet controller (pods being
//     deleted do not count; not-ready and younger pods are deleted first).
//   - kubectl's completion rule for rollout_complete (updated and
//     available replicas at the desired count, no old replica left — pods
//     being deleted do not count), and old_pods_gone when the last old pod
//     is deleted, i.e. its process has stopped.
//
// # What is not modelled
//
// Real iptables, conntrack or IPVS timing and their per-node skew (one
// proxy, one EndpointDelay, applied exactly); kube-proxy's fallback to
// terminating endpoints when no ready one is left; "connection refused"
// from a REJECT rule or a closed pod port, which the user-space proxy can
// only approximate by accepting and resetting (clients see a reset, not a
// refusal); a deleted pod's IP becoming unreachable (timeouts) rather than
// refusing; kubelet probe jitter and the probe worker's start-up offset;
// liveness and startup probes, container restarts and CrashLoopBackOff;
// the 2 s grace extension for a preStop hook still running at the deadline;
// network latency, packet loss, CPU contention and memory limits; DNS, TLS,
// Ingress, NodePort and LoadBalancer hops; multiple nodes, scheduling and
// image pulls; readiness gates, minReadySeconds, PodDisruptionBudgets,
// topology-aware routing and session affinity; API server and watch
// latency; a progress deadline that restarts on progress (here it runs
// from the trigger); more than one rollout at a time.
//
// # Determinism
//
// Given Config.Seed, pod names and each connection's choice of endpoint
// are the same from run to run, and events are emitted in the order of the
// state changes. When things happen still depends on the machine, so tests
// assert counts, causes and orders, not timings.
package sim
