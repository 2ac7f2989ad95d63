#!/usr/bin/env bash
# bench/run.sh: tether side by side with HAProxy, NGINX and Caddy on loopback.
#
# One run builds tether and a small Go backend (3 ports, 1 KiB body), makes a
# self-signed certificate with openssl, renders each load balancer's config
# from bench/configs/, then for every round, scenario (base, sticky, https)
# and row (direct = wrk straight at one backend, then each LB): starts that
# LB alone on its own 127.0.0.1 port, checks it, warms it up with wrk,
# measures with wrk --latency while sampling CPU time from /proc, and stops
# it. The markdown report goes to stdout and to bench/results/latest.md; a
# full default run also refreshes the "Latest results" section of
# bench/README.md.
#
#   bash bench/run.sh
#   DURATION=20s CONNECTIONS=128 ROUNDS=5 bash bench/run.sh
#   LBS="haproxy tether" SCENARIOS=https ROUNDS=1 bash bench/run.sh
#
# bench/README.md lists every variable and explains how to read the output.
set -Eeuo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"
OUT_DIR=$BENCH_DIR/.out

DURATION=${DURATION:-10s}       # measured wrk run, per LB and scenario and round
WARMUP=${WARMUP:-2s}            # unmeasured wrk run just before it
CONNECTIONS=${CONNECTIONS:-64}  # wrk -c
THREADS=${THREADS:-2}           # wrk -t
ROUNDS=${ROUNDS:-3}             # interleaved repetitions; the report shows medians
LBS=${LBS:-direct tether haproxy nginx caddy}
SCENARIOS=${SCENARIOS:-base sticky https}
BASE_PORT=${BASE_PORT:-18080}   # backends +1..+3 (+4: backend 1 over TLS); tether +20, haproxy +21, nginx +22, caddy +23
LB_CPUS=${LB_CPUS:-}            # optional taskset CPU lists, e.g. LB_CPUS=0 WRK_CPUS=1
WRK_CPUS=${WRK_CPUS:-}
BACKEND_CPUS=${BACKEND_CPUS:-}
INSTALL=${INSTALL:-1}           # 0: never apt-get install, fail if a tool is missing
RESULTS=${RESULTS:-$BENCH_DIR/results/latest.md}
# Shared hosts: a run during which other processes used more than MAX_OTHER
# cores is discarded and measured again, at most RETRIES times; before each
# run the script waits (at most QUIET_WAIT seconds) for the box to be idle.
MAX_OTHER=${MAX_OTHER:-0.25}
RETRIES=${RETRIES:-2}
# A run during which the kernel spent more than SLOW_NET times the lowest
# softirq time per TCP segment of the same LB in the same scenario (the
# VM's slow stretches, which hit every LB) is also measured again, within
# RETRIES.
SLOW_NET=${SLOW_NET:-1.8}
QUIET_WAIT=${QUIET_WAIT:-60}
README=$BENCH_DIR/README.md
# auto: refresh README's "Latest results" only after a run of the whole
# default matrix with at least 3 rounds; 1: always; 0: never.
UPDATE_README=${UPDATE_README:-auto}

COMMAND_LINE="DURATION=$DURATION WARMUP=$WARMUP CONNECTIONS=$CONNECTIONS THREADS=$THREADS ROUNDS=$ROUNDS LBS=\"$LBS\" SCENARIOS=\"$SCENARIOS\" BASE_PORT=$BASE_PORT MAX_OTHER=$MAX_OTHER SLOW_NET=$SLOW_NET RETRIES=$RETRIES QUIET_WAIT=$QUIET_WAIT${LB_CPUS:+ LB_CPUS=$LB_CPUS}${WRK_CPUS:+ WRK_CPUS=$WRK_CPUS}${BACKEND_CPUS:+ BACKEND_CPUS=$BACKEND_CPUS} bash bench/run.sh"

B1=$((BASE_PORT + 1)) B2=$((BASE_PORT + 2)) B3=$((BASE_PORT + 3)) B4=$((BASE_PORT + 4))
# "direct" is no LB: wrk goes straight to backend 1 (B1, or B4 = the same
# handler over TLS in the https scenario).
declare -A LB_PORT=([direct]=$B1 [tether]=$((BASE_PORT + 20)) [haproxy]=$((BASE_PORT + 21)) [nginx]=$((BASE_PORT + 22)) [caddy]=$((BASE_PORT + 23)))
declare -A LB_NAME=([direct]="direct (no LB)" [tether]=tether [haproxy]=HAProxy [nginx]=NGINX [caddy]=Caddy)
declare -A LB_VERSION=()

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'bench/run.sh: ERROR: %s\n' "$*" >&2; exit 1; }

[[ $(secs "$DURATION") =~ ^[0-9]+$ && $(secs "$WARMUP") =~ ^[0-9]+$ ]] ||
	die "DURATION and WARMUP must look like 10, 10s or 1m (got '$DURATION', '$WARMUP')"
[[ $CONNECTIONS =~ ^[0-9]+$ && $THREADS =~ ^[0-9]+$ && $ROUNDS =~ ^[0-9]+$ && $ROUNDS -ge 1 ]] ||
	die "CONNECTIONS, THREADS and ROUNDS must be positive integers"
[[ $RETRIES =~ ^[0-9]+$ && $RETRIES -le 10 && $QUIET_WAIT =~ ^[0-9]+$ && $QUIET_WAIT -le 600 && $MAX_OTHER =~ ^[0-9]+(\.[0-9]+)?$ ]] ||
	die "RETRIES (0..10), QUIET_WAIT (0..600 s) and MAX_OTHER (cores, e.g. 0.25) must be numbers"
[[ $SLOW_NET =~ ^[0-9]+(\.[0-9]+)?$ ]] && awk -v f="$SLOW_NET" 'BEGIN {exit !(f >= 1)}' ||
	die "SLOW_NET must be a number of at least 1 (got '$SLOW_NET'); e.g. SLOW_NET=1.8, or RETRIES=0 to never measure a run again"
for lb in $LBS; do [[ -n ${LB_PORT[$lb]:-} ]] || die "unknown LB '$lb' in LBS (known: direct tether haproxy nginx caddy)"; done
for sc in $SCENARIOS; do [[ $sc == base || $sc == sticky || $sc == https ]] || die "unknown scenario '$sc' (known: base sticky https)"; done
[[ -n $LBS && -n $SCENARIOS ]] || die "LBS and SCENARIOS must not be empty"
[[ $UPDATE_README == auto || $UPDATE_README == 0 || $UPDATE_README == 1 ]] || die "UPDATE_README must be auto, 0 or 1"
NEED_TLS=0
[[ " $SCENARIOS " == *" https "* ]] && NEED_TLS=1
# One random secret per run for Caddy's cookie HMAC (lb_policy cookie lb SECRET).
CADDY_SECRET=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')

# ---------------------------------------------------------------- processes

TMP=""
BACKEND_PID=""
LB_PID=""
LB_CHILDREN=""

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	# shellcheck disable=SC2086
	[[ -n $LB_PID ]] && stop_pid $LB_PID $LB_CHILDREN
	[[ -n $BACKEND_PID ]] && stop_pid "$BACKEND_PID"
	if [[ -n $TMP && -d $TMP ]]; then
		if ((rc != 0)) && [[ -z ${KEEP_TMP:-} ]]; then
			log "logs of the failed run:"
			for f in "$TMP"/*.log; do [[ -s $f ]] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }; done
		fi
		[[ -n ${KEEP_TMP:-} ]] && log "kept $TMP" || rm -rf "$TMP"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# run_on CPUS CMD...: the command, under taskset when CPUS is set.
run_on() {
	local cpus=$1; shift
	if [[ -n $cpus ]]; then
		command -v taskset >/dev/null || die "taskset is missing but a *_CPUS variable is set"
		exec taskset -c "$cpus" "$@"
	fi
	exec "$@"
}

# ------------------------------------------------------------------ install

stop_distro_services() {
	# Debian starts nginx (port 80) and haproxy on install where it can.
	# There is no systemctl here; use service(8) and then the packages' pid
	# files, and only kill a pid whose command name matches.
	local svc pf pid
	if command -v service >/dev/null; then
		for svc in nginx haproxy caddy; do
			[[ -e /etc/init.d/$svc ]] && service "$svc" stop >/dev/null 2>&1 || true
		done
	fi
	for pf in /run/nginx.pid:nginx /run/haproxy.pid:haproxy /run/caddy.pid:caddy; do
		svc=${pf##*:} pf=${pf%:*}
		[[ -r $pf ]] || continue
		pid=$(head -n1 "$pf" 2>/dev/null || true)
		[[ $pid =~ ^[0-9]+$ ]] || continue
		if [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$svc"* ]]; then
			log "stopping distro-started $svc (pid $pid from $pf)"
			kill -TERM "$pid" 2>/dev/null || true
		fi
	done
}

install_tools() {
	local need=() tool
	declare -A pkg=([haproxy]=haproxy [nginx]=nginx [caddy]=caddy [wrk]=wrk [curl]=curl [openssl]=openssl)
	for tool in haproxy nginx caddy wrk curl openssl; do
		command -v "$tool" >/dev/null || [[ -x /usr/sbin/$tool ]] || need+=("${pkg[$tool]}")
	done
	install_packages ${need[@]+"${need[@]}"}
	export PATH=$PATH:/usr/sbin:/sbin
	stop_distro_services
	command -v go >/dev/null || die "go is not on PATH"
}

# ------------------------------------------------------------------- build

build() {
	mkdir -p "$OUT_DIR"
	local rev
	rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
	log "building tether (commit $rev plus working tree) and the backend"
	(cd "$ROOT" && go build -buildvcs=false -ldflags "-X main.version=dev-$rev" -o "$OUT_DIR/tether" ./cmd/tether) ||
		die "go build ./cmd/tether failed (output above)"
	(cd "$ROOT" && go build -buildvcs=false -o "$OUT_DIR/backend" ./bench/backend) ||
		die "go build ./bench/backend failed (output above)"
}

versions() {
	LB_VERSION[direct]="bench/backend, $(go version | awk '{print $3}')"
	LB_VERSION[tether]=$("$OUT_DIR/tether" version 2>&1 | awk '{print $2}')
	LB_VERSION[haproxy]=$(haproxy -v 2>&1 | awk 'NR==1{print $3}')
	LB_VERSION[nginx]=$(nginx -v 2>&1 | sed -n 's|.*nginx/||p')
	local cv
	cv=$(caddy version 2>/dev/null | awk '{print $1}')
	[[ $cv == v* || $cv == [0-9]* ]] || cv=$(dpkg-query -W -f '${Version}' caddy 2>/dev/null || echo unknown)
	LB_VERSION[caddy]=$cv
}

# ------------------------------------------------------------------ configs

# render LB SCENARIO: writes $TMP/<scenario>/<config file> and prints its path.
# Marker lines: "#BASE:" kept in base; "#STICKY:" in sticky and https;
# "#PLAIN:" in base and sticky; "#TLS:" in https. The others are dropped.
render() {
	local lb=$1 sc=$2 tpl dst keep drop
	case $lb in
	tether) tpl=tether.yaml ;; haproxy) tpl=haproxy.cfg ;; nginx) tpl=nginx.conf ;; caddy) tpl=Caddyfile ;;
	*) die "render: no config for '$lb'" ;;
	esac
	case $sc in
	base) keep='BASE\|PLAIN' drop='STICKY\|TLS' ;;
	sticky) keep='STICKY\|PLAIN' drop='BASE\|TLS' ;;
	https) keep='STICKY\|TLS' drop='BASE\|PLAIN' ;;
	esac
	mkdir -p "$TMP/$sc"
	dst=$TMP/$sc/$tpl
	render_template "$BENCH_DIR/configs/$tpl" "$dst" "$keep" "$drop" \
		"s|@LB_PORT@|${LB_PORT[$lb]}|g; s|@B1@|$B1|g; s|@B2@|$B2|g; s|@B3@|$B3|g; s|@TMP@|$TMP|g; s|@CADDY_SECRET@|$CADDY_SECRET|g"
	echo "$dst"
}

# ---------------------------------------------------------------- LB control

# lb_url LB SCENARIO: the URL wrk and curl use for that row.
lb_url() {
	local port=${LB_PORT[$1]}
	if [[ $2 == https ]]; then
		[[ $1 == direct ]] && port=$B4
		echo "https://127.0.0.1:$port/"
	else
		echo "http://127.0.0.1:$port/"
	fi
}

# MEAS_PIDS: the processes whose CPU the "LB" columns count: the LB (and
# nginx's workers), or the backend itself for the direct row.
MEAS_PIDS=""

start_lb() {
	local lb=$1 sc=$2 cfg port=${LB_PORT[$1]} logf=$TMP/$1-$2.log url
	url=$(lb_url "$lb" "$sc")
	if [[ $lb == direct ]]; then
		# Nothing to start: the backend is already running.
		MEAS_PIDS=$BACKEND_PID
		[[ $(curl -sk -o /dev/null -w '%{http_code}' --max-time 2 "$url") == 200 ]] || die "backend at $url does not answer 200"
		return 0
	fi
	cfg=$(render "$lb" "$sc")
	require_free "$port" "$lb"
	case $lb in
	tether)
		(run_on "$LB_CPUS" "$OUT_DIR/tether" serve -c "$cfg") >"$logf" 2>&1 &
		;;
	haproxy)
		haproxy -c -q -f "$cfg" >"$logf" 2>&1 || { cat "$logf" >&2; die "haproxy rejected $cfg"; }
		(run_on "$LB_CPUS" haproxy -f "$cfg" -db) >"$logf" 2>&1 &
		;;
	nginx)
		mkdir -p "$TMP/nginx"
		nginx -t -q -p "$TMP/nginx/" -e "$TMP/nginx-error.log" -c "$cfg" -g 'daemon off;' >"$logf" 2>&1 ||
			{ cat "$logf" "$TMP/nginx-error.log" >&2 2>/dev/null; die "nginx rejected $cfg"; }
		(run_on "$LB_CPUS" nginx -p "$TMP/nginx/" -e "$TMP/nginx-error.log" -c "$cfg" -g 'daemon off;') >"$logf" 2>&1 &
		;;
	caddy)
		(export HOME=$TMP/caddy-home XDG_DATA_HOME=$TMP/caddy-home/data XDG_CONFIG_HOME=$TMP/caddy-home/config
		 run_on "$LB_CPUS" caddy run --config "$cfg" --adapter caddyfile) >"$logf" 2>&1 &
		;;
	esac
	LB_PID=$!
	LB_CHILDREN=""
	wait_up "$LB_PID" "$lb" "$url" "$logf" -k
	# nginx forks its workers; count their CPU too.
	LB_CHILDREN=$(pgrep -P "$LB_PID" | tr '\n' ' ' || true)
	MEAS_PIDS="$LB_PID $LB_CHILDREN"
}

stop_lb() {
	# shellcheck disable=SC2086
	[[ -n $LB_PID ]] && stop_pid $LB_PID $LB_CHILDREN
	LB_PID="" LB_CHILDREN="" MEAS_PIDS=""
}

# child_secs sets CHILD_SECS to the CPU seconds (user+sys) of this shell's
# waited-for children so far, from the times builtin. It must run in this
# shell (not in $(...), whose subshell sees only its own children). wrk is
# such a child (via timeout), so the difference around a run is wrk's CPU
# time plus a few milliseconds of awk and sed.
CHILD_SECS=0

backend_counts() {
	local p
	for p in $B1 $B2 $B3; do curl -s --max-time 2 "http://127.0.0.1:$p/__stats" || echo 0; done | tr '\n' ' '
}

# ------------------------------------------------------------------ one run

RAW=""       # TSV of all runs
NOTES=""     # sanity-check notes for the report

LAST_ROW="" LAST_OTHER=0 LAST_ERRNOTE="" LAST_SIRQ=0

# measure_once SCENARIO LB ROUND ATTEMPT: one measured run (see measure in
# lib.sh).
measure_once() {
	local sc=$1 lb=$2 round=$3 url hdr=() cookie="" check="" i h seen="" distinct
	url=$(lb_url "$lb" "$sc")
	log "round $round/$ROUNDS  $sc  $lb: starting at $url"
	start_lb "$lb" "$sc"

	if [[ $lb == direct ]]; then
		# No LB: every request must be answered by backend 1.
		for ((i = 0; i < 12; i++)); do
			seen+=$(curl -sk -D - -o /dev/null --max-time 5 "$url" | tr -d '\r' | awk 'tolower($1) == "x-backend:" {print $2}')$'\n'
		done
		distinct=$(sort -u <<<"$seen" | grep . | tr '\n' ' ' || true)
		check="direct: 12 requests answered by port(s) ${distinct% }"
		[[ ${distinct% } == "$B1" ]] || NOTES+="- WARNING: direct $sc check: $check"$'\n'
	elif [[ $sc == sticky || $sc == https ]]; then
		if [[ $lb == nginx ]]; then
			cookie="x=bench-client-1" # nginx hashes a client cookie; it sets none
		else
			# Over https this is fetched with curl -k, like every request here.
			cookie=$(curl -sk -D - -o /dev/null --max-time 5 "$url" | tr -d '\r' |
				awk 'tolower($1) == "set-cookie:" { sub(/^[^:]*:[ \t]*/, ""); sub(/;.*/, ""); print; exit }')
			[[ -n $cookie ]] || die "$lb sent no Set-Cookie in the $sc scenario"
		fi
		hdr=(-H "Cookie: $cookie")
		# All requests carrying the cookie must reach one backend, without a new cookie.
		local sets=0
		for ((i = 0; i < 12; i++)); do
			h=$(curl -sk -D - -o /dev/null --max-time 5 -H "Cookie: $cookie" "$url" | tr -d '\r')
			seen+=$(awk 'tolower($1) == "x-backend:" {print $2}' <<<"$h")$'\n'
			grep -qi '^set-cookie:' <<<"$h" && sets=$((sets + 1))
		done
		distinct=$(sort -u <<<"$seen" | grep -c . || true)
		check="cookie ${cookie%%=*}: pinned to $distinct backend(s), $sets/12 re-set it"
		[[ $distinct == 1 ]] || NOTES+="- WARNING: $lb $sc check: $check"$'\n'
	else
		for ((i = 0; i < 12; i++)); do
			seen+=$(curl -sk -D - -o /dev/null --max-time 5 "$url" | tr -d '\r' | awk 'tolower($1) == "x-backend:" {print $2}')$'\n'
		done
		distinct=$(sort -u <<<"$seen" | grep -c . || true)
		check="12 fresh connections hit $distinct backend(s)"
		[[ $distinct == 3 ]] || NOTES+="- WARNING: $lb base check: $check"$'\n'
	fi
	if [[ $sc == https ]]; then
		# What wrk will negotiate: openssl s_client uses the same OpenSSL defaults.
		local hostport=${url#https://} tlsinfo
		hostport=${hostport%/}
		tlsinfo=$(timeout 10 openssl s_client -connect "$hostport" -servername 127.0.0.1 </dev/null 2>/dev/null |
			sed -n 's/^New, \(.*\), Cipher is \(.*\)$/\1 \2/p' | head -n1 || true)
		check+="; ${tlsinfo:-TLS version/cipher unknown}"
	fi

	local wrk_base=(wrk "-t$THREADS" "-c$CONNECTIONS" "${hdr[@]}")
	log "  warm-up $WARMUP"
	(run_on "$WRK_CPUS" timeout -k 5 $(($(secs "$WARMUP") + 30)) "${wrk_base[@]}" "-d$WARMUP" "$url") >"$TMP/warmup.txt" 2>&1 ||
		{ cat "$TMP/warmup.txt" >&2; die "wrk warm-up against $lb failed"; }
	if [[ -n $LB_PID ]]; then
		LB_CHILDREN=$(pgrep -P "$LB_PID" | tr '\n' ' ' || true)
		MEAS_PIDS="$LB_PID $LB_CHILDREN"
	fi

	local c0 k0 b0 n0 w0 c1 k1 b1 n1 w1 out=$TMP/wrk-$lb-$sc-$round.txt
	n0=$(backend_counts)
	local t0 t1 s0 g0 s1 g1
	read -r b0 t0 < <(box_ticks)
	read -r s0 g0 < <(net_ticks)
	# shellcheck disable=SC2086
	c0=$(cpu_ticks $MEAS_PIDS)
	k0=$(cpu_ticks "$BACKEND_PID")
	child_secs
	w0=$CHILD_SECS
	log "  measuring $DURATION"
	(run_on "$WRK_CPUS" timeout -k 5 $(($(secs "$DURATION") + 30)) "${wrk_base[@]}" "-d$DURATION" --latency "$url") >"$out" 2>&1 ||
		{ cat "$out" >&2; die "wrk against $lb failed"; }
	child_secs
	w1=$CHILD_SECS
	# shellcheck disable=SC2086
	c1=$(cpu_ticks $MEAS_PIDS)
	k1=$(cpu_ticks "$BACKEND_PID")
	read -r b1 t1 < <(box_ticks)
	read -r s1 g1 < <(net_ticks)
	n1=$(backend_counts)
	stop_lb

	local rps reqs wall p50 p99 non2xx sockerr
	rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
	reqs=$(awk '/ requests in / {print $1}' "$out")
	wall=$(awk '/ requests in / {v = $4; sub(/,$/, "", v); n = v + 0; if (v ~ /m$/) n *= 60; else if (v ~ /ms$/) n /= 1000; print n}' "$out")
	p50=$(awk '/Latency Distribution/ {d=1} d && $1 == "50%" {print $2; exit}' "$out")
	p99=$(awk '/Latency Distribution/ {d=1} d && $1 == "99%" {print $2; exit}' "$out")
	non2xx=$(awk -F': *' '/Non-2xx or 3xx responses/ {print $2}' "$out")
	sockerr=$(awk '/Socket errors/ {gsub(/[^0-9 ]/, ""); s=0; for (i=1;i<=NF;i++) s+=$i; print s}' "$out")
	local sockdetail
	sockdetail=$(awk '/Socket errors:/ {sub(/^[ \t]*Socket errors:[ \t]*/, ""); print}' "$out")
	[[ -n $rps && -n $reqs && $reqs -gt 0 && -n $p50 && -n $p99 ]] || { cat "$out" >&2; die "could not parse wrk output for $lb"; }
	local errors=$(( ${non2xx:-0} + ${sockerr:-0} ))
	LAST_ERRNOTE=""
	((errors == 0)) || LAST_ERRNOTE="- WARNING: $lb $sc round $round: $errors errors (non-2xx ${non2xx:-0}, socket ${sockerr:-0}${sockdetail:+: $sockdetail})"

	local hz lb_us be_us cores busy split wrk_us other lbk=$((c1 - c0))
	# For the direct row the "LB" is the backend: count its CPU once.
	[[ $lb == direct ]] && lbk=0
	hz=$(getconf CLK_TCK)
	lb_us=$(awk -v c=$((c1 - c0)) -v hz="$hz" -v n="$reqs" 'BEGIN {printf "%.1f", c / hz * 1e6 / n}')
	be_us=$(awk -v c=$((k1 - k0)) -v hz="$hz" -v n="$reqs" 'BEGIN {printf "%.1f", c / hz * 1e6 / n}')
	cores=$(awk -v c=$((c1 - c0)) -v hz="$hz" -v w="$wall" 'BEGIN {printf "%.2f", c / hz / w}')
	busy=$(awk -v b=$((b1 - b0)) -v t=$((t1 - t0)) 'BEGIN {printf "%.0f", t ? 100 * b / t : 0}')
	wrk_us=$(awk -v w0="$w0" -v w1="$w1" -v n="$reqs" 'BEGIN {printf "%.1f", (w1 - w0) * 1e6 / n}')
	# CPU the box spent on anything but the LB, the backend and wrk (other
	# tenants, kernel threads, softirq not charged to a task).
	other=$(awk -v b=$((b1 - b0)) -v c="$lbk" -v k=$((k1 - k0)) -v w0="$w0" -v w1="$w1" -v hz="$hz" -v w="$wall" \
		'BEGIN {o = (b - c - k) / hz - (w1 - w0); printf "%.2f", o / w}')
	split=$(awk -v a="$n0" -v b="$n1" 'BEGIN {
		na = split(a, x, " "); split(b, y, " "); tot = 0
		for (i = 1; i <= na; i++) { d[i] = y[i] - x[i]; tot += d[i] }
		for (i = 1; i <= na; i++) printf "%s%.0f", (i > 1 ? "/" : ""), tot ? 100 * d[i] / tot : 0 }')
	LAST_SIRQ=$(softirq_ns "$s0" "$g0" "$s1" "$g1")
	log "  $lb: $rps req/s, p50 $p50, p99 $p99, LB $lb_us µs/req ($cores cores), backend $be_us µs/req, wrk $wrk_us µs/req, other $other cores, softirq $LAST_SIRQ ns/segment, split $split %"
	LAST_OTHER=$other
	LAST_ROW="$sc	$lb	$round	$rps	$reqs	$(lat_ms "$p50")	$(lat_ms "$p99")	$errors	$lb_us	$cores	$be_us	$wrk_us	$busy	$other	$split	$check"
}

# ------------------------------------------------------------------- report

# report_head prints the report's title and run description (also used in README).
report_head() {
	local cpu kernel os
	cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
	kernel=$(uname -r)
	os=$(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME" || echo unknown)
	cat <<EOF
- Date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')
- Command: \`$COMMAND_LINE\`
- Machine: \`nproc\` = $(nproc), $cpu, $(awk '/^MemTotal/ {printf "%.1f GiB RAM", $2 / 1048576}' /proc/meminfo), $os, kernel $kernel
- Versions: tether ${LB_VERSION[tether]:-?}, HAProxy ${LB_VERSION[haproxy]:-?}, NGINX ${LB_VERSION[nginx]:-?}, Caddy ${LB_VERSION[caddy]:-?}; backend and tether built with $(go version | awk '{print $3}'); wrk $(wrk -v 2>&1 | awk 'NR==1{print $2}'); $(openssl version | awk '{print $1, $2}')
- Load: \`wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency [-H "Cookie: ..."] http(s)://127.0.0.1:PORT/\`, each run preceded by an unmeasured \`-d$WARMUP\` warm-up; $ROUNDS round(s), interleaved (round → scenario → row, row order rotated per round); **medians** across rounds, ranges (min–max over rounds) in brackets
- Pinning: ${LB_CPUS:+LB on CPUs $LB_CPUS, }${WRK_CPUS:+wrk on CPUs $WRK_CPUS, }${BACKEND_CPUS:+backend on CPUs $BACKEND_CPUS, }$([[ -z $LB_CPUS$WRK_CPUS$BACKEND_CPUS ]] && echo "none: wrk, the LB and the backend share all CPUs")
- Backend: bench/backend (Go net/http), 3 ports ($B1, $B2, $B3), 1 KiB body, keep-alive. **direct** = wrk straight at port $B1 (https: the same handler over Go TLS on $B4); its CPU columns are the backend's.
- **CPU µs/req** = CPU (user+sys from /proc/PID/stat, all threads, nginx workers included) of the LB during the measured run ÷ requests completed. It is the fairest figure on a small shared box; req/s mostly says how much CPU the LB left to wrk and the backend. A run where the backend's and wrk's µs/req (runs table) are also well above their usual values ran while the whole VM was slow; the ranges show how much that moved each row.
- **÷ HAProxy** ratios: req/s > 1 = faster than HAProxy; p50, p99, CPU/req > 1 = slower or dearer than HAProxy. *Other cores (max)*: the worst kept run's CPU used by anything but wrk, the LB and the backend; much above 0.1 means a run was disturbed. A run above MAX_OTHER=$MAX_OTHER cores was discarded and measured again (at most $RETRIES times; $DISCARDED discarded in this run), and each run waited (at most ${QUIET_WAIT}s) for an idle machine first. A run during which the kernel spent more than SLOW_NET=$SLOW_NET times the lowest softirq time per TCP segment of the same row in the same scenario was measured again too, within the same $RETRIES retries ($SLOW_DISCARDED in this run$(slow_by_row)): these are the VM's slow stretches, which hit every LB (bench/README.md, Caveats).
EOF
}

# report_tables prints one summary table per scenario, from $RAW.
report_tables() {
	local sc title lb
	for sc in $SCENARIOS; do
		case $sc in
		base) title="base: plain HTTP, round robin, no stickiness" ;;
		sticky) title="sticky: plain HTTP, every request carries the LB's affinity cookie (kept-binding path)" ;;
		https) title="https: TLS offload (TLS on the LB, plain HTTP keep-alive upstream), sticky as above" ;;
		esac
		echo "### $title"
		echo
		echo "| | version | req/s | p50 | p99 | errors | CPU µs/req | cores used | req/s ÷ HAProxy | p50 ÷ HAProxy | p99 ÷ HAProxy | CPU/req ÷ HAProxy | CPU/req ÷ tether | other cores (max) |"
		echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
		for lb in $LBS; do
			printf '%s\t%s\t%s\n' "$lb" "${LB_NAME[$lb]}" "${LB_VERSION[$lb]}"
		done | RAW_ENV=$RAW awk -F'\t' -v sc="$sc" '
			function median(arr, n,   i, j, t, s) {
				for (i = 1; i <= n; i++) s[i] = arr[i]
				for (i = 2; i <= n; i++) { t = s[i]; for (j = i - 1; j >= 1 && s[j] > t; j--) s[j+1] = s[j]; s[j+1] = t }
				return n % 2 ? s[(n+1)/2] : (s[n/2] + s[n/2+1]) / 2
			}
			function fmtms(v) { return v < 1 ? sprintf("%.0f µs", v * 1000) : sprintf("%.2f ms", v) }
			function ratio(a, b) { return b > 0 ? sprintf("%.2f", a / b) : "n/a" }
			BEGIN {
				nr = split(ENVIRON["RAW_ENV"], rows, "\n")
				for (r = 1; r <= nr; r++) {
					if (rows[r] == "") continue
					split(rows[r], f, "\t")
					if (f[1] != sc || f[17] != "kept") continue
					k = f[2]; n[k]++
					rps[k, n[k]] = f[4]; p50[k, n[k]] = f[6]; p99[k, n[k]] = f[7]
					err[k] += f[8]; us[k, n[k]] = f[9]; cores[k, n[k]] = f[10]
					if (!(k in lo) || f[4] + 0 < lo[k]) lo[k] = f[4] + 0
					if (!(k in hi) || f[4] + 0 > hi[k]) hi[k] = f[4] + 0
					if (!(k in oth) || f[14] + 0 > oth[k]) oth[k] = f[14] + 0
					if (!(k in ulo) || f[9] + 0 < ulo[k]) ulo[k] = f[9] + 0
					if (!(k in uhi) || f[9] + 0 > uhi[k]) uhi[k] = f[9] + 0
				}
				for (k in n) {
					m = n[k]
					delete a; for (i = 1; i <= m; i++) a[i] = rps[k, i] + 0;   mrps[k] = median(a, m)
					delete a; for (i = 1; i <= m; i++) a[i] = p50[k, i] + 0;   mp50[k] = median(a, m)
					delete a; for (i = 1; i <= m; i++) a[i] = p99[k, i] + 0;   mp99[k] = median(a, m)
					delete a; for (i = 1; i <= m; i++) a[i] = us[k, i] + 0;    mus[k] = median(a, m)
					delete a; for (i = 1; i <= m; i++) a[i] = cores[k, i] + 0; mcores[k] = median(a, m)
				}
			}
			{
				k = $1
				if (!(k in n)) next
				range = n[k] > 1 ? sprintf(" [%.0f–%.0f]", lo[k], hi[k]) : ""
				h = "haproxy"
				hr = (h in n) ? ratio(mrps[k], mrps[h]) : "n/a"
				h50 = (h in n) ? ratio(mp50[k], mp50[h]) : "n/a"
				h99 = (h in n) ? ratio(mp99[k], mp99[h]) : "n/a"
				hc = (h in n) ? ratio(mus[k], mus[h]) : "n/a"
				tc = ("tether" in n) ? ratio(mus[k], mus["tether"]) : "n/a"
				name = (k == "haproxy") ? "**" $2 "** (reference)" : (k == "tether" ? "**" $2 "**" : $2)
				cpu = sprintf("%.1f", mus[k]) (n[k] > 1 ? sprintf(" [%.1f–%.1f]", ulo[k], uhi[k]) : "")
				if (k == "direct") cpu = cpu " (backend)"
				printf "| %s | %s | %.0f%s | %s | %s | %d | %s | %.2f | %s | %s | %s | %s | %s | %.2f |\n", name, $3, mrps[k], range, fmtms(mp50[k]), fmtms(mp99[k]), err[k], cpu, mcores[k], hr, h50, h99, hc, tc, oth[k]
			}'
		echo
	done
}

# report_configs says what each row ran.
report_configs() {
	cat <<EOF
- **direct**: no LB; wrk to backend port $B1 (https scenario: Go \`crypto/tls\`, HTTP/1.1, same certificate, on $B4). The same in base and sticky; it is measured in each scenario as that scenario's floor.
- **tether**: \`algorithm: round_robin\`, health checks every 5s on /healthz, \`log.access: off\`, \`log.level: warn\`, admin off, its own HTTP/1.1 loop with pooled keep-alive connections upstream. Sticky: \`stickiness.type: lb_cookie\` (sealed cookie TETHER, duration 24h). https: listener \`protocol: https\`, \`tls: {cert_file, key_file}\`.
- **HAProxy**: \`balance roundrobin\`, \`http-reuse always\`, \`option forwardfor\`, \`check inter 5s\`, no logging, threads = CPUs. Sticky: \`cookie SRV insert indirect nocache\` (plain server-name cookie, no crypto). https: \`bind … ssl crt combined.pem\`.
- **NGINX**: \`worker_processes auto\`, upstream \`keepalive 128\`, \`proxy_http_version 1.1\`, \`access_log off\`, \`keepalive_requests 1000000\` (client and upstream). Sticky: nginx 1.22 OSS has no \`sticky cookie\` (NGINX Plus only), so \`hash \$cookie_x consistent\` on a client-chosen cookie (\`x=bench-client-1\`): NGINX sets no cookie and does no crypto, a lower bound. https: \`listen … ssl\`, \`ssl_certificate\`, TLSv1.2+TLSv1.3, shared session cache.
- **Caddy**: \`reverse_proxy\` defaults (keep-alive, 32 idle conns/host), \`lb_policy round_robin\`, health checks every 5s, admin off, no access log, \`protocols h1\`. Sticky: \`lb_policy cookie lb <random per-run secret>\` (cookie \`lb\` = HMAC-SHA256 of the upstream). https: \`https://127.0.0.1:PORT\` site with \`tls cert.pem key.pem\`, global \`auto_https off\` (no ACME, no internal CA).
- TLS (https scenario): one self-signed ECDSA P-256 certificate per run (openssl), HTTP/1.1 to clients everywhere, TLS 1.3 with TLS_AES_128_GCM_SHA256 everywhere (what Go's server picks; HAProxy and nginx list it first, since OpenSSL's default order would pick AES-256-GCM); the negotiated version and cipher are in the check column of the runs table. wrk opens its $CONNECTIONS connections once, so the handshake cost is amortised: this measures record encryption, not handshakes.
- Configs: bench/configs/ (rendered per scenario from the \`#BASE:\`, \`#STICKY:\`, \`#PLAIN:\`, \`#TLS:\` marker lines).
EOF
}

# report prints the full markdown report from $RAW.
report() {
	echo "# tether vs HAProxy, NGINX and Caddy (loopback)"
	echo
	report_head
	echo
	echo "## Results"
	echo
	report_tables
	echo "## What each row ran"
	echo
	report_configs
	echo
	if [[ -n $NOTES ]]; then
		echo "## Warnings"
		echo
		printf '%s\n' "$NOTES"
	fi
	echo "## Every run"
	echo
	echo "- backend / wrk µs/req: CPU per request of the Go backend and of wrk. Box busy: whole-machine CPU busy % during the run. Other cores: busy CPU not charged to the LB, the backend or wrk (other tenants, kernel threads); much above 0.1 means the run was disturbed."
	echo "- Backend split: share of the measured requests each backend port served; sticky and https runs should show 100 on one port, direct 100 on the first."
	echo "- A run marked *discarded* had other cores above MAX_OTHER=$MAX_OTHER and was measured again right after; it is not in the medians. This run discarded $DISCARDED."
	echo "- Softirq ns/segment: the machine's softirq time ÷ TCP segments sent during the run (on loopback, the kernel's cost of delivering one segment). A run marked *slow kernel network* had more than SLOW_NET=$SLOW_NET times the lowest of its row in its scenario and was measured again right after; it is not in the medians. This run re-measured $SLOW_DISCARDED$(slow_by_row)."
	echo
	echo "| scenario | LB | round | req/s | requests | p50 ms | p99 ms | errors | LB µs/req | LB cores | backend µs/req | wrk µs/req | box busy % | other cores | softirq ns/segment | backend split % | check |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"
	printf '%s' "$RAW" | awk -F'\t' 'NF > 1 {r = $17 == "kept" ? $3 : $17 == "slow-net" ? $3 " (slow kernel network)" : $3 " (discarded)"; printf "| %s | %s | %s | %.0f | %s | %.3f | %.3f | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, r, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $18, $15, $16}'
	echo
	echo "Caveats: loopback only, the load generator and the backend compete with the LB for CPU; see bench/README.md."
}

# update_readme replaces the part of bench/README.md between the
# "latest-results" markers with this run's summary.
update_readme() {
	local begin='<!-- latest-results:begin -->' end='<!-- latest-results:end -->' section=$TMP/readme-section.md
	if [[ $UPDATE_README == auto ]]; then
		local want
		for want in direct tether haproxy nginx caddy; do [[ " $LBS " == *" $want "* ]] || { log "README not updated (LBS is not the full set; UPDATE_README=1 forces it)"; return 0; }; done
		for want in base sticky https; do [[ " $SCENARIOS " == *" $want "* ]] || { log "README not updated (SCENARIOS is not the full set; UPDATE_README=1 forces it)"; return 0; }; done
		((ROUNDS >= 3)) || { log "README not updated (ROUNDS < 3; UPDATE_README=1 forces it)"; return 0; }
	elif [[ $UPDATE_README == 0 ]]; then
		return 0
	fi
	grep -qxF "$begin" "$README" && grep -qxF "$end" "$README" || { log "warning: $README has no latest-results markers; not updated"; return 0; }
	{
		echo "$begin"
		echo
		report_head
		echo
		report_tables
		[[ -z $NOTES ]] || { echo "Warnings from this run:"; echo; printf '%s\n' "$NOTES"; }
		echo "Every individual run (backend and wrk CPU, box busy, other cores, backend split, negotiated TLS cipher): [results/latest.md](results/latest.md)."
		echo
		echo "$end"
	} >"$section"
	awk -v b="$begin" -v e="$end" -v f="$section" '
		$0 == b { while ((getline l < f) > 0) print l; skip = 1; next }
		$0 == e { skip = 0; next }
		!skip' "$README" >"$TMP/README.new"
	cat "$TMP/README.new" >"$README"
	log "README updated: $README (Latest results)"
}

# --------------------------------------------------------------------- main

main() {
	# Fail before installing or building anything if a port is taken.
	local p lb backend_ports="$B1 $B2 $B3" tls_args=()
	((NEED_TLS)) && backend_ports+=" $B4"
	for p in $backend_ports; do require_free "$p" backend; done
	for lb in $LBS; do [[ $lb == direct ]] || require_free "${LB_PORT[$lb]}" "$lb"; done
	install_tools
	build
	versions
	TMP=$(mktemp -d /tmp/tether-bench.XXXXXX)
	chmod 755 "$TMP" # nginx workers run as nobody

	if ((NEED_TLS)); then
		# One self-signed ECDSA P-256 certificate per run, for every LB and
		# for the backend's own TLS port (the direct row).
		log "generating a self-signed certificate for 127.0.0.1"
		mkdir -p "$TMP/tls"
		timeout 60 openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
			-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
			-keyout "$TMP/tls/key.pem" -out "$TMP/tls/cert.pem" >"$TMP/openssl.log" 2>&1 ||
			{ cat "$TMP/openssl.log" >&2; die "openssl could not create the certificate"; }
		cat "$TMP/tls/cert.pem" "$TMP/tls/key.pem" >"$TMP/tls/combined.pem" # HAProxy's crt
		chmod 600 "$TMP/tls/key.pem" "$TMP/tls/combined.pem"
		tls_args=(-tls-addr "127.0.0.1:$B4" -cert "$TMP/tls/cert.pem" -key "$TMP/tls/key.pem")
	fi

	for p in $backend_ports; do require_free "$p" backend; done
	log "starting backend on 127.0.0.1:$B1,$B2,$B3${tls_args:+ (and TLS on $B4)}"
	(run_on "$BACKEND_CPUS" "$OUT_DIR/backend" -addrs "127.0.0.1:$B1,127.0.0.1:$B2,127.0.0.1:$B3" "${tls_args[@]}") >"$TMP/backend.log" 2>&1 &
	BACKEND_PID=$!
	local i
	for ((i = 0; i < 50; i++)); do
		[[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$B3/") == 200 ]] && break
		kill -0 "$BACKEND_PID" 2>/dev/null || { cat "$TMP/backend.log" >&2; die "backend exited"; }
		sleep 0.1
	done
	if ((NEED_TLS)); then
		[[ $(curl -sk -o /dev/null -w '%{http_code}' --max-time 2 "https://127.0.0.1:$B4/") == 200 ]] ||
			{ cat "$TMP/backend.log" >&2; die "backend TLS port $B4 does not answer 200"; }
	fi

	local lbs=($LBS) n=${#lbs[@]} round sc j
	for ((round = 1; round <= ROUNDS; round++)); do
		for sc in $SCENARIOS; do
			for ((j = 0; j < n; j++)); do
				measure "$sc" "${lbs[$(((j + round - 1) % n))]}" "$round"
			done
		done
	done
	remeasure_slow 17

	mkdir -p "$(dirname "$RESULTS")"
	report | tee "$RESULTS"
	log "report written to $RESULTS"
	update_readme
}

main "$@"
