//! gograph: the graph engine behind heap analysis, with no knowledge of ELF
//! or Go.
//!
//! Nodes are dense `u32` ids `0..n` (the caller decides what they mean; gorefs
//! numbers heap objects first, then roots, then one super-root). Graphs may
//! have 10^8–10^9 nodes, so every structure here is a handful of flat arrays
//! (no per-node allocation), edge offsets are 64-bit values kept in 4 bytes
//! ([`Ascending`]: edge counts may exceed 2^32), and no algorithm recurses
//! (a linked list is a chain of millions).
//!
//! Modules:
//! - [`ascending`]: [`Ascending`], a non-decreasing `u64` sequence in 4
//!   bytes per value (row offsets; gocore's object addresses).
//! - [`compact`]: [`CompactU64s`], `u64` values in 4 bytes each where they
//!   fit (retained sizes; gocore's object sizes).
//! - [`csr`]: [`Csr`], the compressed-sparse-row graph, its parallel
//!   construction from chunks and its transpose.
//! - [`dominators`]: [`Dominators`] (iterative Semi-NCA) and [`Retained`]
//!   sizes.
//! - [`domtree`]: [`DomTree`], the dominator tree in preorder (subtrees as
//!   runs of positions), and retained-by-key totals.
//! - [`reach`]: [`NodeSet`] and [`reachable`], the parallel search for the
//!   nodes roots reach (liveness).
//! - [`paths`]: breadth-first searches: [`shortest_paths_to`] (paths from the
//!   nearest sources to a target), [`bfs_depths`] and [`bfs_parents`] (the
//!   shortest-path tree from a root).
//!
//! Typical use: build the successor [`Csr`], run
//! [`Dominators::compute`], then [`Dominators::retained`] and
//! [`Dominators::tree`] + [`DomTree::retained_by_key`]:
//!
//! ```
//! use gograph::{Csr, Dominators, NONE};
//!
//! // Super-root 3 -> root 2 -> objects 0 and 1; 0 -> 1.
//! let succs = Csr::from_edges(4, &[(3, 2), (2, 0), (2, 1), (0, 1)])?;
//! let doms = Dominators::compute(&succs, 3);
//! assert_eq!(doms.immediate_dominator(1), Some(2));
//! let retained = doms.retained(&[16, 32, 0, 0]);
//! assert_eq!(retained.bytes.get(2), 48);
//! assert_eq!(retained.objects[3], 2); // zero-sized roots are not objects
//! let by_key = doms.tree().retained_by_key(&retained, &[0, 0, NONE, NONE], 1);
//! assert_eq!(by_key[0].bytes, 48);
//! # Ok::<(), gograph::CsrError>(())
//! ```

pub mod ascending;
pub mod compact;
pub mod csr;
pub mod dominators;
pub mod domtree;
pub mod paths;
pub mod reach;

pub use ascending::{Ascending, NotAscending};
pub use compact::CompactU64s;
pub use csr::{Adjacency, Chunk, Csr, CsrBuilder, CsrError, SparseRows};
pub use dominators::{Dominators, DominatorsOf, Retained};
pub use domtree::{Children, DomTree, KeyGroups, KeyTotals, NodeKey};
pub use paths::{bfs_depths, bfs_parents, bfs_tree, shortest_paths_to, Path};
pub use reach::{reachable, NodeSet};

/// `n` copies of `value`, written on the rayon pool. For an array that a
/// sequential pass then fills at random: the page faults of its fresh
/// memory (the kernel zeroing each page, costly on virtual machines) are
/// taken on every thread up front, not one by one on the sequential path.
pub fn filled_vec<T: Copy + Send + Sync>(n: usize, value: T) -> Vec<T> {
    use rayon::prelude::*;
    (0..n)
        .into_par_iter()
        .with_min_len(1 << 14)
        .map(|_| value)
        .collect()
}

/// [`filled_vec`] emptied: a vector with room for `n` elements whose pages
/// are already faulted in.
pub fn prefaulted_vec<T: Copy + Send + Sync + Default>(n: usize) -> Vec<T> {
    let mut v = filled_vec(n, T::default());
    v.clear();
    v
}

/// Whether bit `v` is set in `words` (one bit per node, 64 to a word).
#[inline(always)]
pub fn has_bit(words: &[u64], v: u32) -> bool {
    words[v as usize / 64] >> (v % 64) & 1 == 1
}

/// Sets bit `v` in `words` (one bit per node, 64 to a word).
#[inline(always)]
pub fn set_bit(words: &mut [u64], v: u32) {
    words[v as usize / 64] |= 1 << (v % 64);
}

/// Asks the processor to fetch `v[i]` into its caches, if `i` is in range:
/// for loops that know the addresses they will read a little before they
/// read them.
#[inline(always)]
pub fn prefetch<T>(v: &[T], i: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(x) = v.get(i) {
        // SAFETY: a prefetch reads nothing and cannot fault.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                (x as *const T).cast::<i8>(),
            )
        }
    }
}

/// Sentinel for "no node" (unreachable, no dominator, no key). It is never a
/// valid node id: graphs hold at most [`MAX_NODES`] nodes.
pub const NONE: u32 = u32::MAX;

/// The largest node count a graph may have, so that every id (and every
/// number below the node count) is below both [`NONE`] and the one value
/// under it, which the dominators' search uses as a marker.
pub const MAX_NODES: usize = u32::MAX as usize - 1;
