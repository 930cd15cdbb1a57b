//! Liveness: which allocated objects the garbage collector would keep.
//!
//! Marking follows the GC's own view of pointers (span heap bits, malloc
//! headers, `largeType`, the 1.21 arena bitmap), not inferred types, so the
//! live set is exact even where typing is not. It runs level by level over a
//! frontier with rayon; mark bits are atomic, so each object is scanned once.
//! As every pointer of every live object passes through marking, it can also
//! record the reference graph's object edges ([`Edges`]), which saves the
//! graph a second walk over the heap.

use std::sync::atomic::{AtomicU64, Ordering};

use gograph::Chunk;
use gotypes::rtype::TypeReader;
use gotypes::{Addr, Memory};
use rayon::prelude::*;

use crate::heap::{Heap, ObjId};
use crate::progress::Progress;

/// One bit per object.
pub struct MarkBits {
    words: Vec<AtomicU64>,
}

impl MarkBits {
    pub fn new(n: usize) -> MarkBits {
        MarkBits {
            words: (0..n.div_ceil(64)).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Set the bit; true if it was clear.
    pub fn set(&self, id: ObjId) -> bool {
        let i = id.index();
        let bit = 1u64 << (i % 64);
        self.words[i / 64].fetch_or(bit, Ordering::Relaxed) & bit == 0
    }

    pub fn get(&self, id: ObjId) -> bool {
        let i = id.index();
        self.words[i / 64].load(Ordering::Relaxed) >> (i % 64) & 1 == 1
    }

    pub fn count(&self) -> u64 {
        self.words
            .iter()
            .map(|w| u64::from(w.load(Ordering::Relaxed).count_ones()))
            .sum()
    }
}

/// The reference graph's edges between objects, recorded while marking: one
/// [`Chunk`] of every object's row, in object order (dead objects have
/// none).
pub type Edges = Chunk;

/// The edges marking found from the objects of one work unit, in the order
/// it scanned them.
#[derive(Default)]
struct Scanned {
    /// The next frontier: objects this unit marked.
    next: Vec<ObjId>,
    ids: Vec<u32>,
    counts: Vec<u32>,
    targets: Vec<u32>,
}

/// Mark everything reachable from `roots` (pointer values; non-heap values
/// are ignored). With `record_edges`, also return each live object's
/// references to other objects, as [`crate::graph::HeapGraph`] keeps them:
/// self references and repeats of the previous target left out.
pub fn mark(
    heap: &Heap,
    mem: &dyn Memory,
    types: &TypeReader<'_>,
    roots: impl IntoIterator<Item = Addr>,
    progress: &dyn Progress,
    record_edges: bool,
) -> (MarkBits, Option<Edges>) {
    let marks = MarkBits::new(heap.object_count());
    let mut frontier: Vec<ObjId> = roots
        .into_iter()
        .filter_map(|a| heap.find_object(a))
        .filter(|&id| marks.set(id))
        .collect();
    let mut scanned: Vec<Scanned> = Vec::new();
    while !frontier.is_empty() {
        progress.advance(frontier.len() as u64);
        let units: Vec<Scanned> = frontier
            .par_iter()
            .fold(Scanned::default, |mut u, &id| {
                let before = u.targets.len();
                heap.for_each_pointer(mem, types, id, |_, target| {
                    if let Some(t) = heap.find_object(target) {
                        if marks.set(t) {
                            u.next.push(t);
                        }
                        // Skip self references and runs of pointers into
                        // one object (a slice's data word repeated, a
                        // struct pointing twice).
                        if record_edges && t != id && u.targets[before..].last() != Some(&t.0) {
                            u.targets.push(t.0);
                        }
                    }
                });
                if record_edges {
                    u.ids.push(id.0);
                    u.counts.push((u.targets.len() - before) as u32);
                }
                u
            })
            .collect();
        frontier = Vec::with_capacity(units.iter().map(|u| u.next.len()).sum());
        for mut u in units {
            frontier.append(&mut u.next);
            if record_edges && !u.ids.is_empty() {
                u.next = Vec::new();
                scanned.push(u);
            }
        }
    }
    let edges = record_edges.then(|| in_object_order(heap.object_count(), scanned));
    (marks, edges)
}

/// Rows of the scanned objects, moved into object order.
fn in_object_order(n: usize, scanned: Vec<Scanned>) -> Edges {
    let mut counts = vec![0u32; n];
    let mut total = 0u64;
    for u in &scanned {
        for (&id, &c) in u.ids.iter().zip(&u.counts) {
            counts[id as usize] = c;
            total += u64::from(c);
        }
    }
    let total = usize::try_from(total).unwrap_or(usize::MAX);
    let mut targets = vec![0u32; total];
    if u32::try_from(total).is_ok() {
        // Turn the counts into row starts in place (saving a start array
        // of 8 bytes per object), scatter, then turn them back.
        let mut sum = 0u32;
        for c in counts.iter_mut() {
            let start = sum;
            sum += *c;
            *c = start;
        }
        for u in scanned {
            scatter(&u, &mut targets, |id| counts[id as usize] as usize);
        }
        for i in 0..n {
            let end = counts.get(i + 1).map_or(total as u32, |&s| s);
            counts[i] = end - counts[i];
        }
    } else {
        let mut starts = Vec::with_capacity(n);
        let mut sum = 0usize;
        for &c in &counts {
            starts.push(sum);
            sum += c as usize;
        }
        for u in scanned {
            scatter(&u, &mut targets, |id| starts[id as usize]);
        }
    }
    Edges {
        first_node: 0,
        counts,
        targets,
    }
}

/// Copy each row of `u` to where `start` says it begins in `targets`.
fn scatter(u: &Scanned, targets: &mut [u32], start: impl Fn(u32) -> usize) {
    let mut at = 0usize;
    for (&id, &c) in u.ids.iter().zip(&u.counts) {
        let (c, s) = (c as usize, start(id));
        targets[s..s + c].copy_from_slice(&u.targets[at..at + c]);
        at += c;
    }
}
