#!/usr/bin/env bash
# bench/agents.sh — what `rolltest run --agents N` costs, measured on the
# in-repo cluster at several N: bytes of pod log the controller reads (per
# agent and second), the merge time, the API requests of the agents' part,
# and the controller's peak resident memory. docs/distributed.md sizes
# large runs from these figures.
#
#   bash bench/agents.sh                        # 1, 3 and 6 agents
#   AGENTS="1 2" RATE_PER_AGENT=200 bash bench/agents.sh
#
# Not part of CI. Needs root and the in-repo cluster: it runs `make
# cluster-up` when the cluster is not healthy (which builds and imports
# rolltest.local/rolltest:e2e from this tree) and, in that case only,
# `make cluster-down` at the end. Each run is load only (no rollout)
# against manifests/testapp.yaml through its ClusterIP, RATE_PER_AGENT req/s
# per agent for DURATION. Exits 1 when a run drops requests or fails.
set -euo pipefail

AGENTS=${AGENTS:-"1 3 6"}
RATE_PER_AGENT=${RATE_PER_AGENT:-100}
DURATION=${DURATION:-20}
NODEPORT=${NODEPORT:-30089}

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OUT:-$REPO/.state/bench-agents/$(date -u +%Y%m%dT%H%M%SZ)}

log() { printf '[agents %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
	printf '[agents] ERROR: %s\n' "$*" >&2
	exit 2
}

# shellcheck source=bench/cluster-lib.sh
source "$REPO/bench/cluster-lib.sh"

[ -x /usr/bin/time ] || { apt-get install -y time >/dev/null 2>&1 || die "needs GNU time (apt-get install time)"; }

# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
	local rc=$?
	set +e
	cluster_end
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cluster_begin "$OUT"
testapp_deploy bench-agents "$NODEPORT"
ns=$TESTAPP_NS
ip=$("$KUBECTL" get service -n "$ns" testapp -o jsonpath='{.spec.clusterIP}')
port=$("$KUBECTL" get service -n "$ns" testapp -o jsonpath='{.spec.ports[0].port}')
target=http://$ip:$port/common/healthy

printf 'agents\trequests\tfailed\tlog_bytes\tbytes_per_agent_s\tmerge\tapi_requests\tpeak_rss_kib\n' >"$OUT/agents.tsv"
rc=0
for n in $AGENTS; do
	log "$n agents × $RATE_PER_AGENT req/s for ${DURATION}s"
	set +e
	/usr/bin/time -f '%M' -o "$OUT/rss-$n" "$OUT/rolltest" run --kubeconfig "$KUBECONFIG" -n "$ns" --target "$target" \
		--agents "$n" --agent-image rolltest.local/rolltest:e2e --agent-pull-policy Never --agents-startup 10s \
		--rate $((n * RATE_PER_AGENT)) --duration "${DURATION}s" --json "$OUT/result-$n.json" --no-progress \
		>"$OUT/run-$n.log" 2>&1
	code=$?
	set -e
	[ "$code" = 0 ] || { log "run with $n agents exited $code: see $OUT/run-$n.log"; rc=1; continue; }
	line=$(grep 'final records' "$OUT/run-$n.log")
	bytes=$(sed -E 's/.* ([0-9]+) bytes of log read.*/\1/' <<<"$line")
	merge=$(sed -E 's/.*merged in ([^,]+),.*/\1/' <<<"$line")
	api=$(sed -E 's/.* ([0-9]+) API requests.*/\1/' <<<"$line")
	read -r requests failed < <(python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["totals"]; print(t["requests"], t["failed"])' "$OUT/result-$n.json")
	[ "$failed" = 0 ] || rc=1
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$requests" "$failed" "$bytes" $((bytes / n / DURATION)) "$merge" "$api" "$(cat "$OUT/rss-$n")" |
		tee -a "$OUT/agents.tsv" >&2
done
log "results in $OUT/agents.tsv"
column -t "$OUT/agents.tsv"
exit "$rc"
