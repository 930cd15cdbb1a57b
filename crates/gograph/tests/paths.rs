//! Shortest paths from the nearest sources, and BFS depths.

mod common;

use std::collections::VecDeque;

use common::{arb_graph, graphs};
use gograph::{bfs_depths, bfs_parents, bfs_tree, shortest_paths_to, Csr, Path, NONE};
use proptest::prelude::*;

fn path(nodes: &[u32], via_extra: &[bool]) -> Path {
    Path {
        nodes: nodes.to_vec(),
        via_extra: via_extra.to_vec(),
    }
}

#[test]
fn nearest_sources_in_order() {
    // Sources 10, 11, 12 (roots) at distances 1, 2, 3 from target 0; 13 at
    // distance 2 is reached only through source 10 and must not be reported.
    // 1..=3 are intermediate objects.
    let edges = [(10, 0), (11, 1), (1, 0), (12, 2), (2, 3), (3, 0), (13, 10)];
    let (_, preds) = graphs(14, &edges);
    let is_source = |v: u32| v >= 10;
    let paths = shortest_paths_to(&preds, 0, is_source, 10, None);
    assert_eq!(
        paths,
        [
            path(&[10, 0], &[false]),
            path(&[11, 1, 0], &[false, false]),
            path(&[12, 2, 3, 0], &[false, false, false]),
        ]
    );
    // Stops at the N nearest.
    let two = shortest_paths_to(&preds, 0, is_source, 2, None);
    assert_eq!(two, paths[..2]);
    assert!(shortest_paths_to(&preds, 0, is_source, 0, None).is_empty());
    // A target that is a source is its own path.
    assert_eq!(
        shortest_paths_to(&preds, 11, is_source, 5, None),
        [path(&[11], &[])]
    );
    // No source reaches 13.
    assert!(shortest_paths_to(&preds, 13, |v| v == 11, 5, None).is_empty());
}

#[test]
fn each_source_once_by_its_shortest_path() {
    // Source 5 reaches the target 0 by 5->1->0 and 5->2->3->0.
    let edges = [(5, 1), (1, 0), (5, 2), (2, 3), (3, 0)];
    let (_, preds) = graphs(6, &edges);
    let paths = shortest_paths_to(&preds, 0, |v| v == 5, 10, None);
    assert_eq!(paths, [path(&[5, 1, 0], &[false, false])]);
}

#[test]
fn extra_edges_are_flagged() {
    // Strong: 7 -> 1 -> 0 (2 hops) and 8 -> 2 -> 3 -> 0. Weak: 2 -> 0.
    let strong = [(7, 1), (1, 0), (8, 2), (2, 3), (3, 0)];
    let weak = [(2, 0)];
    let (_, preds) = graphs(9, &strong);
    let (_, weak_preds) = graphs(9, &weak);
    let is_source = |v: u32| v >= 7;
    let without = shortest_paths_to(&preds, 0, is_source, 10, None);
    assert_eq!(without[1], path(&[8, 2, 3, 0], &[false; 3]));
    let with = shortest_paths_to(&preds, 0, is_source, 10, Some(&weak_preds));
    assert_eq!(
        with,
        [
            path(&[7, 1, 0], &[false, false]),
            path(&[8, 2, 0], &[false, true])
        ]
    );
    // A node reachable by a strong and a weak edge from the same node takes
    // the strong one.
    let (_, both) = graphs(9, &[(1, 0)]);
    let paths = shortest_paths_to(&preds, 0, is_source, 1, Some(&both));
    assert_eq!(paths, [path(&[7, 1, 0], &[false, false])]);
}

#[test]
fn path_along_long_chain() {
    let n = 100_000u32;
    let edges: Vec<(u32, u32)> = (0..n - 1).map(|i| (i, i + 1)).collect();
    let (succs, preds) = graphs(n as usize, &edges);
    let paths = shortest_paths_to(&preds, n - 1, |v| v == 0, 3, None);
    assert_eq!(paths.len(), 1);
    assert_eq!(paths[0].nodes, (0..n).collect::<Vec<_>>());
    assert_eq!(bfs_depths(&succs, 0), (0..n).collect::<Vec<_>>());
}

#[test]
fn bfs_depths_small() {
    let edges = [(0, 1), (0, 2), (1, 3), (2, 3), (3, 0), (4, 0)];
    let (succs, _) = graphs(5, &edges);
    assert_eq!(bfs_depths(&succs, 0), [0, 1, 1, 2, NONE]);
}

#[test]
fn bfs_parents_small() {
    // 3 is reached through 1 (first in 0's row), not 2; 0 is the root even
    // though 3 points back to it; 4 is unreachable.
    let edges = [(0, 1), (0, 2), (1, 3), (2, 3), (3, 0), (4, 0)];
    let (succs, _) = graphs(5, &edges);
    let parents = bfs_parents(&succs, 0);
    assert_eq!(parents, [NONE, 0, 0, 1, NONE]);
    // The tree in preorder: children in the order the search found them.
    let tree = bfs_tree(&succs, 0);
    assert_eq!(tree.preorder(), [0, 1, 3, 2]);
    assert_eq!(tree.children(0).collect::<Vec<_>>(), [1, 3]);
    assert_eq!(tree.subtree(1), 1..3);
    // A chain needs no recursion.
    let n = 100_000u32;
    let chain: Vec<(u32, u32)> = (0..n - 1).map(|i| (i, i + 1)).collect();
    let (succs, _) = graphs(n as usize, &chain);
    let parents = bfs_parents(&succs, 0);
    assert!(parents[1..].iter().enumerate().all(|(i, &p)| p == i as u32));
}

/// Reference: BFS distances to `target` over the combined reverse graph,
/// not searching past sources.
fn distances_to(preds: &[&Csr], target: u32, is_source: &dyn Fn(u32) -> bool) -> Vec<u32> {
    let mut dist = vec![NONE; preds[0].node_count()];
    dist[target as usize] = 0;
    let mut queue = VecDeque::from([target]);
    while let Some(v) = queue.pop_front() {
        if is_source(v) {
            continue;
        }
        for g in preds {
            for &u in g.successors(v) {
                if dist[u as usize] == NONE {
                    dist[u as usize] = dist[v as usize] + 1;
                    queue.push_back(u);
                }
            }
        }
    }
    dist
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn bfs_parents_form_a_shortest_path_tree((n, edges) in arb_graph(80), root in 0u32..80) {
        let root = root % n as u32;
        let (succs, _) = graphs(n, &edges);
        let depth = bfs_depths(&succs, root);
        let parents = bfs_parents(&succs, root);
        prop_assert_eq!(parents[root as usize], NONE);
        for v in 0..n as u32 {
            let p = parents[v as usize];
            if v == root || depth[v as usize] == NONE {
                prop_assert_eq!(p, NONE);
                continue;
            }
            // An edge of the graph, one level up.
            prop_assert!(succs.successors(p).contains(&v));
            prop_assert_eq!(depth[p as usize] + 1, depth[v as usize]);
        }
    }

    #[test]
    fn paths_are_shortest_and_nearest(
        (n, edges) in arb_graph(80),
        weak_edges in proptest::collection::vec((0u32..80, 0u32..80), 0..40),
        source_mod in 2u32..6,
        max in 1usize..6,
        target in 0u32..80,
    ) {
        let target = target % n as u32;
        let weak_edges: Vec<(u32, u32)> = weak_edges
            .into_iter()
            .map(|(s, t)| (s % n as u32, t % n as u32))
            .collect();
        let (succs, preds) = graphs(n, &edges);
        let (weak_succs, weak_preds) = graphs(n, &weak_edges);
        let is_source = |v: u32| v % source_mod == 1;
        let paths = shortest_paths_to(&preds, target, is_source, max, Some(&weak_preds));
        let dist = distances_to(&[&preds, &weak_preds], target, &is_source);

        let reachable: Vec<u32> = (0..n as u32)
            .filter(|&v| is_source(v) && dist[v as usize] != NONE)
            .collect();
        prop_assert_eq!(paths.len(), reachable.len().min(max));
        let mut seen = Vec::new();
        for p in &paths {
            let s = p.nodes[0];
            prop_assert!(is_source(s) && !seen.contains(&s));
            seen.push(s);
            prop_assert_eq!(*p.nodes.last().unwrap(), target);
            prop_assert_eq!(p.nodes.len() - 1, dist[s as usize] as usize);
            prop_assert_eq!(p.via_extra.len(), p.nodes.len() - 1);
            for (i, w) in p.nodes.windows(2).enumerate() {
                prop_assert!(i == 0 || !is_source(w[0]), "path runs through a source");
                let g = if p.via_extra[i] { &weak_succs } else { &succs };
                prop_assert!(g.successors(w[0]).contains(&w[1]), "missing edge");
            }
        }
        // Nearest first, and nothing nearer than the farthest reported left out.
        for w in paths.windows(2) {
            prop_assert!(w[0].nodes.len() <= w[1].nodes.len());
        }
        if let Some(last) = paths.last() {
            let far = last.nodes.len() as u32 - 1;
            for &s in &reachable {
                prop_assert!(dist[s as usize] >= far || seen.contains(&s));
            }
        }
    }
}
