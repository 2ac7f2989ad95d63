#!/usr/bin/env bash
# bench/tokens.sh: tether's token verifier beside golang-jwt v5, cold and
# from its cache, and logins at tether's argon2id parameters.
#
# Builds the Go benchmarks of bench/tokens (its own Go module, so that
# golang-jwt is not a dependency of tether) into one test binary, runs its
# tests (both libraries accept the benchmark token and refuse it tampered
# with), then ROUNDS rounds of
#   go test -run '^$' -bench . -benchmem -count 1 -cpu 1
# which is `-count ROUNDS` with the benchmarks interleaved: on a shared
# machine a slow stretch then hits every contender of a round, not all the
# runs of one. With more than one core, each round also runs the cached
# RunParallel benchmark at -cpu $(nproc). The script takes medians and the
# ratios against the issue's targets; the markdown report goes to stdout
# and to bench/results/tokens-latest.md, progress to stderr.
#
#   bash bench/tokens.sh                        # about 2 minutes
#   ROUNDS=10 BENCHTIME=2s bash bench/tokens.sh  # longer and steadier
#   BENCH='VerifyCold/RS256' ROUNDS=3 bash bench/tokens.sh
#   PROFILE=1 bash bench/tokens.sh              # plus CPU profiles of tether's cold and cached verify
#
# bench/README.md ("Token service") explains the output.
set -Eeuo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
OUT_DIR=$BENCH_DIR/.out
MOD_DIR=$BENCH_DIR/tokens

ROUNDS=${ROUNDS:-5}         # interleaved rounds; the report shows medians
BENCHTIME=${BENCHTIME:-1s}  # go test -benchtime, per benchmark per round
BENCH=${BENCH:-.}           # go test -bench: which benchmarks
PARALLEL=${PARALLEL:-1}     # 0: skip the cached RunParallel run at -cpu $(nproc)
PROFILE=${PROFILE:-0}       # 1: after the rounds, CPU profiles (pprof -top) of tether's cold RS256 and cached verify
RESULTS=${RESULTS:-$BENCH_DIR/results/tokens-latest.md}
COLD_TARGET=1.2             # cold verify ≤ 1.2× golang-jwt
CACHED_TARGET=1000000       # cached verify ≥ 1,000,000 per second per core

log() { printf '[tokens %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'bench/tokens.sh: ERROR: %s\n' "$*" >&2; exit 1; }

[[ $ROUNDS =~ ^[0-9]+$ && $ROUNDS -ge 1 ]] || die "ROUNDS must be a positive integer"
[[ $PARALLEL == 0 || $PARALLEL == 1 ]] || die "PARALLEL must be 0 or 1"
[[ $PROFILE == 0 || $PROFILE == 1 ]] || die "PROFILE must be 0 or 1"
command -v go >/dev/null || die "go is not on PATH"

NPROC=$(nproc)
COMMAND_LINE="ROUNDS=$ROUNDS BENCHTIME=$BENCHTIME BENCH='$BENCH' PARALLEL=$PARALLEL PROFILE=$PROFILE bash bench/tokens.sh"
TMP=$(mktemp -d /tmp/tether-tokens.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

log "building bench/tokens"
mkdir -p "$OUT_DIR"
BIN=$OUT_DIR/tokens.test
(cd "$MOD_DIR" && go test -c -o "$BIN" .) || die "go test -c failed (output above)"

log "running the tests of bench/tokens"
# From the module's directory, as go test would.
(cd "$MOD_DIR" && "$BIN" -test.run . -test.bench '^$' -test.count 1 -test.v) >"$TMP/tests.txt" 2>&1 ||
	{ cat "$TMP/tests.txt" >&2; die "the tests failed: the benchmarks would compare failing paths"; }
PARAMS=$(sed -n 's/.*argon2id parameters: //p' "$TMP/tests.txt" | head -1)

# parse ROUND CPUS: benchmark lines on stdin to TSV lines: round, name
# (without the -N suffix), cpus, ns/op, cpu-ns/op, B/op, allocs/op.
parse() {
	awk -v round="$1" -v cpus="$2" '/^Benchmark/ {
		name = $1; sub(/-[0-9]+$/, "", name)
		delete v
		for (i = 3; i < NF; i += 2) v[$(i + 1)] = $i
		printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", round, name, cpus, v["ns/op"], v["cpu-ns/op"], v["B/op"], v["allocs/op"]
	}'
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
START=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
: >"$TMP/results.tsv"
: >"$TMP/raw.txt"
for ((r = 1; r <= ROUNDS; r++)); do
	log "round $r/$ROUNDS: go test -run '^\$' -bench '$BENCH' -benchmem -count 1 -cpu 1 -benchtime $BENCHTIME (load $(cut -d' ' -f1 /proc/loadavg))"
	(cd "$MOD_DIR" && "$BIN" -test.run '^$' -test.bench "$BENCH" -test.benchmem -test.count 1 -test.cpu 1 -test.benchtime "$BENCHTIME") >"$TMP/round.txt" 2>&1 ||
		{ cat "$TMP/round.txt" >&2; die "round $r failed (output above)"; }
	grep -q '^Benchmark' "$TMP/round.txt" || die "no benchmark matches BENCH='$BENCH'"
	{ echo "# round $r, -cpu 1"; grep '^Benchmark' "$TMP/round.txt"; } >>"$TMP/raw.txt"
	parse "$r" 1 <"$TMP/round.txt" >>"$TMP/results.tsv"
	if ((PARALLEL && NPROC > 1)) && [[ $BENCH == . ]]; then
		log "round $r/$ROUNDS: cached RunParallel at -cpu $NPROC"
		(cd "$MOD_DIR" && "$BIN" -test.run '^$' -test.bench '^BenchmarkVerifyCached$/^parallel$' -test.benchmem -test.count 1 -test.cpu "$NPROC" -test.benchtime "$BENCHTIME") >"$TMP/round.txt" 2>&1 ||
			{ cat "$TMP/round.txt" >&2; die "round $r failed (output above)"; }
		{ echo "# round $r, -cpu $NPROC"; grep '^Benchmark' "$TMP/round.txt"; } >>"$TMP/raw.txt"
		parse "$r" "$NPROC" <"$TMP/round.txt" >>"$TMP/results.tsv"
	fi
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

if ((PROFILE)); then
	for b in 'VerifyCold/RS256/tether$' 'VerifyCached/serial$'; do
		log "profiling $b"
		prof=$TMP/$(tr -c 'A-Za-z0-9\n' _ <<<"$b").pprof
		(cd "$MOD_DIR" && "$BIN" -test.run '^$' -test.bench "$b" -test.count 1 -test.cpu 1 -test.benchtime 5s -test.cpuprofile "$prof") >/dev/null 2>&1 ||
			die "profiling $b failed"
		{
			echo "\$ go tool pprof -top -cum -nodecount 40 bench/.out/tokens.test <profile of $b>"
			go tool pprof -top -cum -nodecount 40 "$BIN" "$prof" 2>/dev/null | sed -n '/flat%/,$p'
			echo
		} >>"$TMP/profiles.txt"
	done
fi

commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -n $(git -C "$ROOT" status --porcelain 2>/dev/null) ]] && commit+="+dirty"
cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
ram=$(awk '/^MemTotal:/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
jwt_version=$(cd "$MOD_DIR" && go list -m -f '{{.Version}}' github.com/golang-jwt/jwt/v5)
jose_version=$(cd "$MOD_DIR" && go list -m -f '{{.Version}}' github.com/go-jose/go-jose/v4)

# report: the markdown tables, from results.tsv.
report() {
	awk -F'\t' -v rounds="$ROUNDS" -v nproc="$NPROC" -v cold_target="$COLD_TARGET" -v cached_target="$CACHED_TARGET" '
	function median(key,    n, i, j, t, a) {
		n = cnt[key]
		if (n == 0) return ""
		for (i = 1; i <= n; i++) a[i] = val[key, i]
		for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	function lo(key,    i, m) { m = val[key, 1]; for (i = 2; i <= cnt[key]; i++) if (val[key, i] < m) m = val[key, i]; return m }
	function hi(key,    i, m) { m = val[key, 1]; for (i = 2; i <= cnt[key]; i++) if (val[key, i] > m) m = val[key, i]; return m }
	function add(key, x) { val[key, ++cnt[key]] = x }
	function us(ns) { return ns == "" ? "–" : sprintf("%.1f", ns / 1000) }
	function rate(ns) { return ns == "" || ns == 0 ? "–" : commas(1e9 / ns) }
	function commas(x,    s, r) { s = sprintf("%d", x); r = ""; while (length(s) > 3) { r = "," substr(s, length(s) - 2) r; s = substr(s, 1, length(s) - 3) }; return s r }
	{
		round = $1; name = $2; cpus = $3
		key = name SUBSEP cpus
		add(key SUBSEP "ns", $4); add(key SUBSEP "cpu", $5); add(key SUBSEP "B", $6); add(key SUBSEP "allocs", $7)
		ns[round, name, cpus] = $4; cpuns[round, name, cpus] = $5
	}
	END {
		split("RS256 ES256 EdDSA", algs, " ")
		split("tether golang-jwt golang-jwt-map go-jose signature-only", who, " ")
		if (cnt["BenchmarkVerifyCold/RS256/tether" SUBSEP 1 SUBSEP "ns"] + cnt["BenchmarkVerifyCold/ES256/tether" SUBSEP 1 SUBSEP "ns"] + cnt["BenchmarkVerifyCold/EdDSA/tether" SUBSEP 1 SUBSEP "ns"] > 0) {
			print "## Cold verify: signature and claims, cache off, one core (-cpu 1)"
			print ""
			print "µs per verification, median of " rounds " round(s) (ns/op). *golang-jwt* verifies into typed claims, *golang-jwt (map)* into `jwt.MapClaims`; *go-jose* is go-jose v4'"'"'s own `jwt` package, which tether is built on; *signature only* is the stdlib signature check alone, the floor under all of them. The ratio is tether ÷ the cheaper golang-jwt variant of the same round; its median, with the range over rounds in brackets, and the same ratio from CPU time (cpu-ns/op) beside it."
			print ""
			print "| alg | tether | golang-jwt | golang-jwt (map) | go-jose | signature only | tether verifications/s per core | **tether ÷ golang-jwt** | by CPU time | ≤ " cold_target "× |"
			print "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
			for (a = 1; a <= 3; a++) {
				alg = algs[a]
				if (!cnt["BenchmarkVerifyCold/" alg "/tether" SUBSEP 1 SUBSEP "ns"]) continue
				row = "| " alg
				for (w = 1; w <= 5; w++) row = row " | " us(median("BenchmarkVerifyCold/" alg "/" who[w] SUBSEP 1 SUBSEP "ns"))
				t = median("BenchmarkVerifyCold/" alg "/tether" SUBSEP 1 SUBSEP "ns")
				row = row " | " rate(t)
				n = 0; met = 0
				for (r = 1; r <= rounds; r++) {
					tn = ns[r, "BenchmarkVerifyCold/" alg "/tether", 1]
					j1 = ns[r, "BenchmarkVerifyCold/" alg "/golang-jwt", 1]; j2 = ns[r, "BenchmarkVerifyCold/" alg "/golang-jwt-map", 1]
					c1 = cpuns[r, "BenchmarkVerifyCold/" alg "/tether", 1]
					k1 = cpuns[r, "BenchmarkVerifyCold/" alg "/golang-jwt", 1]; k2 = cpuns[r, "BenchmarkVerifyCold/" alg "/golang-jwt-map", 1]
					if (tn == "" || j1 == "" || j2 == "") continue
					j = j1 < j2 ? j1 : j2; k = k1 < k2 ? k1 : k2
					n++
					add("ratio" alg, tn / j); add("cpuratio" alg, c1 / k)
					if (tn / j <= cold_target) met++
				}
				if (n == 0) { print row " | – | – | – |"; continue }
				m = median("ratio" alg)
				verdict[alg] = sprintf("%.2f×", m)
				spread[alg] = sprintf("%.2f–%.2f", lo("ratio" alg), hi("ratio" alg))
				ok[alg] = m <= cold_target
				okrounds[alg] = met " of " n
				printf "%s | **%.2f** [%s] | %.2f | %s (%s rounds) |\n", row, m, spread[alg], median("cpuratio" alg), (ok[alg] ? "**met**" : "**not met**"), okrounds[alg]
			}
			print ""
			print "Allocations per verification (B/op, allocs/op, medians):"
			print ""
			print "| alg | tether | golang-jwt | golang-jwt (map) | go-jose | signature only |"
			print "|---|---:|---:|---:|---:|---:|"
			for (a = 1; a <= 3; a++) {
				if (!cnt["BenchmarkVerifyCold/" algs[a] "/tether" SUBSEP 1 SUBSEP "ns"]) continue
				row = "| " algs[a]
				for (w = 1; w <= 5; w++) {
					key = "BenchmarkVerifyCold/" algs[a] "/" who[w] SUBSEP 1
					row = row " | " (cnt[key SUBSEP "B"] ? median(key SUBSEP "B") " B, " median(key SUBSEP "allocs") : "–")
				}
				print row " |"
			}
			print ""
		}
		split("serial 1 parallel 1 parallel " nproc, runs, " ")
		if (cnt["BenchmarkVerifyCached/serial" SUBSEP 1 SUBSEP "ns"] > 0) {
			print "## Cached verify: the same token again (tether only)"
			print ""
			print "Per core: with -cpu 1, 1e9 ÷ ns/op; at -cpu " nproc ", where ns/op is wall time shared by " nproc " goroutines, 1e9 ÷ the CPU time per verification (cpu-ns/op)."
			print ""
			print "| run | ns/op | CPU ns/op | verifications/s per core | B/op, allocs/op | ≥ " commas(cached_target) "/s per core |"
			print "|---|---:|---:|---:|---:|---|"
			for (i = 1; i <= 6; i += 2) {
				name = "BenchmarkVerifyCached/" runs[i]; c = runs[i + 1]
				if (i == 5 && c == 1) continue
				key = name SUBSEP c
				if (!cnt[key SUBSEP "ns"]) continue
				n = median(key SUBSEP "ns"); cn = median(key SUBSEP "cpu")
				per = c == 1 ? n : cn
				label = (runs[i] == "serial" ? "serial" : "RunParallel") ", -cpu " c
				printf "| %s | %.0f [%.0f–%.0f] | %.0f | **%s** | %s B, %s | %s |\n", label, n, lo(key SUBSEP "ns"), hi(key SUBSEP "ns"), cn, commas(1e9 / per), median(key SUBSEP "B"), median(key SUBSEP "allocs"), (1e9 / per >= cached_target ? "**met**" : "**not met**")
				if (runs[i] == "serial") { cachedrate = 1e9 / per; cachedok = cachedrate >= cached_target }
			}
			print ""
		}
		if (cnt["BenchmarkLogin/ok" SUBSEP 1 SUBSEP "ns"] > 0) {
			print "## Login: users.Authenticator.Login at users.DefaultParams(), file store, one core"
			print ""
			print "| path | ms/op | CPU ms/op | logins/s per core | MiB allocated/op |"
			print "|---|---:|---:|---:|---:|"
			split("ok unknown-user", paths, " ")
			for (i = 1; i <= 2; i++) {
				key = "BenchmarkLogin/" paths[i] SUBSEP 1
				if (!cnt[key SUBSEP "ns"]) continue
				n = median(key SUBSEP "ns")
				printf "| %s | %.1f [%.1f–%.1f] | %.1f | %.1f | %.1f |\n", (paths[i] == "ok" ? "success" : "unknown user (dummy hash)"), n / 1e6, lo(key SUBSEP "ns") / 1e6, hi(key SUBSEP "ns") / 1e6, median(key SUBSEP "cpu") / 1e6, 1e9 / n, median(key SUBSEP "B") / 1048576
			}
			a = median("BenchmarkLogin/ok" SUBSEP 1 SUBSEP "ns"); b = median("BenchmarkLogin/unknown-user" SUBSEP 1 SUBSEP "ns")
			if (a != "" && b != "") printf "\nAn unknown user costs %.2f× a successful login: the failure checks a dummy hash so as not to tell which usernames exist.\n", b / a
			print ""
		}
		print "## Against the issue'"'"'s targets"
		print ""
		print "| target | measured | |"
		print "|---|---|---|"
		for (a = 1; a <= 3; a++) if (algs[a] in verdict)
			printf "| cold verify ≤ %s× golang-jwt, %s | **%s** [%s over rounds] | %s (%s rounds) |\n", cold_target, algs[a], verdict[algs[a]], spread[algs[a]], ok[algs[a]] ? "met" : "**not met**", okrounds[algs[a]]
		if (cachedrate != "")
			printf "| cached verify ≥ %s per second per core | **%s**/s (serial, -cpu 1) | %s |\n", commas(cached_target), commas(cachedrate), (cachedok ? "met" : "**not met**")
	}' "$TMP/results.tsv"
}

{
	echo "# Token service: tether's verifier beside golang-jwt, and logins"
	echo
	echo "- Date: $START"
	echo "- Command: \`$COMMAND_LINE\`: the test binary of bench/tokens, built once, run $ROUNDS time(s) as \`go test -run '^\$' -bench '$BENCH' -benchmem -count 1 -cpu 1 -benchtime $BENCHTIME\` (that is, \`-count $ROUNDS\`, interleaved)$( ((PARALLEL && NPROC > 1)) && [[ $BENCH == . ]] && echo ", each round followed by \`-bench 'VerifyCached/parallel' -cpu $NPROC\`")"
	echo "- Machine: $cpu, $NPROC cores (nproc), $ram, kernel $(uname -r); load average $LOAD_START at the start, $LOAD_END at the end"
	echo "- Versions: tether $commit, $(go env GOVERSION), golang-jwt/jwt/v5 $jwt_version, go-jose/v4 $jose_version"
	echo "- Token: an RFC 9068 access token (typ at+jwt, kid; iss, sub, aud, exp, iat, nbf, jti, client_id, scope), signed once per algorithm (RSA-2048, P-256, Ed25519); every contender verifies the same bytes with the same public key, on the real clock"
	echo "- argon2id: $PARAMS"
	echo
	report
	echo
	echo "## Every run"
	echo
	echo '```'
	cat "$TMP/raw.txt"
	echo '```'
	if [[ -f $TMP/profiles.txt ]]; then
		echo
		echo "## CPU profiles (5 s each)"
		echo
		echo '```'
		cat "$TMP/profiles.txt"
		echo '```'
	fi
} >"$TMP/report.md"

mkdir -p "$(dirname "$RESULTS")"
cp "$TMP/report.md" "$RESULTS"
cat "$RESULTS"
log "report written to $RESULTS"
