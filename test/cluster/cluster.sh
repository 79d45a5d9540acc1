#!/usr/bin/env bash
# Single-node Kubernetes v1.34.4 for rolltest's integration and end-to-end
# tests. Adapted from the k8s recipe proved on these machines (see README.md).
#
#   cluster.sh packages     install containerd, runc, CNI plugins, iptables, conntrack, nftables, nfacct if missing
#   cluster.sh build        build Kubernetes, etcd and helper binaries (skipped when up to date)
#   cluster.sh images       rebuild the pause, testapp and rolltest images (+ import them when containerd runs)
#   cluster.sh up           start the cluster (no-op when healthy; cleans leftovers first)
#   cluster.sh down         stop everything and undo every host change (safe to repeat)
#   cluster.sh check-clean  compare the host with the snapshot taken before `up`
#   cluster.sh status       exit 0 when the cluster is healthy
#   cluster.sh e2e [pkgs]   up, ROLLTEST_E2E=1 go test, down (always), check-clean
#
# Everything lives in $REPO/.state/cluster; the admin kubeconfig is
# $REPO/.state/cluster/kubeconfig. Every wait is bounded, and a component
# that does not come up is reported with the tail of its log.

# No `set -e`: teardown must go on past every failing step; the steps of
# bring-up that matter check their own status.
set -uo pipefail
# A closed output pipe (`make cluster-down | head`) must not kill a teardown
# halfway: writes then fail, the work goes on.
trap '' PIPE

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SELF=$HERE/cluster.sh
REPO=$(cd "$HERE/../.." && pwd)
ST=$REPO/.state/cluster
BIN=$ST/bin
RUN=$ST/run
LOGS=$ST/logs
PKI=$ST/pki
IMG=$ST/images
SNAP=$ST/host-before
KUBECONFIG_FILE=$ST/kubeconfig
# The rolltest image carries this machine's CA bundle, as `make image` does.
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt

NODE=rolltest
NODE_IP=10.255.255.1
BRIDGE=rolltest-br0
POD_CIDR=10.244.0.0/24
SVC_CIDR=10.96.0.0/16
API_URL=https://$NODE_IP:6443
SOCK=$RUN/containerd/containerd.sock

K8S_BINS="kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubelet kubectl"
HELPER_BINS="etcd pki pause cri-clean"
# Stop order: clients first, then the API server and its store, the runtime last.
COMPONENTS="kube-proxy kube-scheduler kube-controller-manager kubelet kube-apiserver etcd containerd"
# Paths outside the state folder that Kubernetes, containerd or CNI may create.
HOST_PATHS="/run/containerd /run/netns /var/lib/cni /var/log/pods /var/log/containers /var/lib/kubelet
/var/lib/containerd /etc/cni /etc/kubernetes /opt/containerd /opt/cni /run/runc /run/flannel /run/mount"
# nfacct counters kube-proxy (iptables mode) creates in the kernel.
KUBE_NFACCT='^(ct_state_invalid_dropped_pkts|localhost_nps_accepted_pkts)$'
# Sysctls that may differ after a run and are not the cluster's doing.
VOLATILE_SYSCTL='^(kernel\.random\.|kernel\.ns_last_pid|kernel\.pty\.nr|kernel\.sched_|kernel\.tainted|fs\.(dentry-state|file-nr|inode-nr|inode-state|aio-nr|quota\.)|net\.netfilter\.nf_conntrack_count|net\.ipv4\.tcp_fastopen_key|net\.ipv6\.route\.gc_|vm\.stat_|kernel\.perf_event_max_sample_rate|net\.core\.netdev_rss_key|kernel\.core_pipe_limit|fs\.binfmt_misc)'
# Sysctls cluster-down puts back when they changed: what containerd, CNI,
# kubelet and kube-proxy are known to set, and our own host preparation.
RESTORE_SYSCTL='^(net\.ipv4\.|net\.ipv6\.conf\.(all|default|lo)\.|net\.bridge\.|net\.netfilter\.|vm\.overcommit_memory|vm\.panic_on_oom|kernel\.panic|kernel\.panic_on_oops|kernel\.keys\.)'

T0=$(date +%s.%N)
elapsed() { awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }
log() { echo "[cluster $(elapsed)s] $*"; }
die() { echo "[cluster $(elapsed)s] ERROR: $*" >&2; exit 1; }

# fail_component prints the tail of a component's log and exits: the first
# thing anyone needs when something does not come up.
fail_component() {
	local name=$1 what=$2
	echo "[cluster $(elapsed)s] ERROR: $name: $what" >&2
	if [ -f "$LOGS/$name.log" ]; then
		echo "----- last 30 lines of $LOGS/$name.log -----" >&2
		tail -n 30 "$LOGS/$name.log" >&2
		echo "----- end of $LOGS/$name.log -----" >&2
	fi
	echo "Full logs: $LOGS/ ; clean up with: make cluster-down" >&2
	exit 1
}

need_root() { [ "$(id -u)" = 0 ] || die "must run as root (network, mounts and cgroups are changed)"; }

# The discovery cache goes to the state folder too, not to ~/.kube.
kubectl_() { "$BIN/kubectl" --kubeconfig "$KUBECONFIG_FILE" --cache-dir "$ST/kube-cache" --request-timeout=5s "$@"; }

# wait_for NAME TIMEOUT_S DESCRIPTION CMD...: poll CMD until it succeeds,
# bounded by TIMEOUT_S; the component NAME's log is shown when it does not.
wait_for() {
	local name=$1 timeout=$2 what=$3
	shift 3
	local deadline=$(($(date +%s) + timeout))
	while ! "$@" >/dev/null 2>&1; do
		if [ -n "${PID_OF[$name]:-}" ] && ! kill -0 "${PID_OF[$name]}" 2>/dev/null; then
			fail_component "$name" "process exited while waiting for: $what"
		fi
		[ "$(date +%s)" -lt "$deadline" ] || fail_component "$name" "not $what within ${timeout}s"
		sleep 0.2
	done
}

# ---------------------------------------------------------------- packages

ensure_packages() {
	local need=()
	{ command -v containerd && command -v ctr; } >/dev/null || need+=(containerd)
	command -v runc >/dev/null || need+=(runc)
	[ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/host-local ] && [ -x /usr/lib/cni/portmap ] ||
		need+=(containernetworking-plugins)
	command -v iptables >/dev/null || need+=(iptables)
	command -v conntrack >/dev/null || need+=(conntrack)
	command -v nft >/dev/null || need+=(nftables)
	command -v nfacct >/dev/null || need+=(nfacct)
	{ command -v ip && command -v ss; } >/dev/null || need+=(iproute2)
	[ -f "$CA_BUNDLE" ] || need+=(ca-certificates)
	[ ${#need[@]} -eq 0 ] && return 0
	need_root
	log "installing from Debian: ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq || die "apt-get update failed"
	apt-get install -y -qq --no-install-recommends "${need[@]}" >"$ST/apt.log" 2>&1 ||
		{ tail -n 30 "$ST/apt.log" >&2; die "apt-get install ${need[*]} failed (log: $ST/apt.log)"; }
	# Debian's containerd may start a system instance from its maintainer
	# script; this harness runs its own and wants no second one.
	if pgrep -x containerd >/dev/null && ! pgrep -f -- "--config $RUN/containerd.toml" >/dev/null; then
		log "note: a system containerd is running (not ours; left alone)"
	fi
}

# ---------------------------------------------------------------- build

src_stamp() {
	(
		cd "$HERE" || exit 1
		go version
		sha256sum go.mod go.sum tools.go mkimg/go.mod mkimg/go.sum
		find mkimg -name '*.go' ! -name '*_test.go' -print0 | sort -z | xargs -0 sha256sum
		find cmd -name '*.go' -print0 | sort -z | xargs -0 sha256sum
		echo "$K8S_BINS $HELPER_BINS mkimg"
	) | sha256sum | cut -d' ' -f1
}

cmd_build() {
	mkdir -p "$BIN" "$LOGS"
	local stamp missing=0 b
	stamp=$(src_stamp)
	for b in $K8S_BINS $HELPER_BINS mkimg; do [ -x "$BIN/$b" ] || missing=1; done
	if [ $missing = 0 ] && [ "$(cat "$BIN/.stamp" 2>/dev/null)" = "$stamp" ]; then
		log "binaries up to date ($BIN)"
		return 0
	fi
	local v=k8s.io/component-base/version c=k8s.io/client-go/pkg/version ld="-s -w" p
	for p in $v $c; do
		ld="$ld -X $p.gitVersion=v1.34.4 -X $p.gitMajor=1 -X $p.gitMinor=34 -X $p.gitTreeState=clean -X $p.buildDate=2026-01-01T00:00:00Z"
	done
	local pkgs=() s
	for b in $K8S_BINS; do pkgs+=("k8s.io/kubernetes/cmd/$b"); done
	for b in $HELPER_BINS; do pkgs+=("./cmd/$b"); done
	log "building Kubernetes v1.34.4 + etcd v3.6.4 + helpers (cold: ~5 min on 2 cores; log $LOGS/build.log)"
	s=$(date +%s)
	# One go build for all main packages: shared packages compile once.
	(cd "$HERE" && CGO_ENABLED=0 go build -trimpath -ldflags "$ld" -o "$BIN/" "${pkgs[@]}") >"$LOGS/build.log" 2>&1 ||
		fail_component build "go build failed"
	(cd "$HERE/mkimg" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$BIN/mkimg" .) >>"$LOGS/build.log" 2>&1 ||
		fail_component build "go build of mkimg failed"
	echo "$stamp" >"$BIN/.stamp"
	log "built in $(($(date +%s) - s))s"
}

# ---------------------------------------------------------------- images

# Every image tarball, by name, in $IMG.
IMAGES="pause testapp-v1 testapp-v2 rolltest"

# images_stale: an image tarball is missing, or older than any source of the
# main module that could end up in its binary (rolltest imports testapp/app
# too), or than the mkimg that wrote the rolltest image.
images_stale() {
	local t
	for t in $IMAGES; do [ -s "$IMG/$t.tar" ] || return 0; done
	[ -n "$(find "$REPO/testapp" "$REPO/go.mod" "$REPO/go.sum" "$BIN/pause" -newer "$IMG/testapp-v1.tar" -print -quit 2>/dev/null)" ] ||
		[ -n "$(find "$REPO/cmd" "$REPO/pkg" "$REPO/internal" "$REPO/testapp" "$REPO/go.mod" "$REPO/go.sum" "$BIN/mkimg" \
			-newer "$IMG/rolltest.tar" -print -quit 2>/dev/null)" ]
}

build_images() {
	[ -f "$REPO/testapp/main.go" ] ||
		die "no ./testapp (package main) in the main module yet: the testapp image is built from it"
	[ -f "$CA_BUNDLE" ] || die "no CA bundle at $CA_BUNDLE for the rolltest image: install ca-certificates (cluster.sh packages)"
	mkdir -p "$IMG"
	log "building images rolltest.local/pause:1, rolltest.local/testapp:v1 and :v2, rolltest.local/rolltest:e2e"
	(cd "$REPO" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$IMG/testapp" ./testapp) >"$LOGS/images.log" 2>&1 ||
		fail_component images "go build ./testapp failed"
	# What `make image` builds, tagged for the e2e tests' agent pods.
	local version
	version=$(cd "$REPO" && git describe --tags --always --dirty 2>/dev/null || echo e2e)
	(cd "$REPO" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$version" -o "$IMG/rolltest" ./cmd/rolltest) \
		>>"$LOGS/images.log" 2>&1 || fail_component images "go build ./cmd/rolltest failed"
	mkimg "$BIN/pause" /pause "" rolltest.local/pause:1 pause
	local v
	for v in v1 v2; do
		# The version lives in the image (not the manifest), so that an image
		# change is a real version change that the app reports.
		mkimg "$IMG/testapp" /testapp "APP_VERSION=$v" "rolltest.local/testapp:$v" "testapp-$v"
	done
	mkimg "$IMG/rolltest" /rolltest "" rolltest.local/rolltest:e2e rolltest \
		-user 65532:65532 -passwd -file "$CA_BUNDLE:/etc/ssl/certs/ca-certificates.crt"
}

# mkimg BINARY ENTRY ENV TAG NAME [MKIMG-FLAGS...] writes $IMG/NAME.tar
# atomically; non-root user 65532 when ENV is given (the testapp images), the
# pause image as is (the runtime runs it), further flags passed on.
mkimg() {
	local args=(-bin "$1" -entry "$2" -tag "$4" -out "$IMG/$5.tar.tmp")
	[ -n "$3" ] && args+=(-user 65532 -env "$3")
	args+=("${@:6}")
	if ! "$BIN/mkimg" "${args[@]}" >>"$LOGS/images.log" 2>&1 || ! mv "$IMG/$5.tar.tmp" "$IMG/$5.tar"; then
		fail_component images "mkimg of $4 failed"
	fi
}

import_images() {
	local t
	for t in $IMAGES; do
		timeout 60 ctr --address "$SOCK" -n k8s.io images import "$IMG/$t.tar" >>"$LOGS/images.log" 2>&1 ||
			fail_component images "ctr import of $IMG/$t.tar failed"
	done
	log "images imported into containerd (namespace k8s.io)"
}

cmd_images() {
	need_root
	cmd_build
	build_images
	if [ -S "$SOCK" ] && pid_alive containerd; then
		import_images
		# The kubelet lists node images in its status; tests check that list.
		if [ -f "$KUBECONFIG_FILE" ]; then wait_images_listed; fi
	else
		log "containerd not running: images will be imported by cluster-up"
	fi
}

wait_images_listed() {
	local deadline=$(($(date +%s) + 60)) imgs
	while :; do
		imgs=$(kubectl_ get node "$NODE" -o jsonpath='{.status.images[*].names[*]}' 2>/dev/null || true)
		case "$imgs" in *rolltest.local/testapp:v1*rolltest.local/testapp:v2* | *rolltest.local/testapp:v2*rolltest.local/testapp:v1*) return 0 ;; esac
		[ "$(date +%s)" -lt "$deadline" ] || fail_component kubelet "node status does not list the testapp images within 60s"
		sleep 0.5
	done
}

# ---------------------------------------------------------------- processes

declare -A PID_OF=()

pid_alive() { # name
	local f=$RUN/pids/$1.pid p
	[ -f "$f" ] || return 1
	p=$(cat "$f")
	kill -0 "$p" 2>/dev/null || return 1
	# The PID may have been reused by an unrelated process after a crash.
	case "$(readlink "/proc/$p/exe" 2>/dev/null)" in
	"$BIN"/* | */containerd) return 0 ;;
	esac
	return 1
}

# start NAME CMD...: run detached (own session, no inherited descriptors, so
# that neither make nor a CI log pipe waits on it), PID in run/pids.
start() {
	local name=$1
	shift
	mkdir -p "$RUN/pids" "$LOGS"
	(
		exec </dev/null >"$LOGS/$name.log" 2>&1
		for fd in "/proc/$BASHPID/fd/"*; do
			fd=${fd##*/}
			[ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-" 2>/dev/null
		done
		exec setsid "$@"
	) &
	PID_OF[$name]=$!
	echo $! >"$RUN/pids/$name.pid"
}

# stop_group NAME...: SIGTERM the named components together, SIGKILL
# whatever still runs 10 s later. Their state is thrown away anyway, so a
# graceful stop is a courtesy, not a requirement.
stop_group() {
	local c pids=() names=()
	for c in "$@"; do
		pid_alive "$c" || continue
		pids+=("$(cat "$RUN/pids/$c.pid")")
		names+=("$c")
	done
	[ ${#pids[@]} -gt 0 ] || return 0
	kill -TERM "${pids[@]}" 2>/dev/null
	local i p alive
	for _ in $(seq 1 50); do
		alive=0
		for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ $alive = 0 ] && break
		sleep 0.2
	done
	for i in "${!pids[@]}"; do
		if kill -0 "${pids[$i]}" 2>/dev/null; then
			log "${names[$i]} (${pids[$i]}) still running 10s after SIGTERM: SIGKILL"
			kill -KILL "${pids[$i]}" 2>/dev/null
		fi
	done
	log "stopped: ${names[*]}"
}

# stray_pids lists every process this harness could have started, found from
# the process table rather than PID files: binaries under $BIN, our
# containerd and its shims, and everything inside the kubelet's pod cgroups.
stray_pids() {
	local p
	{
		find /proc -mindepth 2 -maxdepth 2 -name exe -lname "$BIN/*" 2>/dev/null | cut -d/ -f3
		grep -lsF -- "$ST/" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3 | while read -r p; do
			case "$(readlink "/proc/$p/exe" 2>/dev/null)" in */containerd | */containerd-shim*) echo "$p" ;; esac
		done
		find /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods -name cgroup.procs -exec cat {} + 2>/dev/null
	} | grep -vxF -e "$$" -e "$BASHPID" | sort -un
}

# ---------------------------------------------------------------- host snapshot

nfacct_names() {
	command -v nfacct >/dev/null || return 0
	nfacct list 2>/dev/null | sed -nE 's/.*= ([^ ;]+);$/\1/p' | sort
}

# sysctl_snapshot prints "key = value" lines, one per key: keys whose value
# spans several lines (kernel.core_modes) are joined with commas.
sysctl_snapshot() {
	sysctl -a 2>/dev/null | grep -Ev "$VOLATILE_SYSCTL" | sed 's/\t/ /g' |
		awk -F' = ' '{ if ($1 in v) v[$1] = v[$1] "," $2; else { v[$1] = $2; k[++n] = $1 } }
			END { for (i = 1; i <= n; i++) print k[i] " = " v[k[i]] }' | sort
}

norm_iptables() { grep -v '^#' | sed -E 's/\[[0-9]+:[0-9]+\]//' || true; }

# snapshot DIR: everything check-clean compares, one file per aspect.
snapshot() {
	local d=$1 p
	rm -rf "$d"
	mkdir -p "$d"
	ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort >"$d/links"
	ip -o addr show | awk '{print $2, $3, $4}' | sort >"$d/addresses"
	{ ip route show table all; ip -6 route show table all; } 2>/dev/null | sort >"$d/routes"
	ip rule show 2>/dev/null | sort >"$d/rules"
	if command -v iptables-save >/dev/null; then
		{ iptables-save; ip6tables-save; } 2>/dev/null | norm_iptables >"$d/iptables"
	else
		: >"$d/iptables"
	fi
	if command -v nft >/dev/null; then
		nft list ruleset 2>/dev/null | sed -E 's/counter packets [0-9]+ bytes [0-9]+/counter/' >"$d/nft"
		nft list tables 2>/dev/null | sort >"$d/nft-tables"
	else
		: >"$d/nft"
		: >"$d/nft-tables"
	fi
	cat /proc/net/ip_tables_names /proc/net/ip6_tables_names 2>/dev/null | sort >"$d/legacy-tables" || true
	nfacct_names >"$d/nfacct"
	awk '{print $2, $3}' /proc/mounts | sort >"$d/mounts"
	sysctl_snapshot >"$d/sysctl"
	for p in $HOST_PATHS; do
		[ -e "$p" ] || [ -L "$p" ] || continue
		echo "$p"
		[ -d "$p" ] && find "$p" -mindepth 1 -maxdepth 1 2>/dev/null
	done | sort >"$d/paths"
	find /sys/fs/cgroup -maxdepth 2 -type d 2>/dev/null | sort >"$d/cgroups"
	date -u +%FT%TZ >"$d/taken-at"
}

# ---------------------------------------------------------------- up

cluster_healthy() {
	local c
	for c in $COMPONENTS; do pid_alive "$c" || return 1; done
	[ -f "$KUBECONFIG_FILE" ] || return 1
	kubectl_ get --raw /readyz >/dev/null 2>&1 || return 1
	kubectl_ get node "$NODE" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null | grep -q True
}

# leftovers: anything of a previous run still on the host.
leftovers() {
	[ -n "$(stray_pids)" ] && return 0
	ip link show "$BRIDGE" >/dev/null 2>&1 && return 0
	ip -o addr show dev lo | grep -qF " $NODE_IP/32" && return 0
	grep -qE " ($ST/| /run/netns/cni-)" /proc/mounts && return 0
	grep -qF " $ST/" /proc/mounts && return 0
	[ -d "$RUN" ] && return 0
	return 1
}

check_ports_free() {
	local p
	for p in 2379 2380 6443 10248 10249 10250 10256 10257 10259; do
		if ss -Hltn "sport = :$p" 2>/dev/null | grep -q .; then
			die "TCP port $p is already in use by another process (ss -ltnp 'sport = :$p'); the cluster needs it"
		fi
	done
}

render() { # template output
	sed "s#@STATE@#$ST#g" "$1" >"$2" || die "cannot write $2"
}

host_prep() {
	sysctl -q -w net.ipv4.ip_forward=1 || die "cannot enable net.ipv4.ip_forward"
	if [ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]; then
		# kube-proxy's rules must see bridged pod-to-pod traffic.
		sysctl -q -w net.bridge.bridge-nf-call-iptables=1 || die "cannot set net.bridge.bridge-nf-call-iptables"
	fi
	# This kernel has no dummy interface driver: the node IP lives on lo.
	ip -o addr show dev lo | grep -qF " $NODE_IP/32" || ip addr add "$NODE_IP/32" dev lo ||
		die "cannot add $NODE_IP/32 to lo"
	# Egress guard: pods may talk to each other and to this host, but nothing
	# from the pod network is forwarded anywhere else (no packet may leave).
	if ! { iptables -w -N ROLLTEST-EGRESS 2>/dev/null || iptables -w -F ROLLTEST-EGRESS; } ||
		! iptables -w -A ROLLTEST-EGRESS -s "$POD_CIDR" ! -o "$BRIDGE" -j DROP ||
		! { iptables -w -C FORWARD -j ROLLTEST-EGRESS 2>/dev/null || iptables -w -I FORWARD 1 -j ROLLTEST-EGRESS; }; then
		die "cannot install the ROLLTEST-EGRESS iptables guard"
	fi
}

cmd_up() {
	need_root
	mkdir -p "$ST" "$LOGS"
	if cluster_healthy; then
		if images_stale; then
			log "cluster already up; image sources changed since the images were built: refreshing them"
			build_images
			import_images
			wait_images_listed
		fi
		log "cluster already up and healthy (kubeconfig $KUBECONFIG_FILE); nothing to do"
		return 0
	fi
	ensure_packages
	cmd_build
	if images_stale; then build_images; fi
	if leftovers; then
		log "leftovers of an earlier run found: cleaning up first"
		cmd_down
		T0=$(date +%s.%N)
	fi
	check_ports_free
	snapshot "$SNAP"
	local t_up
	t_up=$(date +%s.%N)
	"$BIN/pki" -dir "$PKI" -admin-kubeconfig "$KUBECONFIG_FILE" -node "$NODE" -node-ip "$NODE_IP" \
		-server "$API_URL" >"$LOGS/pki.log" 2>&1 || fail_component pki "certificate generation failed"

	mkdir -p "$RUN/cni/net.d" "$RUN/pids" "$RUN/etcd" || die "cannot create $RUN"
	# Pods' resolver: their own loopback, where nothing listens, so a lookup
	# fails inside the pod. (An empty file would not do: containerd 1.6 then
	# copies the host's /etc/resolv.conf, whose resolver is off this machine.)
	printf '# rolltest test cluster: pods have no DNS\nnameserver 127.0.0.1\n' >"$RUN/resolv.conf"
	render "$HERE/conf/containerd.toml" "$RUN/containerd.toml"
	render "$HERE/conf/10-rolltest.conflist" "$RUN/cni/net.d/10-rolltest.conflist"
	render "$HERE/conf/kubelet.yaml" "$RUN/kubelet.yaml"
	render "$HERE/conf/kube-proxy.yaml" "$RUN/kube-proxy.yaml"
	host_prep

	start containerd containerd --config "$RUN/containerd.toml"
	wait_for containerd 30 "serving on $SOCK" ctr --address "$SOCK" version
	import_images

	start etcd "$BIN/etcd" -data-dir "$RUN/etcd"
	wait_for etcd 30 "healthy on 127.0.0.1:2379" curl -sf --max-time 2 http://127.0.0.1:2379/health

	local P=$PKI
	start kube-apiserver "$BIN/kube-apiserver" --etcd-servers=http://127.0.0.1:2379 \
		--bind-address="$NODE_IP" --secure-port=6443 --advertise-address="$NODE_IP" \
		--tls-cert-file="$P/apiserver.crt" --tls-private-key-file="$P/apiserver.key" --client-ca-file="$P/ca.crt" \
		--service-account-issuer=https://kubernetes.default.svc.cluster.local --service-account-key-file="$P/sa.pub" \
		--service-account-signing-key-file="$P/sa.key" --service-cluster-ip-range="$SVC_CIDR" \
		--authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction --allow-privileged=true \
		--kubelet-client-certificate="$P/apiserver-kubelet-client.crt" --kubelet-client-key="$P/apiserver-kubelet-client.key" \
		--kubelet-preferred-address-types=InternalIP --profiling=false
	wait_for kube-apiserver 90 "ready (/readyz)" kubectl_ get --raw /readyz

	start kube-controller-manager "$BIN/kube-controller-manager" --kubeconfig="$P/controller-manager.kubeconfig" \
		--authentication-kubeconfig="$P/controller-manager.kubeconfig" --authorization-kubeconfig="$P/controller-manager.kubeconfig" \
		--service-account-private-key-file="$P/sa.key" --root-ca-file="$P/ca.crt" --use-service-account-credentials=true \
		--cluster-signing-cert-file="$P/ca.crt" --cluster-signing-key-file="$P/ca.key" --leader-elect=false \
		--bind-address=127.0.0.1 --profiling=false
	start kube-scheduler "$BIN/kube-scheduler" --kubeconfig="$P/scheduler.kubeconfig" \
		--authentication-kubeconfig="$P/scheduler.kubeconfig" --authorization-kubeconfig="$P/scheduler.kubeconfig" \
		--leader-elect=false --bind-address=127.0.0.1 --profiling=false
	start kubelet "$BIN/kubelet" --config="$RUN/kubelet.yaml" --kubeconfig="$P/kubelet.kubeconfig" \
		--hostname-override="$NODE" --node-ip="$NODE_IP" --root-dir="$RUN/kubelet" --cert-dir="$RUN/kubelet-pki"
	start kube-proxy "$BIN/kube-proxy" --config="$RUN/kube-proxy.yaml"

	wait_for kubelet 60 "registered as node $NODE" kubectl_ get node "$NODE"
	wait_for kubelet 90 "Ready" kubectl_ wait --for=condition=Ready "node/$NODE" --timeout=5s
	local t_ready
	t_ready=$(awk -v a="$t_up" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
	wait_for kube-controller-manager 60 "healthy (127.0.0.1:10257/healthz)" \
		curl -skf --max-time 2 https://127.0.0.1:10257/healthz
	wait_for kube-scheduler 60 "healthy (127.0.0.1:10259/healthz)" curl -skf --max-time 2 https://127.0.0.1:10259/healthz
	wait_for kube-proxy 60 "healthy (127.0.0.1:10256/healthz)" curl -sf --max-time 2 http://127.0.0.1:10256/healthz
	wait_for kube-controller-manager 60 "creating the default ServiceAccount" kubectl_ -n default get serviceaccount default
	wait_images_listed
	log "cluster up: node $NODE Ready ${t_ready}s after start, all components healthy in $(elapsed)s total"
	log "kubeconfig: $KUBECONFIG_FILE (KUBECONFIG=$KUBECONFIG_FILE $BIN/kubectl get pods -A)"
}

# ---------------------------------------------------------------- down

# delete_our_iptables removes every KUBE-*, CNI-* and ROLLTEST-* chain and the
# rules that jump to them, leaving any other rule of the host untouched.
delete_our_iptables() {
	local cmd t dump script
	for cmd in iptables ip6tables; do
		command -v "$cmd-save" >/dev/null || continue
		for t in filter nat mangle raw security; do
			dump=$("$cmd-save" -t "$t" 2>/dev/null) || continue
			script=$(
				awk -v table="$t" '
					/^:(KUBE|CNI|ROLLTEST)-/ { chains[++n] = substr($1, 2) }
					/^-A / {
						ours = ($2 ~ /^(KUBE|CNI|ROLLTEST)-/)
						if (!ours && $0 ~ / -[jg] (KUBE|CNI|ROLLTEST)-/) { sub(/^-A /, "-D "); dels[++m] = $0 }
					}
					END {
						if (n == 0 && m == 0) exit
						print "*" table
						for (i = 1; i <= m; i++) print dels[i]
						for (i = 1; i <= n; i++) print "-F " chains[i]
						for (i = 1; i <= n; i++) print "-X " chains[i]
						print "COMMIT"
					}' <<<"$dump"
			)
			[ -n "$script" ] || continue
			"$cmd-restore" -w --noflush <<<"$script" 2>>"$LOGS/down.log" ||
				log "warning: $cmd-restore could not remove all chains in table $t (see $LOGS/down.log)"
		done
	done
	# iptables-nft creates whole nft tables on first use; drop those that did
	# not exist before the cluster started, once nothing but empty base
	# chains is left in them (so nobody else's rules go with them).
	if command -v nft >/dev/null; then
		local fam name before=$SNAP/nft-tables
		# Without a snapshot every table is a candidate; the emptiness test
		# below still spares any table with a rule in it.
		[ -f "$before" ] || before=/dev/null
		nft list tables 2>/dev/null | sort | comm -13 "$before" - | while read -r _ fam name; do
			case "$name" in filter | nat | mangle | raw | security | kube-proxy) ;; *) continue ;; esac
			# Empty: no rule besides the base chains' "type ...; policy accept;".
			if nft list table "$fam" "$name" 2>/dev/null | grep -qP '^\t\t(?!type )\S|policy drop'; then
				[ "$before" = /dev/null ] || log "warning: nft table $fam $name still has rules; left in place"
				continue
			fi
			nft delete table "$fam" "$name" 2>>"$LOGS/down.log" || log "warning: could not delete nft table $fam $name"
		done
	fi
}

# delete_our_nfacct removes the kernel's nfacct counters kube-proxy made;
# only possible once no iptables rule refers to them.
delete_our_nfacct() {
	command -v nfacct >/dev/null || return 0
	local n
	for n in $(nfacct_names); do
		if [ -f "$SNAP/nfacct" ]; then
			grep -qxF "$n" "$SNAP/nfacct" && continue
		else
			[[ $n =~ $KUBE_NFACCT ]] || continue
		fi
		nfacct del "$n" 2>>"$LOGS/down.log" || log "warning: could not delete nfacct counter $n"
	done
}

restore_sysctls() {
	local orig=$SNAP/sysctl
	if [ ! -f "$orig" ]; then
		# Nothing tells the original values (the snapshot went with a wiped
		# .state/cluster); say what a human may have to put back.
		log "warning: no host snapshot ($SNAP): sysctls cannot be restored; now:" \
			"$(sysctl net.ipv4.ip_forward net.ipv4.conf.all.route_localnet vm.overcommit_memory kernel.panic \
				kernel.panic_on_oops 2>/dev/null | tr '\n' ' ')"
		return 0
	fi
	local now k v
	now=$(sysctl_snapshot)
	# ip_forward first: writing it resets every per-interface forwarding flag.
	{
		grep -E '^net\.ipv4\.ip_forward = ' "$orig" || true
		comm -23 "$orig" <(echo "$now") | grep -Ev '^net\.ipv4\.ip_forward = ' | grep -E "$RESTORE_SYSCTL" || true
	} | while IFS= read -r line; do
		k=${line%% = *}
		v=${line#* = }
		# Keys of interfaces that are gone now need no restoring.
		[ -e "/proc/sys/${k//.//}" ] || continue
		[ "$(sysctl -n "$k" 2>/dev/null | sed 's/\t/ /g')" = "$v" ] && continue
		if sysctl -q -w "$k=$v" 2>>"$LOGS/down.log"; then
			echo "restored sysctl $k = $v" >>"$LOGS/down.log"
		else
			log "warning: could not restore $k=$v"
		fi
	done
}

cmd_down() {
	need_root
	mkdir -p "$LOGS"
	local c p m
	: >>"$LOGS/down.log"
	stop_group kube-proxy kube-scheduler kube-controller-manager kubelet kube-apiserver
	# Sandboxes go through the CRI while containerd still runs, so that CNI DEL
	# releases veths, IPs and hostport rules the way they were made.
	if pid_alive containerd && [ -S "$SOCK" ] && [ -x "$BIN/cri-clean" ]; then
		log "removing pod sandboxes through the CRI (CNI DEL)"
		timeout 90 "$BIN/cri-clean" -endpoint "$SOCK" -timeout 80s >>"$LOGS/down.log" 2>&1 ||
			log "warning: cri-clean failed (see $LOGS/down.log); falling back to killing pods"
	fi
	stop_group etcd containerd
	# Whatever the PID files missed (a crashed or interrupted run).
	for sig in TERM KILL; do
		p=$(stray_pids | sort -u | tr '\n' ' ')
		[ -n "${p// /}" ] || break
		log "signalling leftover processes ($sig): $p"
		# shellcheck disable=SC2086 # a list of PIDs
		kill -"$sig" $p 2>/dev/null || true
		for _ in $(seq 1 25); do
			[ -z "$(stray_pids)" ] && break
			sleep 0.2
		done
	done
	[ -z "$(stray_pids)" ] || log "warning: processes still alive: $(stray_pids | tr '\n' ' ')"

	log "removing iptables/nft rules, nfacct counters, conntrack entries"
	if [ -x "$BIN/kube-proxy" ]; then
		timeout 30 "$BIN/kube-proxy" --cleanup >>"$LOGS/down.log" 2>&1 || true
	fi
	delete_our_iptables
	delete_our_nfacct
	if command -v conntrack >/dev/null; then
		for f in "-s $POD_CIDR" "-d $POD_CIDR" "-d $SVC_CIDR" "-s $NODE_IP" "-d $NODE_IP" "--reply-src $POD_CIDR"; do
			# shellcheck disable=SC2086
			conntrack -D $f >/dev/null 2>&1 || true
		done
	fi

	log "unmounting, removing bridge $BRIDGE, $NODE_IP from lo, pod cgroups, host paths; restoring sysctls"
	# Unmount deepest first: pod volumes and rootfs under the state folder,
	# then sandbox network namespaces.
	for _ in 1 2 3; do
		m=$(awk -v st="$ST/" '$2 ~ "^/run/netns/cni-" || index($2, st) == 1 {print $2}' /proc/mounts | sort -r)
		[ -n "$m" ] || break
		for p in $m; do umount "$p" 2>/dev/null || umount -l "$p" 2>/dev/null || true; done
	done
	rm -f /run/netns/cni-* 2>/dev/null || true

	ip link del "$BRIDGE" 2>/dev/null || true
	ip addr del "$NODE_IP/32" dev lo 2>/dev/null || true

	# Pod cgroups made by the kubelet (cgroupfs driver): deepest first.
	for d in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
		[ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
	done
	true

	# Host paths that did not exist before the cluster started.
	local before=$SNAP/paths
	for p in $HOST_PATHS; do
		[ -e "$p" ] || continue
		if [ -f "$before" ] && grep -qxF "$p" "$before"; then
			# It existed: remove only entries we added (e.g. container log links).
			find "$p" -mindepth 1 -maxdepth 1 2>/dev/null | while read -r e; do
				grep -qxF "$e" "$before" || rm -rf "$e"
			done
		elif [ -f "$before" ]; then
			rm -rf "$p"
		fi
	done
	restore_sysctls
	if grep -qF " $ST/" /proc/mounts; then
		log "warning: mounts remain under $ST; keeping $RUN"
	else
		rm -rf "$RUN"
	fi
	log "cluster down in $(elapsed)s"
}

# ---------------------------------------------------------------- check

cmd_check_clean() {
	need_root
	local fail=0 now=$ST/host-after a p
	echo "check-clean: host state after cluster-down"
	p=$(stray_pids | sort -u | tr '\n' ' ')
	if [ -n "${p// /}" ]; then
		echo "  FAIL processes left: $p"
		for a in $p; do echo "       $a: $(tr '\0' ' ' <"/proc/$a/cmdline" 2>/dev/null | cut -c1-160)"; done
		fail=1
	else echo "  ok   no process of the cluster (binaries in $BIN, containerd, shims, pod cgroups)"; fi
	if grep -E " ($ST/|/run/netns/cni-)" /proc/mounts; then
		echo "  FAIL mounts left (above)"
		fail=1
	else echo "  ok   no mount under $ST or /run/netns/cni-*"; fi
	if ip link show "$BRIDGE" >/dev/null 2>&1; then
		echo "  FAIL bridge $BRIDGE still exists"
		fail=1
	else echo "  ok   no bridge $BRIDGE"; fi
	if ip -o addr show dev lo | grep -qF " $NODE_IP/32"; then
		echo "  FAIL $NODE_IP/32 still on lo"
		fail=1
	else echo "  ok   no $NODE_IP on lo"; fi
	if command -v iptables-save >/dev/null && { iptables-save; ip6tables-save; } 2>/dev/null | grep -E '(KUBE|CNI|ROLLTEST)-' | head -5 | grep .; then
		echo "  FAIL iptables chains/rules KUBE-*/CNI-*/ROLLTEST-* left (first shown above)"
		fail=1
	else echo "  ok   no KUBE-*/CNI-*/ROLLTEST-* iptables chain or rule"; fi
	if find /sys/fs/cgroup -maxdepth 2 -name 'kubepods*' 2>/dev/null | grep .; then
		echo "  FAIL kubepods cgroups left (above)"
		fail=1
	else echo "  ok   no kubepods cgroup"; fi
	for a in 2379 2380 6443 10248 10249 10250 10256 10257 10259; do
		if ss -Hltn "sport = :$a" 2>/dev/null | grep -q .; then
			echo "  FAIL something still listens on :$a"
			fail=1
		fi
	done
	if command -v conntrack >/dev/null; then
		a=$(conntrack -L 2>/dev/null | grep -cE "=(10\.244\.0\.[0-9]+|10\.96\.[0-9]+\.[0-9]+|${NODE_IP//./\\.}) ")
		if [ "$a" -gt 0 ]; then
			echo "  FAIL $a conntrack entries of pod, service or node addresses left"
			fail=1
		else echo "  ok   no conntrack entry of pod ($POD_CIDR), service ($SVC_CIDR) or node ($NODE_IP) addresses"; fi
	fi
	if [ ! -d "$SNAP" ]; then
		echo "  note no snapshot $SNAP (cluster-up never ran here): compared nothing else"
	else
		snapshot "$now"
		echo "  comparing with the snapshot taken before cluster-up ($(cat "$SNAP/taken-at")):"
		for a in links addresses routes rules iptables nft legacy-tables nfacct mounts paths cgroups; do
			if diff -u "$SNAP/$a" "$now/$a" >"$now/$a.diff"; then
				echo "  ok   $a unchanged"
			else
				echo "  FAIL $a differ:"
				sed -n '3,40p' "$now/$a.diff" | sed 's/^/         /'
				fail=1
			fi
		done
		# Values of sysctls present both times (interface keys come and go with
		# their interfaces, which the links comparison covers).
		join -t '|' <(sed 's/ = /|/' "$SNAP/sysctl" | sort -t '|' -k1,1) <(sed 's/ = /|/' "$now/sysctl" | sort -t '|' -k1,1) |
			awk -F'|' '$2 != $3 {print $1 ": " $2 " -> " $3}' >"$now/sysctl.diff"
		if [ -s "$now/sysctl.diff" ]; then
			echo "  FAIL sysctls changed:"
			sed 's/^/         /' "$now/sysctl.diff" | head -20
			fail=1
		else
			echo "  ok   sysctls unchanged ($(wc -l <"$SNAP/sysctl") compared)"
		fi
	fi
	if [ $fail = 0 ]; then echo "check-clean: PASS"; else echo "check-clean: FAIL"; fi
	return $fail
}

cmd_status() {
	if cluster_healthy; then
		echo "cluster up (node $NODE Ready; kubeconfig $KUBECONFIG_FILE)"
	else
		echo "cluster not running or not healthy"
		return 1
	fi
}

# e2e: the whole CI path. down and check-clean run whatever the tests did,
# and the exit status is the tests' (or down's, or check-clean's, if those fail).
cmd_e2e() {
	local pkgs=("$@") rc=0 rc_down=0 rc_check=0
	[ ${#pkgs[@]} -gt 0 ] || pkgs=(./test/e2e/...)
	trap 'echo "interrupted: tearing down" >&2; bash "$SELF" down; exit 130' INT TERM
	if bash "$SELF" up; then
		local s
		s=$(date +%s)
		# -p 1: one package at a time. The kube driver's integration tests
		# roll workloads of their own; beside the e2e rollouts they take
		# the two cores from the load generator whose schedule e2e checks.
		(cd "$REPO" && ROLLTEST_E2E=1 go test -p 1 -count=1 -timeout 45m "${pkgs[@]}") || rc=$?
		log "tests finished in $(($(date +%s) - s))s (exit $rc)"
	else
		rc=$?
		log "cluster-up failed (exit $rc)"
	fi
	trap - INT TERM
	bash "$SELF" down || rc_down=$?
	bash "$SELF" check-clean || rc_check=$?
	[ $rc -ne 0 ] && return $rc
	[ $rc_down -ne 0 ] && return $rc_down
	return $rc_check
}

# lock serialises commands that change the cluster or the host: two
# engineers (or a test and an engineer) running up and down at once would
# otherwise tear down each other's half-built cluster. The descriptor is not
# inherited by the daemons (start closes it), so it is released on exit.
lock() {
	mkdir -p "$ST" || die "cannot create $ST"
	exec 9>"$ST/.lock"
	if ! flock -n 9; then
		# A cold build holds the lock for up to ~15 min on a busy machine.
		log "waiting for another cluster.sh command to finish (lock $ST/.lock, at most 30 min)"
		flock -w 1800 9 || die "another cluster.sh command still holds $ST/.lock after 30 min"
	fi
}

main() {
	local cmd=${1:-}
	shift || true
	case "$cmd" in build | images | up | down) lock ;; esac
	case "$cmd" in
	packages) need_root && mkdir -p "$ST" && ensure_packages ;;
	build) cmd_build ;;
	images) cmd_images ;;
	up) cmd_up ;;
	down) cmd_down ;;
	check-clean) cmd_check_clean ;;
	status) cmd_status ;;
	e2e) cmd_e2e "$@" ;;
	*)
		sed -n '2,16p' "$SELF" | sed 's/^# \{0,1\}//'
		exit 2
		;;
	esac
}

main "$@"
