#!/usr/bin/env bash
# test-deps.sh installs what tether's tests need and is not a Go module:
# Chromium, for the browser tests of the demo (internal/testsupport.Chromium),
# and HAProxy, the real load balancer that `tether probe` is tested against
# (internal/testsupport.StartHAProxy), Redis with Sentinel and PostgreSQL,
# the session stores' real servers (internal/testsupport.StartRedis,
# StartPostgres).
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
