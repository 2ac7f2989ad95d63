#!/usr/bin/env bash
# test-deps.sh installs what tether's tests need and is not a Go module:
# Chromium, for the browser tests of the demo (internal/testsupport.Chromium).
# It changes nothing when everything is already installed, so it is safe to
# run before every test run. It needs apt-get (Debian, Ubuntu) and runs
# apt-get as root, through sudo when not root.
set -euo pipefail

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

if command -v chromium >/dev/null 2>&1; then
	echo "test-deps: chromium is installed ($(command -v chromium))"
else
	if ! command -v apt-get >/dev/null 2>&1; then
		echo "test-deps: chromium is missing and apt-get is not available; install chromium with your package manager" >&2
		exit 1
	fi
	echo "test-deps: chromium is missing; installing the Debian package chromium with apt-get"
	as_root apt-get update
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
	echo "test-deps: installed chromium ($(command -v chromium))"
fi
