//! The dominator tree as children lists: [`DomTree`] owns the CSR of
//! children, the iterative enter/exit [`Walk`], and per-key retained totals
//! ([`DomTree::retained_by_key`]).

use rayon::prelude::*;

use crate::csr::{group_by_row, Pairs};
use crate::dominators::Retained;
use crate::NONE;

/// The `(dominator, node)` pair of every node in the tree but the root,
/// in node order: grouped by dominator, the children lists.
struct ChildPairs<'a> {
    idom: &'a [u32],
    root: u32,
}

impl ChildPairs<'_> {
    fn is_child(&self, v: usize, d: u32) -> bool {
        d != NONE && v != self.root as usize
    }
}

impl Pairs for ChildPairs<'_> {
    fn count(&self) -> usize {
        (self.idom.par_iter().enumerate().with_min_len(1 << 14))
            .filter(|&(v, &d)| self.is_child(v, d))
            .count()
    }

    fn for_each_row(&self, mut f: impl FnMut(u32)) {
        for (v, &d) in self.idom.iter().enumerate() {
            if self.is_child(v, d) {
                f(d);
            }
        }
    }

    fn for_each_rev(&self, mut f: impl FnMut(u32, u32)) {
        for (v, &d) in self.idom.iter().enumerate().rev() {
            if self.is_child(v, d) {
                f(d, v as u32);
            }
        }
    }
}

/// Children lists of a dominator tree, in CSR form.
///
/// A tree has fewer than n edges, so offsets are `u32`: 8 bytes per node in
/// all. Built from an idom array by a counting sort; children are listed in
/// ascending node order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomTree {
    root: u32,
    offsets: Vec<u32>,
    children: Vec<u32>,
}

impl DomTree {
    /// Builds the tree from `idom` (by node; [`NONE`] for nodes outside the
    /// tree, `idom[root] == root` or [`NONE`]), as kept by
    /// [`crate::Dominators`].
    ///
    /// # Panics
    /// If `root` or any idom is out of range.
    pub fn from_idom(idom: &[u32], root: u32) -> DomTree {
        let n = idom.len();
        assert!((root as usize) < n, "root {root} out of range ({n} nodes)");
        let (offsets, children) = group_by_row::<u32>(n, &ChildPairs { idom, root });
        DomTree {
            root,
            offsets,
            children,
        }
    }

    /// The tree's root.
    pub fn root(&self) -> u32 {
        self.root
    }

    /// Number of nodes of the underlying graph (in the tree or not).
    pub fn node_count(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Nodes immediately dominated by `v`, ascending.
    ///
    /// # Panics
    /// If `v >= node_count()`.
    #[inline]
    pub fn children(&self, v: u32) -> &[u32] {
        let v = v as usize;
        &self.children[self.offsets[v] as usize..self.offsets[v + 1] as usize]
    }

    /// Depth-first walk from the root yielding [`Visit::Enter`] before a
    /// node's subtree and [`Visit::Exit`] after it (pre- and post-order in one
    /// pass). Iterative: its stack holds 4 bytes per level.
    pub fn walk(&self) -> Walk<'_> {
        Walk {
            tree: self,
            path: Vec::new(),
            state: State::Start,
        }
    }

    /// Memory retained per key, counting nested holders once (Eclipse MAT's
    /// "retained by class"): for each key `k`, the sum of `retained` over
    /// nodes with key `k` that have no dominator-tree ancestor with key `k`.
    ///
    /// `key[v]` is `v`'s key below `n_keys`, or [`NodeKey::NONE`] for none
    /// (`u32` or `u16` keys: see [`NodeKey`]). One walk,
    /// O(n), keeping a per-key count of the walk's current ancestors with that
    /// key.
    ///
    /// # Panics
    /// If `key` or `retained` have fewer than `node_count()` entries, or a
    /// key is neither [`NodeKey::NONE`] nor below `n_keys`.
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
    /// keys at once (one walk of the tree; a node in group `g` of a
    /// grouping counts unless an ancestor is in `g` too): the result's
    /// `i`-th entry has the totals of `groupings[i]`'s groups. One key
    /// array serves several reports (by type, and by the types' packages).
    ///
    /// The walk runs on the rayon pool: the top of the tree is cut into
    /// subtrees of at most about `n / (8 × threads)` nodes (sized by their
    /// retained object counts), each walked on its own with the keys of its
    /// ancestors as context, and the totals added up.
    ///
    /// # Panics
    /// As [`DomTree::retained_by_key`], or if a grouping's `of_key` misses
    /// a key or names a group neither [`NONE`] nor below its `n_groups`.
    pub fn retained_by_keys<K: NodeKey>(
        &self,
        retained: &Retained,
        key: &[K],
        groupings: &[KeyGroups<'_>],
    ) -> Vec<Vec<KeyTotals>> {
        let grain = self.node_count() / (8 * rayon::current_num_threads().max(1));
        self.retained_by_keys_in_tasks(retained, key, groupings, grain.max(MIN_TASK_NODES))
    }

    /// [`DomTree::retained_by_keys`] with subtrees of at most `grain`
    /// retained objects walked as one task.
    fn retained_by_keys_in_tasks<K: NodeKey>(
        &self,
        retained: &Retained,
        key: &[K],
        groupings: &[KeyGroups<'_>],
        grain: usize,
    ) -> Vec<Vec<KeyTotals>> {
        let n = self.node_count();
        assert!(retained.bytes.len() >= n && retained.objects.len() >= n);
        assert!(key.len() >= n, "key has fewer than {n} entries");
        let counter = KeyCounter::new(key, groupings, retained);
        let (tasks, contexts, mut totals) = self.cut(&counter, grain);
        let walked = tasks
            .par_iter()
            .fold(
                || {
                    (
                        vec![0u32; counter.all],
                        vec![KeyTotals::default(); counter.all],
                    )
                },
                |(mut active, mut totals), task| {
                    let context = &contexts[task.context as usize];
                    for &e in context {
                        active[e] += 1;
                    }
                    for &c in &self.children[task.children.clone()] {
                        self.walk_counting(c, &counter, &mut active, &mut totals);
                    }
                    for &e in context {
                        active[e] -= 1;
                    }
                    (active, totals)
                },
            )
            .map(|(_, totals)| totals)
            .reduce_with(add_totals);
        if let Some(walked) = walked {
            totals = add_totals(totals, walked);
        }
        groupings
            .iter()
            .zip(&counter.bases)
            .map(|(g, &base)| totals[base..base + g.n_groups].to_vec())
            .collect()
    }

    /// The top of the tree for [`DomTree::retained_by_keys_in_tasks`]:
    /// nodes whose subtrees hold more than `grain` retained objects (at
    /// most [`MAX_CUT_NODES`] of them, so that a long chain costs no more
    /// than a sequential walk) are counted here, and the rest of the tree
    /// becomes tasks (runs of siblings of at most about `grain` objects, or
    /// one larger subtree). Returns the tasks, each task's context (the key
    /// entries of its ancestors, by context index) and the totals of the
    /// nodes counted here.
    fn cut<K: NodeKey>(
        &self,
        counter: &KeyCounter<'_, K>,
        grain: usize,
    ) -> (Vec<Task>, Vec<Vec<usize>>, Vec<KeyTotals>) {
        let objects = |v: u32| counter.retained.objects[v as usize] as usize;
        let mut totals = vec![KeyTotals::default(); counter.all];
        let mut tasks = Vec::new();
        let mut contexts: Vec<Vec<usize>> = Vec::new();
        // Nodes to count here, with the context of their ancestors.
        let mut big: Vec<(u32, Vec<usize>)> = vec![(self.root, Vec::new())];
        let mut cut = 1;
        while let Some((v, mut context)) = big.pop() {
            for e in counter.entries(v) {
                if !context.contains(&e) {
                    counter.count(v, e, &mut totals);
                    context.push(e);
                }
            }
            let id = contexts.len() as u32;
            let (first, end) = (self.offsets[v as usize], self.offsets[v as usize + 1]);
            let mut run = (first as usize, 0usize);
            for i in first as usize..end as usize {
                let c = self.children[i];
                if objects(c) > grain && cut < MAX_CUT_NODES {
                    cut += 1;
                    if run.0 < i {
                        tasks.push(Task::new(run.0..i, id));
                    }
                    run = (i + 1, 0);
                    big.push((c, context.clone()));
                    continue;
                }
                if run.1 + objects(c) > grain && run.0 < i {
                    tasks.push(Task::new(run.0..i, id));
                    run = (i, 0);
                }
                run.1 += objects(c) + 1;
            }
            if run.0 < end as usize {
                tasks.push(Task::new(run.0..end as usize, id));
            }
            contexts.push(context);
        }
        (tasks, contexts, totals)
    }

    /// Counts the subtree of `start` into `totals`, with `active` holding
    /// how many ancestors have each key entry (as it was, on return): a
    /// depth-first walk as [`DomTree::walk`], with the stack of (node, next
    /// child's index) in a plain loop, as this runs over every live object.
    fn walk_counting<K: NodeKey>(
        &self,
        start: u32,
        counter: &KeyCounter<'_, K>,
        active: &mut [u32],
        totals: &mut [KeyTotals],
    ) {
        // Entering a node counts it for each key no ancestor has; leaving
        // it makes its keys available again.
        let enter = |v: u32, active: &mut [u32], totals: &mut [KeyTotals]| {
            for e in counter.entries(v) {
                if active[e] == 0 {
                    counter.count(v, e, totals);
                }
                active[e] += 1;
            }
        };
        let mut stack: Vec<(u32, u32)> = Vec::new();
        enter(start, active, totals);
        stack.push((start, self.offsets[start as usize]));
        while let Some((v, next)) = stack.last_mut() {
            if *next < self.offsets[*v as usize + 1] {
                let c = self.children[*next as usize];
                // Siblings are visited in order, after the subtrees before
                // them: ask for a later one's records now, and for the
                // children of a nearer one (its offset came in by now).
                let at = *next as usize;
                if let Some(&s) = self.children.get(at + 2 * SIBLINGS_AHEAD) {
                    counter.prefetch(s);
                    crate::prefetch(&self.offsets, s as usize);
                }
                if let Some(&s) = self.children.get(at + SIBLINGS_AHEAD) {
                    crate::prefetch(&self.children, self.offsets[s as usize] as usize);
                }
                *next += 1;
                enter(c, active, totals);
                // The first children of `c`: the later ones are asked for
                // as their siblings are visited.
                let (first, end) = (self.offsets[c as usize], self.offsets[c as usize + 1]);
                let firsts = first as usize..end.min(first + 2 * SIBLINGS_AHEAD as u32) as usize;
                for &g in &self.children[firsts] {
                    counter.prefetch(g);
                    crate::prefetch(&self.offsets, g as usize);
                }
                stack.push((c, first));
            } else {
                for e in counter.entries(*v) {
                    active[e] -= 1;
                }
                stack.pop();
            }
        }
    }
}

/// How many siblings ahead [`DomTree::walk_counting`] asks for a node's
/// records.
const SIBLINGS_AHEAD: usize = 4;

/// Subtrees below this many nodes are walked on one thread.
const MIN_TASK_NODES: usize = 1 << 16;

/// Nodes at most counted before the tasks (see [`DomTree::cut`]).
const MAX_CUT_NODES: usize = 1 << 12;

/// One task of [`DomTree::retained_by_keys_in_tasks`]: the subtrees of
/// `children[children]`, below the ancestors of context `context`.
struct Task {
    children: std::ops::Range<usize>,
    context: u32,
}

impl Task {
    fn new(children: std::ops::Range<usize>, context: u32) -> Task {
        Task { children, context }
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

/// One step of a [`DomTree::walk`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Visit {
    /// About to visit the node's subtree (pre-order).
    Enter(u32),
    /// Done with the node's subtree (post-order).
    Exit(u32),
}

/// Iterator behind [`DomTree::walk`].
#[derive(Clone, Debug)]
pub struct Walk<'a> {
    tree: &'a DomTree,
    /// For each entered node below the root, its index in `tree.children`:
    /// the node is `children[i]` and its next sibling `children[i + 1]`.
    path: Vec<u32>,
    state: State,
}

#[derive(Clone, Copy, Debug)]
enum State {
    Start,
    /// Just entered this node: descend to its first child.
    Entered(u32),
    /// Just exited the node on top of `path` (or the root): move to its next
    /// sibling or exit its parent.
    Exited,
    Done,
}

impl Iterator for Walk<'_> {
    type Item = Visit;

    fn next(&mut self) -> Option<Visit> {
        let tree = self.tree;
        match self.state {
            State::Done => None,
            State::Start => {
                self.state = State::Entered(tree.root);
                Some(Visit::Enter(tree.root))
            }
            State::Entered(v) => {
                let (first, end) = (tree.offsets[v as usize], tree.offsets[v as usize + 1]);
                if first < end {
                    self.path.push(first);
                    let c = tree.children[first as usize];
                    self.state = State::Entered(c);
                    Some(Visit::Enter(c))
                } else {
                    self.state = State::Exited;
                    Some(Visit::Exit(v))
                }
            }
            State::Exited => {
                let Some(i) = self.path.pop() else {
                    self.state = State::Done; // the root was exited
                    return None;
                };
                let parent = self
                    .path
                    .last()
                    .map_or(tree.root, |&j| tree.children[j as usize]);
                if i + 1 < tree.offsets[parent as usize + 1] {
                    self.path.push(i + 1);
                    let c = tree.children[i as usize + 1];
                    self.state = State::Entered(c);
                    Some(Visit::Enter(c))
                } else {
                    // `parent` is exited next; the state stays Exited.
                    Some(Visit::Exit(parent))
                }
            }
        }
    }
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
            let tree = DomTree::from_idom(&idom, 0);
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
