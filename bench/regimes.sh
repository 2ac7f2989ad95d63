#!/usr/bin/env bash
# bench/regimes.sh: one long sticky load on one load balancer, with the
# LB's CPU (user and system apart) and the backend's printed every second.
#
# bench/run.sh gives medians over 10 s rounds. This shows what a round
# averages away: stretches of 10-30 s in which the same LB costs more per
# request than in others. The "ratio" column, LB CPU ÷ backend CPU, is
# per request, since the backend does the same work for every request.
# The last column is the whole machine's softirq time per TCP segment sent
# (see softirq_ns in bench/lib.sh): the slow stretches are the ones where
# it is high, for HAProxy as for tether.
#
#   bash bench/regimes.sh                   # tether, 40 s
#   LB=haproxy bash bench/regimes.sh        # HAProxy (cookie insert), 40 s
#   LB=tether DURATION=60 bash bench/regimes.sh
#   LB=direct bash bench/regimes.sh         # no LB: wrk straight at the backend
#
# Uses bench/configs/{tether.yaml,haproxy.cfg} as bench/run.sh's sticky
# scenario does. bench/README.md ("Why tether's rounds spread more than
# HAProxy's") explains what the output showed.
set -Eeuo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
log() { printf '[regimes %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'bench/regimes.sh: ERROR: %s\n' "$*" >&2; exit 1; }
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

LB=${LB:-tether}             # tether | haproxy | direct (no LB)
DURATION=${DURATION:-40}     # seconds of load
BASE_PORT=${BASE_PORT:-18380} # LB on it, backends on +1..+3
[[ $LB == tether || $LB == haproxy || $LB == direct ]] || die "LB must be tether, haproxy or direct (got '$LB')"
[[ $DURATION =~ ^[0-9]+$ && $DURATION -ge 5 ]] || die "DURATION must be a whole number of seconds, at least 5 (got '$DURATION')"
for tool in wrk curl go; do command -v "$tool" >/dev/null || die "$tool is missing (bash bench/run.sh installs what the benchmarks need)"; done
[[ $LB != haproxy ]] || command -v haproxy >/dev/null || die "haproxy is missing (apt-get install -y haproxy)"

LB_PORT=$BASE_PORT B1=$((BASE_PORT + 1)) B2=$((BASE_PORT + 2)) B3=$((BASE_PORT + 3))
for p in "$LB_PORT" "$B1" "$B2" "$B3"; do require_free "$p" "bench/regimes.sh"; done
TMP=$(mktemp -d /tmp/tether-regimes.XXXXXX)
PIDS=()
trap 'stop_pid "${PIDS[@]}"; rm -rf "$TMP"' EXIT

log "building tether and the backend"
mkdir -p "$BENCH_DIR/.out"
(cd "$ROOT" && go build -o "$BENCH_DIR/.out/tether" ./cmd/tether && go build -o "$BENCH_DIR/.out/backend" ./bench/backend)

# The sticky scenario of bench/run.sh: "#STICKY:" and "#PLAIN:" lines kept.
render() {
	render_template "$BENCH_DIR/configs/$1" "$TMP/$1" 'STICKY\|PLAIN' 'BASE\|TLS' \
		"s|@LB_PORT@|$LB_PORT|g; s|@B1@|$B1|g; s|@B2@|$B2|g; s|@B3@|$B3|g; s|@TMP@|$TMP|g"
}

"$BENCH_DIR/.out/backend" -addrs "127.0.0.1:$B1,127.0.0.1:$B2,127.0.0.1:$B3" >"$TMP/backend.log" 2>&1 &
BP=$!
PIDS+=("$BP")
LP="" COOKIE=""
if [[ $LB == direct ]]; then
	LB_PORT=$B1 # wrk straight at the first backend; the LB columns stay 0
elif [[ $LB == tether ]]; then
	render tether.yaml
	"$BENCH_DIR/.out/tether" serve -c "$TMP/tether.yaml" >"$TMP/lb.log" 2>&1 &
	LP=$!
	COOKIE=TETHER
else
	render haproxy.cfg
	haproxy -f "$TMP/haproxy.cfg" -D -p "$TMP/haproxy.pid" >"$TMP/lb.log" 2>&1 || die "haproxy did not start: $(cat "$TMP/lb.log")"
	LP=$(cat "$TMP/haproxy.pid")
	COOKIE=SRV
fi
wait_up "$BP" backend "http://127.0.0.1:$B1/" "$TMP/backend.log"
HDR=()
if [[ -n $LP ]]; then
	PIDS+=("$LP")
	wait_up "$LP" "$LB" "http://127.0.0.1:$LB_PORT/" "$TMP/lb.log"
	VALUE=$(curl -fs -o /dev/null -c - "http://127.0.0.1:$LB_PORT/" | awk -v n="$COOKIE" '$6 == n {print $7}')
	[[ -n $VALUE ]] || die "$LB set no $COOKIE cookie"
	HDR=(-H "Cookie: $COOKIE=$VALUE")
fi

log "$LB on 127.0.0.1:$LB_PORT: wrk -t2 -c64 -d${DURATION}s${COOKIE:+ with Cookie: $COOKIE=…}"
wrk -t2 -c64 -d"${DURATION}s" "${HDR[@]}" "http://127.0.0.1:$LB_PORT/" >"$TMP/wrk.out" &
WP=$!
sleep 1
# Fields after "pid (comm) ": utime=12, stime=13 (clock ticks).
ticks() {
	if [[ -z $1 ]]; then echo 0 0; return; fi
	sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12, $13}'
}
read -r U0 S0 < <(ticks "$LP")
read -r BU0 BS0 < <(ticks "$BP")
read -r N0 G0 < <(net_ticks)
printf '%4s %9s %9s %12s %7s %18s\n' second "LB user" "LB sys" "backend" ratio "softirq ns/segment"
for ((i = 1; i <= DURATION - 3; i++)); do
	sleep 1
	read -r U1 S1 < <(ticks "$LP")
	read -r BU1 BS1 < <(ticks "$BP")
	lb=$((U1 - U0 + S1 - S0)) be=$((BU1 - BU0 + BS1 - BS0))
	read -r N1 G1 < <(net_ticks)
	printf '%4d %9d %9d %12d %7s %18s\n' "$i" $((U1 - U0)) $((S1 - S0)) "$be" "$(awk -v a="$lb" -v b="$be" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')" "$(softirq_ns "$N0" "$G0" "$N1" "$G1")"
	U0=$U1 S0=$S1 BU0=$BU1 BS0=$BS1 N0=$N1 G0=$G1
done
wait "$WP"
awk '/Requests\/sec/ {print "wrk: " $2 " req/s over the whole run"}' "$TMP/wrk.out"
echo "(CPU in clock ticks per second, $(getconf CLK_TCK) a second per core)"
