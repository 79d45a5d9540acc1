#!/usr/bin/env bash
# bench/h2c.sh — rolltest --h2c vs h2load and vegeta -h2c, side by side, one
# run, one machine: generator pinned to core 0, an h2c nginx (HTTP/2 cleartext,
# prior knowledge) pinned to core 1, BENCH_DURATION seconds per tool and
# configuration, one after another. Two configurations with the same requests
# in flight in every row of each:
#
#   streams 1   one request per connection at a time: BENCH_INFLIGHT (64)
#               connections (h2load -c 64 -m 1, rolltest --streams 1)
#   streams 10  ceil(64/10) = 7 connections × 10 streams = 70 in flight
#               (h2load -c 7 -m 10, rolltest --streams 10 --concurrency 70)
#
# vegeta cannot set streams per connection: it runs W workers (W = the
# configuration's in-flight count) on Go's HTTP/2 transport, which opens
# connections as it sees fit (the "conns" column shows how many it held).
#
#   bench/h2c.sh                        # 3 tools × 2 configurations × 5 s, ~1 min
#   BENCH_ROUNDS=3 bench/h2c.sh         # interleaved rounds, median req/s
#   BENCH_H2C_STREAMS="1 10 100" bench/h2c.sh
#
# Exit: 0 all goals PASS (or SKIP), 1 a goal or the rolltest sanity check
# FAILED, 2 setup error (install, build, nginx, a tool without a report).
# See bench/README.md.
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BENCH_NGINX_PROTO=h2c
bench_init

DURATION=$(duration_s "${BENCH_DURATION:-5}")
[[ $DURATION =~ ^[1-9][0-9]*$ ]] || die "BENCH_DURATION must be whole seconds (got '${BENCH_DURATION:-}')"
ROUNDS=${BENCH_ROUNDS:-1}
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS must be a positive integer"
INFLIGHT=${BENCH_INFLIGHT:-64}
[[ $INFLIGHT =~ ^[1-9][0-9]*$ ]] || die "BENCH_INFLIGHT must be a positive integer"
read -r -a STREAMS <<<"${BENCH_H2C_STREAMS:-1 10}"
for n in "${STREAMS[@]}"; do
	if ! [[ $n =~ ^[1-9][0-9]*$ ]] || ((n > 100)); then die "BENCH_H2C_STREAMS: '$n' is not 1..100 (nginx allows 128 streams per connection)"; fi
done
read -r -a TOOLS <<<"${BENCH_TOOLS:-h2load vegeta rolltest}"
for t in "${TOOLS[@]}"; do
	case $t in h2load | vegeta | rolltest) ;; *) die "unknown tool '$t' in BENCH_TOOLS (h2load vegeta rolltest)" ;; esac
done
want() { [[ " ${TOOLS[*]} " == *" $1 "* ]]; }

bench_install h2c
if want rolltest; then bench_build_rolltest; fi
nginx_start
URL=$BENCH_URL

STAMP=$(date +%Y%m%d-%H%M%S)
RUN_DIR="$BENCH_STATE/runs/h2c-$STAMP"
mkdir -p "$RUN_DIR"
LIMIT=$((DURATION + 30)) # safety bound per generator run

# conns_for N -> TCP connections of configuration "streams N"; W = conns × N.
conns_for() { echo $(((INFLIGHT + $1 - 1) / $1)); }

# Keyed "TOOL/N": space-separated req/s and CPU % per round, max peak RSS (KB),
# summed requests and errors, last connection count seen mid-run.
declare -A RPS_LIST=() RSS_MAX=() REQS=() ERRS=() NOTE=() CONNS_SEEN=() GEN_CPU=() NGX_CPU=() SIRQ_CPU=() OTHER_CPU=()

# record KEY RPS RSS_FILE REQUESTS ERRORS
record() {
	local key=$1 rps=$2 rssf=$3 req=$4 err=$5 kb
	[[ $rps =~ ^[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$ ]] || {
		log "$key: could not parse req/s (see $RUN_DIR)"
		rps=0
		NOTE[$key]+=' unparsed'
	}
	RPS_LIST[$key]+=" $rps"
	kb=$(rss_kb "$rssf")
	if ((${kb:-0} > ${RSS_MAX[$key]:-0})); then RSS_MAX[$key]=$kb; fi
	REQS[$key]=$((${REQS[$key]:-0} + ${req%.*}))
	ERRS[$key]=$((${ERRS[$key]:-0} + ${err%.*}))
	GEN_CPU[$key]+=" $RUN_GEN_CPU"
	NGX_CPU[$key]+=" $RUN_NGINX_CPU"
	SIRQ_CPU[$key]+=" $RUN_SIRQ_CPU"
	OTHER_CPU[$key]+=" $RUN_OTHER_CPU"
	log "$key: $(printf '%.0f' "$rps") req/s, peak RSS $(peak_mb "$rssf") MB, $req requests, $err errors," \
		"${CONNS_SEEN[$key]:-?} connections; cpu% gen $RUN_GEN_CPU nginx $RUN_NGINX_CPU softirq $RUN_SIRQ_CPU other $RUN_OTHER_CPU"
}

# count_conns_later SECONDS FILE: after SECONDS, the number of established
# client connections to nginx's port -> FILE. Shows how many TCP connections a
# tool really held (vegeta chooses its own).
count_conns_later() {
	sleep "$1"
	ss -Htn state established "( dport = :$NGINX_PORT )" 2>/dev/null | wc -l >"$2"
}

# run_tool TOOL STREAMS ROUND
run_tool() {
	local tool=$1 n=$2 r=$3 base rc=0 c w key counter
	c=$(conns_for "$n")
	w=$((c * n))
	key="$tool/$n"
	base="$RUN_DIR/$tool-s$n-r$r"
	if [[ $tool == vegeta ]]; then
		log "round $r: vegeta, streams $n: $w workers, its own connections (${DURATION}s, cpu $BENCH_GEN_CPU)"
	else
		log "round $r: $tool, streams $n: $w in flight on $c connections (${DURATION}s, cpu $BENCH_GEN_CPU)"
	fi
	count_conns_later "$(awk -v d="$DURATION" 'BEGIN {print d / 2}')" "$base.conns" 9>&- &
	counter=$!
	case $tool in
	h2load)
		run_pinned "$base.rss" "$LIMIT" \
			h2load -t 1 -c "$c" -m "$n" -D "$DURATION" "$URL" >"$base.txt" 2>&1 || rc=$?
		local rps req err
		# "finished in 5.00s, 123456.70 req/s, 8.01MB/s"
		rps=$(awk '/^finished in/ {gsub(/,/, ""); print $4; exit}' "$base.txt")
		# "requests: T total, S started, D done, OK succeeded, F failed, E errored, X timeout":
		# everything done but not a 2xx/3xx (errors, timeouts, 4xx/5xx) is an error.
		read -r req err < <(awk '/^requests:/ {gsub(/,/, ""); d = $6; ok = $8}
			END {print d + 0, d - ok}' "$base.txt")
		[[ $(grep -c 'Application protocol: h2c' "$base.txt") == 1 ]] || NOTE[$key]+=' not-h2c!'
		;;
	vegeta)
		printf 'GET %s\n' "$URL" >"$RUN_DIR/vegeta-targets.txt"
		run_pinned "$base.rss" "$LIMIT" \
			vegeta attack -h2c -targets="$RUN_DIR/vegeta-targets.txt" -rate=0 \
			-max-workers="$w" -workers="$w" \
			-duration="${DURATION}s" -output="$base.bin" >"$base.err" 2>&1 || rc=$?
		# Reported after the attack, unpinned and untimed, so it does not
		# compete with the attack for the generator core.
		vegeta report -type=json "$base.bin" >"$base.json"
		rm -f "$base.bin"
		local rps req err
		rps=$(jq -r '.throughput // empty' "$base.json")
		req=$(jq -r '.requests // 0' "$base.json")
		err=$(jq -r '[.status_codes // {} | to_entries[] | select(.key != "200") | .value] | add // 0' "$base.json")
		;;
	rolltest)
		run_pinned "$base.rss" "$LIMIT" \
			"$ROLLTEST" run --target "$URL" --h2c --streams "$n" --concurrency "$w" \
			--duration "${DURATION}s" --json "$base.json" --quiet >"$base.txt" 2>&1 || rc=$?
		# 0 = pass, 1 = a gate failed: both produce a report. 2 = usage error.
		if ((rc > 1)) || [[ ! -s $base.json ]]; then
			log "rolltest exited $rc without a JSON report; output:"
			tail -n 20 "$base.txt" >&2 || true
			die "rolltest run failed (exit $rc); see $base.txt"
		fi
		((rc == 1)) && NOTE[$key]+=' exit=1(gate)'
		rc=0
		local rps req err
		rps=$(jq -r '.totals.achieved_rps // empty' "$base.json")
		req=$(jq -r '.totals.requests // 0' "$base.json")
		err=$(jq -r '.totals.failed // 0' "$base.json")
		[[ $(jq -r '"\(.config.protocol) \(.config.streams)"' "$base.json") == "h2c $n" ]] || NOTE[$key]+=' not-h2c!'
		;;
	esac
	wait "$counter" 2>/dev/null || true
	CONNS_SEEN[$key]=$(cat "$base.conns" 2>/dev/null || echo '?')
	record "$key" "${rps:-x}" "$base.rss" "${req:-0}" "${err:-0}"
	if ((rc != 0)); then
		log "$tool exited $rc (124/137: killed by the ${LIMIT}s safety timeout); output under $RUN_DIR"
		NOTE[$key]+=" exit=$rc"
	fi
	sleep 1 # let the previous tool's connections close
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
wait_quiet # with nginx idle: how busy other work keeps the machine
for ((r = 1; r <= ROUNDS; r++)); do
	for n in "${STREAMS[@]}"; do
		for t in "${TOOLS[@]}"; do run_tool "$t" "$n" "$r"; done
	done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
nginx_stop

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR] = $1} END {
	if (NR == 0) {print 0} else if (NR % 2) {print a[(NR + 1) / 2]} else {print (a[NR / 2] + a[NR / 2 + 1]) / 2}}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else printf "-"}'; }

declare -A RPS=()
for n in "${STREAMS[@]}"; do
	for t in "${TOOLS[@]}"; do RPS[$t/$n]=$(median <<<"${RPS_LIST[$t/$n]:-}"); done
done

OUT="$BENCH_RESULTS/h2c-$STAMP.txt"
{
	echo "# rolltest h2c benchmark — $(date -u +'%Y-%m-%d %H:%M:%SZ')"
	echo "# repo $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$REPO" diff --quiet HEAD 2>/dev/null || echo '+dirty'), $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
	echo "# target: $(nginx -v 2>&1 | sed 's/.*: //') h2c (prior knowledge), worker_processes 1 on cpu $BENCH_TARGET_CPU, $URL"
	echo "# generators on cpu $BENCH_GEN_CPU (nice $BENCH_NICE, as nginx), ${DURATION}s each, $ROUNDS round(s)$( ((ROUNDS > 1)) && echo ', median req/s, max RSS')"
	echo "# in flight per configuration: ceil($INFLIGHT / streams) connections × streams, the same for every tool;"
	echo "#   vegeta runs that many workers and picks its own connections ('conns': established mid-run)"
	echo "# machine: ${BUSY_BEFORE}% CPU busy in the 1 s before the run; loadavg before $LOAD_BEFORE, after $LOAD_AFTER"
	echo "# cpu%: generator / nginx / softirq / everything else, in % of one core (both cores: 200), median over rounds"
	echo
	printf '%-9s %7s %9s %10s %10s %12s %10s %7s %6s %21s  %s\n' tool streams 'in flight' 'req/s' '/rolltest' 'peak RSS MB' requests errors conns 'cpu% gen/ngx/sirq/oth' notes
	for n in "${STREAMS[@]}"; do
		for t in "${TOOLS[@]}"; do
			k=$t/$n
			printf '%-9s %7s %9s %10.0f %10s %12s %10s %7s %6s %21s  %s\n' "$t" "$n" "$(($(conns_for "$n") * n))" "${RPS[$k]}" \
				"$(ratio "${RPS[$k]}" "${RPS[rolltest/$n]:-0}")" \
				"$(awk -v k="${RSS_MAX[$k]:-0}" 'BEGIN {printf "%.1f", k / 1024}')" \
				"${REQS[$k]}" "${ERRS[$k]}" "${CONNS_SEEN[$k]:-?}" \
				"$(median <<<"${GEN_CPU[$k]:-}")/$(median <<<"${NGX_CPU[$k]:-}")/$(median <<<"${SIRQ_CPU[$k]:-}")/$(median <<<"${OTHER_CPU[$k]:-}")" \
				"$( ((ROUNDS > 1)) && printf 'rounds:%s ' "$(tr ' ' '\n' <<<"${RPS_LIST[$k]}" | grep -v '^$' | xargs printf '%.0f,' | sed 's/,$//')")${NOTE[$k]:-}"
		done
	done
	echo
} >"$OUT"

STATUS=0
goal() { # goal NAME NUMERATOR DENOMINATOR MIN
	local v
	if ! want rolltest || [[ $3 == 0 ]]; then
		printf '%-30s = %5s (goal ≥ %s)  SKIP\n' "$1" '-' "$4"
		return
	fi
	v=$(ratio "$2" "$3")
	if awk -v v="$v" -v m="$4" 'BEGIN {exit !(v >= m)}'; then
		printf '%-30s = %5s (goal ≥ %s)  PASS\n' "$1" "$v" "$4"
	else
		printf '%-30s = %5s (goal ≥ %s)  FAIL\n' "$1" "$v" "$4"
		STATUS=1
	fi
}
{
	for n in "${STREAMS[@]}"; do
		goal "streams $n: rolltest/h2load" "${RPS[rolltest/$n]:-0}" "${RPS[h2load/$n]:-0}" 0.5
		goal "streams $n: rolltest/vegeta" "${RPS[rolltest/$n]:-0}" "${RPS[vegeta/$n]:-0}" 2
	done
	if want rolltest; then
		for n in "${STREAMS[@]}"; do
			if ((${ERRS[rolltest/$n]:-0} > 0)) || ((${REQS[rolltest/$n]:-0} == 0)); then
				echo "sanity: rolltest streams $n requests=${REQS[rolltest/$n]:-0} failed=${ERRS[rolltest/$n]:-0}  FAIL"
				STATUS=1
			else
				echo "sanity: rolltest streams $n requests=${REQS[rolltest/$n]} failed=0  PASS"
			fi
		done
	fi
	for k in "${!ERRS[@]}"; do
		if [[ $k != rolltest/* ]] && ((${ERRS[$k]:-0} > 0)); then
			echo "warning: $k reported ${ERRS[$k]} errors/non-200 responses (see $RUN_DIR)"
		fi
	done
} >>"$OUT"

cat "$OUT"
cp "$OUT" "$BENCH_RESULTS/h2c-latest.txt"
log "results: $OUT (raw outputs: $RUN_DIR)"
exit "$STATUS"
