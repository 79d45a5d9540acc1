#!/usr/bin/env bash
# bench/peers.sh — rolltest vs wrk / bombardier / vegeta / hey, side by side,
# one run, one machine: generator pinned to core 0, nginx pinned to core 1,
# 64 keep-alive connections, BENCH_DURATION seconds each, one after another.
#
#   bench/peers.sh                       # all five tools, 10 s each
#   BENCH_DURATION=5 bench/peers.sh
#   BENCH_TOOLS="wrk bombardier" bench/peers.sh
#   BENCH_ROUNDS=3 bench/peers.sh        # interleaved rounds, median req/s
#   BENCH_BASELINE_BIN=/tmp/rolltest-old BENCH_TOOLS="wrk baseline rolltest" bench/peers.sh
#                                        # an earlier build as tool 'baseline', same run
#
# Exit: 0 all goals PASS (or SKIP), 1 a goal or the rolltest sanity check
# FAILED, 2 setup error (install, build, nginx). See bench/README.md.
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_init

peer_settings 10 "wrk bombardier vegeta hey rolltest" "wrk bombardier vegeta hey rolltest baseline"
CONNS=${BENCH_CONNECTIONS:-64}
[[ $CONNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_CONNECTIONS must be a positive integer"

bench_install peers
if want rolltest; then bench_build_rolltest; fi
if want baseline; then baseline_check; fi
nginx_start
URL=$BENCH_URL

peer_init peers

# run_tool TOOL ROUND
run_tool() {
	local tool=$1 r=$2 base rc=0
	base="$RUN_DIR/$tool-r$r"
	log "round $r: $tool (${DURATION}s, $CONNS connections, cpu $BENCH_GEN_CPU)"
	case $tool in
	wrk)
		run_pinned "$base.rss" "$LIMIT" \
			wrk -t1 -c"$CONNS" -d"${DURATION}s" --timeout 5s "$URL" >"$base.txt" 2>&1 || rc=$?
		local rps req err
		rps=$(awk '/^Requests\/sec:/ {print $2}' "$base.txt")
		req=$(awk '/requests in/ {print $1; exit}' "$base.txt")
		err=$(awk '/Socket errors:/ {gsub(/,/, ""); s += $4 + $6 + $8 + $10}
			/Non-2xx or 3xx responses:/ {s += $NF} END {print s + 0}' "$base.txt")
		record wrk "${rps:-x}" "$base.rss" "${req:-0}" "$err"
		;;
	bombardier)
		run_pinned "$base.rss" "$LIMIT" \
			bombardier -c "$CONNS" -d "${DURATION}s" -l -p r -o json "$URL" >"$base.json" 2>"$base.err" || rc=$?
		local rps req err
		rps=$(jq -r '.result.rps.mean // empty' "$base.json" 2>/dev/null) || true
		req=$(jq -r '.result | .req1xx + .req2xx + .req3xx + .req4xx + .req5xx + .others' "$base.json" 2>/dev/null) || req=0
		err=$(jq -r '.result | .req1xx + .req3xx + .req4xx + .req5xx + .others' "$base.json" 2>/dev/null) || err=0
		record bombardier "${rps:-x}" "$base.rss" "${req:-0}" "${err:-0}"
		;;
	vegeta)
		local rps req err
		run_vegeta "$base" -max-workers="$CONNS" -workers="$CONNS" -connections="$CONNS"
		record vegeta "${rps:-x}" "$base.rss" "$req" "$err"
		;;
	hey)
		run_pinned "$base.rss" "$LIMIT" \
			hey -z "${DURATION}s" -c "$CONNS" "$URL" >"$base.txt" 2>&1 || rc=$?
		local rps req err
		rps=$(awk '/Requests\/sec:/ {print $2; exit}' "$base.txt")
		# "[200]  N responses" lines; "Error distribution:" lines "[N] msg".
		read -r req err < <(awk '
			/Status code distribution:/ {m = "s"; next}
			/Error distribution:/ {m = "e"; next}
			m == "s" && /responses/ {gsub(/[][]/, "", $1); t += $2; if ($1 != "200") e += $2; next}
			m == "e" && /^ *\[[0-9]+\]/ {gsub(/[][]/, "", $1); t += $1; e += $1; next}
			END {print t + 0, e + 0}' "$base.txt")
		record hey "${rps:-x}" "$base.rss" "$req" "$err"
		;;
	rolltest | baseline)
		local bin=$ROLLTEST rps req err
		[[ $tool == baseline ]] && bin=$BENCH_BASELINE_BIN
		run_rolltest "$tool" "$base" "$bin" --concurrency "$CONNS"
		record "$tool" "${rps:-x}" "$base.rss" "$req" "$err"
		;;
	esac
	if ((rc != 0)); then
		log "$tool exited $rc (124/137: killed by the ${LIMIT}s safety timeout); output under $RUN_DIR"
		NOTE[$tool]+=" exit=$rc"
	fi
	sleep 1 # let the previous tool's connections close
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
wait_quiet # with nginx idle: how busy other work keeps the machine
for ((r = 1; r <= ROUNDS; r++)); do
	for t in "${TOOLS[@]}"; do run_tool "$t" "$r"; done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
nginx_stop

declare -A RPS=()
for t in "${TOOLS[@]}"; do RPS[$t]=$(median <<<"${RPS_LIST[$t]:-}"); done
WRK=${RPS[wrk]:-0}
BOMB=${RPS[bombardier]:-0}

OUT="$BENCH_RESULTS/peers-$STAMP.txt"
{
	peer_header "rolltest peer benchmark"
	echo "# target: $(nginx -v 2>&1 | sed 's/.*: //') worker_processes 1 on cpu $BENCH_TARGET_CPU, $URL"
	echo "# generators on cpu $BENCH_GEN_CPU (nice $BENCH_NICE, as nginx), $CONNS keep-alive connections, ${DURATION}s each, $ROUNDS round(s)$( ((ROUNDS > 1)) && echo ', median req/s, max RSS')"
	peer_machine_lines
	echo "# req/s/core: req/s per generator core (req/s ÷ its cpu%), which still measures the generator when"
	echo "#   nginx's core is the limit"
	echo
	printf '%-11s %10s %10s %6s %12s %12s %10s %7s %21s  %s\n' tool 'req/s' 'req/s/core' '/wrk' '/bombardier' 'peak RSS MB' requests errors 'cpu% gen/ngx/sirq/oth' notes
	for t in "${TOOLS[@]}"; do
		printf '%-11s %10.0f %10s %6s %12s %12s %10s %7s %21s  %s\n' "$t" "${RPS[$t]}" "$(per_core "$t")" \
			"$(ratio "${RPS[$t]}" "$WRK")" "$(ratio "${RPS[$t]}" "$BOMB")" \
			"$(rss_mb "$t")" "${REQS[$t]}" "${ERRS[$t]}" "$(cpu_cell "$t")" "$(notes_cell "$t")"
	done
	echo
} >"$OUT"

STATUS=0
{
	goal rolltest/bombardier "${RPS[rolltest]:-0}" "$BOMB" 1.00
	goal rolltest/wrk "${RPS[rolltest]:-0}" "$WRK" 0.75
	if want baseline && want rolltest; then
		echo "rolltest/baseline    = $(ratio "${RPS[rolltest]:-0}" "${RPS[baseline]:-0}") (this build ÷ $BENCH_BASELINE_BIN, same run)"
	fi
	if want rolltest; then sanity rolltest rolltest; fi
	peer_warnings
} >>"$OUT"

cat "$OUT"
cp "$OUT" "$BENCH_RESULTS/peers-latest.txt"
log "results: $OUT (raw outputs: $RUN_DIR)"
exit "$STATUS"
