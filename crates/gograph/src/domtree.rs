//! The dominator tree as children lists: [`DomTree`] owns the CSR of
//! children, the iterative enter/exit [`Walk`], and per-key retained totals
//! ([`DomTree::retained_by_key`]).

use crate::dominators::Retained;
use crate::NONE;

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
        let is_child = |v: usize, d: u32| d != NONE && v != root as usize;
        // Counts, then inclusive prefix sums (offsets[d] = end of d's list),
        // then a backwards fill that leaves offsets[d] at the list's start.
        let mut offsets = vec![0u32; n + 1];
        for (v, &d) in idom.iter().enumerate() {
            if is_child(v, d) {
                offsets[d as usize] += 1;
            }
        }
        let mut sum = 0u32;
        for o in &mut offsets[..n] {
            sum += *o;
            *o = sum;
        }
        offsets[n] = sum;
        let mut children = vec![0u32; sum as usize];
        for (v, &d) in idom.iter().enumerate().rev() {
            if is_child(v, d) {
                let at = &mut offsets[d as usize];
                *at -= 1;
                children[*at as usize] = v as u32;
            }
        }
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
    /// `key[v]` is `v`'s key below `n_keys`, or [`NONE`] for none. One walk,
    /// O(n), keeping a per-key count of the walk's current ancestors with that
    /// key.
    ///
    /// # Panics
    /// If `key` or `retained` have fewer than `node_count()` entries, or a
    /// key is neither [`NONE`] nor below `n_keys`.
    pub fn retained_by_key(
        &self,
        retained: &Retained,
        key: &[u32],
        n_keys: usize,
    ) -> Vec<KeyTotals> {
        self.retained_by_keys(retained, &[(key, n_keys)])
            .pop()
            .unwrap_or_default()
    }

    /// [`DomTree::retained_by_key`] for several keyings of the nodes at
    /// once (one walk of the tree): `keyings[i]` is `(key, n_keys)`, and the
    /// result's `i`-th entry its totals.
    ///
    /// # Panics
    /// As [`DomTree::retained_by_key`], for any keying.
    pub fn retained_by_keys(
        &self,
        retained: &Retained,
        keyings: &[(&[u32], usize)],
    ) -> Vec<Vec<KeyTotals>> {
        let n = self.node_count();
        assert!(retained.bytes.len() >= n && retained.objects.len() >= n);
        for (key, _) in keyings {
            assert!(key.len() >= n, "key has fewer than {n} entries");
        }
        // Totals and active counts of all keyings in flat arrays: keying
        // `i`'s key `k` is entry `bases[i] + k`.
        let mut bases = Vec::with_capacity(keyings.len());
        let mut all = 0usize;
        for &(_, n_keys) in keyings {
            bases.push(all);
            all += n_keys;
        }
        let mut totals = vec![KeyTotals::default(); all];
        let mut active = vec![0u32; all];
        // Entering a node counts it for each key no ancestor has; leaving
        // it makes its keys available again.
        let mut step = |v: u32, entering: bool| {
            let v = v as usize;
            for (&(key, _), &base) in keyings.iter().zip(&bases) {
                let k = key[v];
                if k == NONE {
                    continue;
                }
                let e = base + k as usize;
                if !entering {
                    active[e] -= 1;
                    continue;
                }
                if active[e] == 0 {
                    totals[e].bytes += retained.bytes[v];
                    totals[e].objects += u64::from(retained.objects[v]);
                }
                active[e] += 1;
            }
        };
        // A depth-first walk as [`DomTree::walk`], with the stack of
        // (node, next child's index) in a plain loop: this runs over every
        // live object for each report.
        let mut stack: Vec<(u32, u32)> = Vec::new();
        step(self.root, true);
        stack.push((self.root, self.offsets[self.root as usize]));
        while let Some((v, next)) = stack.last_mut() {
            if *next < self.offsets[*v as usize + 1] {
                let c = self.children[*next as usize];
                *next += 1;
                step(c, true);
                stack.push((c, self.offsets[c as usize]));
            } else {
                step(*v, false);
                stack.pop();
            }
        }
        keyings
            .iter()
            .zip(&bases)
            .map(|(&(_, n_keys), &base)| totals[base..base + n_keys].to_vec())
            .collect()
    }
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
