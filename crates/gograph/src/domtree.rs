//! The dominator tree in preorder: [`DomTree`] lists the tree's nodes
//! depth-first with where each one's subtree ends, so that every subtree is
//! a run of positions, and computes per-key retained totals over those runs
//! ([`DomTree::retained_by_key`]).

use rayon::prelude::*;

use crate::dominators::Retained;
use crate::{has_bit, set_bit, NONE};

/// A dominator tree as its preorder: `preorder()[p]` is the node at
/// position `p`, and that node's subtree is the run [`DomTree::subtree`]
/// (`p`, then its first child at `p + 1`, each later child after the
/// subtree of the one before). 4 bytes per node of the tree plus 4 per node
/// of the graph, and passes over a subtree read the preorder in order,
/// where children lists would send every step to a random place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomTree {
    /// The node at each position.
    order: Vec<u32>,
    /// By node: the position just past its subtree (0 outside the tree).
    end: Vec<u32>,
}

impl DomTree {
    /// Builds the tree from `idom` (by node) and `topo`: every node of the
    /// tree once, its root first and every other node after its immediate
    /// dominator, as [`crate::Dominators::preorder`] or an earlier tree's
    /// [`DomTree::preorder`] (which gives the same tree back). Siblings
    /// keep their order in `topo`.
    ///
    /// Returns `None` if `topo` is not such a list (see
    /// [`DomTree::is_topological`]), so that a list read from a file cannot
    /// make it panic.
    pub fn from_topological(idom: &[u32], topo: &[u32]) -> Option<DomTree> {
        Self::is_topological(idom, topo).then(|| Self::build(idom, topo))
    }

    /// The tree of `idom` below `root` with no topological order at hand
    /// (a stored one that did not check out): breadth-first over children
    /// lists made from `idom`, 4 bytes per node and per tree node while it
    /// runs. Nodes whose dominator chain does not reach `root` (a cycle in
    /// bad data) are left out.
    ///
    /// # Panics
    /// If `root` is not a node of `idom`.
    pub fn from_idom(idom: &[u32], root: u32) -> DomTree {
        let n = idom.len();
        assert!((root as usize) < n, "root {root} out of range ({n} nodes)");
        let parent = |v: usize| Some(idom[v] as usize).filter(|&d| d < n && v != root as usize);
        // Children lists by counting sort: `start[d]` ends as the start of
        // `d`'s children once each child has moved its parent's cursor.
        let mut start: Vec<u32> = crate::filled_vec(n + 1, 0);
        for d in (0..n).filter_map(parent) {
            start[d] += 1;
        }
        let mut total = 0;
        for s in &mut start {
            total += *s;
            *s = total;
        }
        let mut kids: Vec<u32> = crate::filled_vec(total as usize, 0);
        for v in (0..n).rev() {
            if let Some(d) = parent(v) {
                start[d] -= 1;
                kids[start[d] as usize] = v as u32;
            }
        }
        let mut order = vec![root];
        let mut head = 0;
        while let Some(&v) = order.get(head) {
            head += 1;
            let v = v as usize;
            order.extend_from_slice(&kids[start[v] as usize..start[v + 1] as usize]);
        }
        drop(kids);
        Self::build(idom, &order)
    }

    /// Whether `topo` can build a tree from `idom`: not empty, every node
    /// and its dominator in range, no node twice, none before its
    /// dominator. One pass, with a bit per node.
    pub fn is_topological(idom: &[u32], topo: &[u32]) -> bool {
        let n = idom.len();
        let Some((&root, rest)) = topo.split_first() else {
            return false;
        };
        if root as usize >= n {
            return false;
        }
        let mut seen = vec![0u64; n.div_ceil(64)];
        set_bit(&mut seen, root);
        for &v in rest {
            let Some(&d) = idom.get(v as usize) else {
                return false;
            };
            if d as usize >= n || has_bit(&seen, v) || !has_bit(&seen, d) {
                return false;
            }
            set_bit(&mut seen, v);
        }
        true
    }

    /// [`DomTree::from_topological`] of a list known to be topological (a
    /// search's order): two sequential passes over it.
    ///
    /// # Panics
    /// If `topo` is not (see [`DomTree::is_topological`]).
    pub(crate) fn build(idom: &[u32], topo: &[u32]) -> DomTree {
        let n = idom.len();
        let (root, rest) = (topo[0], &topo[1..]);
        // Subtree sizes, children before their dominators.
        let mut end: Vec<u32> = crate::filled_vec(n, 0);
        for (i, &v) in rest.iter().enumerate().rev() {
            if let Some(a) = i.checked_sub(TREE_AHEAD).map(|a| rest[a] as usize) {
                crate::prefetch(&end, idom[a] as usize);
                crate::prefetch(&end, a);
            }
            let size = end[v as usize] + 1;
            end[v as usize] = size;
            end[idom[v as usize] as usize] += size;
        }
        // Positions, dominators before the nodes they dominate: `end` now
        // holds each placed node's next free position (its own + 1, then
        // past each child's subtree), which ends as the end of its subtree.
        let mut order: Vec<u32> = crate::filled_vec(topo.len(), 0);
        order[0] = root;
        end[root as usize] = 1;
        for (i, &v) in rest.iter().enumerate() {
            if let Some(a) = rest.get(i + TREE_AHEAD).map(|&a| a as usize) {
                crate::prefetch(&end, idom[a] as usize);
                crate::prefetch(&end, a);
            }
            let d = idom[v as usize] as usize;
            let (p, size) = (end[d], end[v as usize]);
            order[p as usize] = v;
            end[d] = p + size;
            end[v as usize] = p + 1;
        }
        DomTree { order, end }
    }

    /// [`crate::Dominators::retained_with`] from the tree and its `idom`
    /// array, over the tree's preorder: once the search's preorder is
    /// dropped, retained sizes need nothing more than the tree keeps.
    ///
    /// # Panics
    /// If `idom` is not the array the tree was built from.
    pub fn retained_with(&self, idom: &[u32], self_size: impl Fn(u32) -> u64 + Sync) -> Retained {
        crate::dominators::retained_in_order(idom, &self.order, self_size)
    }

    /// The tree's root.
    pub fn root(&self) -> u32 {
        self.order[0]
    }

    /// Number of nodes in the tree.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether the tree is empty: never (it has a root), but `len` asks
    /// for it.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Number of nodes of the underlying graph (in the tree or not).
    pub fn node_count(&self) -> usize {
        self.end.len()
    }

    /// The tree's nodes, depth-first, each before its subtree.
    pub fn preorder(&self) -> &[u32] {
        &self.order
    }

    /// The position of each node ([`NONE`] outside the tree), for passes
    /// that start from a node: 4 bytes per node.
    pub fn positions(&self) -> Vec<u32> {
        let mut at = vec![NONE; self.node_count()];
        for (p, &v) in self.order.iter().enumerate() {
            at[v as usize] = p as u32;
        }
        at
    }

    /// The positions of the subtree at position `p`: `p` and its
    /// descendants.
    ///
    /// # Panics
    /// If `p >= len()`.
    pub fn subtree(&self, p: usize) -> std::ops::Range<usize> {
        p..self.end[self.order[p] as usize] as usize
    }

    /// The positions of the children of the node at position `p`.
    ///
    /// # Panics
    /// If `p >= len()`.
    pub fn children(&self, p: usize) -> Children<'_> {
        Children {
            tree: self,
            next: p + 1,
            end: self.subtree(p).end,
        }
    }

    /// Memory retained per key, counting nested holders once (Eclipse MAT's
    /// "retained by class"): for each key `k`, the sum of `retained` over
    /// nodes with key `k` that have no dominator-tree ancestor with key `k`.
    ///
    /// `key[v]` is node `v`'s key below `n_keys`, or [`NodeKey::NONE`] for
    /// none (`u32` or `u16` keys: see [`NodeKey`]). One pass over the
    /// preorder, O(n): a node is counted for its key unless the subtree of
    /// a counted node with that key still holds its position.
    ///
    /// # Panics
    /// If `key` or `retained` miss a node of the tree, or a key is neither
    /// [`NodeKey::NONE`] nor below `n_keys`.
    pub fn retained_by_key<K: NodeKey>(
        &self,
        retained: &Retained,
        key: &[K],
        n_keys: usize,
    ) -> Vec<KeyTotals> {
        let groupings = [KeyGroups {
            of_key: None,
            n_groups: n_keys,
        }];
        self.retained_by_keys(retained, key, &groupings)
            .pop()
            .unwrap_or_default()
    }

    /// [`DomTree::retained_by_key`] for several groupings of the nodes'
    /// keys at once (one pass; a node in group `g` of a grouping counts
    /// unless an ancestor is in `g` too): the result's `i`-th entry has the
    /// totals of `groupings[i]`'s groups. One key array serves several
    /// reports (by type, and by the types' packages).
    ///
    /// The pass runs on the rayon pool: the top of the tree is cut into
    /// runs of sibling subtrees of at most about `len / (8 × threads)`
    /// nodes, each counted on its own with the groups of its ancestors as
    /// context, and the totals added up.
    ///
    /// # Panics
    /// As [`DomTree::retained_by_key`], or if a grouping's `of_key` misses
    /// a key or names a group neither [`crate::NONE`] nor below its
    /// `n_groups`.
    pub fn retained_by_keys<K: NodeKey>(
        &self,
        retained: &Retained,
        key: &[K],
        groupings: &[KeyGroups<'_>],
    ) -> Vec<Vec<KeyTotals>> {
        let grain = self.len() / (8 * rayon::current_num_threads().max(1));
        self.retained_by_keys_in_tasks(retained, key, groupings, grain.max(MIN_TASK_NODES))
    }

    /// [`DomTree::retained_by_keys`] with runs of at most `grain` nodes
    /// counted as one task.
    fn retained_by_keys_in_tasks<K: NodeKey>(
        &self,
        retained: &Retained,
        key: &[K],
        groupings: &[KeyGroups<'_>],
        grain: usize,
    ) -> Vec<Vec<KeyTotals>> {
        let counter = KeyCounter::new(key, groupings, retained);
        let (tasks, contexts, mut totals) = self.cut(&counter, grain);
        let counted = tasks
            .par_iter()
            .fold(
                || Run::new(counter.all),
                |mut run, task| {
                    run.count(
                        self,
                        &counter,
                        task.positions.clone(),
                        &contexts[task.context],
                    );
                    run
                },
            )
            .map(|run| run.totals)
            .reduce_with(add_totals);
        if let Some(counted) = counted {
            totals = add_totals(totals, counted);
        }
        groupings
            .iter()
            .zip(&counter.bases)
            .map(|(g, &base)| totals[base..base + g.n_groups].to_vec())
            .collect()
    }

    /// The top of the tree for [`DomTree::retained_by_keys_in_tasks`]:
    /// nodes whose subtrees hold more than `grain` nodes (at most
    /// [`MAX_CUT_NODES`] of them, so that a long chain costs no more than
    /// one sequential pass) are counted here, and the rest of the tree
    /// becomes tasks (runs of siblings' subtrees of at most about `grain`
    /// nodes, or one larger subtree). Returns the tasks, each task's
    /// context (the group entries of its ancestors, by context index) and
    /// the totals of the nodes counted here.
    fn cut<K: NodeKey>(
        &self,
        counter: &KeyCounter<'_, K>,
        grain: usize,
    ) -> (Vec<Task>, Vec<Vec<usize>>, Vec<KeyTotals>) {
        let mut totals = vec![KeyTotals::default(); counter.all];
        let mut tasks = Vec::new();
        let mut contexts: Vec<Vec<usize>> = Vec::new();
        // Positions to count here, with the context of their ancestors.
        let mut big: Vec<(usize, Vec<usize>)> = vec![(0, Vec::new())];
        let mut cut = 1;
        while let Some((p, mut context)) = big.pop() {
            let v = self.order[p];
            for e in counter.entries(v) {
                if !context.contains(&e) {
                    counter.count(v, e, &mut totals);
                    context.push(e);
                }
            }
            let id = contexts.len();
            let end = self.subtree(p).end;
            // The run of children not yet made a task: its first position
            // and its nodes.
            let mut run = (p + 1, 0usize);
            for c in self.children(p) {
                let size = self.subtree(c).len();
                if size > grain && cut < MAX_CUT_NODES {
                    cut += 1;
                    if run.0 < c {
                        tasks.push(Task::new(run.0..c, id));
                    }
                    run = (c + size, 0);
                    big.push((c, context.clone()));
                    continue;
                }
                if run.1 + size > grain && run.0 < c {
                    tasks.push(Task::new(run.0..c, id));
                    run = (c, 0);
                }
                run.1 += size;
            }
            if run.0 < end {
                tasks.push(Task::new(run.0..end, id));
            }
            contexts.push(context);
        }
        (tasks, contexts, totals)
    }
}

/// Positions of the children of a [`DomTree`] node; see
/// [`DomTree::children`].
#[derive(Clone, Debug)]
pub struct Children<'a> {
    tree: &'a DomTree,
    next: usize,
    end: usize,
}

impl Iterator for Children<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        let c = self.next;
        if c >= self.end {
            return None;
        }
        self.next = self.tree.subtree(c).end;
        Some(c)
    }
}

/// One thread's state in [`DomTree::retained_by_keys_in_tasks`].
struct Run {
    /// Per group entry: the end of the subtree of the last node counted
    /// for it (0: none yet, `u32::MAX`: an ancestor of the task has it).
    end: Vec<u32>,
    /// The entries whose `end` this task set, to clear after it.
    touched: Vec<usize>,
    totals: Vec<KeyTotals>,
}

impl Run {
    fn new(entries: usize) -> Run {
        Run {
            end: vec![0; entries],
            touched: Vec::new(),
            totals: vec![KeyTotals::default(); entries],
        }
    }

    /// Counts the nodes at `positions` (whole subtrees) below ancestors
    /// with the group entries `context`.
    fn count<K: NodeKey>(
        &mut self,
        tree: &DomTree,
        counter: &KeyCounter<'_, K>,
        positions: std::ops::Range<usize>,
        context: &[usize],
    ) {
        for &e in context {
            self.end[e] = u32::MAX;
        }
        for p in positions {
            if let Some(&ahead) = tree.order.get(p + COUNT_AHEAD) {
                counter.prefetch(ahead);
                crate::prefetch(&tree.end, ahead as usize);
            }
            let v = tree.order[p];
            for e in counter.entries(v) {
                let end = self.end[e];
                if p as u32 >= end {
                    if end == 0 {
                        self.touched.push(e);
                    }
                    self.end[e] = tree.end[v as usize];
                    counter.count(v, e, &mut self.totals);
                }
            }
        }
        for e in self.touched.drain(..).chain(context.iter().copied()) {
            self.end[e] = 0;
        }
    }
}

/// How many nodes ahead [`DomTree::from_topological`] asks for the counts
/// of a node and its dominator.
const TREE_AHEAD: usize = 8;

/// How many positions ahead the count asks for a node's records.
const COUNT_AHEAD: usize = 16;

/// Subtrees below this many nodes are counted on one thread.
const MIN_TASK_NODES: usize = 1 << 16;

/// Nodes at most counted before the tasks (see [`DomTree::cut`]).
const MAX_CUT_NODES: usize = 1 << 12;

/// One task of [`DomTree::retained_by_keys_in_tasks`]: the subtrees at
/// `positions`, below the ancestors of context `context`.
struct Task {
    positions: std::ops::Range<usize>,
    context: usize,
}

impl Task {
    fn new(positions: std::ops::Range<usize>, context: usize) -> Task {
        Task { positions, context }
    }
}

/// A node's key in [`DomTree::retained_by_keys`]: `u32`, or `u16` where
/// the keys fit (half the memory of a key per node; a heap's types rarely
/// reach 65,535). The largest value of each width is [`NONE`], no key.
pub trait NodeKey: Copy + Sync {
    /// "No key".
    const NONE: Self;
    /// The key as an index, or [`NONE`] for [`NodeKey::NONE`].
    fn index(self) -> u32;
    /// `index` as a key, if it fits below [`NodeKey::NONE`].
    fn from_index(index: u32) -> Option<Self>;
}

impl NodeKey for u32 {
    const NONE: u32 = NONE;
    #[inline]
    fn index(self) -> u32 {
        self
    }
    fn from_index(index: u32) -> Option<u32> {
        (index != NONE).then_some(index)
    }
}

impl NodeKey for u16 {
    const NONE: u16 = u16::MAX;
    #[inline]
    fn index(self) -> u32 {
        if self == u16::MAX {
            NONE
        } else {
            u32::from(self)
        }
    }
    fn from_index(index: u32) -> Option<u16> {
        u16::try_from(index).ok().filter(|&k| k != u16::MAX)
    }
}

/// A grouping of keys for [`DomTree::retained_by_keys`].
#[derive(Clone, Copy, Debug)]
pub struct KeyGroups<'a> {
    /// Key `k`'s group (below `n_groups`, or [`NONE`] for none); `None`
    /// makes each key its own group.
    pub of_key: Option<&'a [u32]>,
    pub n_groups: usize,
}

/// The groupings of [`DomTree::retained_by_keys`] as entries of flat
/// arrays of totals and active counts: grouping `i`'s group `g` is entry
/// `bases[i] + g`.
struct KeyCounter<'a, K> {
    key: &'a [K],
    groupings: &'a [KeyGroups<'a>],
    bases: Vec<usize>,
    all: usize,
    retained: &'a Retained,
}

impl<'a, K: NodeKey> KeyCounter<'a, K> {
    fn new(
        key: &'a [K],
        groupings: &'a [KeyGroups<'a>],
        retained: &'a Retained,
    ) -> KeyCounter<'a, K> {
        let mut bases = Vec::with_capacity(groupings.len());
        let mut all = 0usize;
        for g in groupings {
            bases.push(all);
            all += g.n_groups;
        }
        KeyCounter {
            key,
            groupings,
            bases,
            all,
            retained,
        }
    }

    /// The entries of `v`'s groups.
    #[inline]
    fn entries(&self, v: u32) -> impl Iterator<Item = usize> + '_ {
        let k = self.key[v as usize].index();
        (self.groupings.iter().zip(&self.bases))
            .filter(move |_| k != NONE)
            .filter_map(move |(g, &base)| {
                let group = g.of_key.map_or(k, |of_key| of_key[k as usize]);
                (group != NONE).then(|| base + group as usize)
            })
    }

    /// Asks for the records of `v` that counting it reads.
    #[inline]
    fn prefetch(&self, v: u32) {
        let v = v as usize;
        crate::prefetch(self.key, v);
        self.retained.bytes.prefetch(v);
        crate::prefetch(&self.retained.objects, v);
    }

    /// Adds what `v` retains to entry `e`.
    #[inline]
    fn count(&self, v: u32, e: usize, totals: &mut [KeyTotals]) {
        totals[e].bytes += self.retained.bytes.get(v as usize);
        totals[e].objects += u64::from(self.retained.objects[v as usize]);
    }
}

fn add_totals(mut a: Vec<KeyTotals>, b: Vec<KeyTotals>) -> Vec<KeyTotals> {
    for (x, y) in a.iter_mut().zip(b) {
        x.bytes += y.bytes;
        x.objects += y.objects;
    }
    a
}

/// Memory retained by all nodes sharing one key; see
/// [`DomTree::retained_by_key`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyTotals {
    /// Bytes retained.
    pub bytes: u64,
    /// Objects retained.
    pub objects: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrow_keys_keep_their_largest_value_for_none() {
        assert_eq!(<u16 as NodeKey>::NONE.index(), NONE);
        assert_eq!(u16::from_index(65_534), Some(65_534));
        assert_eq!(u16::from_index(65_535), None);
        assert_eq!(u16::from_index(70_000), None);
        assert_eq!(u32::from_index(70_000), Some(70_000));
        assert_eq!(u32::from_index(NONE), None);
    }

    /// A random forest below node 0 (`idom[v] < v`, some nodes outside the
    /// tree), with random retained sizes and keys.
    fn random_tree(n: usize, seed: u64, chain: bool) -> (Vec<u32>, Retained, Vec<u32>) {
        let mut x = seed | 1;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut idom: Vec<u32> = (0..n as u64)
            .map(|v| match (v, next() % 10) {
                (0, _) => 0,
                (_, 0) => NONE,
                _ if chain => v as u32 - 1,
                _ => (next() % v) as u32,
            })
            .collect();
        // Nodes below one outside the tree are outside it too.
        for v in 1..n {
            if idom[v] != NONE && idom[idom[v] as usize] == NONE {
                idom[v] = NONE;
            }
        }
        // Retained object counts are subtree sizes, as the cut assumes.
        let mut objects = vec![1u32; n];
        let mut bytes: Vec<u64> = (0..n).map(|_| next() % 100).collect();
        for v in (1..n).rev() {
            if idom[v] != NONE {
                let d = idom[v] as usize;
                objects[d] += objects[v];
                bytes[d] += bytes[v];
            }
        }
        let key = (0..n)
            .map(|_| match next() % 6 {
                0 => NONE,
                k => k as u32 - 1,
            })
            .collect();
        let bytes = crate::CompactU64s::from_fn(n, |v| bytes[v]);
        (idom, Retained { bytes, objects }, key)
    }

    /// Per key, the sum over nodes with that key and no ancestor with it.
    fn brute(idom: &[u32], r: &Retained, key: &[u32], n_keys: usize) -> Vec<KeyTotals> {
        let mut totals = vec![KeyTotals::default(); n_keys];
        for v in 0..idom.len() {
            let k = key[v];
            if k == NONE || (v != 0 && idom[v] == NONE) {
                continue;
            }
            let mut a = v;
            let nested = loop {
                if a == 0 {
                    break false;
                }
                a = idom[a] as usize;
                if key[a] == k {
                    break true;
                }
            };
            if !nested {
                totals[k as usize].bytes += r.bytes.get(v);
                totals[k as usize].objects += u64::from(r.objects[v]);
            }
        }
        totals
    }

    #[test]
    fn tasks_count_what_one_walk_counts() {
        for (seed, n, chain) in [
            (1, 1, false),
            (2, 50, false),
            (3, 2000, false),
            (4, 9000, true),
        ] {
            let (idom, r, key) = random_tree(n, seed, chain);
            // `idom[v] < v`: ascending order is topological.
            let topo: Vec<u32> = (0..n as u32)
                .filter(|&v| v == 0 || idom[v as usize] != NONE)
                .collect();
            let tree = DomTree::from_topological(&idom, &topo).unwrap();
            // The keys alone, and grouped: 0 and 3 together, 4 in none.
            let of_key = [0, 1, 2, 0, NONE];
            let grouped: Vec<u32> = (key.iter())
                .map(|&k| if k == NONE { NONE } else { of_key[k as usize] })
                .collect();
            let keyings = [
                KeyGroups {
                    of_key: None,
                    n_groups: 5,
                },
                KeyGroups {
                    of_key: Some(&of_key),
                    n_groups: 3,
                },
            ];
            let want = vec![brute(&idom, &r, &key, 5), brute(&idom, &r, &grouped, 3)];
            // Grain 0 cuts every node it may (up to MAX_CUT_NODES, which the
            // chain exceeds); usize::MAX walks the whole tree as one task.
            for grain in [0, 1, 3, 40, 500, usize::MAX] {
                let got = tree.retained_by_keys_in_tasks(&r, &key, &keyings, grain);
                assert_eq!(got, want, "seed {seed}, grain {grain}");
            }
            assert_eq!(tree.retained_by_keys(&r, &key, &keyings), want);
        }
    }
}
