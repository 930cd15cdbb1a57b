//! Dominators: [`Dominators`] computes the immediate dominator of every node
//! reachable from a root (iterative Semi-NCA) and derives [`Retained`] sizes
//! from it.

use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

use rayon::prelude::*;

use crate::compact::CompactU64s;
use crate::csr::{split_by_bounds, to_usize, Csr};
use crate::domtree::DomTree;
use crate::{has_bit, prefaulted_vec, set_bit, NONE};

/// The dominator relation of a graph from one root.
///
/// Node `d` dominates `v` when every path from the root to `v` passes through
/// `d`; the immediate dominator is the closest strict dominator. The result
/// keeps two arrays (8 bytes per node): `idom`, indexed by node, and a
/// `preorder` of the reachable nodes in which every node comes after its
/// immediate dominator (so reverse preorder is a valid bottom-up order for
/// dominator-tree sums): the DFS preorder, then the set-aside nodes (see
/// [`Dominators::compute`]).
#[derive(Clone, Debug)]
pub struct Dominators {
    root: u32,
    idom: Vec<u32>,
    preorder: Vec<u32>,
}

impl Dominators {
    /// Computes dominators of the nodes reachable from `root`.
    ///
    /// The algorithm is Semi-NCA (Georgiadis; the variant LLVM uses) with an
    /// explicit DFS stack and iterative path compression, so chains of
    /// millions of nodes are fine. It needs no predecessor graph: the search
    /// records the edges that are not in its tree, by preorder number, and
    /// these, grouped by target, are the only predecessors the
    /// semidominator pass reads (a node's DFS parent is where its search
    /// starts).
    ///
    /// Leaves with a single predecessor (in a heap, a third or more of the
    /// objects: strings' bytes, byte slices' arrays, small structs without
    /// pointers) are set aside first: a leaf is on no path to another node,
    /// and its one predecessor is its immediate dominator, so the search and
    /// the semidominator pass skip them. So are the nodes with a single
    /// predecessor whose successors are all such leaves (a string's header
    /// object, a map's group of strings: 14% of the nodes of the 4M benchmark
    /// core), for the same reasons. It runs in O(e log n) for the
    /// semidominator pass plus an NCA pass that is linear on real-world
    /// graphs (quadratic only on contrived ones). The search, the
    /// semidominator pass and the NCA pass are sequential and bound by
    /// memory latency; the first two prefetch what they will read next.
    /// Counting predecessors, grouping the non-tree edges, the translation
    /// back to node ids and the placing of the set-aside nodes run on the
    /// rayon pool.
    ///
    /// Working memory is about 24 bytes per searched node (the DFS arrays,
    /// the forest, the grouped edges' offsets), 4 bytes and a bit per node,
    /// and 8 per non-tree edge while the search runs (then 4), plus the
    /// search's stack of edges not tried yet (8 bytes each: at most one per
    /// edge, in a heap the siblings along the current path) and the
    /// compression stack (up to 4 bytes per node on a single chain). The
    /// result keeps 8 bytes per node.
    ///
    /// # Panics
    /// If `root >= succs.node_count()`.
    pub fn compute(succs: &Csr, root: u32) -> Dominators {
        let n = succs.node_count();
        assert!((root as usize) < n, "root {root} out of range ({n} nodes)");

        // 0. Leaves with one predecessor, set aside (one bit per node).
        let (single, no_predecessor) = single_predecessor(succs);
        let mut aside: Vec<u64> = (0..n.div_ceil(64))
            .into_par_iter()
            .map(|w| {
                let mut bits = 0u64;
                for v in w * 64..(w * 64 + 64).min(n) {
                    let v32 = v as u32;
                    if v32 != root && succs.degree(v32) == 0 && has_bit(&single, v32) {
                        bits |= 1 << (v % 64);
                    }
                }
                bits
            })
            .collect();
        // 0b. Then the nodes with one predecessor whose successors are all
        // such leaves.
        let parents = leaf_parents(succs, &single, root, &mut aside);
        drop(single);
        // At most this many nodes are searched (the root is never aside).
        let searched = n - aside.iter().map(|w| w.count_ones() as usize).sum::<usize>();

        // 1. DFS from the root. `vertex` lists the nodes by preorder
        // number, `parent` their DFS-tree parents' numbers; `pre`, the
        // reverse of `vertex`, is filled in after the search.
        // The arrays the sequential passes write are faulted in first, in
        // parallel (see `filled_vec`).
        let mut pre: Vec<u32> = crate::filled_vec(n, NONE);
        let mut visited: Vec<u64> = crate::filled_vec(n.div_ceil(64), 0);
        let mut vertex: Vec<u32> = prefaulted_vec(searched);
        let mut parent: Vec<u32> = prefaulted_vec(searched);
        // The edges that are not in the DFS tree, as (target, source):
        // the source's number, and the target's node id until the search
        // is done, then its number.
        // Faulted in beforehand (the search is sequential), with room for
        // what a heap's graph has: every edge but those into set-aside
        // nodes (one each) and the tree's, if only nodes without a
        // predecessor are unreachable. Elsewhere the vector grows.
        let tree_edges = (searched - no_predecessor.min(searched - 1)).saturating_sub(1);
        let mut non_tree: Vec<(u32, u32)> =
            prefaulted_vec(to_usize(succs.edge_count()).saturating_sub(n - searched + tree_edges));
        {
            let offsets = succs.offsets();
            let targets = succs.targets();
            // The search keeps a stack of the edges still to try, as
            // (source's preorder number, target), and pushes every edge of
            // a node when it visits it (but those to visited targets, which
            // are non-tree edges at once). Popping an edge whose target is new
            // visits the target from the source, which is then the deepest
            // node of the search path with edges left (every edge pushed
            // after the source's were popped first), so this is a
            // depth-first search (children tried last to first). Unlike a
            // search that resumes a cursor into the row of the node on top,
            // it knows the next edges it will pop, and fetches their
            // targets' rows ahead, rather than taking one dependent miss
            // after another. Whether a target was visited is a bit (the
            // bitmap mostly stays in cache); the numbers of visited
            // targets, which non-tree edges need, are looked up after the
            // search. The root comes in by an edge from number 0, its own
            // (its parent is itself).
            let mut stack: Vec<(u32, u32)> = vec![(0, root)];
            while let Some((from, t)) = stack.pop() {
                // The row of an edge a few pops ahead: its target's offset
                // was asked for when it was pushed.
                if let Some(&(_, u)) = stack
                    .len()
                    .checked_sub(DFS_AHEAD)
                    .and_then(|i| stack.get(i))
                {
                    let lo = offsets.get(u as usize);
                    crate::prefetch(targets, to_usize(lo));
                }
                if !has_bit(&visited, t) {
                    set_bit(&mut visited, t);
                    let num = vertex.len() as u32;
                    vertex.push(t);
                    parent.push(from);
                    // Edges into set-aside nodes are skipped (their bitmap
                    // is small enough to stay in cache).
                    for &u in succs.successors(t) {
                        if has_bit(&aside, u) {
                            continue;
                        }
                        // A target visited already is a non-tree edge
                        // whenever it is popped: kept now, it takes no
                        // place on the stack and no fetch ahead.
                        if has_bit(&visited, u) {
                            non_tree.push((u, num));
                            continue;
                        }
                        offsets.prefetch(u as usize);
                        stack.push((num, u));
                    }
                } else {
                    // Not a tree edge: kept for the semidominator pass,
                    // by target node until the search is done.
                    non_tree.push((t, from));
                }
            }
        }
        let r = vertex.len();
        // Each node's number, in parallel: the search would write it at
        // random, one more miss per node on the sequential path.
        {
            let pre = as_atomic(&mut pre);
            (vertex.par_iter().enumerate().with_min_len(1 << 14))
                .for_each(|(i, &v)| pre[v as usize].store(i as u32, Relaxed));
        }
        // The non-tree edges' targets by number, in parallel: the search
        // reads only its bitmap of visited nodes, which stays in cache,
        // rather than the number of each target at random. A loop (target
        // and source the same) or an edge into the root offers the
        // semidominator pass nothing and is harmless there.
        non_tree
            .par_iter_mut()
            .with_min_len(1 << 14)
            .for_each(|e| e.0 = pre[e.0 as usize]);

        // 2. Semidominators, in reverse preorder. From here on arrays are
        // indexed by preorder number. Predecessors by number first (the
        // non-tree edges: the DFS parent is where each node's search
        // starts), so that the forest below takes the pages the edge list
        // gives back. The link-eval forest (nodes numbered > i are linked)
        // starts as the DFS tree; path compression rewrites its links, so
        // the DFS parents stay in `idom`, which is also their starting value
        // for the NCA pass. Each node's forest link, label and
        // semidominator sit together, since eval touches them together at
        // random.
        let preds = Csr::from_pairs(r, &non_tree);
        drop(non_tree);
        let mut idom = parent;
        let mut info: Vec<Info> = idom
            .par_iter()
            .enumerate()
            .map(|(i, &p)| Info {
                ancestor: p,
                label: i as u32,
                semi: i as u32,
            })
            .collect();
        let mut stack: Vec<u32> = Vec::new();
        for i in (1..r).rev() {
            if let Some(ahead) = i.checked_sub(SEMI_AHEAD) {
                for &j in preds.successors(ahead as u32) {
                    crate::prefetch(&info, j as usize);
                }
            }
            let last_linked = i as u32 + 1;
            let mut s = idom[i]; // the DFS parent is a predecessor
            for &j in preds.successors(i as u32) {
                // An unprocessed predecessor (j <= i: not linked, label
                // and semi still its own number) offers itself, no lookup
                // needed.
                let candidate = if j < last_linked {
                    j
                } else {
                    let u = eval(j, last_linked, &mut info, &mut stack);
                    info[u as usize].semi
                };
                s = s.min(candidate);
            }
            info[i].semi = s;
        }
        drop(stack);
        drop(preds);

        // 3. idom(w) = NCA(parent(w), sdom(w)) in the DFS tree: climb from
        // the parent through already-final idoms until at or above sdom.
        for i in 1..r {
            let s = info[i].semi;
            let mut c = idom[i];
            while c > s {
                c = idom[c as usize];
            }
            idom[i] = c;
        }
        drop(info);

        // 4. Back to node ids, reusing `pre` as the node-indexed idom array
        // (each entry is read once, then overwritten; set-aside nodes have
        // none yet). idom[root] = root.
        pre.par_iter_mut().with_min_len(1 << 14).for_each(|p| {
            if *p != NONE {
                *p = vertex[idom[*p as usize] as usize];
            }
        });
        // 5. A set-aside node is dominated by its one predecessor, when
        // that is reached: every searched node that was reached writes the
        // idoms of its set-aside successors (parents and leaves), then every
        // reached parent those of its leaves. A parent's predecessor is
        // neither a leaf nor another parent (a parent points only at
        // leaves), so each pass reads only idoms the steps before it wrote;
        // each set-aside node has one writer.
        {
            let idom = as_atomic(&mut pre);
            let reached = |v: u32| idom[v as usize].load(Relaxed) != NONE;
            let adopt_set_aside = |u: u32| {
                for &t in succs.successors(u) {
                    if has_bit(&aside, t) {
                        idom[t as usize].store(u, Relaxed);
                    }
                }
            };
            (0..n as u32)
                .into_par_iter()
                .with_min_len(1 << 12)
                .filter(|&u| !has_bit(&aside, u) && reached(u))
                .for_each(adopt_set_aside);
            parents
                .par_iter()
                .filter(|&&p| reached(p))
                .for_each(|&p| adopt_set_aside(p));
        }
        let reached = |v: usize| pre[v] != NONE;
        vertex.extend(parents.iter().filter(|&&p| reached(p as usize)));
        for &v in &parents {
            aside[v as usize / 64] &= !(1 << (v % 64));
        }
        drop(parents);
        // The leaves, by groups of words: how many each group has reached,
        // then their places in the preorder from the counts.
        let leaves_reached: Vec<usize> = aside
            .par_chunks(LEAF_GROUP_WORDS)
            .enumerate()
            .map(|(g, words)| {
                let mut count = 0;
                for_each_set_node(words, g * LEAF_GROUP_WORDS * 64, |v| {
                    count += usize::from(reached(v));
                });
                count
            })
            .collect();
        let start = vertex.len();
        vertex.resize(start + leaves_reached.iter().sum::<usize>(), 0);
        let mut rest = &mut vertex[start..];
        let mut places = Vec::with_capacity(leaves_reached.len());
        for &count in &leaves_reached {
            let (place, tail) = rest.split_at_mut(count);
            places.push(place);
            rest = tail;
        }
        places
            .into_par_iter()
            .zip(aside.par_chunks(LEAF_GROUP_WORDS))
            .enumerate()
            .for_each(|(g, (place, words))| {
                let mut at = 0;
                for_each_set_node(words, g * LEAF_GROUP_WORDS * 64, |v| {
                    if reached(v) {
                        place[at] = v as u32;
                        at += 1;
                    }
                });
            });
        vertex.shrink_to_fit();
        Dominators {
            root,
            idom: pre,
            preorder: vertex,
        }
    }

    /// The root the dominators were computed from.
    pub fn root(&self) -> u32 {
        self.root
    }

    /// Number of nodes in the graph (reachable or not).
    pub fn node_count(&self) -> usize {
        self.idom.len()
    }

    /// Immediate dominators by node: [`NONE`] for nodes the root does not
    /// reach, and the root itself for the root.
    pub fn idom(&self) -> &[u32] {
        &self.idom
    }

    /// The reachable nodes in DFS preorder, root first. Each node comes after
    /// its immediate dominator, so iterating in reverse visits children
    /// before their dominators.
    pub fn preorder(&self) -> &[u32] {
        &self.preorder
    }

    /// Gives back `(idom, preorder)`.
    pub fn into_parts(self) -> (Vec<u32>, Vec<u32>) {
        (self.idom, self.preorder)
    }

    /// The immediate dominator of `v`; `None` for the root and for nodes the
    /// root does not reach.
    ///
    /// # Panics
    /// If `v >= node_count()`.
    pub fn immediate_dominator(&self, v: u32) -> Option<u32> {
        let d = self.idom[v as usize];
        (d != NONE && v != self.root).then_some(d)
    }

    /// Whether the root reaches `v`.
    ///
    /// # Panics
    /// If `v >= node_count()`.
    pub fn is_reachable(&self, v: u32) -> bool {
        self.idom[v as usize] != NONE
    }

    /// The strict dominators of `v`, from its immediate dominator up to and
    /// including the root; empty for the root and for unreachable nodes.
    ///
    /// # Panics
    /// If `v >= node_count()`.
    pub fn dominators_of(&self, v: u32) -> DominatorsOf<'_> {
        DominatorsOf {
            dominators: self,
            next: self.immediate_dominator(v),
        }
    }

    /// Retained sizes: for every reachable node, the sum of `self_size` over
    /// the nodes it dominates, itself included (what freeing it would free).
    ///
    /// `objects` counts the dominated nodes whose `self_size` is non-zero, so
    /// zero-sized bookkeeping nodes (roots, the super-root) are not counted as
    /// objects. Unreachable nodes retain nothing (0, 0). Sequential, one pass
    /// over the reverse preorder; 8 bytes per node of output (see
    /// [`CompactU64s`] for retained sizes of 4 GiB or more).
    ///
    /// # Panics
    /// If `self_size.len() < node_count()`.
    pub fn retained(&self, self_size: &[u64]) -> Retained {
        let n = self.node_count();
        assert!(self_size.len() >= n, "self_size has fewer than {n} entries");
        self.retained_with(|v| self_size[v as usize])
    }

    /// [`Dominators::retained`] with each node's own size from `self_size`
    /// (called once per reachable node, from the rayon pool), so that the
    /// caller needs no array of sizes.
    pub fn retained_with(&self, self_size: impl Fn(u32) -> u64 + Sync) -> Retained {
        retained_in_order(&self.idom, &self.preorder, self_size)
    }

    /// The dominator tree in preorder, for top-down passes.
    pub fn tree(&self) -> DomTree {
        // A search's preorder lists each node after its immediate dominator.
        DomTree::build(&self.idom, &self.preorder)
    }
}

/// [`Dominators::retained_with`] over the nodes of `order`, each after its
/// immediate dominator in `idom` (its first node the root; [`NONE`] for
/// nodes outside the tree): the DFS preorder, or a [`DomTree`]'s.
///
/// # Panics
/// If `order` has a node, or `idom` a dominator, out of range.
pub(crate) fn retained_in_order(
    idom: &[u32],
    order: &[u32],
    self_size: impl Fn(u32) -> u64 + Sync,
) -> Retained {
    let n = idom.len();
    // Own sizes in node order, in parallel; then the sums, sequential.
    let own = |v: usize| {
        if idom[v] == NONE {
            0
        } else {
            self_size(v as u32)
        }
    };
    let mut bytes = CompactU64s::from_fn(n, own);
    let mut objects: Vec<u32> = (0..n)
        .into_par_iter()
        .map(|v| u32::from(bytes.get(v) > 0))
        .collect();
    // Skip the root (order[0]), whose idom is itself. The sums hit the
    // nodes and their dominators at random: the dominator of a node a few
    // places ahead is looked up, and then both their sums asked for.
    for i in (1..order.len()).rev() {
        if let Some(a) = i.checked_sub(2 * RETAINED_AHEAD) {
            crate::prefetch(idom, order[a] as usize);
        }
        if let Some(a) = i.checked_sub(RETAINED_AHEAD) {
            let (u, d) = (order[a] as usize, idom[order[a] as usize] as usize);
            bytes.prefetch(d);
            crate::prefetch(&objects, d);
            bytes.prefetch(u);
            crate::prefetch(&objects, u);
        }
        let v = order[i] as usize;
        let d = idom[v] as usize;
        bytes.add(d, bytes.get(v));
        objects[d] += objects[v];
    }
    Retained { bytes, objects }
}

/// The parents of set-aside leaves (`aside`, one bit per node) that can be
/// set aside too: a node other than `root` whose one predecessor is
/// another node and whose successors are all set-aside leaves lies on no
/// path to a node that is not, and its predecessor is its immediate
/// dominator. Found in parallel and added to `aside`; none is the
/// predecessor of another (its successors are leaves).
fn leaf_parents(succs: &Csr, single: &[u64], root: u32, aside: &mut [u64]) -> Vec<u32> {
    let n = succs.node_count() as u32;
    let parents: Vec<u32> = (0..n)
        .into_par_iter()
        .with_min_len(1 << 12)
        .filter(|&v| {
            let out = succs.successors(v);
            v != root
                && !out.is_empty()
                && has_bit(single, v)
                && out.iter().all(|&t| has_bit(aside, t))
        })
        .collect();
    for &v in &parents {
        set_bit(aside, v);
    }
    parents
}

/// Words of the set-aside bitmap (64 nodes each) per parallel task when the
/// leaves are placed.
const LEAF_GROUP_WORDS: usize = 1024;

/// Calls `f` with each node set in `words`, a part of a node bitmap that
/// starts at node `first`, in ascending order.
#[inline]
fn for_each_set_node(words: &[u64], first: usize, mut f: impl FnMut(usize)) {
    for (k, &word) in words.iter().enumerate() {
        let mut bits = word;
        while bits != 0 {
            f(first + k * 64 + bits.trailing_zeros() as usize);
            bits &= bits - 1;
        }
    }
}

/// Per preorder number: the link-eval forest state.
#[derive(Clone, Copy, Debug)]
struct Info {
    /// Forest parent (meaningful once linked; compressed in place).
    ancestor: u32,
    /// Number with the smallest semidominator on the compressed path.
    label: u32,
    /// Semidominator's number (the node's own number until computed).
    semi: u32,
}

/// Link-eval `eval` with path compression, iterative (LLVM's formulation).
///
/// Returns the preorder number with the smallest semidominator on the forest
/// path from `v` up to (excluding) its forest root. A node is linked, i.e.
/// has a forest parent, when its number is `>= last_linked`.
#[inline]
fn eval(v: u32, last_linked: u32, info: &mut [Info], stack: &mut Vec<u32>) -> u32 {
    if info[v as usize].ancestor < last_linked {
        return info[v as usize].label;
    }
    // Collect the path below the forest root's child.
    let mut x = v;
    loop {
        stack.push(x);
        x = info[x as usize].ancestor;
        if info[x as usize].ancestor < last_linked {
            break;
        }
    }
    // Top-down: point each node at the forest root and carry the best label.
    let mut p = x;
    let mut p_label = info[p as usize].label;
    while let Some(y) = stack.pop() {
        let root = info[p as usize].ancestor;
        let y_label = info[y as usize].label;
        if info[p_label as usize].semi < info[y_label as usize].semi {
            info[y as usize].label = p_label;
        } else {
            p_label = y_label;
        }
        info[y as usize].ancestor = root;
        p = y;
    }
    info[p as usize].label
}

/// How many nodes ahead [`Dominators::retained_with`] asks for the sums of
/// a node's dominator (and twice as many, for its dominator's id).
const RETAINED_AHEAD: usize = 8;

/// How many edges ahead of the one it pops the search fetches a target's
/// row.
const DFS_AHEAD: usize = 4;

/// How many nodes ahead the semidominator pass fetches its predecessors'
/// forest state.
const SEMI_AHEAD: usize = 8;

/// The nodes with exactly one predecessor, one bit per node, and how many
/// have none. On the rayon pool: each task reads every edge and counts
/// those into its part of the nodes (two bits per node, in cache where a
/// random counter would not be).
fn single_predecessor(succs: &Csr) -> (Vec<u64>, usize) {
    let words = succs.node_count().div_ceil(64);
    let parts = crate::csr::scan_parts(succs.targets().len());
    let bounds: Vec<usize> = (0..=parts).map(|p| p * words / parts).collect();
    let mut once = vec![0u64; words];
    let mut twice = vec![0u64; words];
    split_by_bounds(&mut once, &bounds)
        .into_par_iter()
        .zip(split_by_bounds(&mut twice, &bounds))
        .zip(&bounds[..parts])
        .for_each(|((once, twice), &lo)| {
            let first = lo * 64;
            for &t in succs.targets() {
                // Wrapping keeps this one comparison per edge.
                let k = (t as usize).wrapping_sub(first);
                if let (Some(o), Some(tw)) = (once.get_mut(k / 64), twice.get_mut(k / 64)) {
                    let bit = 1u64 << (k % 64);
                    *tw |= *o & bit;
                    *o |= bit;
                }
            }
        });
    let some: usize = once.par_iter().map(|w| w.count_ones() as usize).sum();
    once.par_iter_mut().zip(&twice).for_each(|(o, &t)| *o &= !t);
    (once, succs.node_count() - some)
}

/// `v` as atomics, so that parallel passes can write disjoint entries
/// chosen at random.
fn as_atomic(v: &mut [u32]) -> &[AtomicU32] {
    // SAFETY: `AtomicU32` has the same size, alignment and bit validity as
    // `u32`, and the exclusive borrow keeps every other access out while
    // the atomic view lives.
    unsafe { &*(v as *mut [u32] as *const [AtomicU32]) }
}

/// Iterator over a node's strict dominators; see
/// [`Dominators::dominators_of`].
#[derive(Clone, Debug)]
pub struct DominatorsOf<'a> {
    dominators: &'a Dominators,
    next: Option<u32>,
}

impl Iterator for DominatorsOf<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        let d = self.next?;
        self.next = self.dominators.immediate_dominator(d);
        Some(d)
    }
}

/// Retained sizes per node, from [`Dominators::retained`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Retained {
    /// Bytes kept alive by each node: its own size plus everything it
    /// dominates (4 bytes per node while below 4 GiB).
    pub bytes: CompactU64s,
    /// Objects (nodes with a non-zero size) kept alive by each node, itself
    /// included. `u32` suffices since a graph has fewer than 2^32 nodes, and
    /// saves 4 bytes per node.
    pub objects: Vec<u32>,
}
