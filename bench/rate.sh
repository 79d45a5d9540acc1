#!/usr/bin/env bash
# bench/rate.sh — rolltest fixed-rate accuracy and memory, same setup as
# bench/peers.sh (rolltest pinned to core 0, nginx pinned to core 1).
#
#   bench/rate.sh                               # 1000, 10000, 50000 req/s, 30 s each
#   BENCH_RATES="5000 20000" BENCH_RATE_DURATION=10 bench/rate.sh
#   RATE_SOAK=1 bench/rate.sh                   # + 10 min at 20000 req/s (peak-RSS goal)
#   RATE_SOAK=growth bench/rate.sh              # only 30 min at 5000 req/s: RSS at 1, 10, 30 min
#   RATE_SOAK=growth RATE_SOAK_DURATION=3m bench/rate.sh   # short variant (RSS at 1 min and the end)
#
# Goals: achieved rate within ±1% of the requested rate; peak RSS ≤ 64 MB.
# Growth mode: RSS sampled every BENCH_RSS_EVERY (2) s; the slope from 1 min
# to the end (least squares, KB per second of run) projected from the last
# sample to 24 h must stay ≤ RATE_SOAK_GOAL_MB (100); judged for runs of at
# least 10 minutes only.
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
GROWTH_RATE=${RATE_SOAK_RATE:-5000}
GROWTH_DURATION=$(duration_s "${RATE_SOAK_DURATION:-30m}")
GROWTH_GOAL_MB=${RATE_SOAK_GOAL_MB:-100}
read -r -a GROWTH_AT <<<"${RATE_SOAK_AT:-1m 10m 30m}"
for i in "${!GROWTH_AT[@]}"; do GROWTH_AT[i]=$(duration_s "${GROWTH_AT[i]}"); done

for v in "${RATES[@]}" "$DURATION" "$CONNS" "$SOAK_RATE" "$SOAK_DURATION" "$GROWTH_RATE" "$GROWTH_DURATION" "$GROWTH_GOAL_MB" "${GROWTH_AT[@]}"; do
	[[ $v =~ ^[1-9][0-9]*$ ]] || die "rates, durations (whole seconds) and connections must be positive integers (got '$v')"
done
# Runs as "rate:seconds".
RUNS=()
case ${RATE_SOAK:-0} in
0) for r in "${RATES[@]}"; do RUNS+=("$r:$DURATION"); done ;;
1)
	for r in "${RATES[@]}"; do RUNS+=("$r:$DURATION"); done
	RUNS+=("$SOAK_RATE:$SOAK_DURATION")
	;;
growth) RUNS+=("$GROWTH_RATE:$GROWTH_DURATION") ;;
*) die "RATE_SOAK must be 0, 1 or growth (got '${RATE_SOAK}')" ;;
esac
# Runs longer than a minute sample RSS over time (memory that grows with the
# run's length shows as a slope, not in one peak).
GROWTH=()

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
	RUN_RSS_SAMPLES=''
	((secs > 60)) && RUN_RSS_SAMPLES="$base.rss-samples"
	# Growth mode also logs every GC (to $base.txt): the live heap after each
	# one tells retained memory from garbage not yet collected, which is most
	# of a short run's RSS growth.
	GEN_ENV=()
	[[ ${RATE_SOAK:-0} == growth ]] && GEN_ENV=(env GODEBUG=gctrace=1)
	RUN_RSS_SAMPLES=$RUN_RSS_SAMPLES run_pinned "$base.rss" $((secs + 60)) \
		"${GEN_ENV[@]}" "$ROLLTEST" run --target "$URL" --rate "$rate" --connections "$CONNS" \
		--duration "${secs}s" --json "$base.json" --quiet >"$base.txt" 2>&1 || rc=$?
	# 0 = pass, 1 = a gate failed: both write the report. Anything else: broken run.
	if ((rc > 1)) || [[ ! -s $base.json ]]; then
		tail -n 20 "$base.txt" >&2 || true
		die "rolltest run failed (exit $rc) at --rate $rate; see $base.txt"
	fi
	read -r achieved requests failed late p50 p99 behind maxdelay < <(jq -r 'def ms: if type == "number" then (. * 100 | round / 100) else "?" end; [
		.totals.achieved_rps // "?", .totals.requests // "?", .totals.failed // "?",
		.totals.late_sends // "?", (.latency.p50_ms | ms), (.latency.p99_ms | ms),
		.totals.behind_sends // "?", (.totals.max_send_delay_ms | ms)] | @tsv' "$base.json")
	# The share of sends more than 1 ms late (goal ≤ 1% with a core free)
	# and more than 10 ms late (the schedule_kept gate's measure).
	late=$(awk -v l="$late" -v b="$behind" -v n="$requests" -v m="$maxdelay" 'BEGIN {
		if (n + 0 == 0 || l == "?") {print "?"; exit}
		printf "%.2f%%/%s/%s", 100 * l / n, (b == "?" ? "?" : sprintf("%.2f%%", 100 * b / n)), m}')
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
	ROWS+=("$(printf '%9s %6s %11s %8s %-4s %22s %8s %8s %9s %8s %-4s %17s  %s' \
		"$rate" "${secs}s" "$(printf '%.1f' "${achieved/\?/0}")" "$err_pct" "$rate_ok" "$late" "$p50" "$p99" "$requests" \
		"$mb" "$rss_ok" "$RUN_GEN_CPU/$RUN_NGINX_CPU/$RUN_SIRQ_CPU/$RUN_OTHER_CPU" "$note")")
	log "requested $rate, achieved $achieved ($err_pct%), late $late, p99 $p99 ms, peak RSS $mb MB"
	if [[ -n $RUN_RSS_SAMPLES && -s $RUN_RSS_SAMPLES ]]; then
		# RSS at each checkpoint within the run and at its end; the slope is
		# from the 1-minute sample (start-up done, pools warm) to the end.
		line=$(printf '%9s %6s  RSS MB:' "$rate" "${secs}s")
		last=0
		for at in "${GROWTH_AT[@]}" "$secs"; do
			((at <= secs && at > last)) || continue
			last=$at
			kb=$(rss_at "$RUN_RSS_SAMPLES" "$at")
			line+=$(awk -v a="$at" -v k="$kb" 'BEGIN {if (k == "") k = "?"; else k = sprintf("%.1f", k / 1024); printf " %s@%ds", k, a}')
		done
		# Least-squares slope over the samples from 1 min on (the GC grows the
		# heap in steps, so two end points would mostly measure one step).
		# Judged only from 10 minutes on: before that the slope is mostly the
		# heap filling with garbage up to the GC goal (see the live heap).
		read -r slope proj gv < <(awk -v goal="$GROWTH_GOAL_MB" -v secs="$secs" '
			$1 + 0 >= 60 {n++; st += $1; sk += $2; stt += $1 * $1; stk += $1 * $2; t1 = $1; k1 = $2}
			END {
				if (n < 5 || n * stt - st * st <= 0) {print "? ? ?"; exit}
				s = (n * stk - st * sk) / (n * stt - st * st)
				p = (k1 + s * (86400 - t1)) / 1024
				printf "%.2f %.0f %s\n", s, p, (secs < 600 ? "not-judged(<10min)" : p <= goal ? "PASS" : "FAIL")}' "$RUN_RSS_SAMPLES")
		line+="  slope ${slope} KB/s of run  24h projection ${proj} MB (≤${GROWTH_GOAL_MB}: $gv)"
		if ((${#GEN_ENV[@]} > 0)); then
			# "gc N @Ts ...: A->B->C MB": C is the live heap after that GC.
			line+=$(awk '/^gc [0-9]+ @/ && match($0, /->[0-9]+ MB,/) {
				t = $3; sub(/^@/, "", t); sub(/s$/, "", t)
				c = substr($0, RSTART + 2, RLENGTH - 6) + 0
				if (t + 0 >= 60 && f == "") {f = c; ft = t}
				l = c; lt = t
			}
			END {if (f != "") printf "  live heap after GC %d MB@%.0fs %d MB@%.0fs", f, ft, l, lt}' "$base.txt")
		fi
		GROWTH+=("$line")
		[[ ${RATE_SOAK:-0} != growth || $gv != FAIL ]] || STATUS=1
		log "RSS over time: ${line#*RSS MB: }"
	fi
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
	printf '%9s %6s %11s %8s %-4s %22s %8s %8s %9s %8s %-4s %17s  %s\n' \
		requested time achieved 'err %' '±1%' '>1ms/>10ms/max' p50_ms p99_ms requests 'RSS MB' '≤64' 'cpu% gen/ngx/sirq/oth' notes
	printf '%s\n' "${ROWS[@]}"
	if ((${#GROWTH[@]} > 0)); then
		echo
		echo "# RSS over time (VmRSS sampled every ${BENCH_RSS_EVERY:-2} s; least-squares slope from 1 min to the end, KB per second of run)"
		printf '%s\n' "${GROWTH[@]}"
	fi
	echo
	if ((STATUS == 0)); then echo "overall: PASS"; else echo "overall: FAIL"; fi
} >"$OUT"
cat "$OUT"
cp "$OUT" "$BENCH_RESULTS/rate-latest.txt"
log "results: $OUT (raw outputs: $RUN_DIR)"
exit "$STATUS"
