#!/usr/bin/env bash
# bench/edge-pairs.sh: bench/edge.sh's targets measured in adjacent pairs:
# what an edge miss (and pass) costs against a plain proxied request, and
# what an edge hit costs against NGINX's.
#
# bench/edge.sh measures every row in a run of its own, minutes apart from
# the row it is compared with. On this class of VM the kernel's cost of a
# TCP segment can double or triple from one minute to the next (bench/
# README.md, Caveats), and that moves the ratio of two medians as much as
# any change to the code. Here the two rows run back to back, so that each
# pair shares the machine's state:
#
#   miss, pass: the edge and the plain listener of one tether process;
#   hit:        the tether edge and NGINX proxy_cache (bench/edge/
#               nginx.conf), both running, loaded one after the other;
#   per pair:   a fresh tether (empty cache), and NGINX for hits (an empty
#               cache directory), each row warmed up; then the two rows,
#               DURATION each, in an order that alternates from pair to
#               pair;
#   per run:    the row's CPU time per request (tether's process, or
#               NGINX's master and workers; user+system, and user alone:
#               the kernel's network work, which moves with the VM, is in
#               the system part) and the machine's softirq time per
#               segment.
#
# The report gives every pair's ratios and their medians; a pair whose two
# runs met different kernel costs (softirq per segment more than SLOW_NET
# apart) is shown but left out of the medians.
#
#   bash bench/edge-pairs.sh
#   PAIRS=12 DURATION=6s SCENARIOS="miss hit" bash bench/edge-pairs.sh
set -Eeuo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"
# shellcheck source=bench/edge/lib.sh
source "$BENCH_DIR/edge/lib.sh"
OUT_DIR=$BENCH_DIR/.out
CONF_DIR=$BENCH_DIR/edge

PAIRS=${PAIRS:-8}               # pairs per scenario
DURATION=${DURATION:-4s}        # each measured run
WARMUP=${WARMUP:-1s}            # each row, at the start of a pair
CONNECTIONS=${CONNECTIONS:-64}  # wrk -c
THREADS=${THREADS:-2}           # wrk -t
SCENARIOS=${SCENARIOS:-miss pass hit}
SLOW_NET=${SLOW_NET:-1.5}       # a pair whose runs' softirq ns/segment differ by more than this factor is left out
BASE_PORT=${BASE_PORT:-18180}   # as bench/edge.sh: origin +1, edge +20, plain +21, NGINX +22, admin +29
NGINX_CACHE_ON=${NGINX_CACHE_ON:-/dev/shm} # where NGINX's cache directories go (a tmpfs), as in bench/edge.sh
QUIET_WAIT=${QUIET_WAIT:-60}    # seconds to wait for an idle machine before each pair
MAX_OTHER=${MAX_OTHER:-0.25}    # cores; the idle threshold of that wait
INSTALL=${INSTALL:-1}
RESULTS=${RESULTS:-$BENCH_DIR/results/edge-pairs-latest.md}

ORIGIN_PORT=$((BASE_PORT + 1)) ADMIN_PORT=$((BASE_PORT + 29))
declare -A PORT=([edge]=$((BASE_PORT + 20)) [plain]=$((BASE_PORT + 21)) [nginx]=$((BASE_PORT + 22)))

log() { printf '[edge-pairs %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'bench/edge-pairs.sh: ERROR: %s\n' "$*" >&2; exit 1; }

[[ $PAIRS =~ ^[0-9]+$ && $PAIRS -ge 1 && $CONNECTIONS =~ ^[0-9]+$ && $THREADS =~ ^[0-9]+$ ]] ||
	die "PAIRS, CONNECTIONS and THREADS must be positive integers"
[[ $(secs "$DURATION") =~ ^[0-9]+$ && $(secs "$WARMUP") =~ ^[0-9]+$ ]] ||
	die "DURATION and WARMUP must look like 4, 4s or 1m (got '$DURATION', '$WARMUP')"
[[ $SLOW_NET =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "SLOW_NET must be a number such as 1.5 (got '$SLOW_NET')"
for sc in $SCENARIOS; do [[ $sc == miss || $sc == pass || $sc == hit ]] || die "unknown scenario '$sc' (known: miss pass hit)"; done

TMP="" CACHE_BASE="" ORIGIN_PID="" TETHER_PID="" NGINX_PID="" NGINX_PIDS=""
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	[[ -n $TETHER_PID ]] && stop_pid "$TETHER_PID"
	# shellcheck disable=SC2086
	[[ -n $NGINX_PIDS ]] && stop_pid $NGINX_PIDS
	[[ -n $ORIGIN_PID ]] && stop_pid "$ORIGIN_PID"
	[[ -n $TMP && -d $TMP ]] && rm -rf "$TMP"
	[[ -n $CACHE_BASE && -d $CACHE_BASE ]] && rm -rf "$CACHE_BASE"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# user_sys_ticks PID...: "user system" clock ticks of the processes.
user_sys_ticks() {
	local p
	for p in "$@"; do sed 's/^.*) //' "/proc/$p/stat"; done | awk '{u += $12; s += $13} END {print u, s}'
}

# pids_of ROW: the processes whose CPU time is the row's.
pids_of() {
	if [[ $1 == nginx ]]; then echo "$NGINX_PIDS"; else echo "$TETHER_PID"; fi
}

# start_nginx TAG: NGINX with bench/edge/nginx.conf and an empty cache
# directory; sets NGINX_PIDS to its master and workers.
start_nginx() {
	local cfg=$TMP/nginx-$1.conf
	mkdir -p "$CACHE_BASE/$1"
	edge_render nginx.conf "$cfg" "$CACHE_BASE/$1"
	edge_start_nginx "$cfg" "$TMP/nginx-$1.log"
	NGINX_PIDS=$NGINX_PID
	wait_up "$NGINX_PID" nginx "http://127.0.0.1:${PORT[nginx]}/healthz" "$TMP/nginx-$1.log"
	NGINX_PIDS="$NGINX_PID $(pgrep -P "$NGINX_PID" | tr '\n' ' ')"
}

# load ROW PREFIX DURATION OUT: one wrk run against ROW (edge, plain or
# nginx), output to OUT.
load() {
	local row=$1 prefix=$2 dur=$3 out=$4 port=${PORT[$1]} args
	case $SC in
	miss) args=(-s "$CONF_DIR/misses.lua" "http://127.0.0.1:$port/" -- "$prefix") ;;
	pass) args=("http://127.0.0.1:$port/dyn/pass.txt") ;;
	hit) args=("http://127.0.0.1:$port/static/hot.txt") ;;
	esac
	timeout -k 5 $(($(secs "$dur") + 30)) wrk "-t$THREADS" "-c$CONNECTIONS" "-d$dur" "${args[@]}" >"$out" 2>&1 ||
		{ cat "$out" >&2; die "wrk against the $row row failed"; }
	grep -q 'Non-2xx\|Socket errors' "$out" && log "  warning: errors in the $row run: $(grep 'Non-2xx\|Socket errors' "$out" | tr -s ' ')"
	return 0
}

# run ROW TAG: a measured run; prints "total_us user_us softirq_ns req/s".
run() {
	local row=$1 tag=$2 u0 s0 u1 s1 q0 g0 q1 g1 out=$TMP/wrk-$2.txt reqs hz pids
	pids=$(pids_of "$row")
	# shellcheck disable=SC2086
	read -r u0 s0 < <(user_sys_ticks $pids)
	read -r q0 g0 < <(net_ticks)
	load "$row" "/static/$tag-" "$DURATION" "$out"
	# shellcheck disable=SC2086
	read -r u1 s1 < <(user_sys_ticks $pids)
	read -r q1 g1 < <(net_ticks)
	reqs=$(awk '/ requests in / {print $1}' "$out")
	[[ -n $reqs && $reqs -gt 0 ]] || { cat "$out" >&2; die "no requests completed in the $row run"; }
	hz=$(getconf CLK_TCK)
	awk -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v n="$reqs" -v hz="$hz" -v q="$(softirq_ns "$q0" "$g0" "$q1" "$g1")" \
		-v rps="$(awk '/^Requests\/sec:/ {print $2}' "$out")" \
		'BEGIN {printf "%.2f %.2f %d %.0f\n", (u + s) / hz * 1e6 / n, u / hz * 1e6 / n, q, rps}'
}

# pair I: one pair of the scenario SC; appends a line to ROWS_OUT.
ROWS_OUT=""
pair() {
	local i=$1 tag cfg first second e p ref=plain
	[[ $SC == hit ]] && ref=nginx
	tag="p$i-$SC"
	wait_quiet
	cfg=$TMP/tether-$tag.yaml
	edge_render tether.yaml "$cfg" ""
	"$OUT_DIR/tether" serve -c "$cfg" >"$TMP/tether-$tag.log" 2>&1 &
	TETHER_PID=$!
	wait_up "$TETHER_PID" tether "http://127.0.0.1:${PORT[edge]}/healthz" "$TMP/tether-$tag.log"
	wait_up "$TETHER_PID" tether "http://127.0.0.1:${PORT[plain]}/healthz" "$TMP/tether-$tag.log"
	[[ $ref == nginx ]] && start_nginx "$tag"
	load edge "/static/$tag-we-" "$WARMUP" "$TMP/warm.txt"
	load "$ref" "/static/$tag-wr-" "$WARMUP" "$TMP/warm.txt"
	first=edge second=$ref
	((i % 2)) || { first=$ref second=edge; }
	local -A r=()
	r[$first]=$(run "$first" "$tag-$first")
	r[$second]=$(run "$second" "$tag-$second")
	[[ -n ${r[edge]} && -n ${r[$ref]} ]] || die "pair $i of $SC: a run failed (above)"
	stop_pid "$TETHER_PID"
	TETHER_PID=""
	if [[ $ref == nginx ]]; then
		# shellcheck disable=SC2086
		stop_pid $NGINX_PIDS
		NGINX_PIDS=""
		rm -rf "${CACHE_BASE:?}/$tag"
	fi
	read -r -a e <<<"${r[edge]}"
	read -r -a p <<<"${r[$ref]}"
	log "$SC pair $i ($first first): edge ${e[0]} µs/req (user ${e[1]}), $ref ${p[0]} (user ${p[1]}), softirq ${e[2]} / ${p[2]} ns/segment"
	ROWS_OUT+="$SC $i $first ${e[*]} ${p[*]}"$'\n'
}

# report: the markdown report of ROWS_OUT.
report() {
	cat <<EOF
# tether edge vs plain listener and NGINX, in adjacent pairs (loopback)

- Date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); tether $("$OUT_DIR/tether" version 2>&1 | awk '{print $2}'), $(go version | awk '{print $3}'); \`nproc\` = $(nproc)
- Command: \`PAIRS=$PAIRS DURATION=$DURATION WARMUP=$WARMUP CONNECTIONS=$CONNECTIONS THREADS=$THREADS SCENARIOS="$SCENARIOS" SLOW_NET=$SLOW_NET bash bench/edge-pairs.sh\`
- Configuration: bench/edge/tether.yaml and bench/edge/nginx.conf, as bench/edge.sh runs them (the edge and the plain listener in one tether process; NGINX with 2 workers and its cache on ${CACHE_BASE%/*}; the same origin). Misses: a new /static/ URL per request, each fetched and stored, edge against plain listener; pass: one /dyn/ URL (no-store), edge against plain listener; hits: one /static/ URL, cached in the warm-up, edge against NGINX. A fresh tether (and NGINX), with an empty cache, for every pair.
- **CPU µs/req**: the row's CPU time (user+system, all threads: tether's process, or NGINX's master and workers) during the run ÷ requests completed; *user*: the user time alone. **ratio**: edge ÷ reference within the pair. A pair whose runs' softirq ns/segment differ by more than SLOW_NET=$SLOW_NET times is marked and left out of the medians.

EOF
	local sc
	for sc in $SCENARIOS; do
		echo "## $sc"
		echo
		printf '%s' "$ROWS_OUT" | awk -v sc="$sc" -v f="$SLOW_NET" -v ref="$([[ $sc == hit ]] && echo NGINX || echo plain)" '
			function median(a, n,   i, j, t) {
				for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j+1] = a[j]; a[j+1] = t }
				return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
			}
			BEGIN {
				printf "| pair | first | edge CPU µs/req | %s CPU µs/req | ratio | edge user µs/req | %s user µs/req | user ratio | softirq ns/segment (edge / %s) | req/s (edge / %s) |\n", ref, ref, ref, ref
				print "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
			}
			$1 == sc {
				r = $8 > 0 ? $4 / $8 : 0; ru = $9 > 0 ? $5 / $9 : 0
				hi = $6 > $10 ? $6 : $10; lo = $6 < $10 ? $6 : $10
				apart = lo > 0 && hi > f * lo
				printf "| %s%s | %s | %.1f | %.1f | %.2f | %.1f | %.1f | %.2f | %d / %d | %.0f / %.0f |\n", $2, apart ? " (kernel costs apart)" : "", $3, $4, $8, r, $5, $9, ru, $6, $10, $7, $11
				all[++na] = r
				if (!apart) { kept[++nk] = r; keptu[nk] = ru; ke[nk] = $4; kp[nk] = $8; rq[nk] = ($11 > 0 ? $7 / $11 : 0); khi[nk] = hi }
				if (lo > 0 && (low == "" || lo < low)) low = lo
			}
			END {
				print ""
				if (nk == 0) { print "No pair kept: every pair ran at different kernel costs."; exit }
				# The quiet pairs: both runs within SLOW_NET of the lowest
				# kernel cost of the scenario, where the share of the kernel,
				# the same for both rows, dilutes the ratio least.
				for (i = 1; i <= nk; i++) if (khi[i] <= f * low) { quiet[++nq] = kept[i]; quietq[nq] = rq[i] }
				# (before median, which sorts its array in place)
				lo = 1e9; hi = 0
				for (i = 1; i <= nk; i++) { if (kept[i] < lo) lo = kept[i]; if (kept[i] > hi) hi = kept[i] }
				printf "**Median over %d kept pairs (of %d): edge ÷ %s CPU per request %.2f [%.2f–%.2f]; user time alone %.2f; edge %.1f µs, %s %.1f µs; req/s edge ÷ %s %.2f.**\n", nk, na, ref, median(kept, nk), lo, hi, median(keptu, nk), median(ke, nk), ref, median(kp, nk), ref, median(rq, nk)
				if (nq > 0) printf "\nQuiet pairs (both runs at most %.0f ns/segment, SLOW_NET × the lowest): %d, median ratio %.2f, req/s edge ÷ %s %.2f.\n", f * low, nq, median(quiet, nq), ref, median(quietq, nq)
				if (sc == "miss") printf "\nTarget (issue 5): a miss costs at most 1.20× a plain proxied request: **%s**.\n", (median(kept, nk) <= 1.2 ? "met" : "not met")
				if (sc == "hit") printf "\nTarget (issue 5): hits at 1.0× NGINX or better: req/s **%s**, CPU per request **%s**.\n", (median(rq, nk) >= 1 ? "met" : "not met"), (median(kept, nk) <= 1 ? "met" : "not met")
				print ""
			}'
	done
	echo "Caveats: loopback only; wrk, the origin and tether share the machine's 2 cores; see bench/README.md."
}

main() {
	local p
	for p in "$ORIGIN_PORT" "${PORT[edge]}" "${PORT[plain]}" "${PORT[nginx]}" "$ADMIN_PORT"; do require_free "$p" bench/edge-pairs.sh; done
	export PATH=$PATH:/usr/sbin:/sbin
	local need=() tool
	for tool in wrk curl; do command -v "$tool" >/dev/null || need+=("$tool"); done
	[[ " $SCENARIOS " == *" hit "* ]] && ! command -v nginx >/dev/null && need+=(nginx)
	install_packages ${need[@]+"${need[@]}"}
	edge_build
	edge_dirs tether-edge-pairs
	edge_start_origin
	local i
	for SC in $SCENARIOS; do
		for ((i = 1; i <= PAIRS; i++)); do pair "$i"; done
	done
	mkdir -p "$(dirname "$RESULTS")"
	report | tee "$RESULTS"
	log "report written to $RESULTS"
}

SC=""
main "$@"
