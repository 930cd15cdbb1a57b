//! Reachability: [`NodeSet`], an atomic bitset of nodes, and [`reachable`],
//! the nodes a set of roots reaches, by a parallel breadth-first search.

use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;

use crate::csr::Csr;

/// A set of node ids `0..len`, one bit per node; `insert` is atomic, so
/// parallel searches share one set.
#[derive(Debug, Default)]
pub struct NodeSet {
    words: Vec<AtomicU64>,
    len: usize,
}

impl NodeSet {
    /// The empty set of nodes `0..len`.
    pub fn new(len: usize) -> NodeSet {
        NodeSet {
            words: (0..len.div_ceil(64)).map(|_| AtomicU64::new(0)).collect(),
            len,
        }
    }

    /// Number of node ids the set can hold.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds `v`; true if it was not in the set.
    ///
    /// # Panics
    /// If `v >= len()`.
    pub fn insert(&self, v: u32) -> bool {
        let i = v as usize;
        assert!(i < self.len, "node {v} out of range ({} nodes)", self.len);
        let bit = 1u64 << (i % 64);
        let word = &self.words[i / 64];
        // A plain load first: most inserts of a search find the node
        // already there, and a locked read-modify-write for each would
        // keep the processor from overlapping their cache misses.
        word.load(Ordering::Relaxed) & bit == 0 && word.fetch_or(bit, Ordering::Relaxed) & bit == 0
    }

    /// Whether `v` is in the set; false for ids out of range.
    pub fn contains(&self, v: u32) -> bool {
        let i = v as usize;
        i < self.len && self.words[i / 64].load(Ordering::Relaxed) >> (i % 64) & 1 == 1
    }

    /// Number of nodes in the set.
    pub fn count(&self) -> u64 {
        self.words
            .iter()
            .map(|w| u64::from(w.load(Ordering::Relaxed).count_ones()))
            .sum()
    }

    /// Keeps only the ids below `len`.
    pub fn truncate(&mut self, len: usize) {
        if len >= self.len {
            return;
        }
        self.words.truncate(len.div_ceil(64));
        if let Some(last) = self.words.last_mut() {
            let used = len % 64;
            if used > 0 {
                *last.get_mut() &= (1u64 << used) - 1;
            }
        }
        self.len = len;
    }
}

/// A level of fewer nodes than this is searched on one thread: a long chain
/// is one node wide, and a parallel round per node would cost more than
/// the search.
const PARALLEL_LEVEL: usize = 1024;

/// How many nodes of a level ahead [`reachable`] asks for a row.
const LEVEL_AHEAD: usize = 16;

/// The nodes reachable from `roots` (roots included), by a level-synchronous
/// breadth-first search whose wide levels run on the rayon pool. O(n + e);
/// the set is `n / 8` bytes, plus two levels of node ids.
///
/// # Panics
/// If a root is not a node of `g`.
pub fn reachable(g: &Csr, roots: impl IntoIterator<Item = u32>) -> NodeSet {
    let seen = NodeSet::new(g.node_count());
    let mut level: Vec<u32> = roots.into_iter().filter(|&r| seen.insert(r)).collect();
    let (offsets, targets) = (g.offsets(), g.targets());
    // A level's nodes are at random places: each node's offset is asked
    // for 2 × LEVEL_AHEAD nodes ahead, and its row LEVEL_AHEAD ahead.
    let visit_all = |nodes: &[u32], next: &mut Vec<u32>| {
        for (i, &v) in nodes.iter().enumerate() {
            if let Some(&a) = nodes.get(i + 2 * LEVEL_AHEAD) {
                offsets.prefetch(a as usize);
            }
            if let Some(&a) = nodes.get(i + LEVEL_AHEAD) {
                crate::prefetch(targets, crate::csr::to_usize(offsets.get(a as usize)));
            }
            for &u in g.successors(v) {
                if seen.insert(u) {
                    next.push(u);
                }
            }
        }
    };
    while !level.is_empty() {
        level = if level.len() < PARALLEL_LEVEL {
            let mut next = Vec::new();
            visit_all(&level, &mut next);
            next
        } else {
            level
                .par_chunks(PARALLEL_LEVEL)
                .fold(Vec::new, |mut next, nodes| {
                    visit_all(nodes, &mut next);
                    next
                })
                .reduce(Vec::new, |mut a, mut b| {
                    if a.len() < b.len() {
                        std::mem::swap(&mut a, &mut b);
                    }
                    a.extend(b);
                    a
                })
        };
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reaches_what_bfs_depths_reaches() {
        // A chain longer than a parallel level, a wide fan-out, a cycle and
        // an unreachable island.
        let n = 5000u32;
        let mut edges: Vec<(u32, u32)> = (0..1999).map(|v| (v, v + 1)).collect();
        edges.extend((2000..4000).map(|v| (1999, v)));
        edges.push((3999, 0));
        edges.extend([(4500, 4501), (4501, 4500), (4500, 10)]);
        let g = Csr::from_edges(n as usize, &edges).unwrap();
        let set = reachable(&g, [0]);
        let depths = crate::bfs_depths(&g, 0);
        for v in 0..n {
            assert_eq!(
                set.contains(v),
                depths[v as usize] != crate::NONE,
                "node {v}"
            );
        }
        assert_eq!(set.count(), 4000);
        assert!(!set.contains(n), "out of range");
    }

    #[test]
    fn truncate_drops_high_ids() {
        let mut set = NodeSet::new(130);
        for v in [0, 63, 64, 100, 129] {
            assert!(set.insert(v));
        }
        assert!(!set.insert(100));
        set.truncate(100);
        assert_eq!(set.len(), 100);
        assert_eq!(set.count(), 3);
        assert!(set.contains(64) && !set.contains(100));
    }
}
