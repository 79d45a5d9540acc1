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
#   BENCH_BASELINE_BIN=/tmp/rolltest-old BENCH_TOOLS="vegeta baseline rolltest" bench/h2c.sh
#                                       # an earlier build as tool 'baseline', same run
#
# Exit: 0 all goals PASS (or SKIP), 1 a goal or the rolltest sanity check
# FAILED, 2 setup error (install, build, nginx, a tool without a report).
# See bench/README.md.
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BENCH_NGINX_PROTO=h2c
bench_init

peer_settings 5 "h2load vegeta rolltest" "h2load vegeta rolltest baseline"
INFLIGHT=${BENCH_INFLIGHT:-64}
[[ $INFLIGHT =~ ^[1-9][0-9]*$ ]] || die "BENCH_INFLIGHT must be a positive integer"
read -r -a STREAMS <<<"${BENCH_H2C_STREAMS:-1 10}"
for n in "${STREAMS[@]}"; do
	if ! [[ $n =~ ^[1-9][0-9]*$ ]] || ((n > 100)); then die "BENCH_H2C_STREAMS: '$n' is not 1..100 (nginx allows 128 streams per connection)"; fi
done

bench_install h2c
if want rolltest; then bench_build_rolltest; fi
if want baseline; then baseline_check; fi
nginx_start
URL=$BENCH_URL

peer_init h2c

# conns_for N -> TCP connections of configuration "streams N"; W = conns × N.
conns_for() { echo $(((INFLIGHT + $1 - 1) / $1)); }

# The tables (peer_init) are keyed "TOOL/N"; CONNS_SEEN keeps the
# connection count seen mid-run.
declare -A CONNS_SEEN=()

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
		local rps req err
		run_vegeta "$base" -h2c -max-workers="$w" -workers="$w"
		;;
	rolltest | baseline)
		local rps req err bin=$ROLLTEST
		[[ $tool == baseline ]] && bin=$BENCH_BASELINE_BIN
		run_rolltest "$key" "$base" "$bin" --h2c --streams "$n" --concurrency "$w"
		[[ $(jq -r '"\(.config.protocol) \(.config.streams)"' "$base.json") == "h2c $n" ]] || NOTE[$key]+=' not-h2c!'
		;;
	esac
	wait "$counter" 2>/dev/null || true
	CONNS_SEEN[$key]=$(cat "$base.conns" 2>/dev/null || echo '?')
	record "$key" "${rps:-x}" "$base.rss" "${req:-0}" "${err:-0}" ", ${CONNS_SEEN[$key]:-?} connections"
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

declare -A RPS=()
for n in "${STREAMS[@]}"; do
	for t in "${TOOLS[@]}"; do RPS[$t/$n]=$(median <<<"${RPS_LIST[$t/$n]:-}"); done
done

OUT="$BENCH_RESULTS/h2c-$STAMP.txt"
{
	peer_header "rolltest h2c benchmark"
	echo "# target: $(nginx -v 2>&1 | sed 's/.*: //') h2c (prior knowledge), worker_processes 1 on cpu $BENCH_TARGET_CPU, $URL"
	echo "# generators on cpu $BENCH_GEN_CPU (nice $BENCH_NICE, as nginx), ${DURATION}s each, $ROUNDS round(s)$( ((ROUNDS > 1)) && echo ', median req/s, max RSS')"
	echo "# in flight per configuration: ceil($INFLIGHT / streams) connections × streams, the same for every tool;"
	echo "#   vegeta runs that many workers and picks its own connections ('conns': established mid-run)"
	peer_machine_lines
	echo "# req/s/core: req/s per generator core (req/s ÷ its cpu%), which still measures the generator when"
	echo "#   nginx's core is the limit"
	echo
	printf '%-9s %7s %9s %10s %10s %10s %12s %10s %7s %6s %21s  %s\n' tool streams 'in flight' 'req/s' 'req/s/core' '/rolltest' 'peak RSS MB' requests errors conns 'cpu% gen/ngx/sirq/oth' notes
	for n in "${STREAMS[@]}"; do
		for t in "${TOOLS[@]}"; do
			k=$t/$n
			printf '%-9s %7s %9s %10.0f %10s %10s %12s %10s %7s %6s %21s  %s\n' "$t" "$n" "$(($(conns_for "$n") * n))" "${RPS[$k]}" \
				"$(per_core "$k")" "$(ratio "${RPS[$k]}" "${RPS[rolltest/$n]:-0}")" "$(rss_mb "$k")" \
				"${REQS[$k]}" "${ERRS[$k]}" "${CONNS_SEEN[$k]:-?}" "$(cpu_cell "$k")" "$(notes_cell "$k")"
		done
	done
	echo
} >"$OUT"

STATUS=0
{
	for n in "${STREAMS[@]}"; do
		goal "streams $n: rolltest/h2load" "${RPS[rolltest/$n]:-0}" "${RPS[h2load/$n]:-0}" 0.5
		goal "streams $n: rolltest/vegeta" "${RPS[rolltest/$n]:-0}" "${RPS[vegeta/$n]:-0}" 2
	done
	# Not goals: what the throughput ratios cannot show when the target,
	# not the generator, sets the pace.
	for n in "${STREAMS[@]}"; do
		want rolltest || break
		printf 'per core, streams %s: rolltest/h2load = %s, rolltest/vegeta = %s\n' "$n" \
			"$(ratio "$(per_core "rolltest/$n")" "$(per_core "h2load/$n")")" "$(ratio "$(per_core "rolltest/$n")" "$(per_core "vegeta/$n")")"
		if want baseline; then
			printf 'this build ÷ baseline, streams %s: req/s %s, per core %s (%s, same run)\n' "$n" \
				"$(ratio "${RPS[rolltest/$n]:-0}" "${RPS[baseline/$n]:-0}")" \
				"$(ratio "$(per_core "rolltest/$n")" "$(per_core "baseline/$n")")" "$BENCH_BASELINE_BIN"
		fi
		ngx=$(median <<<"${NGX_CPU[rolltest/$n]:-}")
		if ((${ngx%.*} >= 90)); then
			echo "target-bound, streams $n: nginx's core was ${ngx}% busy under rolltest; its req/s is nginx's ceiling, not rolltest's"
		fi
	done
	if want rolltest; then
		for n in "${STREAMS[@]}"; do sanity "rolltest/$n" "rolltest streams $n"; done
	fi
	peer_warnings
} >>"$OUT"

cat "$OUT"
cp "$OUT" "$BENCH_RESULTS/h2c-latest.txt"
log "results: $OUT (raw outputs: $RUN_DIR)"
exit "$STATUS"
