# shellcheck shell=bash
# bench/edge/lib.sh: what bench/edge.sh and bench/edge-pairs.sh share: the
# build, the configs, the temporary and cache directories, the origin and
# NGINX. Source it after bench/lib.sh. The functions read ROOT, OUT_DIR,
# CONF_DIR, TMP, CACHE_BASE, PORT (edge, plain, nginx), ORIGIN_PORT,
# ADMIN_PORT and NGINX_CACHE_ON from the caller, and use its log and die.

# edge_build builds tether (stamped dev-<commit>: that commit plus the
# working tree) and bench/edge/origin into OUT_DIR.
edge_build() {
	mkdir -p "$OUT_DIR"
	local rev
	rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
	log "building tether (commit $rev plus working tree) and bench/edge/origin"
	(cd "$ROOT" && go build -buildvcs=false -ldflags "-X main.version=dev-$rev" -o "$OUT_DIR/tether" ./cmd/tether) ||
		die "go build ./cmd/tether failed (output above)"
	(cd "$ROOT" && go build -buildvcs=false -o "$OUT_DIR/edge-origin" ./bench/edge/origin) ||
		die "go build ./bench/edge/origin failed (output above)"
}

# edge_dirs NAME makes TMP, a new temporary directory, and CACHE_BASE, where
# NGINX's cache directories go: a new directory under NGINX_CACHE_ON (a
# tmpfs, so that NGINX's cache is in memory as tether's is) when it is
# writable, else under TMP. NGINX's workers run as nobody: both are
# world-readable.
edge_dirs() {
	TMP=$(mktemp -d "/tmp/$1.XXXXXX")
	chmod 755 "$TMP"
	CACHE_BASE=$TMP/nginx-cache
	if [[ -n $NGINX_CACHE_ON && -d $NGINX_CACHE_ON && -w $NGINX_CACHE_ON ]]; then
		CACHE_BASE=$(mktemp -d "$NGINX_CACHE_ON/$1.XXXXXX")
	fi
	mkdir -p "$CACHE_BASE"
	chmod 755 "$CACHE_BASE"
}

# edge_render TEMPLATE DST CACHE_DIR writes bench/edge/TEMPLATE
# (tether.yaml or nginx.conf) to DST with its placeholders filled in,
# CACHE_DIR for @CACHE_DIR@.
edge_render() {
	sed -e "s|@EDGE_PORT@|${PORT[edge]}|g; s|@PLAIN_PORT@|${PORT[plain]}|g; s|@NGINX_PORT@|${PORT[nginx]}|g" \
		-e "s|@ORIGIN@|$ORIGIN_PORT|g; s|@ADMIN@|127.0.0.1:$ADMIN_PORT|g; s|@TMP@|$TMP|g; s|@CACHE_DIR@|$3|g" \
		"$CONF_DIR/$1" >"$2"
	! grep -n '@[A-Z0-9_]*@' "$2" >&2 || die "unreplaced placeholder in $2"
}

# edge_start_origin starts bench/edge/origin on ORIGIN_PORT, sets
# ORIGIN_PID, and waits until it answers.
edge_start_origin() {
	log "starting the origin on 127.0.0.1:$ORIGIN_PORT"
	"$OUT_DIR/edge-origin" -addr "127.0.0.1:$ORIGIN_PORT" >"$TMP/origin.log" 2>&1 &
	ORIGIN_PID=$!
	wait_up "$ORIGIN_PID" origin "http://127.0.0.1:$ORIGIN_PORT/healthz" "$TMP/origin.log"
}

# edge_start_nginx CFG LOG checks CFG and starts NGINX on it in the
# foreground of a background job, output to LOG; sets NGINX_PID to its
# master. The caller waits for it to answer.
edge_start_nginx() {
	mkdir -p "$TMP/nginx"
	nginx -t -q -p "$TMP/nginx/" -e "$TMP/nginx-error.log" -c "$1" -g 'daemon off;' >"$2" 2>&1 ||
		{ cat "$2" "$TMP/nginx-error.log" >&2 2>/dev/null; die "nginx rejected $1"; }
	nginx -p "$TMP/nginx/" -e "$TMP/nginx-error.log" -c "$1" -g 'daemon off;' >"$2" 2>&1 &
	# shellcheck disable=SC2034 # the caller's
	NGINX_PID=$!
}
