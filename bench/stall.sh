#!/usr/bin/env bash
# bench/stall.sh — does the drop count depend on the service alone? A
# loopback server (internal/cmd/outageserver, pinned to core 1) answers 200
# except for an outage: BENCH_STALL_S seconds starting 2 s after it starts,
# during which it holds every response until the outage ends (mode hold),
# answers nothing (hang), or also lets connects hang (blackhole). rolltest
# and vegeta (a worker per request, as many as needed) each load a fresh
# server at the same fixed rate and timeout; the requests whose timeout
# falls inside the outage must fail, and both tools must count the same.
#
#   bench/stall.sh                                  # hold, 1000 req/s, --timeout 1s, 8 s
#   BENCH_STALL_MODES="hold hang blackhole" bench/stall.sh
#   BENCH_ROLLTEST_BIN=/tmp/old/rolltest bench/stall.sh   # an older build
#
# Goal: rolltest's failures within 2% of the server's own count (requests
# sent − responses the server wrote in time), and of vegeta's in the hold
# and hang modes (in blackhole mode vegeta's requests reach the server late,
# so its count is its own, not the outage's).
# Exit: 0 PASS, 1 a goal FAILED, 2 setup error.
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_init

RATE=${BENCH_STALL_RATE:-1000}
DURATION=$(duration_s "${BENCH_STALL_DURATION:-8}")
STALL=$(duration_s "${BENCH_STALL_S:-3}")
TIMEOUT=$(duration_s "${BENCH_STALL_TIMEOUT:-1}")
read -r -a MODES <<<"${BENCH_STALL_MODES:-hold}"
for v in "$RATE" "$DURATION" "$STALL" "$TIMEOUT"; do
	[[ $v =~ ^[1-9][0-9]*$ ]] || die "rate, durations and timeout must be positive integers (got '$v')"
done
for m in "${MODES[@]}"; do
	case $m in hold | hang | blackhole) ;; *) die "unknown mode '$m' in BENCH_STALL_MODES (hold, hang, blackhole)" ;; esac
done

have jq || apt_install jq
[[ -x /usr/bin/time ]] || apt_install time
have taskset || apt_install util-linux
go_tool vegeta "$VEGETA_PKG"

stall_cleanup() {
	bench_cleanup
	server_stop
}
trap stall_cleanup EXIT
trap 'stall_cleanup; trap - INT; kill -INT $$' INT
trap 'stall_cleanup; trap - TERM; kill -TERM $$' TERM

bench_build_rolltest
log "go build -o .state/bench/bin/outageserver ./internal/cmd/outageserver"
(cd "$REPO" && go build -o "$BENCH_BIN/outageserver" ./internal/cmd/outageserver) || die "building outageserver failed"

STAMP=$(date +%Y%m%d-%H%M%S)
RUN_DIR="$BENCH_STATE/runs/stall-$STAMP"
mkdir -p "$RUN_DIR"

# outage_server_start MODE NAME: starts outageserver on a free loopback
# port; sets SERVER_URL and SERVER_OUT.
outage_server_start() {
	SERVER_OUT="$RUN_DIR/server-$2.out"
	server_start "$SERVER_OUT" "$BENCH_BIN/outageserver" -mode "$1" -after 2s -for "${STALL}s" -client-timeout "${TIMEOUT}s" \
		-max-duration "$((DURATION + 120))s"
}

wait_quiet
ROWS=()
STATUS=0
LIMIT=$((DURATION + 4 * TIMEOUT + 60))

# run_tool MODE TOOL: prints "requests failed timeouts server_served late_or_dash".
run_tool() {
	local mode=$1 tool=$2 base rc=0 requests failed timeouts served extra late
	base="$RUN_DIR/$mode-$tool"
	outage_server_start "$mode" "$mode-$tool"
	case $tool in
	rolltest)
		local gate=()
		# Builds before the schedule_kept gate have no --max-late.
		if "$ROLLTEST" run --help 2>/dev/null | grep -q -- --max-late; then gate=(--max-late -1); fi
		run_pinned "$base.rss" "$LIMIT" \
			"$ROLLTEST" run --target "$SERVER_URL" --rate "$RATE" --duration "${DURATION}s" --timeout "${TIMEOUT}s" \
			--identity none --max-errors -1 "${gate[@]}" --json "$base.json" --quiet >"$base.txt" 2>&1 || rc=$?
		((rc <= 1)) && [[ -s $base.json ]] || die "rolltest exited $rc without a report: $(tail -n 3 "$base.txt")"
		read -r requests failed timeouts late < <(jq -r '[.totals.requests, .totals.failed,
			((.totals.outcomes.timeout_response // 0) + (.totals.outcomes.timeout_connect // 0)),
			"\(.totals.behind_sends // "?")/\(.totals.max_send_delay_ms)ms"] | @tsv' "$base.json")
		extra=1 # the preflight: one request outside the run
		;;
	vegeta)
		run_pinned "$base.rss" "$LIMIT" bash -c 'echo "GET $1" | "$2" attack -rate "$3" -duration "$4" -timeout "$5" >"$6"' _ \
			"$SERVER_URL" "$BENCH_BIN/vegeta" "$RATE/1s" "${DURATION}s" "${TIMEOUT}s" "$base.bin" || rc=$?
		((rc == 0)) || die "vegeta exited $rc"
		"$BENCH_BIN/vegeta" report -type=json <"$base.bin" >"$base.json"
		read -r requests failed timeouts < <(jq -r '[.requests, (.requests - (.status_codes["200"] // 0)),
			([.errors[]? | select(test("timeout|deadline"; "i"))] | length | if . > 0 then "see errors" else 0 end)] | @tsv' "$base.json")
		# vegeta lists distinct error strings, not counts: every non-200 here is a timeout or a reset.
		timeouts=$failed
		late=-
		extra=0
		;;
	esac
	server_stop
	served=$(tail -n1 "$SERVER_OUT" | jq -r '.served - .late')
	echo "$requests $failed $timeouts $((served - extra)) $late"
}

for mode in "${MODES[@]}"; do
	read -r rq rf rt rs rl < <(run_tool "$mode" rolltest)
	read -r vq vf vt vs _ < <(run_tool "$mode" vegeta)
	# The server's own count of what it failed: requests sent that it did not
	# answer within the timeout of their arrival.
	ratio=$(awk -v a="$rf" -v b="$vf" 'BEGIN {if (b == 0) print (a == 0 ? 1 : 0); else printf "%.3f", a / b}')
	vs_server=$(awk -v f="$rf" -v q="$rq" -v s="$rs" 'BEGIN {d = q - s; if (d == 0) print (f == 0 ? 1 : 0); else printf "%.3f", f / d}')
	# In blackhole mode vegeta's own requests reach the server late (its
	# failures match what the server did with them, which is fewer than
	# were due in the outage): only the server's count judges rolltest.
	judge_peer=1
	[[ $mode == blackhole ]] && judge_peer=0
	ok=$(awk -v r="$ratio" -v s="$vs_server" -v jp="$judge_peer" 'BEGIN {
		print ((!jp || (r >= 0.98 && r <= 1.02)) && s >= 0.98 && s <= 1.02) ? "PASS" : "FAIL"}')
	[[ $ok == PASS ]] || STATUS=1
	ROWS+=("$(printf '%-9s %-8s %8s %8s %9s %10s   %-6s' "$mode" rolltest "$rq" "$rf" "$((rq - rs))" "$rl" "")")
	ROWS+=("$(printf '%-9s %-8s %8s %8s %9s %10s   rolltest/vegeta %s, rolltest/server %s  %s' "$mode" vegeta "$vq" "$vf" "$((vq - vs))" - "$ratio" "$vs_server" "$ok")")
	log "$mode: rolltest failed $rf of $rq (server: $((rq - rs))), vegeta failed $vf of $vq (server: $((vq - vs)))"
done

OUT="$BENCH_RESULTS/stall-$STAMP.txt"
{
	echo "# rolltest vs vegeta against a stalling server — $(date -u +'%Y-%m-%d %H:%M:%SZ')"
	echo "# repo $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$REPO" diff --quiet HEAD 2>/dev/null || echo '+dirty'), rolltest $ROLLTEST"
	echo "# $(nproc) cores; generator on cpu $BENCH_GEN_CPU, server on cpu $BENCH_TARGET_CPU; machine ${BUSY_BEFORE}% busy before"
	echo "# ${RATE} req/s for ${DURATION}s, timeout ${TIMEOUT}s, keep-alive on; outage of ${STALL}s from 2 s after the server starts"
	echo "# server-failed = requests sent − responses the server wrote within the timeout of their arrival (the preflight excluded)"
	echo "# goal: rolltest's failures within 2% of the server's count, and of vegeta's (hold, hang; blackhole: vegeta's requests reach the server late)"
	echo
	printf '%-9s %-8s %8s %8s %9s %10s\n' mode tool requests failed server-failed 'behind/max'
	printf '%s\n' "${ROWS[@]}"
	echo
	if ((STATUS == 0)); then echo "overall: PASS"; else echo "overall: FAIL"; fi
} >"$OUT"
cat "$OUT"
cp "$OUT" "$BENCH_RESULTS/stall-latest.txt"
log "results: $OUT (raw outputs: $RUN_DIR)"
exit "$STATUS"
