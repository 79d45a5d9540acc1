# shellcheck shell=bash
# shellcheck disable=SC2034 # globals set here are read by the sourcing scripts
# bench/lib.sh — shared helpers for the bench/*.sh scripts.
#
# Sourced, never executed. Provides:
#   bench_init            paths, PATH, cleanup trap (EXIT/INT/TERM)
#   bench_install         installs missing tools (apt / go install), idempotent
#   bench_build_rolltest  go build ./cmd/rolltest -> $BENCH_BIN/rolltest
#   nginx_start           starts a private, pinned nginx; sets NGINX_PORT, BENCH_URL
#                         (BENCH_NGINX_PROTO=h2c: HTTP/2 cleartext, prior knowledge)
#   nginx_stop
#   run_pinned RSS_FILE TIMEOUT_S CMD...
#                         runs CMD pinned to the generator core under
#                         /usr/bin/time (peak RSS in KB -> RSS_FILE), bounded by
#                         `timeout`, killable by the cleanup trap. With
#                         RUN_RSS_SAMPLES=FILE set, also samples the
#                         generator's VmRSS every BENCH_RSS_EVERY s (default
#                         2) into FILE as "SECONDS_SINCE_START RSS_KB" lines.
#   peer_*, record, median, ratio, goal, run_vegeta, run_rolltest
#                         the side-by-side tables of peers.sh and h2c.sh
#
# Everything it writes lives under $REPO/.state/bench (git-ignored).

# ---------------------------------------------------------------- settings
BENCH_GEN_CPU=${BENCH_GEN_CPU:-0}        # core for the load generator
BENCH_TARGET_CPU=${BENCH_TARGET_CPU:-1}  # core for nginx
BENCH_PORT=${BENCH_PORT:-18080}          # first port tried for nginx
# Scheduling priority of nginx and the generators. On a shared machine other
# engineers' builds otherwise take CPU from the run; -10 gives the benchmark
# ~9x their weight (needs root; 0 disables). With sched_autogroup (on here)
# nice only ranks tasks within one session, so each one is started in a session
# of its own whose autogroup gets the same nice.
BENCH_NICE=${BENCH_NICE:--10}
# Protocol of the private nginx: http1, or h2c (HTTP/2 cleartext with prior
# knowledge; set by bench/h2c.sh).
BENCH_NGINX_PROTO=${BENCH_NGINX_PROTO:-http1}
BENCH_BODY='bench-pod-1 >> 127.0.0.1 >> v1'
BENCH_PATH='/common/healthy'

VEGETA_PKG='github.com/tsenart/vegeta/v12@v12.13.0'
BOMBARDIER_PKG='github.com/codesenberg/bombardier@v1.2.6'
HEY_PKG='github.com/rakyll/hey@latest'   # only if Debian has no `hey`

# ---------------------------------------------------------------- basics
log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
	printf '[bench] ERROR: %s\n' "$*" >&2
	exit 2
}

bench_init() {
	REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
	BENCH_STATE="$REPO/.state/bench"
	BENCH_BIN="$BENCH_STATE/bin"
	BENCH_NGINX_DIR="$BENCH_STATE/nginx"
	BENCH_RESULTS="$BENCH_STATE/results"
	mkdir -p "$BENCH_BIN" "$BENCH_NGINX_DIR" "$BENCH_RESULTS"
	# One bench run at a time per checkout: two would share nginx's prefix and
	# the two cores. Holding the lock also proves a leftover nginx is stale
	# (fd 9 is closed for nginx and the generators, so orphans never hold it).
	exec 9>"$BENCH_STATE/lock"
	if ! flock -n 9; then
		die "another bench run holds $BENCH_STATE/lock (pid $(cat "$BENCH_STATE/lock.pid" 2>/dev/null || echo '?'))"
	fi
	echo $$ >"$BENCH_STATE/lock.pid"
	export PATH="$BENCH_BIN:$PATH:/usr/sbin:/sbin"
	NGINX_PID=''
	GEN_PID=''
	[[ $BENCH_NICE =~ ^-?[0-9]+$ ]] || die "BENCH_NICE must be an integer"
	if ((BENCH_NICE < 0)) && [[ $(id -u) != 0 ]]; then BENCH_NICE=0; fi
	# PRIO CMD...: runs CMD in a new session (own process group, own autogroup)
	# at nice BENCH_NICE. setsid does not fork here (a background job is never
	# a group leader), so $! is CMD's pid.
	# shellcheck disable=SC2016
	PRIO=(setsid bash -c '[[ -w /proc/self/autogroup ]] && echo "$0" >/proc/self/autogroup 2>/dev/null
		exec nice -n "$0" "$@"' "$BENCH_NICE")
	trap bench_cleanup EXIT
	trap 'bench_cleanup; trap - INT; kill -INT $$' INT
	trap 'bench_cleanup; trap - TERM; kill -TERM $$' TERM
}

# Stops the running generator (if any) and our nginx. Safe to call twice.
bench_cleanup() {
	if [[ -n ${GEN_PID:-} ]]; then
		# GEN_PID is a `timeout` process: it leads its own process group and
		# forwards the signal to it (time + generator).
		kill -TERM "$GEN_PID" 2>/dev/null || true
		wait "$GEN_PID" 2>/dev/null || true
		GEN_PID=''
	fi
	nginx_stop
}

# ---------------------------------------------------------------- install
have() { command -v "$1" >/dev/null 2>&1; }

APT_UPDATED=0
apt_update_once() {
	if [[ $APT_UPDATED == 0 ]]; then
		log "apt-get update"
		apt-get -o DPkg::Lock::Timeout=300 update -qq >/dev/null || die "apt-get update failed"
		APT_UPDATED=1
	fi
}

apt_install() {
	(($# > 0)) || return 0
	[[ $(id -u) == 0 ]] || die "need root to apt-get install: $*"
	apt_update_once
	log "apt-get install $*"
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "$@" >/dev/null ||
		die "apt-get install $* failed"
}

# apt_has PKG: does Debian offer PKG? (needs an updated package list)
apt_has() {
	local cand
	cand=$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}')
	[[ -n $cand && $cand != '(none)' ]]
}

go_tool() { # go_tool BINARY PKG@VERSION
	[[ -x $BENCH_BIN/$1 ]] && return 0
	have go || die "go not found on PATH (needed to install $2)"
	log "go install $2"
	# Outside the repo so the main go.mod is never consulted or touched.
	(cd / && GOBIN="$BENCH_BIN" GOFLAGS=-buildvcs=false go install "$2") ||
		die "go install $2 failed"
}

# bench_install target|peers|h2c  — "peers" also installs wrk, hey, vegeta,
# bombardier; "h2c" h2load, curl (the h2c readiness check) and vegeta.
bench_install() {
	local want_peers=${1:-} pkgs=()
	if [[ $want_peers == h2c ]]; then
		have h2load || pkgs+=(nghttp2-client)
		have curl || pkgs+=(curl)
	fi
	have nginx || pkgs+=(nginx-light)
	have taskset || pkgs+=(util-linux)
	[[ -x /usr/bin/time ]] || pkgs+=(time)
	have jq || pkgs+=(jq)
	have timeout || pkgs+=(coreutils)
	if [[ $want_peers == peers ]]; then
		have wrk || pkgs+=(wrk)
		if ! have hey; then
			apt_update_once
			if apt_has hey; then pkgs+=(hey); else go_tool hey "$HEY_PKG"; fi
		fi
	fi
	if ((${#pkgs[@]} > 0)); then
		# nginx-light is a transitional package on some releases; fall back to nginx.
		if [[ " ${pkgs[*]} " == *' nginx-light '* ]]; then
			apt_update_once
			apt_has nginx-light || pkgs=("${pkgs[@]/nginx-light/nginx}")
		fi
		apt_install "${pkgs[@]}"
	fi
	if [[ $want_peers == peers ]]; then
		go_tool vegeta "$VEGETA_PKG"
		go_tool bombardier "$BOMBARDIER_PKG"
	fi
	if [[ $want_peers == h2c ]]; then go_tool vegeta "$VEGETA_PKG"; fi
	have nginx || die "nginx still missing after install"
}

# Sets ROLLTEST to the binary to run. BENCH_ROLLTEST_BIN=/path skips the build
# (e.g. to compare an older build).
bench_build_rolltest() {
	if [[ -n ${BENCH_ROLLTEST_BIN:-} ]]; then
		[[ -x $BENCH_ROLLTEST_BIN ]] || die "BENCH_ROLLTEST_BIN=$BENCH_ROLLTEST_BIN is not an executable"
		ROLLTEST=$BENCH_ROLLTEST_BIN
		log "using prebuilt rolltest: $ROLLTEST"
		return 0
	fi
	ROLLTEST="$BENCH_BIN/rolltest"
	compgen -G "$REPO/cmd/rolltest/*.go" >/dev/null ||
		die "rolltest CLI not found: $REPO/cmd/rolltest has no Go files yet (the CLI is still being written)"
	log "go build -o .state/bench/bin/rolltest ./cmd/rolltest"
	(cd "$REPO" && go build -o "$BENCH_BIN/rolltest" ./cmd/rolltest) ||
		die "building rolltest failed (go build ./cmd/rolltest); fix the build, or leave rolltest out of BENCH_TOOLS"
}

# ---------------------------------------------------------------- nginx
# port_in_use PORT: something accepts TCP on 127.0.0.1:PORT
port_in_use() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Kills an nginx left behind by an earlier run of these scripts (only if its
# command line names our own config), then removes the stale pid file.
nginx_reap_stale() {
	local pidf="$BENCH_NGINX_DIR/nginx.pid" pid cmd
	[[ -f $pidf ]] || return 0
	pid=$(<"$pidf")
	if [[ $pid =~ ^[0-9]+$ ]] && cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) &&
		[[ $cmd == *"$BENCH_NGINX_DIR/nginx.conf"* ]]; then
		log "stopping stale bench nginx (pid $pid) from an earlier run"
		kill -TERM "$pid" 2>/dev/null || true
		local i
		for ((i = 0; i < 50; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$pidf"
}

# nginx_listen_h2c PORT -> the listen line (and, from nginx 1.25.1 on, the
# `http2 on;` line) of a server that speaks h2c with prior knowledge. Before
# 1.25.1 the `http2` listen parameter is the only way, and such a port speaks
# HTTP/2 alone (an HTTP/1.1 request gets no HTTP/1.1 answer).
nginx_listen_h2c() {
	local v
	v=$(nginx -v 2>&1 | sed -n 's|.*nginx/\([0-9.]*\).*|\1|p')
	if [[ $(printf '%s\n1.25.1\n' "$v" | sort -V | head -n1) == 1.25.1 ]]; then
		printf 'listen 127.0.0.1:%s backlog=4096;\n        http2 on;' "$1"
	else
		printf 'listen 127.0.0.1:%s http2 backlog=4096;' "$1"
	fi
}

nginx_write_conf() { # nginx_write_conf PORT
	local d=$BENCH_NGINX_DIR listen="listen 127.0.0.1:$1 backlog=4096;"
	[[ $BENCH_NGINX_PROTO == h2c ]] && listen=$(nginx_listen_h2c "$1")
	mkdir -p "$d/logs" "$d/tmp"
	cat >"$d/nginx.conf" <<EOF
# generated by bench/lib.sh — private nginx for the peer benchmark
daemon off;
master_process on;
worker_processes 1;
pid $d/nginx.pid;
error_log $d/logs/error.log warn;
worker_rlimit_nofile 65536;

events {
    worker_connections 4096;
    multi_accept on;
}

http {
    access_log off;
    server_tokens off;
    keepalive_requests 1000000;
    keepalive_timeout 65;
    client_body_temp_path $d/tmp/client_body;
    proxy_temp_path $d/tmp/proxy;
    fastcgi_temp_path $d/tmp/fastcgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    scgi_temp_path $d/tmp/scgi;

    server {
        $listen
        server_name localhost;

        location = $BENCH_PATH {
            default_type text/plain;
            return 200 '$BENCH_BODY';
        }
        location / {
            return 404;
        }
    }
}
EOF
}

# GET the health path over bash /dev/tcp (h2c: curl with prior knowledge,
# which must come back over HTTP/2); succeeds when the body matches.
nginx_check_body() {
	local port=$1 resp
	if [[ $BENCH_NGINX_PROTO == h2c ]]; then
		resp=$(curl -s --max-time 2 --http2-prior-knowledge -w '\n%{http_version} %{http_code}' \
			"http://127.0.0.1:$port$BENCH_PATH") || return 1
		[[ $resp == "$BENCH_BODY"$'\n2 200' ]]
		return
	fi
	resp=$(
		exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
		printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$BENCH_PATH" >&3
		timeout 2 cat <&3
	) || return 1
	[[ $resp == 'HTTP/1.1 200'* && $resp == *"$BENCH_BODY" ]]
}

nginx_start() {
	local port=$BENCH_PORT tries d=$BENCH_NGINX_DIR i
	nginx_reap_stale
	for ((tries = 0; tries < 20; tries++, port++)); do
		if port_in_use "$port"; then
			log "port $port in use, trying $((port + 1))"
			continue
		fi
		nginx_write_conf "$port"
		: >"$d/logs/error.log"
		nginx -t -q -p "$d" -e "$d/logs/error.log" -c "$d/nginx.conf" ||
			die "nginx config test failed (see $d/logs/error.log)"
		# Own session (PRIO) so that nothing sent to ours reaches it before the
		# trap has a chance to stop it cleanly.
		"${PRIO[@]}" taskset -c "$BENCH_TARGET_CPU" \
			nginx -p "$d" -e "$d/logs/error.log" -c "$d/nginx.conf" \
			</dev/null >>"$d/logs/stdout.log" 2>&1 9>&- &
		NGINX_PID=$!
		# Bounded readiness poll: at most 5 s.
		for ((i = 0; i < 50; i++)); do
			if ! kill -0 "$NGINX_PID" 2>/dev/null; then break; fi
			if port_in_use "$port" && nginx_check_body "$port"; then
				NGINX_PORT=$port
				BENCH_URL="http://127.0.0.1:$port$BENCH_PATH"
				log "nginx ready on 127.0.0.1:$port (pid $NGINX_PID, cpu $BENCH_TARGET_CPU)"
				return 0
			fi
			sleep 0.1
		done
		if kill -0 "$NGINX_PID" 2>/dev/null; then
			nginx_stop
			die "nginx did not answer on 127.0.0.1:$port within 5 s (see $d/logs/error.log)"
		fi
		wait "$NGINX_PID" 2>/dev/null || true
		NGINX_PID=''
		if grep -q 'Address already in use' "$d/logs/error.log" "$d/logs/stdout.log" 2>/dev/null; then
			log "port $port taken while starting, trying $((port + 1))"
			continue
		fi
		die "nginx exited at start: $(tail -n 3 "$d/logs/error.log" "$d/logs/stdout.log" 2>/dev/null)"
	done
	die "no free port in $BENCH_PORT..$((port - 1))"
}

nginx_stop() {
	[[ -n ${NGINX_PID:-} ]] || return 0
	local i
	kill -TERM "$NGINX_PID" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		kill -0 "$NGINX_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$NGINX_PID" 2>/dev/null || true
	wait "$NGINX_PID" 2>/dev/null || true
	rm -f "$BENCH_NGINX_DIR/nginx.pid"
	NGINX_PID=''
}

# ---------------------------------------------------------------- running
# run_pinned RSS_FILE TIMEOUT_S CMD...   (stdout/stderr: as the caller redirects)
# Returns CMD's exit code (124/137 if the safety timeout fired). RSS_FILE gets
# /usr/bin/time's "%M %e %U %S" (peak RSS KB, wall s, user s, sys s). Sets
# RUN_GEN_CPU, RUN_NGINX_CPU, RUN_SIRQ_CPU, RUN_OTHER_CPU: CPU used during the
# run by the generator, by nginx, by softirq (on loopback: mostly the
# benchmark's own packets, charged to no process) and by everything else, each
# in % of one core.
run_pinned() {
	local rss=$1 limit=$2 rc=0 t0 t1 n0 n1 s0 s1 q0 q1
	shift 2
	: >"$rss"
	read -r s0 q0 < <(stat_busy)
	n0=$(nginx_jiffies) t0=$(now_ms)
	# timeout leads its process group (PRIO: a new session) and forwards TERM to
	# all of it, so the cleanup trap's `kill GEN_PID` reaches /usr/bin/time and
	# the generator.
	"${PRIO[@]}" timeout -k 5 "$limit" taskset -c "$BENCH_GEN_CPU" \
		/usr/bin/time -f '%M %e %U %S' -o "$rss" "$@" </dev/null 9>&- &
	GEN_PID=$!
	local sampler=''
	if [[ -n ${RUN_RSS_SAMPLES:-} ]]; then
		rss_sampler "$GEN_PID" "$RUN_RSS_SAMPLES" 9>&- &
		sampler=$!
	fi
	wait "$GEN_PID" || rc=$?
	GEN_PID=''
	if [[ -n $sampler ]]; then wait "$sampler" 2>/dev/null || true; fi
	read -r s1 q1 < <(stat_busy)
	n1=$(nginx_jiffies) t1=$(now_ms)
	read -r RUN_GEN_CPU RUN_NGINX_CPU RUN_SIRQ_CPU RUN_OTHER_CPU < <(awk -v ms=$((t1 - t0)) -v hz="$CLK_TCK" \
		-v all=$((s1 - s0)) -v sirq=$((q1 - q0)) -v ngx=$((n1 - n0)) '
		NF == 4 && $1 ~ /^[0-9]+$/ {g = ($3 + $4) * hz}
		END {
			w = ms / 1000 * hz; if (w <= 0) w = 1
			o = all - g - ngx; if (o < 0) o = 0
			printf "%.0f %.0f %.0f %.0f\n", 100 * g / w, 100 * ngx / w, 100 * sirq / w, 100 * o / w
		}' "$rss")
	return "$rc"
}

# rss_sampler ROOT_PID FILE: writes "SECONDS RSS_KB" lines for the process
# below ROOT_PID (the `timeout` of run_pinned) that is not timeout, taskset or
# time itself — the generator — every BENCH_RSS_EVERY s until ROOT_PID exits.
# Bounded by ROOT_PID's own safety timeout.
rss_sampler() {
	local root=$1 out=$2 every=${BENCH_RSS_EVERY:-2} t0 pid='' p kids comm kb
	t0=$(now_ms)
	: >"$out"
	while kill -0 "$root" 2>/dev/null; do
		if [[ -z $pid ]] || [[ ! -d /proc/$pid ]]; then
			pid='' p=$root
			while [[ -n $p ]]; do # follow first children: timeout -> time -> generator
				kids=$(cat "/proc/$p/task/$p/children" 2>/dev/null || true)
				p=${kids%% *}
				[[ -n $p ]] || break
				comm=$(cat "/proc/$p/comm" 2>/dev/null || true)
				case $comm in timeout | taskset | time | nice | setsid) ;; *)
					pid=$p
					break
					;;
				esac
			done
		fi
		if [[ -n $pid ]]; then
			kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
			[[ -n $kb ]] && awk -v ms=$(($(now_ms) - t0)) -v kb="$kb" 'BEGIN {printf "%.1f %d\n", ms / 1000, kb}' >>"$out"
		fi
		sleep "$every"
	done
}

# rss_at SAMPLES SECONDS -> RSS KB of the last sample at or before SECONDS
rss_at() {
	awk -v t="$2" '$1 + 0 <= t + 0 {k = $2} END {print k}' "$1" 2>/dev/null || true
}

# server_start OUT CMD...: starts a bench server (one of internal/cmd/*)
# pinned to the target core, its output in OUT; the server prints its URL
# on its first line. Sets SERVER_PID and SERVER_URL.
SERVER_PID=''
server_start() {
	local out=$1 i
	shift
	: >"$out"
	"${PRIO[@]}" taskset -c "$BENCH_TARGET_CPU" "$@" </dev/null >"$out" 2>&1 9>&- &
	SERVER_PID=$!
	for ((i = 0; i < 50; i++)); do # bounded: 5 s
		SERVER_URL=$(head -n1 "$out")
		[[ $SERVER_URL == http://127.0.0.1:* ]] && return 0
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.1
	done
	die "$1 did not start: $(cat "$out")"
}

# server_stop: TERM (on which a bench server prints its final counts, if it
# keeps any), then KILL after 5 s.
server_stop() {
	[[ -n ${SERVER_PID:-} ]] || return 0
	kill -TERM "$SERVER_PID" 2>/dev/null || true
	local i
	for ((i = 0; i < 50; i++)); do
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$SERVER_PID" 2>/dev/null || true
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID=''
}

CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)
now_ms() { date +%s%3N; }

# stat_busy: "BUSY SOFTIRQ" jiffies of all cores so far; BUSY is user nice
# system irq steal (softirq apart: on loopback it is the benchmark's packets).
stat_busy() {
	local c
	read -r -a c < <(head -n1 /proc/stat)
	echo "$((c[1] + c[2] + c[3] + c[6] + c[8])) ${c[7]}"
}

# nginx_jiffies: CPU jiffies (utime+stime) of our nginx master and workers
nginx_jiffies() {
	local pids p sum=0 st rest f
	[[ -n ${NGINX_PID:-} ]] || {
		echo 0
		return
	}
	pids="$NGINX_PID $(cat "/proc/$NGINX_PID/task/$NGINX_PID/children" 2>/dev/null || true)"
	for p in $pids; do
		st=$(cat "/proc/$p/stat" 2>/dev/null) || continue
		rest=${st##*) } # fields from 3 (state) on
		read -r -a f <<<"$rest"
		sum=$((sum + f[11] + f[12])) # utime, stime (fields 14, 15)
	done
	echo "$sum"
}

# cpu_busy_pct: % of all cores busy over the next second (noise indicator).
cpu_busy_pct() {
	local a b
	read -r -a a < <(head -n1 /proc/stat)
	sleep 1
	read -r -a b < <(head -n1 /proc/stat)
	awk -v u=$((b[1] + b[2] + b[3] + b[6] + b[7] + b[8] - a[1] - a[2] - a[3] - a[6] - a[7] - a[8])) \
		-v i=$((b[4] + b[5] - a[4] - a[5])) 'BEGIN {if (u + i > 0) printf "%.0f", 100 * u / (u + i); else print "?"}'
}

# wait_quiet: waits (bounded: BENCH_IDLE_WAIT s, default 60) until the machine
# is at most BENCH_MAX_BUSY % busy (default 25) — other engineers' builds on a
# shared machine skew every number. Sets BUSY_BEFORE to the last reading.
wait_quiet() {
	local max=${BENCH_MAX_BUSY:-25} limit=${BENCH_IDLE_WAIT:-60} waited=0
	BUSY_BEFORE=$(cpu_busy_pct)
	while [[ $BUSY_BEFORE != '?' ]] && ((BUSY_BEFORE > max && waited < limit)); do
		((waited % 10 == 0)) && log "machine ${BUSY_BEFORE}% busy (> ${max}%), waiting for quiet ($waited/${limit}s)"
		BUSY_BEFORE=$(cpu_busy_pct)
		waited=$((waited + 1))
	done
	if [[ $BUSY_BEFORE != '?' ]] && ((BUSY_BEFORE > max)); then
		log "WARNING: machine still ${BUSY_BEFORE}% busy; numbers will be low and noisy"
	fi
}

# rss_kb RSS_FILE -> peak RSS in KB (empty if unknown)
rss_kb() {
	awk 'NF == 4 && $1 ~ /^[0-9]+$/ {k = $1} END {print k}' "$1" 2>/dev/null || true
}

# peak_mb RSS_FILE -> MB with one decimal ("?" if unknown)
peak_mb() {
	local kb
	kb=$(rss_kb "$1")
	if [[ -n $kb ]]; then awk -v k="$kb" 'BEGIN{printf "%.1f", k/1024}'; else echo '?'; fi
}

# duration_s VALUE -> integer seconds; accepts 10, 10s, 2m
duration_s() {
	case $1 in
	*[0-9]m) echo $((${1%m} * 60)) ;;
	*[0-9]s) echo "${1%s}" ;;
	*) echo "$1" ;;
	esac
}

# ---------------------------------------------------------------- peer tables
# bench/peers.sh and bench/h2c.sh run tools one after another and tabulate
# them under a key of their own (a tool, or TOOL/STREAMS): per round, the
# req/s and the CPU split of run_pinned; over rounds, the peak RSS (KB), the
# requests and errors summed, and notes.

# peer_settings DEFAULT_SECONDS "DEFAULT TOOLS" "KNOWN TOOLS": DURATION
# (BENCH_DURATION), ROUNDS (BENCH_ROUNDS) and TOOLS (BENCH_TOOLS), checked;
# want TOOL says whether TOOL runs.
peer_settings() {
	local t
	DURATION=$(duration_s "${BENCH_DURATION:-$1}")
	[[ $DURATION =~ ^[1-9][0-9]*$ ]] || die "BENCH_DURATION must be whole seconds (got '${BENCH_DURATION:-}')"
	ROUNDS=${BENCH_ROUNDS:-1}
	[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS must be a positive integer"
	read -r -a TOOLS <<<"${BENCH_TOOLS:-$2}"
	for t in "${TOOLS[@]}"; do
		[[ " $3 " == *" $t "* ]] || die "unknown tool '$t' in BENCH_TOOLS ($3)"
	done
}
want() { [[ " ${TOOLS[*]} " == *" $1 "* ]]; }

# peer_init RUN_NAME: the tables, RUN_DIR (raw outputs), STAMP, LIMIT (the
# safety bound of one generator run, from DURATION).
peer_init() {
	declare -gA RPS_LIST=() RSS_MAX=() REQS=() ERRS=() NOTE=() GEN_CPU=() NGX_CPU=() SIRQ_CPU=() OTHER_CPU=()
	STAMP=$(date +%Y%m%d-%H%M%S)
	RUN_DIR="$BENCH_STATE/runs/$1-$STAMP"
	mkdir -p "$RUN_DIR"
	LIMIT=$((DURATION + 30))
}

# record KEY RPS RSS_FILE REQUESTS ERRORS [LOG_SUFFIX]: one run of a tool,
# with run_pinned's CPU split.
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
	log "$key: $(printf '%.0f' "$rps") req/s, peak RSS $(peak_mb "$rssf") MB, $req requests, $err errors${6:-};" \
		"cpu% gen $RUN_GEN_CPU nginx $RUN_NGINX_CPU softirq $RUN_SIRQ_CPU other $RUN_OTHER_CPU"
}

# median: of the numbers on stdin (space- or line-separated); 0 for none.
median() {
	tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR] = $1} END {
	if (NR == 0) {print 0} else if (NR % 2) {print a[(NR + 1) / 2]} else {print (a[NR / 2] + a[NR / 2 + 1]) / 2}}'
}

# ratio A B -> A/B with two decimals, "-" when B is 0.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else printf "-"}'; }

# per_core KEY -> median req/s per generator core: req/s ÷ (generator CPU % /
# 100), round by round. When the target's core is saturated, throughput
# measures the target; this still measures the generator.
per_core() {
	local rates cpu i out=''
	read -r -a rates <<<"${RPS_LIST[$1]:-}"
	read -r -a cpu <<<"${GEN_CPU[$1]:-}"
	for i in "${!rates[@]}"; do
		out+=" $(awk -v r="${rates[$i]}" -v c="${cpu[$i]:-0}" 'BEGIN {if (c > 0) printf "%.0f", r * 100 / c; else print 0}')"
	done
	median <<<"$out"
}

# cpu_cell KEY -> "gen/ngx/sirq/oth": median CPU % of each over rounds.
cpu_cell() {
	echo "$(median <<<"${GEN_CPU[$1]:-}")/$(median <<<"${NGX_CPU[$1]:-}")/$(median <<<"${SIRQ_CPU[$1]:-}")/$(median <<<"${OTHER_CPU[$1]:-}")"
}

# rss_mb KEY -> the key's peak RSS in MB, one decimal.
rss_mb() { awk -v k="${RSS_MAX[$1]:-0}" 'BEGIN {printf "%.1f", k / 1024}'; }

# notes_cell KEY -> each round's req/s (with more than one round) and notes.
notes_cell() {
	if ((ROUNDS > 1)); then
		printf 'rounds:%s ' "$(tr ' ' '\n' <<<"${RPS_LIST[$1]}" | grep -v '^$' | xargs printf '%.0f,' | sed 's/,$//')"
	fi
	printf '%s' "${NOTE[$1]:-}"
}

# peer_header TITLE: the first lines of a results file: what ran, where, how
# busy the machine was.
peer_header() {
	echo "# $1 — $(date -u +'%Y-%m-%d %H:%M:%SZ')"
	echo "# repo $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$REPO" diff --quiet HEAD 2>/dev/null || echo '+dirty'), $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
}

# peer_machine_lines: the machine's load and what the cpu% cells mean.
peer_machine_lines() {
	echo "# machine: ${BUSY_BEFORE}% CPU busy in the 1 s before the run; loadavg before $LOAD_BEFORE, after $LOAD_AFTER"
	echo "# cpu%: generator / nginx / softirq (loopback packets, charged to no process) / everything else,"
	echo "#   in % of one core, median over rounds. Both cores total 200. 'oth' well above ~5: other work on the"
	echo "#   shared machine took CPU from the run."
}

# goal NAME NUMERATOR DENOMINATOR MIN: one goal line, PASS, FAIL (sets
# STATUS=1) or SKIP (no rolltest, or nothing to compare with).
goal() {
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

# sanity KEY LABEL: rolltest must have sent requests and failed none against
# a healthy nginx (sets STATUS=1 if not).
sanity() {
	if ((${ERRS[$1]:-0} > 0)) || ((${REQS[$1]:-0} == 0)); then
		echo "sanity: $2 requests=${REQS[$1]:-0} failed=${ERRS[$1]:-0}  FAIL"
		STATUS=1
	else
		echo "sanity: $2 requests=${REQS[$1]} failed=0  PASS"
	fi
}

# peer_warnings: the peers' own errors, which their numbers include.
peer_warnings() {
	local k
	for k in "${!ERRS[@]}"; do
		if [[ $k != rolltest* ]] && ((${ERRS[$k]:-0} > 0)); then
			echo "warning: $k reported ${ERRS[$k]} errors/non-200 responses (see $RUN_DIR)"
		fi
	done
}

# run_vegeta BASE ARGS...: vegeta attack (pinned, bounded) with ARGS and the
# targets file "GET $URL"; sets rps, req, err and rc (the attack's exit).
run_vegeta() {
	local base=$1
	shift
	rc=0
	printf 'GET %s\n' "$URL" >"$RUN_DIR/vegeta-targets.txt"
	run_pinned "$base.rss" "$LIMIT" \
		vegeta attack -targets="$RUN_DIR/vegeta-targets.txt" -rate=0 "$@" \
		-duration="${DURATION}s" -output="$base.bin" >"$base.err" 2>&1 || rc=$?
	# Reported after the attack, unpinned and untimed, so it does not
	# compete with the attack for the generator core.
	vegeta report -type=json "$base.bin" >"$base.json"
	rm -f "$base.bin"
	rps=$(jq -r '.throughput // empty' "$base.json")
	req=$(jq -r '.requests // 0' "$base.json")
	err=$(jq -r '[.status_codes // {} | to_entries[] | select(.key != "200") | .value] | add // 0' "$base.json")
}

# baseline_check: the tool 'baseline' (an earlier rolltest build, run with
# the same flags as rolltest, for a before/after in one run) needs
# BENCH_BASELINE_BIN.
baseline_check() {
	[[ -x ${BENCH_BASELINE_BIN:-} ]] || die "tool 'baseline' needs BENCH_BASELINE_BIN=PATH, an earlier rolltest build"
	log "baseline: $BENCH_BASELINE_BIN ($("$BENCH_BASELINE_BIN" version 2>/dev/null | head -n1))"
}

# run_rolltest KEY BASE BIN ARGS...: BIN run --target $URL ARGS (pinned,
# bounded) with a JSON report; sets rps, req, err and rc=0. Exit 1 (a gate
# failed) is noted; no report at all stops the benchmark.
run_rolltest() {
	local key=$1 base=$2 bin=$3
	shift 3
	rc=0
	run_pinned "$base.rss" "$LIMIT" \
		"$bin" run --target "$URL" "$@" --duration "${DURATION}s" \
		--json "$base.json" --quiet >"$base.txt" 2>&1 || rc=$?
	# 0 = pass, 1 = a gate failed: both produce a report. 2 = usage error.
	if ((rc > 1)) || [[ ! -s $base.json ]]; then
		log "$key exited $rc without a JSON report; output:"
		tail -n 20 "$base.txt" >&2 || true
		die "$key run failed (exit $rc); see $base.txt"
	fi
	((rc == 1)) && NOTE[$key]+=' exit=1(gate)'
	rc=0
	rps=$(jq -r '.totals.achieved_rps // empty' "$base.json")
	req=$(jq -r '.totals.requests // 0' "$base.json")
	err=$(jq -r '.totals.failed // 0' "$base.json")
}
