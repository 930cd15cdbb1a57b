//! Benchmark on a synthetic heap-like graph.
//!
//! `cargo run --release -p gograph --example synthetic -- [NODES]` (default
//! 1,000,000) builds a graph shaped like a Go heap: objects first (regions of
//! binary trees and of long linked lists, with local and global cross edges,
//! some regions rooted by nothing), then roots (0.1% of nodes) pointing at
//! region heads and random objects, then one super-root. It prints the wall
//! time of each phase and the process's memory (VmRSS, and VmHWM, the peak,
//! which is reset before the dominators so their own peak shows).

use std::time::Instant;

use gograph::{bfs_depths, shortest_paths_to, Chunk, Csr, Dominators, NONE};
use rayon::prelude::*;

/// Nodes per region and per generation chunk.
const REGION: u64 = 1 << 16;

fn main() {
    let n: u64 = match std::env::args().nth(1) {
        Some(arg) => match arg.replace(['_', ','], "").parse() {
            Ok(n) if (16..gograph::MAX_NODES as u64).contains(&n) => n,
            _ => {
                eprintln!("usage: synthetic [NODES >= 16]");
                std::process::exit(2);
            }
        },
        None => 1_000_000,
    };
    let g = Synthetic::new(n);
    println!(
        "nodes {n} (objects {}, roots {}, super-root {}), {} threads",
        g.objects,
        g.roots,
        n - 1,
        rayon::current_num_threads()
    );

    let t = Instant::now();
    let chunks: Vec<Chunk> = (0..n.div_ceil(REGION))
        .into_par_iter()
        .map(|c| g.chunk(c * REGION, ((c + 1) * REGION).min(n)))
        .collect();
    report("generate edges", t);

    let t = Instant::now();
    let succs = match Csr::from_chunks(n as usize, chunks) {
        Ok(csr) => csr,
        Err(e) => {
            eprintln!("bad synthetic graph: {e}");
            std::process::exit(1);
        }
    };
    report("CSR from chunks", t);
    println!(
        "  edges {} ({:.2} per node)",
        succs.edge_count(),
        succs.edge_count() as f64 / n as f64
    );

    let t = Instant::now();
    let preds = succs.transpose();
    report("transpose", t);

    let sizes: Vec<u64> = (0..n).map(|v| g.size(v)).collect();
    let keys: Vec<u32> = (0..n)
        .map(|v| {
            if v < g.objects {
                (v % 1000) as u32
            } else {
                NONE
            }
        })
        .collect();

    let before = status_kib("VmRSS");
    reset_peak();
    let t = Instant::now();
    let doms = Dominators::compute(&succs, (n - 1) as u32);
    report("dominators", t);
    let dom_peak = status_kib("VmHWM").saturating_sub(before);
    println!(
        "  reachable {} of {n}; working memory {:.1} bytes/node (peak over graph, sizes and keys)",
        doms.preorder().len(),
        dom_peak as f64 * 1024.0 / n as f64
    );

    let t = Instant::now();
    let retained = doms.retained(&sizes);
    report("retained", t);
    let top = (0..g.objects as u32)
        .max_by_key(|&v| retained.bytes.get(v as usize))
        .unwrap_or(0);
    println!(
        "  total {} bytes; largest object retainer {top}: {} bytes, {} objects",
        retained.bytes.get(n as usize - 1),
        retained.bytes.get(top as usize),
        retained.objects[top as usize]
    );

    let t = Instant::now();
    let tree = doms.tree();
    report("dominator tree", t);

    let t = Instant::now();
    let by_key = tree.retained_by_key(&retained, &keys, 1000);
    report("retained by key", t);
    println!("  key 0 retains {} bytes", by_key[0].bytes);

    let t = Instant::now();
    let roots = g.objects as u32..(n - 1) as u32;
    let paths = shortest_paths_to(&preds, top, |v| roots.contains(&v), 10, None);
    report("10 root paths to the top retainer", t);
    println!(
        "  {} paths, lengths {:?}",
        paths.len(),
        paths.iter().map(|p| p.nodes.len() - 1).collect::<Vec<_>>()
    );

    let t = Instant::now();
    let depths = bfs_depths(&succs, (n - 1) as u32);
    report("bfs depths", t);
    let max_depth = depths.iter().filter(|&&d| d != NONE).max().copied();
    println!("  max depth {max_depth:?}");
    println!(
        "graph {:.1} bytes/node (succs + preds)",
        (succs.offsets().heap_bytes()
            + preds.offsets().heap_bytes()
            + (succs.targets().len() + preds.targets().len()) * 4) as f64
            / n as f64
    );
}

/// The synthetic heap's shape; every choice is a hash of the node id, so
/// chunks are generated independently and reproducibly.
struct Synthetic {
    n: u64,
    objects: u64,
    roots: u64,
}

impl Synthetic {
    fn new(n: u64) -> Synthetic {
        let roots = (n / 1000).max(1);
        Synthetic {
            n,
            objects: n - roots - 1,
            roots,
        }
    }

    /// Successors of nodes `first..end`.
    fn chunk(&self, first: u64, end: u64) -> Chunk {
        let mut counts = Vec::with_capacity((end - first) as usize);
        let mut targets = Vec::with_capacity((end - first) as usize * 2);
        for v in first..end {
            let before = targets.len();
            self.successors(v, &mut targets);
            counts.push((targets.len() - before) as u32);
        }
        Chunk {
            first_node: first as u32,
            counts,
            targets,
        }
    }

    fn successors(&self, v: u64, out: &mut Vec<u32>) {
        let mut rng = XorShift::seeded(v);
        if v == self.n - 1 {
            // The super-root points at every root.
            out.extend((self.objects..self.n - 1).map(|r| r as u32));
            return;
        }
        if v >= self.objects {
            // A root: the heads of its share of regions (a few regions have
            // no root: garbage, or reached only by cross edges), plus
            // random objects.
            let r = v - self.objects;
            let regions = self.objects.div_ceil(REGION);
            for region in (r..regions).step_by(self.roots as usize) {
                if region % 20 != 7 {
                    out.push((region * REGION) as u32);
                }
            }
            for _ in 0..8 {
                out.push(rng.below(self.objects) as u32);
            }
            return;
        }
        let region = v / REGION;
        let base = region * REGION;
        let region_end = (base + REGION).min(self.objects);
        let local = v - base;
        if XorShift::seeded(region ^ 0xabcd).next().is_multiple_of(8) {
            // A linked list: each node points to the next.
            if v + 1 < region_end {
                out.push(v as u32 + 1);
            }
        } else {
            // A binary tree laid out like a heap.
            for child in [base + 2 * local + 1, base + 2 * local + 2] {
                if child < region_end {
                    out.push(child as u32);
                }
            }
        }
        // Cross edges: shared nearby objects and global references.
        let roll = rng.next() % 100;
        if roll < 40 {
            let lo = v.saturating_sub(4096);
            let hi = (v + 4096).min(self.objects);
            out.push((lo + rng.below(hi - lo)) as u32);
        }
        if roll.is_multiple_of(10) {
            out.push(rng.below(self.objects) as u32);
        }
    }

    /// Object sizes 16..=128 bytes; roots and the super-root are size 0.
    fn size(&self, v: u64) -> u64 {
        if v < self.objects {
            16 * (1 + XorShift::seeded(v ^ 0x5151).next() % 8)
        } else {
            0
        }
    }
}

/// xorshift64 seeded through a splitmix64 step so neighbouring ids differ.
struct XorShift(u64);

impl XorShift {
    fn seeded(seed: u64) -> XorShift {
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        XorShift((z ^ (z >> 31)) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn report(phase: &str, start: Instant) {
    println!(
        "{phase:<36} {:>8.3} s   rss {:>7} MiB   peak {:>7} MiB",
        start.elapsed().as_secs_f64(),
        status_kib("VmRSS") / 1024,
        status_kib("VmHWM") / 1024
    );
}

/// A `kB` field of /proc/self/status (0 where unavailable).
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Resets VmHWM to the current RSS (Linux; ignored elsewhere).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}
