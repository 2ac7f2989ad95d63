#!/usr/bin/env bash
# bench/run.sh: tether side by side with HAProxy, NGINX and Caddy on loopback.
#
# One run builds tether and a small Go backend (3 ports, 1 KiB body), renders
# each load balancer's config from bench/configs/, then for every round,
# scenario (base, sticky) and load balancer: starts that LB alone on its own
# 127.0.0.1 port, checks it, warms it up with wrk, measures with
# wrk --latency while sampling the LB's CPU time from /proc, and stops it.
# The markdown report goes to stdout and to bench/results/latest.md.
#
#   bash bench/run.sh
#   DURATION=20s CONNECTIONS=128 ROUNDS=5 bash bench/run.sh
#   LBS="tether haproxy" SCENARIOS=sticky ROUNDS=1 bash bench/run.sh
#
# bench/README.md lists every variable and explains how to read the output.
set -Eeuo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
OUT_DIR=$BENCH_DIR/.out

DURATION=${DURATION:-10s}       # measured wrk run, per LB and scenario and round
WARMUP=${WARMUP:-2s}            # unmeasured wrk run just before it
CONNECTIONS=${CONNECTIONS:-64}  # wrk -c
THREADS=${THREADS:-2}           # wrk -t
ROUNDS=${ROUNDS:-3}             # interleaved repetitions; the report shows medians
LBS=${LBS:-tether haproxy nginx caddy}
SCENARIOS=${SCENARIOS:-base sticky}
BASE_PORT=${BASE_PORT:-18080}   # backends +1..+3; tether +20, haproxy +21, nginx +22, caddy +23
LB_CPUS=${LB_CPUS:-}            # optional taskset CPU lists, e.g. LB_CPUS=0 WRK_CPUS=1
WRK_CPUS=${WRK_CPUS:-}
BACKEND_CPUS=${BACKEND_CPUS:-}
INSTALL=${INSTALL:-1}           # 0: never apt-get install, fail if a tool is missing
RESULTS=${RESULTS:-$BENCH_DIR/results/latest.md}

COMMAND_LINE="DURATION=$DURATION WARMUP=$WARMUP CONNECTIONS=$CONNECTIONS THREADS=$THREADS ROUNDS=$ROUNDS LBS=\"$LBS\" SCENARIOS=\"$SCENARIOS\" BASE_PORT=$BASE_PORT${LB_CPUS:+ LB_CPUS=$LB_CPUS}${WRK_CPUS:+ WRK_CPUS=$WRK_CPUS}${BACKEND_CPUS:+ BACKEND_CPUS=$BACKEND_CPUS} bash bench/run.sh"

B1=$((BASE_PORT + 1)) B2=$((BASE_PORT + 2)) B3=$((BASE_PORT + 3))
declare -A LB_PORT=([tether]=$((BASE_PORT + 20)) [haproxy]=$((BASE_PORT + 21)) [nginx]=$((BASE_PORT + 22)) [caddy]=$((BASE_PORT + 23)))
declare -A LB_NAME=([tether]=tether [haproxy]=HAProxy [nginx]=NGINX [caddy]=Caddy)
declare -A LB_VERSION=()

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'bench/run.sh: ERROR: %s\n' "$*" >&2; exit 1; }

# secs converts a wrk duration (10, 10s, 2m) to whole seconds.
secs() {
	case $1 in
	*m) echo $(( ${1%m} * 60 )) ;;
	*s) echo "${1%s}" ;;
	*) echo "$1" ;;
	esac
}
[[ $(secs "$DURATION") =~ ^[0-9]+$ && $(secs "$WARMUP") =~ ^[0-9]+$ ]] ||
	die "DURATION and WARMUP must look like 10, 10s or 1m (got '$DURATION', '$WARMUP')"
[[ $CONNECTIONS =~ ^[0-9]+$ && $THREADS =~ ^[0-9]+$ && $ROUNDS =~ ^[0-9]+$ && $ROUNDS -ge 1 ]] ||
	die "CONNECTIONS, THREADS and ROUNDS must be positive integers"
for lb in $LBS; do [[ -n ${LB_PORT[$lb]:-} ]] || die "unknown LB '$lb' in LBS (known: tether haproxy nginx caddy)"; done
for sc in $SCENARIOS; do [[ $sc == base || $sc == sticky ]] || die "unknown scenario '$sc' (known: base sticky)"; done

# ---------------------------------------------------------------- processes

TMP=""
BACKEND_PID=""
LB_PID=""
LB_CHILDREN=""

# stop_pid sends SIGTERM to the given pids, waits up to 10s, then SIGKILLs
# what is left. Only pids this script started are ever passed in.
stop_pid() {
	local pids=("$@") p i
	((${#pids[@]})) || return 0
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for ((i = 0; i < 100; i++)); do
		local alive=0
		for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
		((alive)) || break
		sleep 0.1
	done
	for p in "${pids[@]}"; do
		if kill -0 "$p" 2>/dev/null; then
			log "pid $p ignored SIGTERM for 10s; sending SIGKILL"
			kill -KILL "$p" 2>/dev/null || true
		fi
	done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}

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

# port_busy says whether something listens on 127.0.0.1:PORT (or any address).
port_busy() {
	if command -v ss >/dev/null; then
		[[ -n $(ss -Hltn "( sport = :$1 )" 2>/dev/null) ]]
	else
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
	fi
}

require_free() {
	local port=$1 what=$2
	if port_busy "$port"; then
		ss -ltnp "( sport = :$port )" >&2 2>/dev/null || true
		die "port $port (wanted for $what) is already in use; stop whatever listens there or pick other ports with BASE_PORT=NNNNN"
	fi
}

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
	declare -A pkg=([haproxy]=haproxy [nginx]=nginx [caddy]=caddy [wrk]=wrk [curl]=curl)
	for tool in haproxy nginx caddy wrk curl; do
		command -v "$tool" >/dev/null || [[ -x /usr/sbin/$tool ]] || need+=("${pkg[$tool]}")
	done
	if ((${#need[@]})); then
		((INSTALL)) || die "missing: ${need[*]} (INSTALL=0 forbids apt-get install)"
		[[ $(id -u) == 0 ]] || die "missing: ${need[*]}; run as root or install them first"
		log "installing ${need[*]} with apt-get"
		apt-get update >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y "${need[@]}" >&2
	fi
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
render() {
	local lb=$1 sc=$2 tpl dst keep drop
	case $lb in
	tether) tpl=tether.yaml ;; haproxy) tpl=haproxy.cfg ;; nginx) tpl=nginx.conf ;; caddy) tpl=Caddyfile ;;
	esac
	if [[ $sc == sticky ]]; then keep=STICKY drop=BASE; else keep=BASE drop=STICKY; fi
	mkdir -p "$TMP/$sc"
	dst=$TMP/$sc/$tpl
	sed -e "/^[[:space:]]*#$drop:/d" \
		-e "s/^\([[:space:]]*\)#$keep:[[:space:]]*/\1/" \
		-e "s|@LB_PORT@|${LB_PORT[$lb]}|g; s|@B1@|$B1|g; s|@B2@|$B2|g; s|@B3@|$B3|g; s|@TMP@|$TMP|g" \
		"$BENCH_DIR/configs/$tpl" >"$dst"
	! grep -n '@[A-Z0-9_]*@' "$dst" >&2 || die "unreplaced placeholder in $dst"
	echo "$dst"
}

# ---------------------------------------------------------------- LB control

start_lb() {
	local lb=$1 sc=$2 cfg port=${LB_PORT[$1]} logf=$TMP/$1-$2.log
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
	local i code=""
	for ((i = 0; i < 150; i++)); do
		kill -0 "$LB_PID" 2>/dev/null || { cat "$logf" >&2; die "$lb exited during start-up (log above)"; }
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/" || true)
		[[ $code == 200 ]] && break
		sleep 0.1
	done
	[[ $code == 200 ]] || { cat "$logf" >&2; die "$lb on 127.0.0.1:$port did not answer 200 within 15s (last status '$code')"; }
	# nginx forks its workers; count their CPU too.
	LB_CHILDREN=$(pgrep -P "$LB_PID" | tr '\n' ' ' || true)
}

stop_lb() {
	# shellcheck disable=SC2086
	stop_pid $LB_PID $LB_CHILDREN
	LB_PID="" LB_CHILDREN=""
}

# cpu_ticks PID...: user+system clock ticks of the processes (all threads).
cpu_ticks() {
	local p sum=0 t
	for p in "$@"; do
		# Fields after "pid (comm) ": state=1 ... utime=12 stime=13.
		t=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}') || t=""
		[[ -n $t ]] || { log "warning: pid $p vanished; its CPU time is not counted"; t=0; }
		sum=$((sum + t))
	done
	echo "$sum"
}

# child_secs sets CHILD_SECS to the CPU seconds (user+sys) of this shell's
# waited-for children so far, from the times builtin. It must run in this
# shell (not in $(...), whose subshell sees only its own children). wrk is
# such a child (via timeout), so the difference around a run is wrk's CPU
# time plus a few milliseconds of awk and sed.
CHILD_SECS=0
child_secs() {
	times >"$TMP/times"
	CHILD_SECS=$(awk 'NR == 2 {
		s = 0
		for (i = 1; i <= 2; i++) { split($i, a, "m"); sub(/s$/, "", a[2]); s += a[1] * 60 + a[2] }
		printf "%.3f", s }' "$TMP/times")
}

# box_ticks: "busy total" jiffies of the whole machine from /proc/stat.
box_ticks() { awk '/^cpu /{t=0; for (i=2;i<=NF;i++) t+=$i; print t-$5-$6, t}' /proc/stat; }

backend_counts() {
	local p
	for p in $B1 $B2 $B3; do curl -s --max-time 2 "http://127.0.0.1:$p/__stats" || echo 0; done | tr '\n' ' '
}

# lat_ms converts a wrk latency (850.00us, 1.23ms, 1.02s, 2.00m) to ms.
lat_ms() {
	awk -v v="$1" 'BEGIN {
		n = v + 0
		if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n; else if (v ~ /m$/) n *= 60000; else if (v ~ /s$/) n *= 1000
		printf "%.3f", n }'
}

# ------------------------------------------------------------------ one run

RAW=""       # TSV of all runs
NOTES=""     # sanity-check notes for the report

measure() {
	local lb=$1 sc=$2 round=$3 port=${LB_PORT[$1]} url hdr=() cookie="" check="" i
	url="http://127.0.0.1:$port/"
	log "round $round/$ROUNDS  $sc  $lb: starting on 127.0.0.1:$port"
	start_lb "$lb" "$sc"

	if [[ $sc == sticky ]]; then
		if [[ $lb == nginx ]]; then
			cookie="x=bench-client-1" # nginx hashes a client cookie; it sets none
		else
			cookie=$(curl -s -D - -o /dev/null --max-time 5 "$url" | tr -d '\r' |
				awk 'tolower($1) == "set-cookie:" { sub(/^[^:]*:[ \t]*/, ""); sub(/;.*/, ""); print; exit }')
			[[ -n $cookie ]] || die "$lb sent no Set-Cookie in the sticky scenario"
		fi
		hdr=(-H "Cookie: $cookie")
		# All requests carrying the cookie must reach one backend, without a new cookie.
		local seen="" sets=0 h
		for ((i = 0; i < 12; i++)); do
			h=$(curl -s -D - -o /dev/null --max-time 5 -H "Cookie: $cookie" "$url" | tr -d '\r')
			seen+=$(awk 'tolower($1) == "x-backend:" {print $2}' <<<"$h")$'\n'
			grep -qi '^set-cookie:' <<<"$h" && sets=$((sets + 1))
		done
		local distinct
		distinct=$(sort -u <<<"$seen" | grep -c . || true)
		check="cookie ${cookie%%=*}: pinned to $distinct backend(s), $sets/12 re-set it"
		[[ $distinct == 1 ]] || NOTES+="- WARNING: $lb sticky check: $check"$'\n'
	else
		local seen=""
		for ((i = 0; i < 12; i++)); do
			seen+=$(curl -s -D - -o /dev/null --max-time 5 "$url" | tr -d '\r' | awk 'tolower($1) == "x-backend:" {print $2}')$'\n'
		done
		local distinct
		distinct=$(sort -u <<<"$seen" | grep -c . || true)
		check="12 fresh connections hit $distinct backend(s)"
		[[ $distinct == 3 ]] || NOTES+="- WARNING: $lb base check: $check"$'\n'
	fi

	local wrk_base=(wrk "-t$THREADS" "-c$CONNECTIONS" "${hdr[@]}")
	log "  warm-up $WARMUP"
	(run_on "$WRK_CPUS" timeout -k 5 $(($(secs "$WARMUP") + 30)) "${wrk_base[@]}" "-d$WARMUP" "$url") >"$TMP/warmup.txt" 2>&1 ||
		{ cat "$TMP/warmup.txt" >&2; die "wrk warm-up against $lb failed"; }
	LB_CHILDREN=$(pgrep -P "$LB_PID" | tr '\n' ' ' || true)

	local c0 k0 b0 n0 w0 c1 k1 b1 n1 w1 out=$TMP/wrk-$lb-$sc-$round.txt
	n0=$(backend_counts)
	local t0 t1
	read -r b0 t0 < <(box_ticks)
	# shellcheck disable=SC2086
	c0=$(cpu_ticks $LB_PID $LB_CHILDREN)
	k0=$(cpu_ticks "$BACKEND_PID")
	child_secs
	w0=$CHILD_SECS
	log "  measuring $DURATION"
	(run_on "$WRK_CPUS" timeout -k 5 $(($(secs "$DURATION") + 30)) "${wrk_base[@]}" "-d$DURATION" --latency "$url") >"$out" 2>&1 ||
		{ cat "$out" >&2; die "wrk against $lb failed"; }
	child_secs
	w1=$CHILD_SECS
	# shellcheck disable=SC2086
	c1=$(cpu_ticks $LB_PID $LB_CHILDREN)
	k1=$(cpu_ticks "$BACKEND_PID")
	read -r b1 t1 < <(box_ticks)
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
	[[ -n $rps && -n $reqs && $reqs -gt 0 && -n $p50 && -n $p99 ]] || { cat "$out" >&2; die "could not parse wrk output for $lb"; }
	local errors=$(( ${non2xx:-0} + ${sockerr:-0} ))
	((errors == 0)) || NOTES+="- WARNING: $lb $sc round $round: $errors errors (non-2xx ${non2xx:-0}, socket ${sockerr:-0})"$'\n'

	local hz lb_us be_us cores busy split wrk_us other
	hz=$(getconf CLK_TCK)
	lb_us=$(awk -v c=$((c1 - c0)) -v hz="$hz" -v n="$reqs" 'BEGIN {printf "%.1f", c / hz * 1e6 / n}')
	be_us=$(awk -v c=$((k1 - k0)) -v hz="$hz" -v n="$reqs" 'BEGIN {printf "%.1f", c / hz * 1e6 / n}')
	cores=$(awk -v c=$((c1 - c0)) -v hz="$hz" -v w="$wall" 'BEGIN {printf "%.2f", c / hz / w}')
	busy=$(awk -v b=$((b1 - b0)) -v t=$((t1 - t0)) 'BEGIN {printf "%.0f", t ? 100 * b / t : 0}')
	wrk_us=$(awk -v w0="$w0" -v w1="$w1" -v n="$reqs" 'BEGIN {printf "%.1f", (w1 - w0) * 1e6 / n}')
	# CPU the box spent on anything but the LB, the backend and wrk (other
	# tenants, kernel threads, softirq not charged to a task).
	other=$(awk -v b=$((b1 - b0)) -v c=$((c1 - c0)) -v k=$((k1 - k0)) -v w0="$w0" -v w1="$w1" -v hz="$hz" -v w="$wall" \
		'BEGIN {o = (b - c - k) / hz - (w1 - w0); printf "%.2f", o / w}')
	split=$(awk -v a="$n0" -v b="$n1" 'BEGIN {
		na = split(a, x, " "); split(b, y, " "); tot = 0
		for (i = 1; i <= na; i++) { d[i] = y[i] - x[i]; tot += d[i] }
		for (i = 1; i <= na; i++) printf "%s%.0f", (i > 1 ? "/" : ""), tot ? 100 * d[i] / tot : 0 }')
	log "  $lb: $rps req/s, p50 $p50, p99 $p99, LB $lb_us µs/req ($cores cores), wrk $wrk_us µs/req, other $other cores, split $split %"
	RAW+="$sc	$lb	$round	$rps	$reqs	$(lat_ms "$p50")	$(lat_ms "$p99")	$errors	$lb_us	$cores	$be_us	$wrk_us	$busy	$other	$split	$check"$'\n'
}

# ------------------------------------------------------------------- report

# report prints the markdown report from $RAW.
report() {
	local cpu kernel os
	cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
	kernel=$(uname -r)
	os=$(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME" || echo unknown)
	cat <<EOF
# tether vs HAProxy, NGINX and Caddy (loopback)

- Date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')
- Command: \`$COMMAND_LINE\`
- Load: \`wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency [-H "Cookie: ..."] http://127.0.0.1:PORT/\`, each run preceded by an unmeasured \`-d$WARMUP\` warm-up; $ROUNDS round(s), LB order rotated per round; **medians** across rounds (req/s range in brackets)
- Host: \`nproc\` = $(nproc), $cpu, $os, kernel $kernel; $(go version | awk '{print $3}'), wrk $(wrk -v 2>&1 | awk 'NR==1{print $2}')
- Pinning: ${LB_CPUS:+LB on CPUs $LB_CPUS, }${WRK_CPUS:+wrk on CPUs $WRK_CPUS, }${BACKEND_CPUS:+backend on CPUs $BACKEND_CPUS, }$([[ -z $LB_CPUS$WRK_CPUS$BACKEND_CPUS ]] && echo "none: wrk, the LB and the backend share all CPUs")
- Backend: bench/backend (Go net/http), 3 ports ($B1, $B2, $B3), 1 KiB body, keep-alive. Every LB: round robin over the 3, keep-alive upstream, access log off.
- **CPU µs/req** = LB process CPU (user+sys from /proc/PID/stat, nginx workers included) during the measured run ÷ requests completed. On 2 shared cores this is the fairest figure; req/s mostly says who left more CPU for wrk and the backend.
- Ratios are *LB ÷ tether*: req/s ratio > 1 means faster than tether; CPU/req ratio < 1 means cheaper per request than tether.

EOF
	local sc title
	for sc in $SCENARIOS; do
		case $sc in
		base) title="base: round robin, no stickiness" ;;
		sticky) title="sticky: every request carries the LB's affinity cookie (kept-binding path)" ;;
		esac
		echo "## Scenario $title"
		echo
		echo "| LB | version | req/s | p50 | p99 | errors | LB CPU µs/req | LB cores used | req/s ÷ tether | CPU/req ÷ tether |"
		echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
		local lb
		for lb in $LBS; do
			printf '%s\t%s\t%s\n' "$lb" "${LB_NAME[$lb]}" "${LB_VERSION[$lb]}"
		done | RAW_ENV=$RAW awk -F'\t' -v sc="$sc" '
			function median(arr, n,   i, j, t, s) {
				for (i = 1; i <= n; i++) s[i] = arr[i]
				for (i = 2; i <= n; i++) { t = s[i]; for (j = i - 1; j >= 1 && s[j] > t; j--) s[j+1] = s[j]; s[j+1] = t }
				return n % 2 ? s[(n+1)/2] : (s[n/2] + s[n/2+1]) / 2
			}
			function fmtms(v) { return v < 1 ? sprintf("%.0f µs", v * 1000) : sprintf("%.2f ms", v) }
			BEGIN {
				nr = split(ENVIRON["RAW_ENV"], rows, "\n")
				for (r = 1; r <= nr; r++) {
					if (rows[r] == "") continue
					split(rows[r], f, "\t")
					if (f[1] != sc) continue
					k = f[2]; n[k]++
					rps[k, n[k]] = f[4]; p50[k, n[k]] = f[6]; p99[k, n[k]] = f[7]
					err[k] += f[8]; us[k, n[k]] = f[9]; cores[k, n[k]] = f[10]
					if (!(k in lo) || f[4] + 0 < lo[k]) lo[k] = f[4] + 0
					if (!(k in hi) || f[4] + 0 > hi[k]) hi[k] = f[4] + 0
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
				rr = ("tether" in mrps) ? sprintf("%.2f", mrps[k] / mrps["tether"]) : "n/a"
				cr = ("tether" in mus && mus["tether"] > 0) ? sprintf("%.2f", mus[k] / mus["tether"]) : "n/a"
				printf "| %s | %s | %.0f%s | %s | %s | %d | %.1f | %.2f | %s | %s |\n", $2, $3, mrps[k], range, fmtms(mp50[k]), fmtms(mp99[k]), err[k], mus[k], mcores[k], rr, cr
			}'
		echo
	done
	cat <<EOF
## What each LB ran

- **tether**: \`algorithm: round_robin\`, health checks every 5s on /healthz, \`log.access: off\`, \`log.level: warn\`, admin off. Sticky: \`stickiness.type: lb_cookie\` (sealed cookie TETHER, duration 24h).
- **HAProxy**: \`balance roundrobin\`, \`http-reuse always\`, \`option forwardfor\`, \`check inter 5s\`, no logging; threads = CPUs. Sticky: \`cookie SRV insert indirect nocache\` (plain server-name cookie, no crypto).
- **NGINX**: \`worker_processes auto\`, upstream \`keepalive 128\`, \`proxy_http_version 1.1\`, \`access_log off\`, \`keepalive_requests 1000000\` (client and upstream). Sticky: Debian's nginx 1.22 (OSS) has no \`sticky cookie\`, so \`hash \$cookie_x consistent\` on a client-chosen cookie (\`x=bench-client-1\`); NGINX sets no cookie and does no crypto.
- **Caddy**: \`reverse_proxy\` defaults (keep-alive, 32 idle conns/host), \`lb_policy round_robin\`, active health checks every 5s, admin off, no access log. Sticky: \`lb_policy cookie\` (cookie \`lb\`, HMAC of the upstream).
- Configs: bench/configs/ (rendered per scenario: \`#BASE:\`/\`#STICKY:\` lines).

EOF
	if [[ -n $NOTES ]]; then
		echo "## Warnings"
		echo
		printf '%s\n' "$NOTES"
	fi
	echo "## Every run"
	echo
	echo "- backend / wrk µs/req: CPU per request of the Go backend and of wrk. Box busy: whole-machine CPU busy % during the run. Other cores: busy CPU not charged to the LB, the backend or wrk (other tenants, kernel threads); much above 0.1 means the run was disturbed."
	echo "- Backend split: share of the measured requests each backend port served; sticky runs should show 100 on one port."
	echo
	echo "| scenario | LB | round | req/s | requests | p50 ms | p99 ms | errors | LB µs/req | LB cores | backend µs/req | wrk µs/req | box busy % | other cores | backend split % | check |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"
	printf '%s' "$RAW" | awk -F'\t' 'NF > 1 {printf "| %s | %s | %s | %.0f | %s | %.3f | %.3f | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16}'
	echo
	echo "Caveats: loopback only, 2 shared cores, the load generator and the backend compete with the LB for CPU; see bench/README.md."
}

# --------------------------------------------------------------------- main

main() {
	# Fail before installing or building anything if a port is taken.
	local p lb
	for p in $B1 $B2 $B3; do require_free "$p" backend; done
	for lb in $LBS; do require_free "${LB_PORT[$lb]}" "$lb"; done
	install_tools
	build
	versions
	TMP=$(mktemp -d /tmp/tether-bench.XXXXXX)
	chmod 755 "$TMP" # nginx workers run as nobody

	for p in $B1 $B2 $B3; do require_free "$p" backend; done
	log "starting backend on 127.0.0.1:$B1,$B2,$B3"
	(run_on "$BACKEND_CPUS" "$OUT_DIR/backend" -addrs "127.0.0.1:$B1,127.0.0.1:$B2,127.0.0.1:$B3") >"$TMP/backend.log" 2>&1 &
	BACKEND_PID=$!
	local i
	for ((i = 0; i < 50; i++)); do
		[[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$B3/") == 200 ]] && break
		kill -0 "$BACKEND_PID" 2>/dev/null || { cat "$TMP/backend.log" >&2; die "backend exited"; }
		sleep 0.1
	done

	local lbs=($LBS) n=${#lbs[@]} round sc j
	for ((round = 1; round <= ROUNDS; round++)); do
		for sc in $SCENARIOS; do
			for ((j = 0; j < n; j++)); do
				measure "${lbs[$(((j + round - 1) % n))]}" "$sc" "$round"
			done
		done
	done

	mkdir -p "$(dirname "$RESULTS")"
	report | tee "$RESULTS"
	log "report written to $RESULTS"
}

main "$@"
