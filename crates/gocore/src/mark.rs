//! Liveness: which allocated objects the garbage collector would keep.
//!
//! Marking follows the GC's own view of pointers (span heap bits, malloc
//! headers, `largeType`, the 1.21 arena bitmap), not inferred types, so the
//! live set is exact even where typing is not. It runs level by level over a
//! frontier with rayon; mark bits are atomic, so each object is scanned once.

use std::sync::atomic::{AtomicU64, Ordering};

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

/// Mark everything reachable from `roots` (pointer values; non-heap values
/// are ignored).
pub fn mark(
    heap: &Heap,
    mem: &dyn Memory,
    types: &TypeReader<'_>,
    roots: impl IntoIterator<Item = Addr>,
    progress: &dyn Progress,
) -> MarkBits {
    let marks = MarkBits::new(heap.object_count());
    let mut frontier: Vec<ObjId> = roots
        .into_iter()
        .filter_map(|a| heap.find_object(a))
        .filter(|&id| marks.set(id))
        .collect();
    while !frontier.is_empty() {
        progress.advance(frontier.len() as u64);
        frontier = frontier
            .par_iter()
            .fold(Vec::new, |mut next, &id| {
                heap.for_each_pointer(mem, types, id, |_, target| {
                    if let Some(t) = heap.find_object(target) {
                        if marks.set(t) {
                            next.push(t);
                        }
                    }
                });
                next
            })
            .reduce(Vec::new, |mut a, mut b| {
                if a.len() < b.len() {
                    std::mem::swap(&mut a, &mut b);
                }
                a.extend(b);
                a
            });
    }
    marks
}
