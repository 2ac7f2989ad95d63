# bench/lib.sh: helpers that bench/run.sh and bench/edge.sh share. Source
# it after defining log and die; the functions read TMP, QUIET_WAIT,
# MAX_OTHER, SLOW_NET and RETRIES from the caller, and measure appends to
# the caller's RAW and NOTES.

# secs converts a wrk duration (10, 10s, 2m) to whole seconds.
secs() {
	case $1 in
	*m) echo $(( ${1%m} * 60 )) ;;
	*s) echo "${1%s}" ;;
	*) echo "$1" ;;
	esac
}

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

child_secs() {
	times >"$TMP/times"
	CHILD_SECS=$(awk 'NR == 2 {
		s = 0
		for (i = 1; i <= 2; i++) { split($i, a, "m"); sub(/s$/, "", a[2]); s += a[1] * 60 + a[2] }
		printf "%.3f", s }' "$TMP/times")
}

# box_ticks: "busy total" jiffies of the whole machine from /proc/stat.
box_ticks() { awk '/^cpu /{t=0; for (i=2;i<=NF;i++) t+=$i; print t-$5-$6, t}' /proc/stat; }

# render_template SRC DST KEEP DROP SUBST: writes the config template SRC
# to DST with the marker lines of KEEP (sed alternatives, e.g.
# 'STICKY\|PLAIN') kept without their marker, those of DROP removed, and
# the sed substitutions SUBST (the placeholders) applied. It dies when a
# marker or a placeholder is left. See bench/README.md, Files.
render_template() {
	local src=$1 dst=$2 keep=$3 drop=$4 subst=$5
	sed -e "/^[[:space:]]*#\($drop\):/d" \
		-e "s/^\([[:space:]]*\)#\($keep\):[[:space:]]*/\1/" \
		-e "$subst" "$src" >"$dst"
	! grep -n '^[[:space:]]*#[A-Z]*:' "$dst" >&2 || die "unknown scenario marker left in $dst"
	! grep -n '@[A-Z0-9_]*@' "$dst" >&2 || die "unreplaced placeholder in $dst"
}

# net_ticks: "softirq_jiffies tcp_segments_sent" of the whole machine, from
# /proc/stat and /proc/net/snmp (OutSegs).
net_ticks() {
	echo "$(awk '/^cpu / {print $8}' /proc/stat) $(awk '/^Tcp:/ {if (seen) print $12; seen = 1}' /proc/net/snmp)"
}

# softirq_ns S0 G0 S1 G1: the machine's softirq time per TCP segment sent,
# in ns, between two net_ticks samples. On loopback every segment is
# delivered in softirq context (charged to whichever task runs, often the
# sender), so this is the kernel's cost of moving one segment, wake-ups of
# the receiving threads included. Each row has its own level (a little
# higher where threads sleep more between segments); it doubles or triples
# for every row in the VM's slow stretches (bench/README.md, Caveats).
softirq_ns() {
	awk -v s=$(($3 - $1)) -v g=$(($4 - $2)) -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.0f", (g > 0 ? s / hz * 1e9 / g : 0)}'
}

# SLOW_NET_MIN holds, per scenario and row, the lowest softirq_ns seen so
# far.
declare -A SLOW_NET_MIN=()

# slow_net KEY NS: whether NS, a run's softirq_ns, is more than SLOW_NET
# times the lowest seen so far under KEY ("scenario/row": a row is judged
# against itself only). The first run of a key sets the baseline and is
# never slow.
slow_net() {
	local key=$1 ns=$2 min=${SLOW_NET_MIN[$1]:-}
	((ns > 0)) || return 1
	if [[ -z $min ]] || ((ns < min)); then
		SLOW_NET_MIN[$key]=$ns
		[[ -n $min ]] || return 1
		min=$ns
	fi
	awk -v x="$ns" -v m="$min" -v f="$SLOW_NET" 'BEGIN {exit !(x > f * m)}'
}

# slow_runs COL list|mark: judges the runs of $RAW (a TSV with the scenario,
# the row and the round in columns 1-3, the status in column COL and
# softirq_ns in COL+1) against the lowest softirq_ns over the
# whole script run, which the first runs could not be: each run against
# the lowest of its own scenario and row. "list" prints
# "scenario<TAB>row<TAB>round" for each kept run above SLOW_NET times that
# lowest; "mark" prints $RAW with those runs' status set to slow-net.
slow_runs() {
	printf '%s' "$RAW" | awk -F'\t' -v OFS='\t' -v c="$1" -v mode="$2" -v f="$SLOW_NET" '
		NF > 1 {
			row[++n] = $0
			k = $1 SUBSEP $2
			if ($(c + 1) > 0 && (!(k in min) || $(c + 1) < min[k])) min[k] = $(c + 1)
		}
		END {
			for (i = 1; i <= n; i++) {
				m = split(row[i], x, "\t")
				if (!(x[c] == "kept" && x[c + 1] > f * min[x[1], x[2]])) {
					if (mode == "mark") print row[i]
					continue
				}
				if (mode == "list") { print x[1], x[2], x[3]; continue }
				x[c] = "slow-net"
				out = x[1]
				for (j = 2; j <= m; j++) out = out OFS x[j]
				print out
			}
		}'
}

# ------------------------------------------------- measuring, and again

# The counters the reports print: runs discarded because other processes
# used more than MAX_OTHER cores, runs measured again because they fell in
# a slow stretch (slow_net), and the latter per row.
DISCARDED=0 SLOW_DISCARDED=0
declare -A SLOW_BY_ROW=()

# measure SC ROW ROUND: one kept run of ROW (an LB or an edge row) in
# scenario SC, measured again (at most RETRIES times) while other processes
# disturb it or the kernel's network is in a slow stretch. It calls the
# script's measure_once SC ROW ROUND ATTEMPT, which sets LAST_ROW (the
# run's TSV row), LAST_OTHER, LAST_SIRQ and LAST_ERRNOTE, and appends
# every attempt to RAW with its status (kept, discarded, slow-net) and
# LAST_SIRQ; discarded attempts stay in the runs table but not in the
# medians.
measure() {
	local sc=$1 row=$2 round=$3 attempt status
	for ((attempt = 0; attempt <= RETRIES; attempt++)); do
		wait_quiet
		measure_once "$sc" "$row" "$round" "$attempt"
		status=kept
		if ((attempt < RETRIES)) && awk -v x="$LAST_OTHER" -v m="$MAX_OTHER" 'BEGIN {exit !(x > m)}'; then
			log "  discarded: other processes used $LAST_OTHER cores (> MAX_OTHER=$MAX_OTHER); measuring again"
			status=discarded
			DISCARDED=$((DISCARDED + 1))
		elif slow_net "$sc/$row" "$LAST_SIRQ" && ((attempt < RETRIES)); then
			log "  discarded: the kernel spent $LAST_SIRQ ns of softirq per TCP segment (> SLOW_NET=$SLOW_NET x this row's lowest in $sc, ${SLOW_NET_MIN[$sc/$row]} ns); measuring again"
			status=slow-net
			count_slow "$row"
		fi
		RAW+="$LAST_ROW	$status	$LAST_SIRQ"$'\n'
		[[ $status == kept ]] || continue
		[[ -z $LAST_ERRNOTE ]] || NOTES+="$LAST_ERRNOTE"$'\n'
		return 0
	done
}

count_slow() {
	SLOW_DISCARDED=$((SLOW_DISCARDED + 1))
	SLOW_BY_ROW[$1]=$((${SLOW_BY_ROW[$1]:-0} + 1))
}

# slow_by_row prints how many runs of each row were measured again for a
# slow kernel network, as ": tether 2, haproxy 1" (nothing when none were).
slow_by_row() {
	local row out=""
	for row in "${!SLOW_BY_ROW[@]}"; do out+="${out:+, }$row ${SLOW_BY_ROW[$row]}"; done
	[[ -z $out ]] || printf ': %s' "$out"
}

# remeasure_slow COL: after the rounds, measures again each run kept in one
# of the VM's slow stretches, judged against the lowest softirq time per
# segment of the same row in the same scenario over the whole script run
# (the first runs had nothing to be judged against). COL is the status
# column of RAW (see slow_runs). Not with RETRIES=0.
remeasure_slow() {
	((RETRIES > 0)) || return 0
	local again line sc row round
	mapfile -t again < <(slow_runs "$1" list)
	((${#again[@]})) || return 0
	log "measuring ${#again[@]} run(s) again: they ran in a slow stretch of the VM"
	RAW=$(slow_runs "$1" mark)$'\n'
	for line in "${again[@]}"; do
		IFS=$'\t' read -r sc row round <<<"$line"
		count_slow "$row"
		measure "$sc" "$row" "$round"
	done
}

# lat_ms converts a wrk latency (850.00us, 1.23ms, 1.02s, 2.00m) to ms.
lat_ms() {
	awk -v v="$1" 'BEGIN {
		n = v + 0
		if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n; else if (v ~ /m$/) n *= 60000; else if (v ~ /s$/) n *= 1000
		printf "%.3f", n }'
}

# wait_quiet waits, at most QUIET_WAIT seconds, until the machine is idle
# (less than MAX_OTHER cores busy over one second): nothing of ours but the
# idle backend runs at this point, so anything busy is someone else.
wait_quiet() {
	local i b0 t0 b1 t1 busy hz
	hz=$(getconf CLK_TCK)
	for ((i = 0; i < QUIET_WAIT; i++)); do
		read -r b0 t0 < <(box_ticks)
		sleep 1
		read -r b1 t1 < <(box_ticks)
		busy=$(awk -v b=$((b1 - b0)) -v hz="$hz" 'BEGIN {printf "%.2f", b / hz}')
		if awk -v x="$busy" -v m="$MAX_OTHER" 'BEGIN {exit !(x <= m)}'; then
			((i == 0)) || log "  the machine is idle again after ${i}s"
			return 0
		fi
		((i == 0)) && log "  the machine is busy ($busy cores used by other processes); waiting up to ${QUIET_WAIT}s"
	done
	log "  still busy after ${QUIET_WAIT}s ($busy cores); measuring anyway"
}

# install_packages PKG...: installs the packages with apt-get, as root and
# unless INSTALL=0. No packages: nothing to do.
install_packages() {
	(($#)) || return 0
	((INSTALL)) || die "missing: $* (INSTALL=0 forbids apt-get install)"
	[[ $(id -u) == 0 ]] || die "missing: $*; run as root or install them first"
	log "installing $* with apt-get"
	apt-get update >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y "$@" >&2
}

# wait_up PID NAME URL LOG [CURL_FLAG]: waits up to 15 s for URL to answer
# 200 while PID runs (CURL_FLAG: -k for a self-signed certificate). If PID
# exits or the time runs out, it prints LOG and dies.
wait_up() {
	local pid=$1 name=$2 url=$3 logf=$4 flag=${5:--s} i code=""
	for ((i = 0; i < 150; i++)); do
		kill -0 "$pid" 2>/dev/null || { cat "$logf" >&2; die "$name exited during start-up (log above)"; }
		code=$(curl -s "$flag" -o /dev/null -w '%{http_code}' --max-time 2 "$url" || true)
		[[ $code == 200 ]] && break
		sleep 0.1
	done
	[[ $code == 200 ]] || { cat "$logf" >&2; die "$name at $url did not answer 200 within 15s (last status '$code')"; }
}
