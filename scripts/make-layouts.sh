#!/usr/bin/env bash
# Regenerates gorefs's runtime layout tables (crates/gocore/layouts/*.txt)
# from the unstripped test binaries and cores in testdata/cores: one table per
# Go release and GOEXPERIMENT variant, read from the binary's DWARF. gorefs
# uses them for binaries without DWARF (see crates/gocore/src/runtime_table.rs).
#
#   bash scripts/make-layouts.sh
#
# Needs no Go toolchain. After adding a release to testdata (scripts/
# make-testdata.sh), run this, then add the table to `BUILTIN` in
# runtime_table.rs. The test `layout_tables_match_the_test_binaries` fails
# when a table and its binary disagree.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/crates/gocore/layouts"
cd "$ROOT"
cargo build -q --release -p gocore --example layout_table
TOOL="$ROOT/target/release/examples/layout_table"
mkdir -p "$OUT"
for dir in testdata/cores/go*; do
	variant="$(basename "$dir")"
	case "$variant" in
	*-pie | *-gcore) continue ;; # same layouts as the plain build
	esac
	# go1.24.11-noswissmap -> go1.24-noswissmap
	name="$(sed -E 's/^go([0-9]+\.[0-9]+)\.[0-9]+/go\1/' <<<"$variant")"
	"$TOOL" "$dir/core.zst" "$dir/heapzoo.zst" >"$OUT/$name.txt"
	printf '[make-layouts] %s <- %s (%s lines)\n' "$OUT/$name.txt" "$variant" "$(wc -l <"$OUT/$name.txt")" >&2
done
