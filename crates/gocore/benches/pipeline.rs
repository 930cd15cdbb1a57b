//! Micro-benchmarks of the analysis' hot loops on a real core:
//! `cargo bench -p gocore` (divan). The core is the go1.24.11 test core, or
//! `GOREFS_BENCH_CORE` with `GOREFS_BENCH_EXE` (for instance a core made by
//! `scripts/bench.sh`). Whole-command wall times, CPU and memory, against
//! the peers, come from `scripts/bench.sh`.

use std::path::PathBuf;
use std::sync::OnceLock;

use gocore::graph::HeapGraph;
use gocore::process::Core;
use gocore::progress::NoProgress;

fn main() {
    divan::main();
}

fn core() -> &'static Core {
    static CORE: OnceLock<Core> = OnceLock::new();
    CORE.get_or_init(|| {
        let testdata =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/cores/go1.24.11");
        let core =
            std::env::var_os("GOREFS_BENCH_CORE").map_or(testdata.join("core.zst"), PathBuf::from);
        let exe = std::env::var_os("GOREFS_BENCH_EXE")
            .map_or(testdata.join("heapzoo.zst"), PathBuf::from);
        Core::open(&core, Some(&exe)).expect("the benchmark core opens")
    })
}

/// Spans, roots, goroutines, typing, extracting references and marking.
#[divan::bench(sample_count = 10)]
fn analyze(bencher: divan::Bencher) {
    let core = core();
    bencher.bench(|| core.analyze().expect("analysis"));
}

/// Marking alone: the search from the super-root over the references.
#[divan::bench(sample_count = 10)]
fn marking(bencher: divan::Bencher) {
    let core = core();
    let a = core.analyze().expect("analysis");
    let refs = a.references.as_ref().expect("references");
    bencher.bench(|| gograph::reachable(&refs.succ, [refs.super_root]));
}

/// Extracting references, marking, dominators and retained sizes.
#[divan::bench(sample_count = 10)]
fn reference_graph(bencher: divan::Bencher) {
    let core = core();
    let mut a = core.analyze().expect("analysis");
    // Without the analysis' references, each build extracts them anew.
    a.references = None;
    bencher.bench_local(|| HeapGraph::build(&mut a, &NoProgress).expect("graph"));
}

/// Dominators and retained sizes alone, over the references.
#[divan::bench(sample_count = 10)]
fn dominators(bencher: divan::Bencher) {
    let core = core();
    let a = core.analyze().expect("analysis");
    let refs = a.references.as_ref().expect("references");
    bencher.bench(|| {
        let dom = gograph::Dominators::compute(&refs.succ, refs.super_root);
        dom.retained_with(|v| u64::from(v < refs.n_objects))
    });
}

/// Retained by type and package: the dominator tree and its walk.
#[divan::bench(sample_count = 10)]
fn retained_by_type(bencher: divan::Bencher) {
    let core = core();
    let mut a = core.analyze().expect("analysis");
    let model = gocore::model::HeapModel::build(&mut a, &NoProgress).expect("model");
    bencher.bench(|| model.retained_by_type_and_package());
}
