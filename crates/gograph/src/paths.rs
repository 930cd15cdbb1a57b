//! Breadth-first searches: [`shortest_paths_to`] finds the paths from the
//! nearest source nodes (roots) to a target, [`bfs_depths`] the distance of
//! every node from a root, and [`bfs_parents`] the shortest-path tree from a
//! root.

use crate::csr::{Adjacency, Csr};
use crate::domtree::DomTree;
use crate::NONE;

/// A path from a source node to the target of [`shortest_paths_to`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Path {
    /// The nodes, source first, target last.
    pub nodes: Vec<u32>,
    /// `via_extra[i]` tells whether the edge `nodes[i] -> nodes[i + 1]` came
    /// from the extra (e.g. weak) graph; one entry per edge.
    pub via_extra: Vec<bool>,
}

/// The shortest paths from the `max_sources` sources nearest to `target`,
/// nearest first (ties in BFS discovery order).
///
/// Searches backwards from `target` over `preds` (the transpose of the
/// successor graph) and, when given, `extra_preds` (a second predecessor
/// graph over the same nodes, e.g. weak references; its edges count like any
/// other, and a node reached both ways from the same node takes the `preds`
/// edge). Nodes for which `is_source` holds end paths: they are collected but
/// not searched past, so no path runs through another source. If `target` is
/// itself a source the only path is `[target]`. The search stops as soon as
/// `max_sources` sources are found, so only the nearest part of the graph is
/// visited.
///
/// Allocates O(n) per query: a `u32` next-hop array (zeroed, so the pages the
/// search never touches cost nothing on Linux) and a one-bit-per-node
/// extra-edge set, plus a queue of the visited nodes.
///
/// # Panics
/// If `target >= preds.node_count()` or `extra_preds` has a different node
/// count.
pub fn shortest_paths_to(
    preds: &Csr,
    target: u32,
    is_source: impl Fn(u32) -> bool,
    max_sources: usize,
    extra_preds: Option<&dyn Adjacency>,
) -> Vec<Path> {
    let n = preds.node_count();
    assert!(
        (target as usize) < n,
        "target {target} out of range ({n} nodes)"
    );
    if let Some(extra) = extra_preds {
        assert_eq!(
            extra.node_count(),
            n,
            "extra_preds has a different node count"
        );
    }
    if max_sources == 0 {
        return Vec::new();
    }
    if is_source(target) {
        return vec![Path {
            nodes: vec![target],
            via_extra: Vec::new(),
        }];
    }

    // next[v] = (the node after v on its path to the target) + 1; 0 means
    // unvisited. Ids are below u32::MAX, so the +1 fits.
    let mut next = vec![0u32; n];
    let mut extra_edge = vec![0u64; n.div_ceil(64)];
    next[target as usize] = target + 1;
    let mut sources = Vec::new();
    let mut queue = vec![target];
    let mut head = 0;
    'search: while let Some(&v) = queue.get(head) {
        head += 1;
        let graphs: [(Option<&dyn Adjacency>, bool); 2] =
            [(Some(preds), false), (extra_preds, true)];
        for (graph, is_extra) in graphs {
            let Some(graph) = graph else { continue };
            for &u in graph.successors(v) {
                let slot = &mut next[u as usize];
                if *slot != 0 {
                    continue;
                }
                *slot = v + 1;
                if is_extra {
                    crate::set_bit(&mut extra_edge, u);
                }
                if is_source(u) {
                    sources.push(u);
                    if sources.len() == max_sources {
                        break 'search;
                    }
                } else {
                    queue.push(u);
                }
            }
        }
    }

    sources
        .into_iter()
        .map(|s| {
            let mut path = Path::default();
            let mut v = s;
            while v != target {
                path.nodes.push(v);
                path.via_extra.push(crate::has_bit(&extra_edge, v));
                v = next[v as usize] - 1;
            }
            path.nodes.push(target);
            path
        })
        .collect()
}

/// Breadth-first distance (in edges) from `root` to every node of `g`;
/// [`NONE`] for nodes it does not reach. O(n + e), 4 bytes per node plus the
/// queue.
///
/// # Panics
/// If `root >= g.node_count()`.
pub fn bfs_depths(g: &Csr, root: u32) -> Vec<u32> {
    let n = g.node_count();
    assert!((root as usize) < n, "root {root} out of range ({n} nodes)");
    let mut depth = vec![NONE; n];
    depth[root as usize] = 0;
    let mut queue = vec![root];
    let mut head = 0;
    while let Some(&v) = queue.get(head) {
        head += 1;
        let d = depth[v as usize] + 1;
        for &u in g.successors(v) {
            if depth[u as usize] == NONE {
                depth[u as usize] = d;
                queue.push(u);
            }
        }
    }
    depth
}

/// The breadth-first (shortest-path) tree from `root`: `parent[v]` is the
/// node through which the search first reached `v`, so following parents
/// from `v` gives one shortest path back to `root`. [`NONE`] for `root`
/// itself and for nodes it does not reach. Successors are searched in row
/// order, so the tree is deterministic. The array has the shape of an idom
/// array; [`bfs_tree`] gives the tree in preorder. O(n + e), 4 bytes per
/// node plus the queue.
///
/// # Panics
/// If `root >= g.node_count()`.
pub fn bfs_parents(g: &Csr, root: u32) -> Vec<u32> {
    bfs_search(g, root).0
}

/// The tree of [`bfs_parents`] in preorder, children in the order the
/// search reached them.
///
/// # Panics
/// If `root >= g.node_count()`.
pub fn bfs_tree(g: &Csr, root: u32) -> DomTree {
    let (parent, queue) = bfs_search(g, root);
    // A search reaches each node after its parent.
    DomTree::build(&parent, &queue)
}

/// The parents of [`bfs_parents`] and the nodes in the order reached.
fn bfs_search(g: &Csr, root: u32) -> (Vec<u32>, Vec<u32>) {
    let n = g.node_count();
    assert!((root as usize) < n, "root {root} out of range ({n} nodes)");
    let mut parent = vec![NONE; n];
    // The root has no parent but must not be rediscovered: mark it visited
    // with itself for the search, and reset it at the end.
    parent[root as usize] = root;
    let mut queue = vec![root];
    let mut head = 0;
    while let Some(&v) = queue.get(head) {
        head += 1;
        for &u in g.successors(v) {
            if parent[u as usize] == NONE {
                parent[u as usize] = v;
                queue.push(u);
            }
        }
    }
    parent[root as usize] = NONE;
    (parent, queue)
}
