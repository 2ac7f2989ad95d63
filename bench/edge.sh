#!/usr/bin/env bash
# bench/edge.sh: tether's edge cache beside NGINX proxy_cache on loopback.
#
# One run builds tether and a small Go origin (bench/edge/origin: /static/*
# answers Cache-Control: max-age=3600, /dyn/* no-store, 1 KiB bodies),
# renders the configs from bench/edge/, then for every round, scenario and
# row starts that proxy alone, checks it, warms it up with wrk, measures
# with wrk --latency while sampling CPU time from /proc, and stops it.
#
#   hit   one /static/ URL, cache warm:  tether edge vs NGINX proxy_cache
#   miss  a new /static/ URL per request (bench/edge/misses.lua), each
#         fetched and stored:            tether edge vs the plain tether
#         listener (no cache) vs NGINX proxy_cache
#   pass  one /dyn/ URL (no-store; the edge's CachingDisabled behavior):
#         tether edge vs plain listener vs NGINX, to tell the edge's
#         forwarding cost from its storing cost
#
# The markdown report goes to stdout and to bench/results/edge-latest.md.
#
#   bash bench/edge.sh
#   DURATION=20s ROUNDS=5 bash bench/edge.sh
#   SCENARIOS=hit ROWS="edge nginx" ROUNDS=1 bash bench/edge.sh
#   PROFILE=1 bash bench/edge.sh     # plus CPU profiles of tether (pprof -top)
#   TETHER_GOMAXPROCS=1 SCENARIOS=hit bash bench/edge.sh  # tether on one P
#
# bench/README.md ("Edge: tether vs NGINX proxy_cache") explains the output.
set -Eeuo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"
# shellcheck source=bench/edge/lib.sh
source "$BENCH_DIR/edge/lib.sh"
OUT_DIR=$BENCH_DIR/.out
CONF_DIR=$BENCH_DIR/edge

DURATION=${DURATION:-10s}       # measured wrk run
WARMUP=${WARMUP:-2s}            # unmeasured wrk run just before it
CONNECTIONS=${CONNECTIONS:-64}  # wrk -c
THREADS=${THREADS:-2}           # wrk -t
ROUNDS=${ROUNDS:-3}             # interleaved repetitions; the report shows medians
SCENARIOS=${SCENARIOS:-hit miss pass}
ROWS=${ROWS:-edge plain nginx}  # rows a scenario does not use are skipped (hit has no plain row)
BASE_PORT=${BASE_PORT:-18180}   # origin +1; tether edge +20, tether plain listener +21, NGINX +22, tether admin API +29
INSTALL=${INSTALL:-1}           # 0: never apt-get install, fail if a tool is missing
RESULTS=${RESULTS:-$BENCH_DIR/results/edge-latest.md}
MAX_OTHER=${MAX_OTHER:-0.25}    # cores; a run disturbed by more is measured again
SLOW_NET=${SLOW_NET:-1.8}       # a run whose softirq time per TCP segment is above this times its row's lowest in the scenario is measured again
APART=${APART:-1.5}             # the report warns when two compared rows' median softirq per segment are more than this factor apart
RETRIES=${RETRIES:-2}
QUIET_WAIT=${QUIET_WAIT:-60}    # seconds to wait for an idle machine before each run
OTHER_BENCH_WAIT=${OTHER_BENCH_WAIT:-900} # seconds to wait, at start, for another benchmark (wrk, bench/run.sh, bench/sessions.sh) to finish
NGINX_CACHE_ON=${NGINX_CACHE_ON:-/dev/shm} # where NGINX's cache files go (a tmpfs: memory, like tether's cache); falls back to the temp dir
PROFILE=${PROFILE:-0}           # 1: after the measurements, CPU-profile tether under each scenario's load
PROFILE_SECONDS=${PROFILE_SECONDS:-10}
TETHER_GOMAXPROCS=${TETHER_GOMAXPROCS:-} # set: tether (only) runs with GOMAXPROCS=this; empty: Go's default, the number of cores

PROFILE_ARGS=""
[[ $PROFILE == 1 ]] && PROFILE_ARGS=" PROFILE=1 PROFILE_SECONDS=$PROFILE_SECONDS"
[[ -n $TETHER_GOMAXPROCS ]] && PROFILE_ARGS+=" TETHER_GOMAXPROCS=$TETHER_GOMAXPROCS"
COMMAND_LINE="DURATION=$DURATION WARMUP=$WARMUP CONNECTIONS=$CONNECTIONS THREADS=$THREADS ROUNDS=$ROUNDS SCENARIOS=\"$SCENARIOS\" ROWS=\"$ROWS\" BASE_PORT=$BASE_PORT MAX_OTHER=$MAX_OTHER SLOW_NET=$SLOW_NET APART=$APART RETRIES=$RETRIES QUIET_WAIT=$QUIET_WAIT$PROFILE_ARGS bash bench/edge.sh"

ORIGIN_PORT=$((BASE_PORT + 1))
ADMIN_PORT=$((BASE_PORT + 29))
declare -A PORT=([edge]=$((BASE_PORT + 20)) [plain]=$((BASE_PORT + 21)) [nginx]=$((BASE_PORT + 22)))
declare -A NAME=([edge]="tether edge" [plain]="tether, plain listener (no cache)" [nginx]="NGINX proxy_cache")
declare -A VERSION=()
# The rows each scenario measures, in this order (then rotated per round).
declare -A SC_ROWS=([hit]="edge nginx" [miss]="edge plain nginx" [pass]="edge plain nginx")
declare -A SC_TITLE=(
	[hit]="Hits: one /static/ URL, cache warm"
	[miss]="Misses: a new /static/ URL on every request (fetched from the origin and stored)"
	[pass]="Pass: one /dyn/ URL (Cache-Control: no-store; the edge's CachingDisabled behavior)"
)

log() { printf '[edge %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'bench/edge.sh: ERROR: %s\n' "$*" >&2; exit 1; }

[[ $(secs "$DURATION") =~ ^[0-9]+$ && $(secs "$WARMUP") =~ ^[0-9]+$ ]] ||
	die "DURATION and WARMUP must look like 10, 10s or 1m (got '$DURATION', '$WARMUP')"
[[ $CONNECTIONS =~ ^[0-9]+$ && $THREADS =~ ^[0-9]+$ && $ROUNDS =~ ^[0-9]+$ && $ROUNDS -ge 1 ]] ||
	die "CONNECTIONS, THREADS and ROUNDS must be positive integers"
[[ $RETRIES =~ ^[0-9]+$ && $RETRIES -le 10 && $QUIET_WAIT =~ ^[0-9]+$ && $QUIET_WAIT -le 600 && $MAX_OTHER =~ ^[0-9]+(\.[0-9]+)?$ ]] ||
	die "RETRIES (0..10), QUIET_WAIT (0..600 s) and MAX_OTHER (cores, e.g. 0.25) must be numbers"
[[ $APART =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "APART must be a number such as 1.5 (got '$APART')"
[[ $SLOW_NET =~ ^[0-9]+(\.[0-9]+)?$ ]] && awk -v f="$SLOW_NET" 'BEGIN {exit !(f >= 1)}' ||
	die "SLOW_NET must be a number of at least 1 (got '$SLOW_NET'); e.g. SLOW_NET=1.8, or RETRIES=0 to never measure a run again"
[[ $OTHER_BENCH_WAIT =~ ^[0-9]+$ && $PROFILE =~ ^[01]$ && $PROFILE_SECONDS =~ ^[0-9]+$ && $PROFILE_SECONDS -ge 1 ]] ||
	die "OTHER_BENCH_WAIT (seconds), PROFILE (0 or 1) and PROFILE_SECONDS (≥ 1) must be numbers"
for sc in $SCENARIOS; do [[ -n ${SC_ROWS[$sc]:-} ]] || die "unknown scenario '$sc' (known: hit miss pass)"; done
for r in $ROWS; do [[ -n ${PORT[$r]:-} ]] || die "unknown row '$r' in ROWS (known: edge plain nginx)"; done
[[ -n $SCENARIOS && -n $ROWS ]] || die "SCENARIOS and ROWS must not be empty"

# rows_of SCENARIO: the scenario's rows that ROWS selects.
rows_of() {
	local r out=""
	for r in ${SC_ROWS[$1]}; do [[ " $ROWS " == *" $r "* ]] && out+="$r "; done
	echo "${out% }"
}

# ---------------------------------------------------------------- processes

TMP=""
CACHE_BASE=""  # NGINX's cache directories live here, one per run
ORIGIN_PID=""
PROXY_PID=""
PROXY_CHILDREN=""
MEAS_PIDS=""
WRK_BG_PID=""

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	[[ -n $WRK_BG_PID ]] && stop_pid "$WRK_BG_PID"
	# shellcheck disable=SC2086
	[[ -n $PROXY_PID ]] && stop_pid $PROXY_PID $PROXY_CHILDREN
	[[ -n $ORIGIN_PID ]] && stop_pid "$ORIGIN_PID"
	if [[ -n $TMP && -d $TMP ]]; then
		if ((rc != 0)) && [[ -z ${KEEP_TMP:-} ]]; then
			log "logs of the failed run:"
			for f in "$TMP"/*.log; do [[ -s $f ]] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }; done
		fi
		[[ -n ${KEEP_TMP:-} ]] && log "kept $TMP" || rm -rf "$TMP"
	fi
	[[ -n $CACHE_BASE && $CACHE_BASE != "$TMP"/* && -d $CACHE_BASE ]] && rm -rf "$CACHE_BASE"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------- install and build

install_tools() {
	local need=() tool
	for tool in nginx wrk curl; do
		command -v "$tool" >/dev/null || [[ -x /usr/sbin/$tool ]] || need+=("$tool")
	done
	# Debian starts an nginx on port 80 after installing it; this script
	# never uses port 80, and stops only what it started.
	install_packages ${need[@]+"${need[@]}"}
	export PATH=$PATH:/usr/sbin:/sbin
	command -v go >/dev/null || die "go is not on PATH"
}

build() {
	edge_build
	VERSION[edge]=$("$OUT_DIR/tether" version 2>&1 | awk '{print $2}')
	VERSION[plain]=${VERSION[edge]}
	VERSION[nginx]=$(nginx -v 2>&1 | sed -n 's|.*nginx/||p')
}

# other_bench lists the other benchmarks running now (wrk, bench/run.sh,
# bench/sessions.sh and its program); empty when there are none.
other_bench() {
	{ pgrep -a -x wrk || true; pgrep -af 'bench/(run|sessions)\.sh|\.out/sessions ' || true; } | grep -v "^$$ " || true
}

# wait_other_bench waits (polling every 30 s, at most OTHER_BENCH_WAIT
# seconds) until no other benchmark runs on this machine.
wait_other_bench() {
	local waited=0 others
	while others=$(other_bench) && [[ -n $others ]]; do
		if ((waited >= OTHER_BENCH_WAIT)); then
			log "another benchmark still runs after ${OTHER_BENCH_WAIT}s; measuring anyway:"$'\n'"$others"
			OTHER_BENCH_NOTE="another benchmark was still running when this one started (waited ${OTHER_BENCH_WAIT}s)"
			return 0
		fi
		((waited == 0)) && log "another benchmark is running; waiting (every 30 s, at most ${OTHER_BENCH_WAIT}s):"$'\n'"$others"
		sleep 30
		waited=$((waited + 30))
	done
	((waited == 0)) || { log "the other benchmark finished after about ${waited}s"; OTHER_BENCH_WAITED=$waited; }
}
OTHER_BENCH_NOTE="" OTHER_BENCH_WAITED=""

# ------------------------------------------------------------------ configs

# render ROW TAG: writes the row's config into $TMP and prints its path.
# For NGINX, TAG names a fresh cache directory.
render() {
	local row=$1 tag=$2 tpl
	case $row in
	edge | plain) tpl=tether.yaml ;;
	nginx) tpl=nginx.conf ;;
	esac
	edge_render "$tpl" "$TMP/$tag-$tpl" "$CACHE_BASE/$tag"
	echo "$TMP/$tag-$tpl"
}

# -------------------------------------------------------------- proxy control

# start_proxy ROW TAG: starts tether (edge and plain rows: one process
# serves both) or NGINX, fresh, with an empty cache, and waits until the
# row's port answers 200.
start_proxy() {
	local row=$1 tag=$2 cfg logf=$TMP/$1-$2.log url="http://127.0.0.1:${PORT[$1]}/healthz"
	cfg=$(render "$row" "$tag")
	case $row in
	edge | plain)
		require_free "${PORT[edge]}" "tether edge"
		require_free "${PORT[plain]}" "tether plain listener"
		require_free "$ADMIN_PORT" "tether admin API"
		if [[ -n $TETHER_GOMAXPROCS ]]; then
			GOMAXPROCS=$TETHER_GOMAXPROCS "$OUT_DIR/tether" serve -c "$cfg" >"$logf" 2>&1 &
		else
			"$OUT_DIR/tether" serve -c "$cfg" >"$logf" 2>&1 &
		fi
		PROXY_PID=$!
		;;
	nginx)
		require_free "${PORT[nginx]}" nginx
		edge_start_nginx "$cfg" "$logf"
		PROXY_PID=$NGINX_PID
		;;
	esac
	PROXY_CHILDREN=""
	# /healthz goes through to the origin on every row (not counted by it).
	wait_up "$PROXY_PID" "$row" "$url" "$logf"
	refresh_children
}

# refresh_children counts NGINX's workers (and cache manager) as the proxy.
refresh_children() {
	PROXY_CHILDREN=$(pgrep -P "$PROXY_PID" | tr '\n' ' ' || true)
	MEAS_PIDS="$PROXY_PID $PROXY_CHILDREN"
}

stop_proxy() {
	# shellcheck disable=SC2086
	[[ -n $PROXY_PID ]] && stop_pid $PROXY_PID $PROXY_CHILDREN
	PROXY_PID="" PROXY_CHILDREN="" MEAS_PIDS=""
	# NGINX's cache files of this run (up to a few hundred thousand).
	find "$CACHE_BASE" -mindepth 1 -maxdepth 1 -exec rm -rf {} + 2>/dev/null || true
}

# ------------------------------------------------------------- measurements

# child_secs sets CHILD_SECS to the CPU seconds of this shell's waited-for
# children (wrk, via timeout), from the times builtin; it must run in this
# shell, not in $(...).
CHILD_SECS=0

# origin_count: requests the origin served on /static/ and /dyn/ so far.
origin_count() { curl -s --max-time 2 "http://127.0.0.1:$ORIGIN_PORT/__stats" | awk '{print $1 + $2}'; }

# path_of SCENARIO: the fixed path of the hit and pass scenarios.
path_of() {
	case $1 in
	hit) echo /static/hot.txt ;;
	pass) echo /dyn/pass.txt ;;
	esac
}

# wrk_cmd SC ROW PREFIX DURATION: sets WRK to the wrk command line.
WRK=()
wrk_cmd() {
	local sc=$1 row=$2 prefix=$3 dur=$4 base="http://127.0.0.1:${PORT[$2]}"
	WRK=(timeout -k 5 $(($(secs "$dur") + 30)) wrk "-t$THREADS" "-c$CONNECTIONS" "-d$dur" --latency)
	if [[ $sc == miss ]]; then
		WRK+=(-s "$CONF_DIR/misses.lua" "$base/" -- "$prefix")
	else
		WRK+=("$base$(path_of "$sc")")
	fi
}

# check SC ROW TAG: before the load, checks that the row does what the
# scenario expects, by counting the requests that reach the origin; sets
# CHECK (a line for the runs table) and returns 1 if the check failed.
CHECK=""
check() {
	local sc=$1 row=$2 tag=$3 base="http://127.0.0.1:${PORT[$2]}" o0 o1 o2 code status path want
	case $sc in
	hit | pass)
		path=$(path_of "$sc")
		o0=$(origin_count)
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$base$path")
		o1=$(origin_count)
		status=$(curl -s -D - -o /dev/null --max-time 5 "$base$path" | tr -d '\r' | awk 'tolower($1) == "cache-status:" {sub(/^[^:]*:[ \t]*/, ""); print}')
		curl -s -o /dev/null --max-time 5 "$base$path"
		o2=$(origin_count)
		if [[ $sc == hit ]]; then
			CHECK="1st request $code, reached origin $((o1 - o0))×; next 2 reached it $((o2 - o1))×"
			want=$([[ $code == 200 && $((o1 - o0)) == 1 && $((o2 - o1)) == 0 ]] && echo ok || echo bad)
		else
			CHECK="status $code; 3 requests reached origin $((o2 - o0))×"
			want=$([[ $code == 200 && $((o2 - o0)) == 3 ]] && echo ok || echo bad)
		fi
		;;
	miss)
		path=/static/check-$tag
		o0=$(origin_count)
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$base$path")
		o1=$(origin_count)
		status=$(curl -s -D - -o /dev/null --max-time 5 "$base$path" | tr -d '\r' | awk 'tolower($1) == "cache-status:" {sub(/^[^:]*:[ \t]*/, ""); print}')
		o2=$(origin_count)
		CHECK="new URL: $code, reached origin $((o1 - o0))×; again: $((o2 - o1))×"
		if [[ $row == plain ]]; then
			want=$([[ $code == 200 && $((o1 - o0)) == 1 && $((o2 - o1)) == 1 ]] && echo ok || echo bad)
		else
			want=$([[ $code == 200 && $((o1 - o0)) == 1 && $((o2 - o1)) == 0 ]] && echo ok || echo bad)
		fi
		;;
	esac
	[[ -n $status ]] && CHECK+="; Cache-Status: $status"
	[[ $want == ok ]]
}

# stored_after ROW TAG: what the cache holds after a miss run: the edge's
# object count and evictions (from the admin API's /metrics), or the number
# of NGINX's cache files.
stored_after() {
	local row=$1 tag=$2
	case $row in
	edge)
		curl -s --max-time 5 "http://127.0.0.1:$ADMIN_PORT/metrics" | awk '
			/^tether_edge_cache_objects\{/ {o = $2}
			/^tether_edge_evictions_total\{/ {e = $2}
			/^tether_edge_not_stored_total\{/ {n += $2}
			END {printf "%d objects stored, %d evicted, %d not stored", o, e, n}'
		;;
	nginx) echo "$(find "$CACHE_BASE/$tag" -type f 2>/dev/null | wc -l) cache files" ;;
	plain) echo "no cache" ;;
	esac
}

RAW=""      # TSV of all runs
NOTES=""    # warnings for the report
LAST_ROW="" LAST_OTHER=0 LAST_ERRNOTE="" LAST_SIRQ=0

# measure_once SC ROW ROUND ATTEMPT: one measured run (see measure in
# lib.sh).
measure_once() {
	local sc=$1 row=$2 round=$3 attempt=$4 tag="r$3-$1-$2-a$4" out load1
	out=$TMP/wrk-$tag.txt
	log "round $round/$ROUNDS  $sc  ${NAME[$row]}: starting"
	start_proxy "$row" "$tag"
	check "$sc" "$row" "$tag" || NOTES+="- WARNING: $row $sc round $round check failed: $CHECK"$'\n'

	log "  warm-up $WARMUP"
	wrk_cmd "$sc" "$row" "/static/$tag-w-" "$WARMUP"
	"${WRK[@]}" >"$TMP/warmup.txt" 2>&1 || { cat "$TMP/warmup.txt" >&2; die "wrk warm-up against $row failed"; }
	refresh_children

	local c0 k0 b0 t0 w0 o0 c1 k1 b1 t1 w1 o1 s0 g0 s1 g1
	load1=$(awk '{print $1}' /proc/loadavg)
	o0=$(origin_count)
	read -r b0 t0 < <(box_ticks)
	read -r s0 g0 < <(net_ticks)
	# shellcheck disable=SC2086
	c0=$(cpu_ticks $MEAS_PIDS)
	k0=$(cpu_ticks "$ORIGIN_PID")
	child_secs
	w0=$CHILD_SECS
	log "  measuring $DURATION"
	wrk_cmd "$sc" "$row" "/static/$tag-m-" "$DURATION"
	"${WRK[@]}" >"$out" 2>&1 || { cat "$out" >&2; die "wrk against $row failed"; }
	child_secs
	w1=$CHILD_SECS
	# shellcheck disable=SC2086
	c1=$(cpu_ticks $MEAS_PIDS)
	k1=$(cpu_ticks "$ORIGIN_PID")
	read -r b1 t1 < <(box_ticks)
	read -r s1 g1 < <(net_ticks)
	o1=$(origin_count)
	[[ $sc == miss ]] && CHECK+="; after the run: $(stored_after "$row" "$tag")"
	stop_proxy

	local rps reqs wall p50 p99 non2xx sockerr sockdetail
	rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
	reqs=$(awk '/ requests in / {print $1}' "$out")
	wall=$(awk '/ requests in / {v = $4; sub(/,$/, "", v); n = v + 0; if (v ~ /m$/) n *= 60; else if (v ~ /ms$/) n /= 1000; print n}' "$out")
	p50=$(awk '/Latency Distribution/ {d=1} d && $1 == "50%" {print $2; exit}' "$out")
	p99=$(awk '/Latency Distribution/ {d=1} d && $1 == "99%" {print $2; exit}' "$out")
	non2xx=$(awk -F': *' '/Non-2xx or 3xx responses/ {print $2}' "$out")
	sockerr=$(awk '/Socket errors/ {gsub(/[^0-9 ]/, ""); s=0; for (i=1;i<=NF;i++) s+=$i; print s}' "$out")
	sockdetail=$(awk '/Socket errors:/ {sub(/^[ \t]*Socket errors:[ \t]*/, ""); print}' "$out")
	[[ -n $rps && -n $reqs && $reqs -gt 0 && -n $p50 && -n $p99 ]] || { cat "$out" >&2; die "could not parse wrk output for $row"; }
	local errors=$((${non2xx:-0} + ${sockerr:-0}))
	LAST_ERRNOTE=""
	((errors == 0)) || LAST_ERRNOTE="- WARNING: $row $sc round $round: $errors errors (non-2xx ${non2xx:-0}, socket ${sockerr:-0}${sockdetail:+: $sockdetail})"

	local hz px_us or_us cores busy wrk_us other fetch
	hz=$(getconf CLK_TCK)
	px_us=$(awk -v c=$((c1 - c0)) -v hz="$hz" -v n="$reqs" 'BEGIN {printf "%.1f", c / hz * 1e6 / n}')
	or_us=$(awk -v c=$((k1 - k0)) -v hz="$hz" -v n="$reqs" 'BEGIN {printf "%.1f", c / hz * 1e6 / n}')
	cores=$(awk -v c=$((c1 - c0)) -v hz="$hz" -v w="$wall" 'BEGIN {printf "%.2f", c / hz / w}')
	busy=$(awk -v b=$((b1 - b0)) -v t=$((t1 - t0)) 'BEGIN {printf "%.0f", t ? 100 * b / t : 0}')
	wrk_us=$(awk -v w0="$w0" -v w1="$w1" -v n="$reqs" 'BEGIN {printf "%.1f", (w1 - w0) * 1e6 / n}')
	other=$(awk -v b=$((b1 - b0)) -v c=$((c1 - c0)) -v k=$((k1 - k0)) -v w0="$w0" -v w1="$w1" -v hz="$hz" -v w="$wall" \
		'BEGIN {o = (b - c - k) / hz - (w1 - w0); printf "%.2f", o / w}')
	# Origin fetches per completed request: 0 for hits, about 1 for
	# misses and passes (requests in flight when wrk stops count too).
	fetch=$(awk -v d=$((o1 - o0)) -v n="$reqs" 'BEGIN {printf "%.3f", d / n}')
	LAST_SIRQ=$(softirq_ns "$s0" "$g0" "$s1" "$g1")
	log "  ${NAME[$row]}: $rps req/s, p50 $p50, p99 $p99, proxy $px_us µs/req ($cores cores), origin $or_us µs/req, wrk $wrk_us µs/req, origin fetches/req $fetch, other $other cores, softirq $LAST_SIRQ ns/segment"
	LAST_OTHER=$other
	LAST_ROW="$sc	$row	$round	$rps	$reqs	$(lat_ms "$p50")	$(lat_ms "$p99")	$errors	$px_us	$cores	$or_us	$wrk_us	$busy	$other	$fetch	$load1	$CHECK"
}

# ------------------------------------------------------------------ profile

PROFILES=""  # markdown, when PROFILE=1

# profile SC ROW: runs the scenario's load against a fresh tether with the
# admin API on, takes a CPU profile of PROFILE_SECONDS from
# /debug/pprof/profile, and appends go tool pprof -top to PROFILES.
profile() {
	local sc=$1 row=$2 tag="prof-$1-$2" pf
	pf=$OUT_DIR/edge-profile-$sc-$row.pprof
	log "profile: $sc ${NAME[$row]} (${PROFILE_SECONDS}s)"
	start_proxy "$row" "$tag"
	wrk_cmd "$sc" "$row" "/static/$tag-w-" "$WARMUP"
	"${WRK[@]}" >"$TMP/warmup.txt" 2>&1 || die "wrk warm-up against $row failed"
	wrk_cmd "$sc" "$row" "/static/$tag-m-" "$((PROFILE_SECONDS + 3))s"
	"${WRK[@]}" >"$TMP/wrk-$tag.txt" 2>&1 &
	WRK_BG_PID=$!
	sleep 1
	curl -s --max-time $((PROFILE_SECONDS + 30)) -o "$pf" "http://127.0.0.1:$ADMIN_PORT/debug/pprof/profile?seconds=$PROFILE_SECONDS" ||
		die "could not fetch the CPU profile from the admin API"
	wait "$WRK_BG_PID" || true
	WRK_BG_PID=""
	stop_proxy
	PROFILES+="### $sc: ${NAME[$row]}"$'\n\n'"Raw profile: \`bench/.out/$(basename "$pf")\` (\`go tool pprof -top bench/.out/tether bench/.out/$(basename "$pf")\`, from the repository root). Load: \`$(awk '/requests in/ {print $1, $2, $3, $4}' "$TMP/wrk-$tag.txt" | tr -d ,)\` → $(awk '/^Requests\/sec:/ {printf "%.0f req/s", $2}' "$TMP/wrk-$tag.txt") with the profiler on."$'\n\n'
	PROFILES+='```'$'\n'"$(cd "$ROOT" && go tool pprof -top -nodecount=30 "$OUT_DIR/tether" "$pf" 2>/dev/null | sed -n '/^Showing\|^ *flat/,$p')"$'\n''```'$'\n\n'
	PROFILES+='Cumulative (top 25 by cum):'$'\n\n''```'$'\n'"$(cd "$ROOT" && go tool pprof -top -cum -nodecount=25 "$OUT_DIR/tether" "$pf" 2>/dev/null | sed -n '/^ *flat/,$p')"$'\n''```'$'\n\n'
}

# ------------------------------------------------------------------- report

# medians prints, per scenario and row, the medians of the kept runs:
# sc row n rps p50 p99 errors us cores fetch other rps_lo rps_hi us_lo us_hi origin_us wrk_us sirq
medians() {
	printf '%s' "$RAW" | awk -F'\t' '
		function median(arr, n,   i, j, t, s) {
			for (i = 1; i <= n; i++) s[i] = arr[i]
			for (i = 2; i <= n; i++) { t = s[i]; for (j = i - 1; j >= 1 && s[j] > t; j--) s[j+1] = s[j]; s[j+1] = t }
			return n % 2 ? s[(n+1)/2] : (s[n/2] + s[n/2+1]) / 2
		}
		NF > 1 && $18 == "kept" {
			k = $1 SUBSEP $2; if (!(k in n)) order[++nk] = k; m = ++n[k]
			rps[k, m] = $4; p50[k, m] = $6; p99[k, m] = $7; err[k] += $8; us[k, m] = $9; cores[k, m] = $10
			ous[k, m] = $11; wus[k, m] = $12; fetch[k, m] = $15; sirq[k, m] = $19
			if (!(k in oth) || $14 + 0 > oth[k]) oth[k] = $14 + 0
			if (!(k in lo) || $4 + 0 < lo[k]) lo[k] = $4 + 0
			if (!(k in hi) || $4 + 0 > hi[k]) hi[k] = $4 + 0
			if (!(k in ulo) || $9 + 0 < ulo[k]) ulo[k] = $9 + 0
			if (!(k in uhi) || $9 + 0 > uhi[k]) uhi[k] = $9 + 0
		}
		function med(a, k, m,   i, x) { for (i = 1; i <= m; i++) x[i] = a[k, i] + 0; return median(x, m) }
		END {
			for (i = 1; i <= nk; i++) {
				k = order[i]; m = n[k]; split(k, kk, SUBSEP)
				printf "%s %s %d %.0f %.3f %.3f %d %.1f %.2f %.3f %.2f %.0f %.0f %.1f %.1f %.1f %.1f %.0f\n", kk[1], kk[2], m,
					med(rps, k, m), med(p50, k, m), med(p99, k, m), err[k], med(us, k, m), med(cores, k, m), med(fetch, k, m),
					oth[k], lo[k], hi[k], ulo[k], uhi[k], med(ous, k, m), med(wus, k, m), med(sirq, k, m)
			}
		}'
}

declare -A M=() # "sc row field" -> median

load_medians() {
	local sc row n rps p50 p99 err us cores fetch oth lo hi ulo uhi ous wus sirq
	while read -r sc row n rps p50 p99 err us cores fetch oth lo hi ulo uhi ous wus sirq; do
		M[$sc $row n]=$n M[$sc $row rps]=$rps M[$sc $row p50]=$p50 M[$sc $row p99]=$p99 M[$sc $row err]=$err
		M[$sc $row us]=$us M[$sc $row cores]=$cores M[$sc $row fetch]=$fetch M[$sc $row oth]=$oth
		M[$sc $row lo]=$lo M[$sc $row hi]=$hi M[$sc $row ulo]=$ulo M[$sc $row uhi]=$uhi M[$sc $row ous]=$ous M[$sc $row wus]=$wus
		M[$sc $row sirq]=$sirq
	done < <(medians)
}

# ratio A B: A/B with two decimals, or n/a.
ratio() { awk -v a="${1:-}" -v b="${2:-}" 'BEGIN {if (a == "" || b == "" || b + 0 == 0) print "n/a"; else printf "%.2f", a / b}'; }
fmtms() { awk -v v="$1" 'BEGIN {if (v < 1) printf "%.0f µs", v * 1000; else printf "%.2f ms", v}'; }

# table SC REF REFNAME [REF2 REF2NAME]: the scenario's summary table, with
# ratios to the REF row (and CPU ratios to REF2).
table() {
	local sc=$1 ref=$2 refname=$3 ref2=${4:-} ref2name=${5:-} row name range cpu extra=""
	[[ -n $ref2 ]] && extra=" CPU/req ÷ $ref2name |"
	echo "### ${SC_TITLE[$sc]}"
	echo
	echo "| | version | req/s | p50 | p99 | errors | CPU µs/req | cores used | origin fetches/req | req/s ÷ $refname | p50 ÷ $refname | p99 ÷ $refname | CPU/req ÷ $refname |$extra other cores (max) |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|$([[ -n $ref2 ]] && echo '---:|')---:|"
	for row in $(rows_of "$sc"); do
		[[ -n ${M[$sc $row n]:-} ]] || continue
		name=${NAME[$row]}
		[[ $row == "$ref" ]] && name="$name (reference)"
		[[ $row == edge ]] && name="**$name**"
		range="" cpu=${M[$sc $row us]}
		if ((${M[$sc $row n]} > 1)); then
			range=" [${M[$sc $row lo]}–${M[$sc $row hi]}]"
			cpu+=" [${M[$sc $row ulo]}–${M[$sc $row uhi]}]"
		fi
		printf '| %s | %s | %s%s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |%s %s |\n' \
			"$name" "${VERSION[$row]}" "${M[$sc $row rps]}" "$range" "$(fmtms "${M[$sc $row p50]}")" "$(fmtms "${M[$sc $row p99]}")" \
			"${M[$sc $row err]}" "$cpu" "${M[$sc $row cores]}" "${M[$sc $row fetch]}" \
			"$(ratio "${M[$sc $row rps]}" "${M[$sc $ref rps]:-}")" "$(ratio "${M[$sc $row p50]}" "${M[$sc $ref p50]:-}")" \
			"$(ratio "${M[$sc $row p99]}" "${M[$sc $ref p99]:-}")" "$(ratio "${M[$sc $row us]}" "${M[$sc $ref us]:-}")" \
			"$([[ -n $ref2 ]] && echo " $(ratio "${M[$sc $row us]}" "${M[$sc $ref2 us]:-}") |")" "${M[$sc $row oth]}"
	done
	echo
}

# verdict LABEL VALUE OP LIMIT: a line of the targets table.
verdict() {
	local label=$1 v=$2 op=$3 limit=$4 res
	if [[ $v == n/a ]]; then
		res="not measured"
	elif awk -v v="$v" -v l="$limit" -v op="$op" 'BEGIN {exit !(op == ">=" ? v >= l : v <= l)}'; then
		res="**met**"
	else
		res="**not met**"
	fi
	printf '| %s | %s | %s %s | %s |\n' "$label" "$v" "$op" "$limit" "$res"
}

targets() {
	echo "### Against the targets"
	echo
	echo "| target | measured (ratio of medians) | wanted | |"
	echo "|---|---:|---:|---|"
	if [[ " $SCENARIOS " == *" hit "* ]]; then
		verdict "hits: req/s, tether edge ÷ NGINX" "$(ratio "${M[hit edge rps]:-}" "${M[hit nginx rps]:-}")" ">=" 1.00
		verdict "hits: CPU µs/req, tether edge ÷ NGINX" "$(ratio "${M[hit edge us]:-}" "${M[hit nginx us]:-}")" "<=" 1.00
		verdict "hits: p99, tether edge ÷ NGINX" "$(ratio "${M[hit edge p99]:-}" "${M[hit nginx p99]:-}")" "<=" 1.00
	fi
	if [[ " $SCENARIOS " == *" miss "* ]]; then
		verdict "misses: CPU µs/req, edge miss ÷ plain proxied request" "$(ratio "${M[miss edge us]:-}" "${M[miss plain us]:-}")" "<=" 1.20
		verdict "misses: p99, edge miss ÷ plain proxied request" "$(ratio "${M[miss edge p99]:-}" "${M[miss plain p99]:-}")" "<=" 1.20
		verdict "misses: req/s, plain ÷ edge miss" "$(ratio "${M[miss plain rps]:-}" "${M[miss edge rps]:-}")" "<=" 1.20
	fi
	echo
	kernel_apart hit nginx NGINX
	kernel_apart miss plain "the plain listener"
}

# kernel_apart SC REF REFNAME: a warning when the kept runs of the edge and
# of REF in SC met kernel costs (median softirq ns per segment) more than
# APART times apart: each row's slow runs are judged against that row's
# own lowest, so a row that stayed in the VM's slow stretches throughout
# is kept, and the ratio then says more about the VM than about the
# proxies.
kernel_apart() {
	local sc=$1 ref=$2 name=$3 a=${M[$1 edge sirq]:-} b=${M[$1 $2 sirq]:-}
	[[ -n $a && -n $b && $a -gt 0 && $b -gt 0 ]] || return 0
	awk -v a="$a" -v b="$b" -v f="$APART" 'BEGIN {exit !(a > f * b || b > f * a)}' || return 0
	echo "**Warning:** in the $sc scenario the edge's kept runs met the kernel at a median $a ns of softirq per TCP segment and $name's at $b ns, more than APART=$APART times apart: the $sc ratios above compare the VM's states as much as the proxies. \`bash bench/edge-pairs.sh\` measures the two back to back."
	echo
}

report_head() {
	local cpu os
	cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
	os=$(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME" || echo unknown)
	cat <<EOF
- Date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')
- Command: \`$COMMAND_LINE\`
- Machine: $cpu, \`nproc\` = $(nproc), $(awk '/^MemTotal/ {printf "%.1f GiB RAM", $2 / 1048576}' /proc/meminfo), $os, kernel $(uname -r)
- Versions: tether ${VERSION[edge]:-?} and bench/edge/origin built with $(go version | awk '{print $3}'); NGINX ${VERSION[nginx]:-?}; wrk $(wrk -v 2>&1 | awk 'NR==1{print $2}')
- Load average (1, 5, 15 min): $LOAD_START at the start, $(awk '{print $1", "$2", "$3}' /proc/loadavg) at the end; the 1-minute figure before each run is in the runs table.${OTHER_BENCH_WAITED:+ Waited ${OTHER_BENCH_WAITED}s at the start for another benchmark to finish.}${OTHER_BENCH_NOTE:+ **$OTHER_BENCH_NOTE.**}
- Load: \`wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency\` over loopback (misses: \`-s bench/edge/misses.lua\`, a new URL per request), each run preceded by an unmeasured \`-d$WARMUP\` warm-up and by a fresh start of the proxy with an empty cache; $ROUNDS round(s), interleaved (round → scenario → row, row order rotated per round); **medians** across rounds, ranges (min–max) in brackets.
- Origin: bench/edge/origin (Go net/http, one port $ORIGIN_PORT, 1 KiB bodies, keep-alive): \`/static/*\` with \`Cache-Control: max-age=3600\`, \`/dyn/*\` with \`no-store\`.
- **CPU µs/req**: CPU time (user+sys from /proc/PID/stat, all threads; NGINX master, workers and cache manager) of the proxy during the measured run ÷ requests completed. **origin fetches/req**: requests the origin served during the run ÷ requests completed (0 for hits, about 1 for misses). *Other cores (max)*: the worst kept run's CPU used by anything but wrk, the proxy and the origin; a run above MAX_OTHER=$MAX_OTHER was discarded and measured again (at most $RETRIES times; $DISCARDED discarded in this run). A run during which the kernel spent more than SLOW_NET=$SLOW_NET times the lowest softirq time per TCP segment of the same row in the same scenario was measured again too, within the same retries ($SLOW_DISCARDED in this run$(slow_by_row)): the VM's slow stretches, which hit every proxy (bench/README.md, Caveats).
EOF
}

report_configs() {
	cat <<EOF
- **tether edge** (\`bench/edge/tether.yaml\`): \`edges: [{origin: {url: http://127.0.0.1:$ORIGIN_PORT}, mode: safe, max_bytes: 2GiB}]\`; behaviors \`/static/*\` with \`cache: {cookies: none, query: none}\` (TTL from the origin's max-age, within the defaults 0s/24h/8760h), \`/dyn/*\` and \`*\` with every TTL 0 (CloudFront's CachingDisabled). No edge access log; \`log.access: off\`, \`log.level: warn\`; the admin API on loopback, read only after the load (/metrics: objects stored and evicted). The edge reaches the origin with the load balancer's HTTP/1.1 transport, as \`tether serve\` does for a plain http origin.${TETHER_GOMAXPROCS:+ tether ran with \`GOMAXPROCS=$TETHER_GOMAXPROCS\` (TETHER_GOMAXPROCS).}
- **tether, plain listener**: the same tether process, listener \`plain\` → target group with the origin as its only target (round robin, no stickiness, health checks every 5s, tether's own HTTP/1.1 transport). No cache.
- **NGINX proxy_cache** (\`bench/edge/nginx.conf\`): \`worker_processes auto\` (2 here), upstream \`keepalive 128\`, \`proxy_http_version 1.1\`, \`access_log off\`, \`keepalive_requests 1000000\`, \`sendfile on\`, \`tcp_nopush on\`; \`/static/\`: \`proxy_cache\` with \`proxy_cache_key \$scheme\$proxy_host\$request_uri\`, \`proxy_cache_valid 200 301 302 24h\` (used only without origin caching headers, so the origin's max-age rules), \`proxy_cache_lock on\`; \`proxy_cache_path … levels=1:2 keys_zone=edge:256m max_size=4g inactive=1h use_temp_path=off\` (room for every object of a run) in a fresh directory per run under \`${CACHE_BASE%/*}\` ($CACHE_FS; the cache files live in memory, as tether's objects do; on a disk file system the write-back of a miss run's files by kernel threads would disturb the runs after it).
EOF
}

report() {
	echo "# tether edge vs NGINX proxy_cache (loopback)"
	echo
	report_head
	echo
	echo "## Results"
	echo
	local sc
	for sc in $SCENARIOS; do
		case $sc in
		hit) table hit nginx NGINX ;;
		miss | pass) table "$sc" plain plain nginx NGINX ;;
		esac
	done
	targets
	echo "## What each row ran"
	echo
	report_configs
	echo
	if [[ -n $NOTES ]]; then
		echo "## Warnings"
		echo
		printf '%s\n' "$NOTES"
	fi
	if [[ -n $PROFILES ]]; then
		echo "## CPU profiles of tether (PROFILE=1)"
		echo
		printf '%s' "$PROFILES"
	fi
	echo "## Every run"
	echo
	echo "- origin / wrk µs/req: CPU per request of the origin and of wrk. Box busy: whole-machine CPU busy %. Other cores: busy CPU not charged to the proxy, the origin or wrk (other tenants, kernel threads); much above 0.1 means the run was disturbed. load1: 1-minute load average just before the run."
	echo "- Softirq ns/segment: the machine's softirq time ÷ TCP segments sent during the run (on loopback, the kernel's cost of delivering one segment). A run marked *slow kernel network* had more than SLOW_NET=$SLOW_NET times the lowest of its row in its scenario and was measured again right after (within the $RETRIES retries); it is not in the medians. This run re-measured $SLOW_DISCARDED$(slow_by_row)."
	echo "- Check: before the load, a few curl requests counted at the origin (hit: the 2nd and 3rd request must not reach it; miss: a new URL reaches it once, then not again, except on the plain listener; pass: every request reaches it)."
	echo
	echo "| scenario | row | round | req/s | requests | p50 ms | p99 ms | errors | proxy µs/req | proxy cores | origin µs/req | wrk µs/req | box busy % | other cores | softirq ns/segment | origin fetches/req | load1 | check |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
	printf '%s' "$RAW" | awk -F'\t' 'NF > 1 {r = $18 == "kept" ? $3 : $18 == "slow-net" ? $3 " (slow kernel network)" : $3 " (discarded)"; printf "| %s | %s | %s | %.0f | %s | %.3f | %.3f | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, r, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $19, $15, $16, $17}'
	echo
	echo "Caveats: loopback only; wrk, the origin and the proxy share the machine's cores; see bench/README.md."
}

# --------------------------------------------------------------------- main

LOAD_START=""
CACHE_FS=""

main() {
	local p
	for p in "$ORIGIN_PORT" "${PORT[edge]}" "${PORT[plain]}" "${PORT[nginx]}"; do require_free "$p" bench/edge.sh; done
	require_free "$ADMIN_PORT" "tether admin API"
	install_tools
	build
	edge_dirs tether-edge-bench
	CACHE_FS=$(df -PT "$CACHE_BASE" | awk 'NR == 2 {print $2}')

	wait_other_bench
	LOAD_START=$(awk '{print $1", "$2", "$3}' /proc/loadavg)

	edge_start_origin

	local round sc j rows n
	for ((round = 1; round <= ROUNDS; round++)); do
		for sc in $SCENARIOS; do
			read -r -a rows <<<"$(rows_of "$sc")"
			n=${#rows[@]}
			for ((j = 0; j < n; j++)); do
				measure "$sc" "${rows[$(((j + round - 1) % n))]}" "$round"
			done
		done
	done
	remeasure_slow 18

	if ((PROFILE)); then
		for sc in $SCENARIOS; do
			for p in $(rows_of "$sc"); do
				[[ $p == nginx ]] || profile "$sc" "$p"
			done
		done
	fi

	load_medians
	mkdir -p "$(dirname "$RESULTS")"
	report | tee "$RESULTS"
	log "report written to $RESULTS"
}

main "$@"
