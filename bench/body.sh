#!/usr/bin/env bash
# bench/body.sh — rolltest's memory against big response bodies: a loopback
# server (internal/cmd/bodyserver, pinned to core 1) answers (a) 200 with a
# 50 MB Content-Length body, (b) 200 with a chunked body that never ends;
# rolltest (pinned to core 0) loads it with 64 workers / 64 connections.
#
#   bench/body.sh
#   BENCH_BODY_REQUESTS=512 bench/body.sh
#   BENCH_ROLLTEST_BIN=/tmp/old/rolltest BENCH_CONNECTIONS=16 bench/body.sh   # an older build
#
# Goal: peak RSS ≤ 64 MB in both cases (bodies are streamed, not buffered).
# Prints, per case: peak RSS, outcome counts, bytes_in, requests.
# Exit: 0 all PASS, 1 a goal or sanity check FAILED, 2 setup error.
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_init

CONNS=${BENCH_CONNECTIONS:-64}
HUGE_BYTES=${BENCH_BODY_BYTES:-50000000}
HUGE_REQUESTS=${BENCH_BODY_REQUESTS:-256}
ENDLESS_TIMEOUT=$(duration_s "${BENCH_ENDLESS_TIMEOUT:-5}")
ENDLESS_REQUESTS=${BENCH_ENDLESS_REQUESTS:-$((2 * CONNS))}
RSS_GOAL_MB=${BENCH_RSS_GOAL_MB:-64}
for v in "$CONNS" "$HUGE_BYTES" "$HUGE_REQUESTS" "$ENDLESS_TIMEOUT" "$ENDLESS_REQUESTS" "$RSS_GOAL_MB"; do
	[[ $v =~ ^[1-9][0-9]*$ ]] || die "connections, sizes, counts and timeouts must be positive integers (got '$v')"
done

have jq || apt_install jq
[[ -x /usr/bin/time ]] || apt_install time
have taskset || apt_install util-linux

body_cleanup() {
	bench_cleanup
	server_stop
}
trap body_cleanup EXIT
trap 'body_cleanup; trap - INT; kill -INT $$' INT
trap 'body_cleanup; trap - TERM; kill -TERM $$' TERM

bench_build_rolltest
log "go build -o .state/bench/bin/bodyserver ./internal/cmd/bodyserver"
(cd "$REPO" && go build -o "$BENCH_BIN/bodyserver" ./internal/cmd/bodyserver) || die "building bodyserver failed"

STAMP=$(date +%Y%m%d-%H%M%S)
RUN_DIR="$BENCH_STATE/runs/body-$STAMP"
mkdir -p "$RUN_DIR"

# body_server_start MODE: starts bodyserver on a free loopback port; sets SERVER_URL.
body_server_start() {
	server_start "$RUN_DIR/server-$1.out" "$BENCH_BIN/bodyserver" -mode "$1" -bytes "$HUGE_BYTES" -max-duration 15m
}

wait_quiet
ROWS=()
STATUS=0
# run_case NAME MODE TIMEOUT_S REQUESTS EXPECTED_OUTCOME
run_case() {
	local name=$1 mode=$2 tmo=$3 reqs=$4 want=$5 base rc=0 limit
	base="$RUN_DIR/$name"
	body_server_start "$mode"
	# Safety bound: every request's attempt is bounded by --timeout; requests
	# are spread over CONNS workers.
	limit=$(((reqs / CONNS + 2) * tmo + 60))
	log "$name: rolltest --concurrency $CONNS --requests $reqs --timeout ${tmo}s against $SERVER_URL ($mode)"
	run_pinned "$base.rss" "$limit" \
		"$ROLLTEST" run --target "$SERVER_URL" --concurrency "$CONNS" --requests "$reqs" \
		--timeout "${tmo}s" --identity none --max-errors -1 --json "$base.json" --quiet >"$base.txt" 2>&1 || rc=$?
	server_stop
	local mb outcomes bytes_in requests failed ok
	mb=$(peak_mb "$base.rss")
	if ((rc > 1)) || [[ ! -s $base.json ]]; then
		log "$name: rolltest exited $rc without a report: $(tail -n 3 "$base.txt" | tr '\n' ' ')"
		outcomes="exit=$rc: $(head -c 120 "$base.txt" | tr '\n' ' ')" bytes_in='?' requests='?' ok=FAIL
	else
		read -r requests bytes_in outcomes < <(jq -r '[.totals.requests, (.totals.bytes_in // "?"),
			(.totals.outcomes | to_entries | map(select(.value > 0)) | map("\(.key)=\(.value)") | join(","))] | @tsv' "$base.json")
		failed=$(jq -r --arg w "$want" '.totals.requests - (.totals.outcomes[$w] // 0)' "$base.json")
		ok=PASS
		[[ $requests == "$reqs" && $failed == 0 ]] || ok=FAIL
	fi
	local rss_ok
	rss_ok=$(awk -v mb="$mb" -v goal="$RSS_GOAL_MB" 'BEGIN {print (mb != "?" && mb + 0 <= goal) ? "PASS" : "FAIL"}')
	[[ $rss_ok == PASS && $ok == PASS ]] || STATUS=1
	ROWS+=("$(printf '%-8s %9s %9s %-4s %16s %-4s  %s' "$name" "$requests" "$mb" "$rss_ok" "$bytes_in" "$ok" "$outcomes")")
	log "$name: peak RSS $mb MB, bytes_in $bytes_in, outcomes $outcomes"
}

run_case huge huge 60 "$HUGE_REQUESTS" ok
run_case endless endless "$ENDLESS_TIMEOUT" "$ENDLESS_REQUESTS" timeout_response

OUT="$BENCH_RESULTS/body-$STAMP.txt"
{
	echo "# rolltest response-body memory — $(date -u +'%Y-%m-%d %H:%M:%SZ')"
	echo "# repo $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$REPO" diff --quiet HEAD 2>/dev/null || echo '+dirty'), rolltest $ROLLTEST"
	echo "# $(nproc) cores; rolltest on cpu $BENCH_GEN_CPU, bodyserver on cpu $BENCH_TARGET_CPU; --concurrency $CONNS; machine ${BUSY_BEFORE}% busy before"
	echo "# huge: 200 with a ${HUGE_BYTES}-byte Content-Length body, want every request ok"
	echo "# endless: 200 with a chunked body that never ends, --timeout ${ENDLESS_TIMEOUT}s, want every request timeout_response"
	echo "# goal: peak RSS ≤ ${RSS_GOAL_MB} MB"
	echo
	printf '%-8s %9s %9s %-4s %16s %-4s  %s\n' case requests 'RSS MB' "≤$RSS_GOAL_MB" bytes_in sane outcomes
	printf '%s\n' "${ROWS[@]}"
	echo
	if ((STATUS == 0)); then echo "overall: PASS"; else echo "overall: FAIL"; fi
} >"$OUT"
cat "$OUT"
cp "$OUT" "$BENCH_RESULTS/body-latest.txt"
log "results: $OUT (raw outputs: $RUN_DIR)"
exit "$STATUS"
