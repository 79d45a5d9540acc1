#!/usr/bin/env bash
# bench/rate.sh — rolltest fixed-rate accuracy and memory, same setup as
# bench/peers.sh (rolltest pinned to core 0, nginx pinned to core 1).
#
#   bench/rate.sh                               # 1000, 10000, 50000 req/s, 30 s each
#   BENCH_RATES="5000 20000" BENCH_RATE_DURATION=10 bench/rate.sh
#   RATE_SOAK=1 bench/rate.sh                   # + 10 min at 20000 req/s (peak-RSS goal)
#
# Goals: achieved rate within ±1% of the requested rate; peak RSS ≤ 64 MB.
# Exit: 0 all PASS, 1 a goal or sanity check FAILED, 2 setup error.
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_init

read -r -a RATES <<<"${BENCH_RATES:-1000 10000 50000}"
DURATION=$(duration_s "${BENCH_RATE_DURATION:-30}")
CONNS=${BENCH_CONNECTIONS:-64}
TOL_PCT=${BENCH_RATE_TOL_PCT:-1}
RSS_GOAL_MB=${BENCH_RSS_GOAL_MB:-64}
SOAK_RATE=${BENCH_SOAK_RATE:-20000}
SOAK_DURATION=$(duration_s "${BENCH_SOAK_DURATION:-600}")

for v in "${RATES[@]}" "$DURATION" "$CONNS" "$SOAK_RATE" "$SOAK_DURATION"; do
	[[ $v =~ ^[1-9][0-9]*$ ]] || die "rates, durations (whole seconds) and connections must be positive integers (got '$v')"
done
# Runs as "rate:seconds".
RUNS=()
for r in "${RATES[@]}"; do RUNS+=("$r:$DURATION"); done
if [[ ${RATE_SOAK:-0} == 1 ]]; then RUNS+=("$SOAK_RATE:$SOAK_DURATION"); fi

bench_install target
bench_build_rolltest
nginx_start
URL=$BENCH_URL

STAMP=$(date +%Y%m%d-%H%M%S)
RUN_DIR="$BENCH_STATE/runs/rate-$STAMP"
mkdir -p "$RUN_DIR"
wait_quiet

ROWS=()
STATUS=0
for run in "${RUNS[@]}"; do
	rate=${run%%:*} secs=${run##*:}
	base="$RUN_DIR/rate-$rate-${secs}s"
	log "rolltest --rate $rate for ${secs}s ($CONNS connections, cpu $BENCH_GEN_CPU)"
	rc=0
	run_pinned "$base.rss" $((secs + 60)) \
		"$ROLLTEST" run --target "$URL" --rate "$rate" --connections "$CONNS" \
		--duration "${secs}s" --json "$base.json" --quiet >"$base.txt" 2>&1 || rc=$?
	# 0 = pass, 1 = a gate failed: both write the report. Anything else: broken run.
	if ((rc > 1)) || [[ ! -s $base.json ]]; then
		tail -n 20 "$base.txt" >&2 || true
		die "rolltest run failed (exit $rc) at --rate $rate; see $base.txt"
	fi
	read -r achieved requests failed late p50 p99 < <(jq -r 'def ms: if type == "number" then (. * 100 | round / 100) else "?" end; [
		.totals.achieved_rps // "?", .totals.requests // "?", .totals.failed // "?",
		.totals.late_sends // "?", (.latency.p50_ms | ms), (.latency.p99_ms | ms)] | @tsv' "$base.json")
	[[ $achieved =~ ^[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$ ]] || achieved='?'
	mb=$(peak_mb "$base.rss")
	verdict=$(awk -v a="$achieved" -v r="$rate" -v tol="$TOL_PCT" -v mb="$mb" -v goal="$RSS_GOAL_MB" -v f="$failed" 'BEGIN {
		if (a == "?" || a == "") {printf "? ? FAIL"; exit}
		e = 100 * (a - r) / r
		rv = (e <= tol && e >= -tol) ? "PASS" : "FAIL"
		mv = (mb != "?" && mb + 0 <= goal) ? "PASS" : "FAIL"
		sv = (f == "0") ? "PASS" : "FAIL"
		printf "%+.2f %s %s %s", e, rv, mv, sv}')
	read -r err_pct rate_ok rss_ok sane_ok <<<"$verdict"
	[[ $rate_ok == PASS && $rss_ok == PASS && $sane_ok == PASS ]] || STATUS=1
	note=''
	((rc == 1)) && note='exit=1(gate)'
	[[ $sane_ok == PASS ]] || note+=" failed=$failed"
	ROWS+=("$(printf '%9s %6s %11s %8s %-4s %10s %8s %8s %9s %8s %-4s %17s  %s' \
		"$rate" "${secs}s" "$(printf '%.1f' "${achieved/\?/0}")" "$err_pct" "$rate_ok" "$late" "$p50" "$p99" "$requests" \
		"$mb" "$rss_ok" "$RUN_GEN_CPU/$RUN_NGINX_CPU/$RUN_SIRQ_CPU/$RUN_OTHER_CPU" "$note")")
	log "requested $rate, achieved $achieved ($err_pct%), late $late, p99 $p99 ms, peak RSS $mb MB"
	sleep 1
done
nginx_stop

OUT="$BENCH_RESULTS/rate-$STAMP.txt"
{
	echo "# rolltest fixed-rate benchmark — $(date -u +'%Y-%m-%d %H:%M:%SZ')"
	echo "# repo $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$REPO" diff --quiet HEAD 2>/dev/null || echo '+dirty'), $(nproc) cores; rolltest on cpu $BENCH_GEN_CPU, nginx on cpu $BENCH_TARGET_CPU, $CONNS connections"
	echo "# target $URL; machine ${BUSY_BEFORE}% CPU busy in the 1 s before the run"
	echo "# cpu%: rolltest / nginx / softirq (loopback packets) / everything else during each run, in % of one core"
	echo "# goals: achieved within ±${TOL_PCT}% of requested; peak RSS ≤ ${RSS_GOAL_MB} MB (the 64 MB goal is stated for a 10-minute run: RATE_SOAK=1)"
	echo
	printf '%9s %6s %11s %8s %-4s %10s %8s %8s %9s %8s %-4s %17s  %s\n' \
		requested time achieved 'err %' '±1%' late_sends p50_ms p99_ms requests 'RSS MB' '≤64' 'cpu% gen/ngx/sirq/oth' notes
	printf '%s\n' "${ROWS[@]}"
	echo
	if ((STATUS == 0)); then echo "overall: PASS"; else echo "overall: FAIL"; fi
} >"$OUT"
cat "$OUT"
cp "$OUT" "$BENCH_RESULTS/rate-latest.txt"
log "results: $OUT (raw outputs: $RUN_DIR)"
exit "$STATUS"
