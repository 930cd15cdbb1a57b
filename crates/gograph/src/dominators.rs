//! Dominators: [`Dominators`] computes the immediate dominator of every node
//! reachable from a root (iterative Semi-NCA) and derives [`Retained`] sizes
//! from it.

use rayon::prelude::*;

use crate::csr::{to_usize, Csr};
use crate::domtree::DomTree;
use crate::{filled_vec, prefaulted_vec, NONE};

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
    /// `preds` must be the transpose of `succs` (as built by
    /// [`Csr::transpose`]); only the order within rows may differ.
    ///
    /// The algorithm is Semi-NCA (Georgiadis; the variant LLVM uses) with an
    /// explicit DFS stack and iterative path compression, so chains of
    /// millions of nodes are fine. Leaves with a single predecessor (in a
    /// heap, a third or more of the objects: strings' bytes, byte slices'
    /// arrays, small structs without pointers) are set aside first: a leaf
    /// is on no path to another node, and its one predecessor is its
    /// immediate dominator, so the search and the semidominator pass skip
    /// them. So are the nodes with a single predecessor whose successors
    /// are all such leaves (a string's header object, a map's group of
    /// strings: 14% of the nodes of the 4M benchmark core), for the same
    /// reasons. It runs in O(e log n) for the semidominator pass plus an
    /// NCA pass that is linear on real-world graphs (quadratic only on
    /// contrived ones). The search, the semidominator pass and the NCA
    /// pass are sequential and bound by memory latency; the first two
    /// prefetch what they will read next. The gathering of predecessors (block by
    /// block), the translation back to node ids and the placing of the
    /// set-aside nodes run on the rayon pool.
    ///
    /// Working memory is about 24 bytes per node (five `u32` per reachable
    /// node, one per node; before the search, one per leaves' parent) plus
    /// the DFS and compression stacks, whose depth is the longest DFS path
    /// (up to 8 and 4 bytes per node on a single chain). The result keeps 8
    /// of those bytes.
    ///
    /// # Panics
    /// If `root >= succs.node_count()` or the two graphs differ in node
    /// count.
    pub fn compute(succs: &Csr, preds: &Csr, root: u32) -> Dominators {
        let n = succs.node_count();
        assert!((root as usize) < n, "root {root} out of range ({n} nodes)");
        assert_eq!(n, preds.node_count(), "preds is not succs' transpose");

        // 0. Leaves with one predecessor, set aside (one bit per node).
        let mut aside: Vec<u64> = (0..n.div_ceil(64))
            .into_par_iter()
            .map(|w| {
                let mut bits = 0u64;
                for v in w * 64..(w * 64 + 64).min(n) {
                    let v32 = v as u32;
                    if v32 != root && succs.degree(v32) == 0 && preds.degree(v32) == 1 {
                        bits |= 1 << (v % 64);
                    }
                }
                bits
            })
            .collect();
        // 0b. Then the nodes with one predecessor whose successors are all
        // such leaves.
        let parents = leaf_parents(succs, preds, root, &mut aside);
        let is_aside = |v: u32| aside[v as usize / 64] >> (v % 64) & 1 == 1;
        // At most this many nodes are searched (the root is never aside).
        let searched = n - aside.iter().map(|w| w.count_ones() as usize).sum::<usize>();

        // 1. DFS from the root. `pre` maps node -> preorder number;
        // `vertex` the reverse; `parent` the DFS-tree parent's number.
        // The arrays the sequential passes write are faulted in first, in
        // parallel (see `filled_vec`).
        let mut pre = filled_vec(n, NONE);
        let mut vertex: Vec<u32> = prefaulted_vec(searched);
        let mut parent: Vec<u32> = prefaulted_vec(searched);
        {
            let offsets = succs.offsets();
            let targets = succs.targets();
            // One cursor (next edge to try) per node on the current DFS path;
            // the path itself is recovered through `parent`.
            let mut cursors: Vec<u64> = vec![offsets[root as usize]];
            pre[root as usize] = 0;
            vertex.push(root);
            parent.push(0);
            let mut top = 0u32; // preorder number of the node owning the last cursor
            while let Some(cursor) = cursors.last_mut() {
                let end = offsets[vertex[top as usize] as usize + 1];
                let mut found = None;
                while *cursor < end {
                    let t = targets[to_usize(*cursor)];
                    *cursor += 1;
                    if !is_aside(t) && pre[t as usize] == NONE {
                        found = Some(t);
                        break;
                    }
                }
                match found {
                    Some(t) => {
                        // The search reads t's row next, and each target's
                        // number and row offset: fetch them all at once
                        // rather than one dependent miss after another.
                        let (lo, hi) = (offsets[t as usize], offsets[t as usize + 1]);
                        for &u in &targets[to_usize(lo)..to_usize(hi)] {
                            crate::prefetch(&pre, u as usize);
                            crate::prefetch(offsets, u as usize);
                        }
                        let num = vertex.len() as u32;
                        pre[t as usize] = num;
                        vertex.push(t);
                        parent.push(top);
                        cursors.push(offsets[t as usize]);
                        top = num;
                    }
                    None => {
                        cursors.pop();
                        top = parent[top as usize];
                    }
                }
            }
        }
        let r = vertex.len();

        // 2. Semidominators, in reverse preorder. From here on arrays are
        // indexed by preorder number. The link-eval forest (nodes numbered
        // > i are linked) starts as the DFS tree; path compression rewrites
        // its links, so the DFS parents stay in `idom`, which is also their
        // starting value for the NCA pass. Each node's forest link, label
        // and semidominator sit together, since eval touches them together
        // at random.
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
        let mut block = PredBlock::default();
        let mut hi = r;
        while hi > 1 {
            let lo = hi.saturating_sub(PRED_BLOCK).max(1);
            block.gather(preds, &pre, &vertex[lo..hi]);
            for i in (lo..hi).rev() {
                if let Some(ahead) = (i - lo).checked_sub(SEMI_AHEAD) {
                    for &j in block.row(ahead) {
                        crate::prefetch(&info, j as usize);
                    }
                }
                let last_linked = i as u32 + 1;
                let mut s = idom[i]; // the DFS parent is a predecessor
                for &j in block.row(i - lo) {
                    // An unprocessed predecessor (j <= i: not linked, label
                    // and semi still its own number) offers itself, no
                    // lookup needed; this covers every DFS-tree edge.
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
            hi = lo;
        }
        drop(stack);
        drop(block);

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
        // (each entry is read once, then overwritten). idom[root] = root.
        pre.par_iter_mut().with_min_len(1 << 14).for_each(|p| {
            if *p != NONE {
                *p = vertex[idom[*p as usize] as usize];
            }
        });
        // 5. A set-aside node is dominated by its predecessor, when reached:
        // the leaves' parents first (so each comes after its idom), then
        // the leaves. A parent's predecessor is neither a leaf nor another
        // parent (a parent points only at leaves), and a leaf's is no leaf,
        // so each group reads only idoms the steps before it wrote, and
        // runs in parallel.
        let reached_parents: Vec<(u32, u32)> = parents
            .par_iter()
            .filter_map(|&v| {
                let u = preds.successors(v)[0];
                (pre[u as usize] != NONE).then_some((v, u))
            })
            .collect();
        for &v in &parents {
            aside[v as usize / 64] &= !(1 << (v % 64));
        }
        for &(v, u) in &reached_parents {
            pre[v as usize] = u;
        }
        vertex.extend(reached_parents.iter().map(|&(v, _)| v));
        drop(reached_parents);
        let reached: Vec<u64> = pre
            .par_chunks(64)
            .map(|c| {
                c.iter()
                    .enumerate()
                    .fold(0, |bits, (i, &d)| bits | u64::from(d != NONE) << i)
            })
            .collect();
        let is_reached = |u: u32| reached[u as usize / 64] >> (u % 64) & 1 == 1;
        // Leaves by groups of words: their idoms and counts, then their
        // places in the preorder from the counts.
        let leaves_reached: Vec<usize> = pre
            .par_chunks_mut(64 * LEAF_GROUP_WORDS)
            .zip(aside.par_chunks(LEAF_GROUP_WORDS))
            .enumerate()
            .map(|(g, (nodes, words))| {
                let mut count = 0;
                let first = g * LEAF_GROUP_WORDS * 64;
                for_each_set_node(words, first, |v| {
                    let u = preds.successors(v as u32)[0];
                    if is_reached(u) {
                        nodes[v - first] = u;
                        count += 1;
                    }
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
                    if pre[v] != NONE {
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
    /// over the reverse preorder; 12 bytes per node of output.
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
        let n = self.node_count();
        // Own sizes in node order, in parallel; then the sums, sequential.
        let own = |v: usize| {
            if self.idom[v] == NONE {
                0
            } else {
                self_size(v as u32)
            }
        };
        let mut bytes: Vec<u64> = (0..n).into_par_iter().map(own).collect();
        let mut objects: Vec<u32> = bytes.par_iter().map(|&b| u32::from(b > 0)).collect();
        // Skip the root (preorder[0]), whose idom is itself. The sums hit
        // the dominators at random: the dominator of a node a few places
        // ahead is looked up, and then its sums asked for.
        let order = &self.preorder;
        for i in (1..order.len()).rev() {
            if let Some(a) = i.checked_sub(2 * RETAINED_AHEAD) {
                crate::prefetch(&self.idom, order[a] as usize);
            }
            if let Some(a) = i.checked_sub(RETAINED_AHEAD) {
                let d = self.idom[order[a] as usize] as usize;
                crate::prefetch(&bytes, d);
                crate::prefetch(&objects, d);
            }
            let v = order[i] as usize;
            let d = self.idom[v] as usize;
            bytes[d] += bytes[v];
            objects[d] += objects[v];
        }
        Retained { bytes, objects }
    }

    /// The dominator tree's children lists, for top-down traversals.
    pub fn tree(&self) -> DomTree {
        DomTree::from_idom(&self.idom, self.root)
    }
}

/// The parents of set-aside leaves (`aside`, one bit per node) that can be
/// set aside too: a node other than `root` whose one predecessor is
/// another node and whose successors are all set-aside leaves lies on no
/// path to a node that is not, and its predecessor is its immediate
/// dominator. Found in parallel and added to `aside`; none is the
/// predecessor of another (its successors are leaves).
fn leaf_parents(succs: &Csr, preds: &Csr, root: u32, aside: &mut [u64]) -> Vec<u32> {
    let n = succs.node_count() as u32;
    let is_leaf = |v: u32| aside[v as usize / 64] >> (v % 64) & 1 == 1;
    let parents: Vec<u32> = (0..n)
        .into_par_iter()
        .with_min_len(1 << 12)
        .filter(|&v| {
            let out = succs.successors(v);
            v != root
                && !out.is_empty()
                && preds.degree(v) == 1
                && preds.successors(v)[0] != v
                && out.iter().all(|&t| is_leaf(t))
        })
        .collect();
    for &v in &parents {
        aside[v as usize / 64] |= 1 << (v % 64);
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

/// How many nodes ahead the semidominator pass fetches its predecessors'
/// forest state.
const SEMI_AHEAD: usize = 8;

/// Nodes per [`PredBlock`]: large enough to amortise the parallel gather,
/// small enough that the block's rows stay in cache.
const PRED_BLOCK: usize = 1 << 14;

/// The predecessors of a block of consecutive preorder numbers, translated
/// to preorder numbers (unreachable ones dropped). Gathering them is the
/// random-access-heavy part of the semidominator pass and has no
/// dependencies between nodes, so it runs in parallel ahead of the
/// sequential eval loop.
#[derive(Default)]
struct PredBlock {
    /// Row `k` is `preds[ends[k - 1]..ends[k]]` (`ends[-1]` = 0).
    ends: Vec<usize>,
    preds: Vec<u32>,
    /// Per-worker (row lengths, rows) buffers, reused across blocks.
    parts: Vec<(Vec<usize>, Vec<u32>)>,
}

impl PredBlock {
    fn gather(&mut self, preds: &Csr, pre: &[u32], nodes: &[u32]) {
        let workers = rayon::current_num_threads().max(1);
        let per = nodes.len().div_ceil(workers * 4).max(256);
        let pieces: Vec<&[u32]> = nodes.chunks(per).collect();
        self.parts.resize_with(pieces.len(), Default::default);
        self.parts
            .par_iter_mut()
            .zip(pieces)
            .for_each(|((lens, out), piece)| {
                lens.clear();
                out.clear();
                for &w in piece {
                    let before = out.len();
                    out.extend(
                        preds
                            .successors(w)
                            .iter()
                            .map(|&v| pre[v as usize])
                            .filter(|&j| j != NONE),
                    );
                    lens.push(out.len() - before);
                }
            });
        self.ends.clear();
        self.preds.clear();
        for (lens, out) in &self.parts {
            for &len in lens {
                let end = self.ends.last().copied().unwrap_or(0) + len;
                self.ends.push(end);
            }
            self.preds.extend_from_slice(out);
        }
    }

    fn row(&self, k: usize) -> &[u32] {
        let start = if k == 0 { 0 } else { self.ends[k - 1] };
        &self.preds[start..self.ends[k]]
    }
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
    /// dominates.
    pub bytes: Vec<u64>,
    /// Objects (nodes with a non-zero size) kept alive by each node, itself
    /// included. `u32` suffices since a graph has fewer than 2^32 nodes, and
    /// saves 4 bytes per node.
    pub objects: Vec<u32>,
}
