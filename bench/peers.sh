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

DURATION=$(duration_s "${BENCH_DURATION:-10}")
[[ $DURATION =~ ^[1-9][0-9]*$ ]] || die "BENCH_DURATION must be whole seconds (got '${BENCH_DURATION:-}')"
ROUNDS=${BENCH_ROUNDS:-1}
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS must be a positive integer"
CONNS=${BENCH_CONNECTIONS:-64}
[[ $CONNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_CONNECTIONS must be a positive integer"
read -r -a TOOLS <<<"${BENCH_TOOLS:-wrk bombardier vegeta hey rolltest}"
for t in "${TOOLS[@]}"; do
	case $t in wrk | bombardier | vegeta | hey | rolltest | baseline) ;; *) die "unknown tool '$t' in BENCH_TOOLS" ;; esac
done
want() { [[ " ${TOOLS[*]} " == *" $1 "* ]]; }

bench_install peers
if want rolltest; then bench_build_rolltest; fi
if want baseline; then
	[[ -x ${BENCH_BASELINE_BIN:-} ]] || die "tool 'baseline' needs BENCH_BASELINE_BIN=PATH, an earlier rolltest build"
	log "baseline: $BENCH_BASELINE_BIN ($("$BENCH_BASELINE_BIN" version 2>/dev/null | head -n1))"
fi
nginx_start
URL=$BENCH_URL

STAMP=$(date +%Y%m%d-%H%M%S)
RUN_DIR="$BENCH_STATE/runs/peers-$STAMP"
mkdir -p "$RUN_DIR"
LIMIT=$((DURATION + 30)) # safety bound per generator run

# Per tool: space-separated req/s and CPU % per round, max peak RSS (KB),
# summed requests and errors.
declare -A RPS_LIST=() RSS_MAX=() REQS=() ERRS=() NOTE=() GEN_CPU=() NGX_CPU=() SIRQ_CPU=() OTHER_CPU=()

# record TOOL RPS RSS_FILE REQUESTS ERRORS
record() {
	local tool=$1 rps=$2 rssf=$3 req=$4 err=$5 kb
	[[ $rps =~ ^[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$ ]] || {
		log "$tool: could not parse req/s (see $RUN_DIR)"
		rps=0
		NOTE[$tool]+=' unparsed'
	}
	RPS_LIST[$tool]="${RPS_LIST[$tool]:-} $rps"
	kb=$(rss_kb "$rssf")
	if ((${kb:-0} > ${RSS_MAX[$tool]:-0})); then RSS_MAX[$tool]=$kb; fi
	REQS[$tool]=$((${REQS[$tool]:-0} + ${req%.*}))
	ERRS[$tool]=$((${ERRS[$tool]:-0} + ${err%.*}))
	GEN_CPU[$tool]+=" $RUN_GEN_CPU"
	NGX_CPU[$tool]+=" $RUN_NGINX_CPU"
	SIRQ_CPU[$tool]+=" $RUN_SIRQ_CPU"
	OTHER_CPU[$tool]+=" $RUN_OTHER_CPU"
	log "$tool: $(printf '%.0f' "$rps") req/s, peak RSS $(peak_mb "$rssf") MB, $req requests, $err errors;" \
		"cpu% gen $RUN_GEN_CPU nginx $RUN_NGINX_CPU softirq $RUN_SIRQ_CPU other $RUN_OTHER_CPU"
}

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
		printf 'GET %s\n' "$URL" >"$RUN_DIR/vegeta-targets.txt"
		run_pinned "$base.rss" "$LIMIT" \
			vegeta attack -targets="$RUN_DIR/vegeta-targets.txt" -rate=0 \
			-max-workers="$CONNS" -workers="$CONNS" -connections="$CONNS" \
			-duration="${DURATION}s" -output="$base.bin" >"$base.err" 2>&1 || rc=$?
		# Reported after the attack, unpinned and untimed, so it does not
		# compete with the attack for the generator core.
		vegeta report -type=json "$base.bin" >"$base.json"
		rm -f "$base.bin"
		local rps req err
		rps=$(jq -r '.throughput // empty' "$base.json")
		req=$(jq -r '.requests // 0' "$base.json")
		err=$(jq -r '[.status_codes // {} | to_entries[] | select(.key != "200") | .value] | add // 0' "$base.json")
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
		local bin=$ROLLTEST
		[[ $tool == baseline ]] && bin=$BENCH_BASELINE_BIN
		run_pinned "$base.rss" "$LIMIT" \
			"$bin" run --target "$URL" --concurrency "$CONNS" --duration "${DURATION}s" \
			--json "$base.json" --quiet >"$base.txt" 2>&1 || rc=$?
		# 0 = pass, 1 = a gate failed: both produce a report. 2 = usage error.
		if ((rc > 1)) || [[ ! -s $base.json ]]; then
			log "$tool exited $rc without a JSON report; output:"
			tail -n 20 "$base.txt" >&2 || true
			die "$tool run failed (exit $rc); see $base.txt"
		fi
		((rc == 1)) && NOTE[$tool]+=' exit=1(gate)'
		rc=0
		local rps req err
		rps=$(jq -r '.totals.achieved_rps // empty' "$base.json")
		req=$(jq -r '.totals.requests // 0' "$base.json")
		err=$(jq -r '.totals.failed // 0' "$base.json")
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

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR] = $1} END {
	if (NR == 0) {print 0} else if (NR % 2) {print a[(NR + 1) / 2]} else {print (a[NR / 2] + a[NR / 2 + 1]) / 2}}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else printf "-"}'; }

declare -A RPS=()
for t in "${TOOLS[@]}"; do RPS[$t]=$(median <<<"${RPS_LIST[$t]:-}"); done
WRK=${RPS[wrk]:-0}
BOMB=${RPS[bombardier]:-0}

OUT="$BENCH_RESULTS/peers-$STAMP.txt"
{
	echo "# rolltest peer benchmark — $(date -u +'%Y-%m-%d %H:%M:%SZ')"
	echo "# repo $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$REPO" diff --quiet HEAD 2>/dev/null || echo '+dirty'), $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
	echo "# target: $(nginx -v 2>&1 | sed 's/.*: //') worker_processes 1 on cpu $BENCH_TARGET_CPU, $URL"
	echo "# generators on cpu $BENCH_GEN_CPU (nice $BENCH_NICE, as nginx), $CONNS keep-alive connections, ${DURATION}s each, $ROUNDS round(s)$( ((ROUNDS > 1)) && echo ', median req/s, max RSS')"
	echo "# machine: ${BUSY_BEFORE}% CPU busy in the 1 s before the run; loadavg before $LOAD_BEFORE, after $LOAD_AFTER"
	echo "# cpu%: generator / nginx / softirq (loopback packets, charged to no process) / everything else,"
	echo "#   in % of one core, median over rounds. Both cores total 200. 'oth' well above ~5: other work on the"
	echo "#   shared machine took CPU from the run."
	echo
	printf '%-11s %10s %6s %12s %12s %10s %7s %21s  %s\n' tool 'req/s' '/wrk' '/bombardier' 'peak RSS MB' requests errors 'cpu% gen/ngx/sirq/oth' notes
	for t in "${TOOLS[@]}"; do
		printf '%-11s %10.0f %6s %12s %12s %10s %7s %21s  %s\n' "$t" "${RPS[$t]}" \
			"$(ratio "${RPS[$t]}" "$WRK")" "$(ratio "${RPS[$t]}" "$BOMB")" \
			"$(awk -v k="${RSS_MAX[$t]:-0}" 'BEGIN {printf "%.1f", k / 1024}')" \
			"${REQS[$t]}" "${ERRS[$t]}" \
			"$(median <<<"${GEN_CPU[$t]:-}")/$(median <<<"${NGX_CPU[$t]:-}")/$(median <<<"${SIRQ_CPU[$t]:-}")/$(median <<<"${OTHER_CPU[$t]:-}")" \
			"$( ((ROUNDS > 1)) && printf 'rounds:%s ' "$(tr ' ' '\n' <<<"${RPS_LIST[$t]}" | grep -v '^$' | xargs printf '%.0f,' | sed 's/,$//')")${NOTE[$t]:-}"
	done
	echo
} >"$OUT"

STATUS=0
goal() { # goal NAME VALUE_NUM VALUE_DEN MIN
	local v
	if ! want rolltest || [[ $3 == 0 ]]; then
		printf '%-20s = %5s (goal ≥ %s)  SKIP\n' "$1" '-' "$4"
		return
	fi
	v=$(ratio "$2" "$3")
	if awk -v v="$v" -v m="$4" 'BEGIN {exit !(v >= m)}'; then
		printf '%-20s = %5s (goal ≥ %s)  PASS\n' "$1" "$v" "$4"
	else
		printf '%-20s = %5s (goal ≥ %s)  FAIL\n' "$1" "$v" "$4"
		STATUS=1
	fi
}
{
	goal rolltest/bombardier "${RPS[rolltest]:-0}" "$BOMB" 1.00
	goal rolltest/wrk "${RPS[rolltest]:-0}" "$WRK" 0.75
	if want baseline && want rolltest; then
		echo "rolltest/baseline    = $(ratio "${RPS[rolltest]:-0}" "${RPS[baseline]:-0}") (this build ÷ $BENCH_BASELINE_BIN, same run)"
	fi
	if want rolltest; then
		if ((${ERRS[rolltest]:-0} > 0)) || ((${REQS[rolltest]:-0} == 0)); then
			echo "sanity: rolltest requests=${REQS[rolltest]:-0} failed=${ERRS[rolltest]:-0}  FAIL"
			STATUS=1
		else
			echo "sanity: rolltest requests=${REQS[rolltest]} failed=0  PASS"
		fi
	fi
	for t in "${TOOLS[@]}"; do
		if [[ $t != rolltest ]] && ((${ERRS[$t]:-0} > 0)); then
			echo "warning: $t reported ${ERRS[$t]} errors/non-200 responses (see $RUN_DIR)"
		fi
	done
} >>"$OUT"

cat "$OUT"
cp "$OUT" "$BENCH_RESULTS/peers-latest.txt"
log "results: $OUT (raw outputs: $RUN_DIR)"
exit "$STATUS"
