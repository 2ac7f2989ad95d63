#!/usr/bin/env bash
# bench/sessions.sh: tether's session package beside scs, load + save of a
# session per request, on memory and on one Redis, in one run.
#
# Builds bench/sessions (its own Go module, so that scs is not a
# dependency of tether), which starts its own redis-server on a free
# 127.0.0.1 port, measures every contender in interleaved rounds and
# prints a markdown report; then runs the two memory-per-session Go
# benchmarks of the session package. The report goes to stdout and to
# bench/results/sessions-latest.md; progress goes to stderr.
#
#   bash bench/sessions.sh                     # about 8 minutes
#   DURATION=20s ROUNDS=5 bash bench/sessions.sh
#   ONLY=tether-redis,scs-redis ROUNDS=1 bash bench/sessions.sh
#   ARGS="-cpuprofile /tmp/prof" bash bench/sessions.sh   # then: go tool pprof -top bench/.out/sessions /tmp/prof/tether-redis.pprof
#
# bench/README.md ("Sessions: tether vs scs") explains the output.
set -Eeuo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
OUT_DIR=$BENCH_DIR/.out

CLIENTS=${CLIENTS:-64}      # concurrent simulated clients, one session each
DURATION=${DURATION:-10s}   # measured time per run
WARMUP=${WARMUP:-2s}        # unmeasured time before each run
ROUNDS=${ROUNDS:-3}         # interleaved rounds; the report shows medians
ONLY=${ONLY:-}              # contenders, comma-separated (default: the program's default set; "all": every one)
HTTP=${HTTP:-0}             # 1: loopback HTTP server instead of in-process calls
MEMTEST=${MEMTEST:-1}       # 0: skip the memory-per-session go test benchmarks
INSTALL=${INSTALL:-1}       # 0: never apt-get install redis-server
ARGS=${ARGS:-}              # more flags for the program (see go run . -h)
RESULTS=${RESULTS:-$BENCH_DIR/results/sessions-latest.md}

log() { printf '[sessions %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'bench/sessions.sh: ERROR: %s\n' "$*" >&2; exit 1; }

[[ $CLIENTS =~ ^[0-9]+$ && $ROUNDS =~ ^[0-9]+$ && $ROUNDS -ge 1 ]] || die "CLIENTS and ROUNDS must be positive integers"
[[ $HTTP == 0 || $HTTP == 1 ]] || die "HTTP must be 0 or 1"
command -v go >/dev/null || die "go is not on PATH"
if ! command -v redis-server >/dev/null; then
	((INSTALL)) || die "redis-server is missing (INSTALL=0 forbids apt-get install)"
	[[ $(id -u) == 0 ]] || die "redis-server is missing; run as root or install it first"
	log "installing redis-server with apt-get"
	apt-get update >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server >&2
	# Debian starts a system instance on 6379; the benchmark never uses it.
fi

TMP=$(mktemp -d /tmp/tether-sessions.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

log "building bench/sessions"
mkdir -p "$OUT_DIR"
(cd "$BENCH_DIR/sessions" && go build -buildvcs=false -o "$OUT_DIR/sessions" .) || die "go build failed (output above)"

flags=(-clients "$CLIENTS" -duration "$DURATION" -warmup "$WARMUP" -rounds "$ROUNDS" -out "$TMP/report.md")
[[ -n $ONLY ]] && flags+=(-only "$ONLY")
((HTTP)) && flags+=(-http)
# shellcheck disable=SC2206
[[ -n $ARGS ]] && flags+=($ARGS)
log "running: sessions ${flags[*]}"
# From the repository root, so that the report names its git commit.
(cd "$ROOT" && "$OUT_DIR/sessions" "${flags[@]}") >/dev/null || die "the benchmark failed (output above)"

{
	cat "$TMP/report.md"
	if ((MEMTEST)); then
		log "running the memory-per-session Go benchmarks"
		echo
		echo "## Memory per session (go test, from the repository root)"
		echo
		echo "The session package's own benchmarks: \`B-overhead/session\` is the live heap per stored session beyond its 100-byte value."
		echo
		echo '```'
		for cmd in "go test -run ^\$ -bench MemoryPerSession -benchtime 3x ./session/" "go test -run ^\$ -bench MemoryPerSession ./session/memstore/"; do
			echo "\$ $cmd"
			# shellcheck disable=SC2086
			(cd "$ROOT" && $cmd 2>&1 | grep -E '^(Benchmark|FAIL|---)' || echo "(failed)")
		done
		echo '```'
	fi
} >"$TMP/final.md"

mkdir -p "$(dirname "$RESULTS")"
cp "$TMP/final.md" "$RESULTS"
cat "$RESULTS"
log "report written to $RESULTS"
