# shellcheck shell=bash
# shellcheck disable=SC2034 # globals set here are read by the sourcing scripts
# bench/cluster-lib.sh — what bench/agents.sh and bench/soak.sh share: the
# in-repo cluster, started when it is not healthy (and then stopped at the
# end, else left as found), a rolltest build, and manifests/testapp.yaml in
# a namespace of the run's own, deleted at the end.
#
# Sourced, never executed, after REPO, log and die are set. Provides:
#   cluster_begin DIR     root check, cluster up if needed, rolltest -> DIR/rolltest
#   testapp_deploy PREFIX NODEPORT
#                         testapp in a new namespace PREFIX-<time> (TESTAPP_NS),
#                         its Service on NODEPORT, rolled out
#   cluster_end           deletes TESTAPP_NS; stops the cluster if cluster_begin
#                         started it (for the EXIT trap; safe to call twice)

KUBECONFIG=$REPO/.state/cluster/kubeconfig
KUBECTL=$REPO/.state/cluster/bin/kubectl
export KUBECONFIG
CLUSTER_STARTED=0
TESTAPP_NS=''

cluster_begin() {
	local dir=$1
	[ "$(id -u)" = 0 ] || die "needs root (the in-repo cluster does)"
	mkdir -p "$dir"
	if ! make -s -C "$REPO" cluster-status >/dev/null 2>&1; then
		log "starting the in-repo cluster"
		CLUSTER_STARTED=1
		make -C "$REPO" cluster-up >"$dir/cluster-up.log" 2>&1 || die "cluster-up failed: see $dir/cluster-up.log"
	fi
	log "building rolltest"
	(cd "$REPO" && CGO_ENABLED=0 go build -trimpath -o "$dir/rolltest" ./cmd/rolltest)
}

testapp_deploy() {
	local prefix=$1 nodeport=$2
	TESTAPP_NS=$prefix-$(date +%s)
	log "deploying manifests/testapp.yaml into namespace $TESTAPP_NS, NodePort $nodeport"
	"$KUBECTL" create namespace "$TESTAPP_NS" >/dev/null
	sed "s/nodePort: [0-9]*/nodePort: $nodeport/" "$REPO/manifests/testapp.yaml" | "$KUBECTL" apply -n "$TESTAPP_NS" -f - >/dev/null
	"$KUBECTL" rollout status -n "$TESTAPP_NS" deployment/testapp --timeout=180s >/dev/null
}

cluster_end() {
	if [ -n "$TESTAPP_NS" ]; then
		"$KUBECTL" delete namespace "$TESTAPP_NS" --wait=true --timeout=120s >/dev/null 2>&1
		TESTAPP_NS=''
	fi
	if [ "$CLUSTER_STARTED" = 1 ]; then
		make -C "$REPO" cluster-down >/dev/null 2>&1
		CLUSTER_STARTED=0
	fi
}
