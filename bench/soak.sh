#!/usr/bin/env bash
# bench/soak.sh — a long rolltest run through repeated rollouts on the in-repo
# cluster, sampling rolltest's own resources once a minute to show that none
# of them grows with time: resident memory, goroutines, open file
# descriptors and TCP connections.
#
#   bash bench/soak.sh                    # 30 minutes, a rollout every 5
#   SOAK_MINUTES=6 SOAK_EVERY=2 bash bench/soak.sh   # a quick trial
#
# Not part of CI (it lasts half an hour). Needs root and the in-repo cluster:
# it runs `make cluster-up` when the cluster is not healthy and, in that
# case only, `make cluster-down` at the end.
#
# The run: one `rolltest run` against manifests/testapp.yaml in a namespace
# of its own at SOAK_RATE req/s, whose own rollout (restart) starts after
# SOAK_EVERY minutes; the script restarts the Deployment again every
# SOAK_EVERY minutes after that (kubectl rollout restart, as a user would),
# so the driver's informers, the attribution and the engine all live
# through SOAK_MINUTES/SOAK_EVERY - 1 rollouts. rolltest's --settle keeps
# it running to the end.
#
# Output in $SOAK_DIR (default .state/soak/<time>): samples.tsv (one line a
# minute), result.json and report.html of the run, rolltest.log. The
# summary printed at the end compares the first sample after the first
# rollout with the last one; the script exits 1 when the run dropped
# requests or exited non-zero, or when a resource grew by more than its
# allowance (SOAK_MAX_RSS_GROWTH percent, default 25; goroutines, fds and
# connections: more than SOAK_MAX_COUNT_GROWTH, default 8, above that sample).
set -euo pipefail

SOAK_MINUTES=${SOAK_MINUTES:-30}
SOAK_EVERY=${SOAK_EVERY:-5}
SOAK_RATE=${SOAK_RATE:-200}
SOAK_CONNECTIONS=${SOAK_CONNECTIONS:-16}
SOAK_NODEPORT=${SOAK_NODEPORT:-30088}
SOAK_METRICS_PORT=${SOAK_METRICS_PORT:-19464}
SOAK_MAX_RSS_GROWTH=${SOAK_MAX_RSS_GROWTH:-25}
SOAK_MAX_COUNT_GROWTH=${SOAK_MAX_COUNT_GROWTH:-8}

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SOAK_DIR=${SOAK_DIR:-$REPO/.state/soak/$(date -u +%Y%m%dT%H%M%SZ)}

log() { printf '[soak %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
	printf '[soak] ERROR: %s\n' "$*" >&2
	exit 2
}

# shellcheck source=bench/cluster-lib.sh
source "$REPO/bench/cluster-lib.sh"

if ! [ "$SOAK_EVERY" -ge 1 ] || ! [ "$SOAK_MINUTES" -gt "$SOAK_EVERY" ]; then
	die "SOAK_MINUTES ($SOAK_MINUTES) must exceed SOAK_EVERY ($SOAK_EVERY), which must be at least 1"
fi

rolltest_pid=""
cleanup() {
	local rc=$?
	set +e
	if [ -n "$rolltest_pid" ] && kill -0 "$rolltest_pid" 2>/dev/null; then
		kill -INT "$rolltest_pid"
		wait "$rolltest_pid"
	fi
	cluster_end
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cluster_begin "$SOAK_DIR"
testapp_deploy soak "$SOAK_NODEPORT"
ns=$TESTAPP_NS
target=http://127.0.0.1:$SOAK_NODEPORT/common/healthy
for _ in $(seq 1 60); do
	curl -fsS -m 2 "$target" >/dev/null 2>&1 && break
	sleep 1
done
curl -fsS -m 2 "$target" >/dev/null || die "$target does not answer"

every_s=$((SOAK_EVERY * 60))
total_s=$((SOAK_MINUTES * 60))
# rolltest's rollout starts after one period and its settle lasts the rest
# but the minute the rollout itself takes, so the run lasts about
# SOAK_MINUTES.
settle_s=$((total_s - every_s - 60))
[ "$settle_s" -gt 0 ] || settle_s=$every_s
log "rolltest: $SOAK_RATE req/s for about $SOAK_MINUTES min, a rollout every $SOAK_EVERY min"
"$SOAK_DIR/rolltest" run --target "$target" --rate "$SOAK_RATE" --connections "$SOAK_CONNECTIONS" \
	--deployment testapp -n "$ns" --rollout restart --rollout-after "${every_s}s" --settle "${settle_s}s" \
	--rollout-timeout 5m --metrics-addr "127.0.0.1:$SOAK_METRICS_PORT" \
	--json "$SOAK_DIR/result.json" --html "$SOAK_DIR/report.html" --no-progress \
	>"$SOAK_DIR/rolltest.log" 2>&1 &
rolltest_pid=$!
start=$(date +%s)

# sample prints one line: minute, RSS KiB, goroutines, open fds, established
# TCP connections to the target, and the requests sent so far.
sample() {
	local minute=$1 rss fds conns goroutines requests metrics
	rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$rolltest_pid/status" 2>/dev/null || echo 0)
	fds=$(find "/proc/$rolltest_pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
	conns=$(ss -Htn state established "( dport = :$SOAK_NODEPORT )" 2>/dev/null | wc -l)
	metrics=$(curl -fsS -m 5 "http://127.0.0.1:$SOAK_METRICS_PORT/metrics" 2>/dev/null || true)
	goroutines=$(awk '$1 == "go_goroutines" {print $2}' <<<"$metrics")
	requests=$(awk '$1 ~ /^rolltest_requests_total/ {s += $2} END {printf "%d", s}' <<<"$metrics")
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$minute" "$rss" "${goroutines:-?}" "$fds" "$conns" "$requests"
}

printf 'minute\trss_kib\tgoroutines\tfds\tconnections\trequests\n' >"$SOAK_DIR/samples.tsv"
next_sample=60
next_rollout=$((2 * every_s)) # the first rollout is rolltest's own
rollouts=1
while kill -0 "$rolltest_pid" 2>/dev/null; do
	now=$(($(date +%s) - start))
	if [ "$now" -ge "$next_sample" ]; then
		sample $((next_sample / 60)) | tee -a "$SOAK_DIR/samples.tsv" >&2
		next_sample=$((next_sample + 60))
	fi
	if [ "$now" -ge "$next_rollout" ] && [ "$next_rollout" -lt "$total_s" ]; then
		log "kubectl rollout restart (rollout $((rollouts + 1)))"
		"$KUBECTL" rollout restart -n "$ns" deployment/testapp >/dev/null
		rollouts=$((rollouts + 1))
		next_rollout=$((next_rollout + every_s))
	fi
	if [ "$now" -gt $((total_s + 600)) ]; then
		log "rolltest still runs 10 minutes after the soak's end: interrupting it"
		kill -INT "$rolltest_pid"
	fi
	sleep 1
done
set +e
wait "$rolltest_pid"
rc=$?
set -e
rolltest_pid=""
log "rolltest exited $rc after $(($(date +%s) - start)) s and $rollouts rollouts"

# The baseline is the first sample after the first rollout has finished:
# before it the pool and the informers' caches are still filling.
awk -v base_min=$((2 * SOAK_EVERY + 1)) -v max_rss="$SOAK_MAX_RSS_GROWTH" -v max_n="$SOAK_MAX_COUNT_GROWTH" '
	NR == 1 { next }
	$1 >= base_min && !b { b = 1; r0 = $2; g0 = $3; f0 = $4; c0 = $5; m0 = $1 }
	{ if ($2 > rmax) rmax = $2; if ($3 > gmax) gmax = $3; if ($4 > fmax) fmax = $4; if ($5 > cmax) cmax = $5
	  last = $0; r1 = $2; g1 = $3; f1 = $4; c1 = $5; m1 = $1 }
	END {
		if (!b) { print "not enough samples after the first rollout"; exit 1 }
		printf "from minute %d to %d: RSS %d -> %d KiB (%+.1f%%, max %d), goroutines %d -> %d (max %d), fds %d -> %d (max %d), connections %d -> %d (max %d)\n",
			m0, m1, r0, r1, 100 * (r1 - r0) / r0, rmax, g0, g1, gmax, f0, f1, fmax, c0, c1, cmax
		bad = 0
		if (100 * (r1 - r0) / r0 > max_rss) { print "RSS grew by more than " max_rss "%"; bad = 1 }
		if (g1 - g0 > max_n) { print "goroutines grew by more than " max_n; bad = 1 }
		if (f1 - f0 > max_n) { print "open fds grew by more than " max_n; bad = 1 }
		if (c1 - c0 > max_n) { print "connections grew by more than " max_n; bad = 1 }
		exit bad
	}' "$SOAK_DIR/samples.tsv" | tee "$SOAK_DIR/summary.txt" >&2
flat=${PIPESTATUS[0]}
head -n 12 "$SOAK_DIR/rolltest.log" >&2
log "samples: $SOAK_DIR/samples.tsv; report: $SOAK_DIR/report.html"
if [ "$rc" -ne 0 ] || [ "$flat" -ne 0 ]; then
	exit 1
fi
