//! Micro-benchmarks of the graph engine's hot loops on a heap-shaped random
//! graph: `cargo bench -p gograph` (divan; `-- --sample-count 5` for a quick
//! run). The whole pipeline on real cores is measured by `scripts/bench.sh`,
//! and 50M-node runs by `examples/synthetic.rs`.

use gograph::{bfs_depths, Chunk, Csr, Dominators};

fn main() {
    divan::main();
}

/// Node counts: a small core and a realistic service heap.
const SIZES: &[usize] = &[100_000, 1_000_000];

/// A heap-like graph: `n - 1` objects, each with two to three successors
/// (one near, for locality, and random ones), and a super-root (the last
/// node) pointing at every 1000th object.
fn heap_graph(n: usize) -> Csr {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move |below: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % below as u64) as u32
    };
    let objects = n - 1;
    let mut counts = Vec::with_capacity(n);
    let mut targets = Vec::with_capacity(n * 3);
    for v in 0..objects {
        let before = targets.len();
        if v + 1 < objects {
            targets.push(v as u32 + 1 + next(8).min((objects - v - 2) as u32));
        }
        targets.push(next(objects));
        if v % 2 == 0 {
            targets.push(next(objects));
        }
        counts.push((targets.len() - before) as u32);
    }
    let before = targets.len();
    targets.extend((0..objects).step_by(1000).map(|v| v as u32));
    counts.push((targets.len() - before) as u32);
    Csr::from_chunks(
        n,
        vec![Chunk {
            first_node: 0,
            counts,
            targets,
        }],
    )
    .expect("a valid graph")
}

#[divan::bench(args = SIZES)]
fn csr_from_chunks(bencher: divan::Bencher, n: usize) {
    let succs = heap_graph(n);
    bencher
        .with_inputs(|| {
            // One chunk per 64 Ki nodes, as graph extraction makes them.
            (0..n)
                .step_by(1 << 16)
                .map(|first| {
                    let end = (first + (1 << 16)).min(n);
                    let counts = (first..end)
                        .map(|v| succs.degree(v as u32) as u32)
                        .collect();
                    let targets = (first..end)
                        .flat_map(|v| succs.successors(v as u32).iter().copied())
                        .collect();
                    Chunk {
                        first_node: first as u32,
                        counts,
                        targets,
                    }
                })
                .collect::<Vec<_>>()
        })
        .bench_values(|chunks| Csr::from_chunks(n, chunks).expect("valid"));
}

#[divan::bench(args = SIZES)]
fn transpose(bencher: divan::Bencher, n: usize) {
    let succs = heap_graph(n);
    bencher.bench(|| succs.transpose());
}

#[divan::bench(args = SIZES)]
fn dominators(bencher: divan::Bencher, n: usize) {
    let succs = heap_graph(n);
    bencher.bench(|| Dominators::compute(&succs, (n - 1) as u32));
}

#[divan::bench(args = SIZES)]
fn retained_sizes(bencher: divan::Bencher, n: usize) {
    let succs = heap_graph(n);
    let doms = Dominators::compute(&succs, (n - 1) as u32);
    let sizes: Vec<u64> = (0..n as u64).map(|v| 16 + v % 512).collect();
    bencher.bench(|| doms.retained(&sizes));
}

#[divan::bench(args = SIZES)]
fn bfs(bencher: divan::Bencher, n: usize) {
    let succs = heap_graph(n);
    bencher.bench(|| bfs_depths(&succs, (n - 1) as u32));
}
