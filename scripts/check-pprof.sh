#!/usr/bin/env bash
# Checks that `go tool pprof` reads the profiles `gorefs pprof` writes, in
# both modes, on one test core: `-top` must list the main.holder root and
# the retention of main.holder (744 B in heapzoo) must show as cumulative
# inuse_space. Needs Go; without it this says so and exits 0 (the cargo
# tests decode the profile themselves and do not need Go).
#
#   bash scripts/check-pprof.sh              # go1.27.3
#   bash scripts/check-pprof.sh go1.21.13    # another variant
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
variant="${1:-go1.27.3}"
dir="$ROOT/testdata/cores/$variant"

if ! command -v go >/dev/null; then
	echo "check-pprof: go is not installed; skipped"
	exit 0
fi

cargo build --quiet --release --locked --manifest-path "$ROOT/Cargo.toml"
gorefs="$ROOT/target/release/gorefs"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/gorefs-pprof.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
export GOREFS_CACHE_DIR="$tmp/cache"

for mode in dominators paths; do
	"$gorefs" pprof "$dir/core.zst" "$dir/heapzoo.zst" --mode "$mode" -o "$tmp/$mode.pb.gz"
	go tool pprof -top -cum -nodefraction=0 -nodecount=100000 -sample_index=inuse_space "$tmp/$mode.pb.gz" >"$tmp/$mode.txt" 2>&1
	if ! grep -Eq '^ +0 +0% +[0-9.]+% +744B .* main\.holder$' "$tmp/$mode.txt"; then
		echo "check-pprof: $mode: no 'main.holder' root with 744B cumulative in go tool pprof -top:" >&2
		cat "$tmp/$mode.txt" >&2
		exit 1
	fi
	echo "check-pprof: $mode: $(grep -E ' main\.holder$' "$tmp/$mode.txt" | tr -s ' ')"
done
echo "check-pprof: ok ($variant)"
