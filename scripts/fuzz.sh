#!/usr/bin/env bash
# Run each fuzz target for a bounded time:  scripts/fuzz.sh [SECONDS] [TARGET...]
#
# SECONDS defaults to 60 per target; targets default to all of them
# (core_file dwarf rtype pclntab pipeline). Needs cargo-fuzz
# (`cargo install cargo-fuzz`). Uses the nightly toolchain when it is
# installed, else stable; either way with `--sanitizer none` (the crates are
# safe Rust: coverage-guided fuzzing with debug assertions and overflow
# checks finds panics, hangs and allocation bombs without ASan's cost).
# Seed corpora are generated from testdata/ on first use (fuzz/corpus/).
# Crashing inputs land in fuzz/artifacts/<target>/; reproduce one with
#   cargo +nightly fuzz run -s none TARGET fuzz/artifacts/TARGET/crash-...
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

secs=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(core_file dwarf rtype pclntab pipeline)

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: cargo-fuzz is not installed (cargo install cargo-fuzz)" >&2
    exit 2
fi
tc=()
if rustup run nightly rustc --version >/dev/null 2>&1; then
    tc=(+nightly)
fi

if [ ! -d corpus/pipeline ]; then
    echo "fuzz.sh: generating seed corpora from testdata/" >&2
    cargo run --release --example make_seeds
fi

cargo "${tc[@]}" fuzz build -s none

status=0
for t in "${targets[@]}"; do
    case $t in
        pipeline) opts=(-max_len=4096 -timeout=120 -rss_limit_mb=4096) ;;
        pclntab) opts=(-max_len=262144 -timeout=30 -rss_limit_mb=2048) ;;
        rtype) opts=(-max_len=65536 -timeout=30 -rss_limit_mb=2048) ;;
        *) opts=(-max_len=131072 -timeout=30 -rss_limit_mb=2048) ;;
    esac
    echo "== $t ($secs s)" >&2
    if ! cargo "${tc[@]}" fuzz run -s none "$t" -- -max_total_time="$secs" \
        -print_final_stats=1 "${opts[@]}"; then
        echo "fuzz.sh: $t found a crash (see fuzz/artifacts/$t/)" >&2
        status=1
    fi
done
exit $status
