#!/usr/bin/env bash
# Runs every native Go fuzz target for a while and copies the inputs the
# fuzzer found interesting from the Go build cache into the package's
# testdata/fuzz/<Target>/, so that they run as regression seeds in every
# `go test`. Usage: scripts/fuzz.sh [FUZZTIME, default 30s]
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-30s}
cache=$(go env GOCACHE)/fuzz
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "== $pkg $target ($fuzztime)"
    go test -run='^$' -fuzz="^${target}\$" -fuzztime="$fuzztime" "$pkg" | grep -v '^fuzz: elapsed' || exit 1
    src="$cache/$pkg/$target"
    if [ -d "$src" ]; then
      mkdir -p "$dir/testdata/fuzz/$target"
      cp -n "$src"/* "$dir/testdata/fuzz/$target/" 2>/dev/null || true
      echo "   corpus: $(ls "$dir/testdata/fuzz/$target" | wc -l) inputs in ${dir#$PWD/}/testdata/fuzz/$target"
    fi
  done
done
