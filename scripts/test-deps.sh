#!/usr/bin/env bash
# test-deps.sh installs what tether's tests need and is not a Go module:
# Chromium, for the browser tests of the demo (internal/testsupport.Chromium),
# and HAProxy, the real load balancer that `tether probe` is tested against
# (internal/testsupport.StartHAProxy), Redis with Sentinel and PostgreSQL,
# the session stores' real servers (internal/testsupport.StartRedis,
# StartPostgres), and Node.js with the npm package jose, the JOSE library
# that verifies tether's tokens in internal/tokens/interop_test.go.
# It changes nothing when everything is already installed, so it is safe to
# run before every test run. It needs apt-get (Debian, Ubuntu) and runs
# apt-get as root, through sudo when not root.
set -euo pipefail

# Debian keeps daemons such as haproxy in /usr/sbin, which a non-root PATH
# may lack.
PATH=$PATH:/usr/sbin:/sbin

as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		echo "test-deps: need root to run: $*; run this script as root or install sudo" >&2
		exit 1
	fi
}

updated=no

# install PACKAGE installs the Debian package PACKAGE with apt-get.
install() {
	local pkg=$1
	if ! command -v apt-get >/dev/null 2>&1; then
		echo "test-deps: apt-get is not available; install $pkg with your package manager" >&2
		exit 1
	fi
	if [ "$updated" = no ]; then
		as_root apt-get update
		updated=yes
	fi
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$pkg"
}

# need CMD PACKAGE installs the Debian package PACKAGE unless the command CMD
# is already on the PATH.
need() {
	local cmd=$1 pkg=$2
	if command -v "$cmd" >/dev/null 2>&1; then
		echo "test-deps: $cmd is installed ($(command -v "$cmd"))"
		return
	fi
	echo "test-deps: $cmd is missing; installing the Debian package $pkg with apt-get"
	install "$pkg"
	echo "test-deps: installed $pkg ($(command -v "$cmd"))"
}

need chromium chromium
need haproxy haproxy
need redis-server redis-server
need redis-sentinel redis-sentinel
need node nodejs
need npm npm
# jose 6 needs Node.js 20 or later; Debian 12's nodejs is 18.
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
	echo "test-deps: Node.js $(node --version) is too old: jose 6, which internal/tokens's interop test runs, needs Node.js 20 or later;" \
		"install it (Debian 13's nodejs, or https://github.com/nodesource/distributions) and run this again" >&2
	exit 1
fi

# Debian keeps PostgreSQL's server programs out of the PATH, under
# /usr/lib/postgresql/VERSION/bin; the tests look there.
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
	echo "test-deps: PostgreSQL is installed ($(ls -d /usr/lib/postgresql/*/bin | tail -n1))"
else
	echo "test-deps: PostgreSQL is missing; installing the Debian package postgresql with apt-get"
	install postgresql
fi

# The Debian packages start system-wide servers; the tests start their own on
# free ports, so stop those to leave the machine as it was.
for svc in redis-server redis-sentinel postgresql; do
	if command -v service >/dev/null 2>&1; then
		as_root service "$svc" stop >/dev/null 2>&1 || true
	fi
done

# jose, pinned by package-lock.json: installed again when the lock file is
# newer than the last install (npm writes node_modules/.package-lock.json).
jose_dir="$(cd "$(dirname "$0")/.." && pwd)/internal/tokens/testdata/jose"
if [ -f "$jose_dir/node_modules/.package-lock.json" ] &&
	[ ! "$jose_dir/package-lock.json" -nt "$jose_dir/node_modules/.package-lock.json" ]; then
	echo "test-deps: jose is installed ($jose_dir/node_modules)"
else
	echo "test-deps: installing jose in $jose_dir with npm ci"
	(cd "$jose_dir" && npm ci --no-audit --no-fund)
fi
