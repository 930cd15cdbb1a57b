//! Dominators against petgraph's `simple_fast` on random graphs, plus
//! adversarial shapes (deep chains prove there is no recursion).

mod common;

use common::{arb_graph, petgraph_idoms, succs_of, XorShift};
use gograph::{Dominators, NONE};
use proptest::prelude::*;

/// Checks every node's immediate dominator against petgraph, and the
/// structural invariants of the result.
fn check_against_petgraph(n: usize, edges: &[(u32, u32)], root: u32) -> Dominators {
    let succs = succs_of(n, edges);
    let doms = Dominators::compute(&succs, root);
    let expected = petgraph_idoms(n, edges, root);
    for v in 0..n as u32 {
        assert_eq!(
            doms.immediate_dominator(v),
            expected[v as usize],
            "idom of {v}"
        );
    }
    check_invariants(&doms);
    doms
}

fn check_invariants(doms: &Dominators) {
    let root = doms.root();
    assert_eq!(doms.preorder()[0], root);
    assert_eq!(doms.idom()[root as usize], root);
    let reachable = (0..doms.node_count() as u32)
        .filter(|&v| doms.is_reachable(v))
        .count();
    assert_eq!(doms.preorder().len(), reachable);
    // Every node comes after its immediate dominator in the preorder.
    let mut position = vec![NONE; doms.node_count()];
    for (i, &v) in doms.preorder().iter().enumerate() {
        assert_eq!(position[v as usize], NONE, "{v} twice in preorder");
        position[v as usize] = i as u32;
    }
    for &v in &doms.preorder()[1..] {
        let d = doms
            .immediate_dominator(v)
            .expect("reachable non-root has an idom");
        assert!(position[d as usize] < position[v as usize]);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn matches_petgraph((n, edges) in arb_graph(200)) {
        check_against_petgraph(n, &edges, 0);
    }

    #[test]
    fn matches_petgraph_any_root((n, edges) in arb_graph(60), root in 0u32..60) {
        let root = root % n as u32;
        check_against_petgraph(n, &edges, root);
    }

    /// Sparse graphs (fewer edges than nodes) have long chains and many
    /// unreachable nodes.
    #[test]
    fn matches_petgraph_sparse(n in 2usize..200, seed in any::<u64>()) {
        let mut rng = XorShift(seed | 1);
        let edges: Vec<(u32, u32)> = (0..n * 3 / 4)
            .map(|_| (rng.below(n as u32), rng.below(n as u32)))
            .collect();
        check_against_petgraph(n, &edges, 0);
    }

    #[test]
    fn dominators_of_is_the_idom_chain((n, edges) in arb_graph(100)) {
        let succs = succs_of(n, &edges);
        let doms = Dominators::compute(&succs, 0);
        for v in 0..n as u32 {
            let chain: Vec<u32> = doms.dominators_of(v).collect();
            if v == 0 || !doms.is_reachable(v) {
                prop_assert!(chain.is_empty());
            } else {
                prop_assert_eq!(chain[0], doms.immediate_dominator(v).unwrap());
                prop_assert_eq!(*chain.last().unwrap(), 0);
                for w in chain.windows(2) {
                    prop_assert_eq!(doms.immediate_dominator(w[0]), Some(w[1]));
                }
            }
        }
    }
}

#[test]
fn long_chain_no_recursion() {
    let n = 100_000u32;
    let edges: Vec<(u32, u32)> = (0..n - 1).map(|i| (i, i + 1)).collect();
    let succs = succs_of(n as usize, &edges);
    let doms = Dominators::compute(&succs, 0);
    for v in 1..n {
        assert_eq!(doms.immediate_dominator(v), Some(v - 1));
    }
    assert_eq!(doms.dominators_of(n - 1).count(), n as usize - 1);
    let retained = doms.retained(&vec![1; n as usize]);
    assert_eq!(retained.bytes.get(0), u64::from(n));
    assert_eq!(retained.objects[n as usize / 2], n - n / 2);
    check_invariants(&doms);
}

/// A chain whose even nodes also skip one ahead, and whose nodes all point
/// back to the root: the DFS path is 100k deep and the link-eval forest
/// compresses long paths.
#[test]
fn long_ladder_with_back_edges() {
    let n = 100_000u32;
    let mut edges = Vec::new();
    for i in 0..n {
        if i + 1 < n {
            edges.push((i, i + 1));
        }
        if i % 2 == 0 && i + 2 < n {
            edges.push((i, i + 2));
        }
        edges.push((i, 0));
    }
    let succs = succs_of(n as usize, &edges);
    let doms = Dominators::compute(&succs, 0);
    assert_eq!(doms.immediate_dominator(1), Some(0));
    for v in 2..n {
        let expected = if v % 2 == 1 { v - 1 } else { v - 2 };
        assert_eq!(doms.immediate_dominator(v), Some(expected), "idom of {v}");
    }
    // Mid-size prefix against petgraph too.
    let m = 3_000u32;
    let small: Vec<(u32, u32)> = edges
        .iter()
        .copied()
        .filter(|&(s, t)| s < m && t < m)
        .collect();
    check_against_petgraph(m as usize, &small, 0);
}

/// A chain numbered backwards with every node also reachable from the root:
/// deep DFS, flat dominator tree.
#[test]
fn reversed_chain_with_shortcuts() {
    let n = 100_000u32;
    let mut edges: Vec<(u32, u32)> = (2..n).map(|i| (i, i - 1)).collect();
    edges.push((0, n - 1));
    edges.extend((1..n).step_by(2).map(|i| (0, i)));
    let succs = succs_of(n as usize, &edges);
    let doms = Dominators::compute(&succs, 0);
    for v in 1..n {
        let expected = if v % 2 == 1 || v == n - 1 { 0 } else { v + 1 };
        assert_eq!(doms.immediate_dominator(v), Some(expected), "idom of {v}");
    }
}

#[test]
fn complete_dag() {
    let n = 200u32;
    let edges: Vec<(u32, u32)> = (0..n)
        .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
        .collect();
    let doms = check_against_petgraph(n as usize, &edges, 0);
    assert!((1..n).all(|v| doms.immediate_dominator(v) == Some(0)));
}

#[test]
fn cycles() {
    // A ring: each node dominates the next.
    let n = 1000u32;
    let edges: Vec<(u32, u32)> = (0..n).map(|i| (i, (i + 1) % n)).collect();
    let doms = check_against_petgraph(n as usize, &edges, 0);
    assert!((1..n).all(|v| doms.immediate_dominator(v) == Some(v - 1)));
    // Two interlocked loops entered from both sides.
    let edges = [
        (0, 1),
        (0, 3),
        (1, 2),
        (2, 1),
        (2, 3),
        (3, 4),
        (4, 3),
        (4, 2),
        (4, 5),
    ];
    let doms = check_against_petgraph(6, &edges, 0);
    assert_eq!(doms.immediate_dominator(5), Some(4));
    assert_eq!(doms.immediate_dominator(2), Some(0));
}

#[test]
fn diamond_ladder() {
    // fork 3k -> 3k+1, 3k+2 -> join 3k+3, repeated.
    let rungs = 1000u32;
    let mut edges = Vec::new();
    for k in 0..rungs {
        let f = 3 * k;
        edges.extend([(f, f + 1), (f, f + 2), (f + 1, f + 3), (f + 2, f + 3)]);
    }
    let n = 3 * rungs as usize + 1;
    let doms = check_against_petgraph(n, &edges, 0);
    for k in 0..rungs {
        let f = 3 * k;
        assert_eq!(doms.immediate_dominator(f + 1), Some(f));
        assert_eq!(doms.immediate_dominator(f + 2), Some(f));
        assert_eq!(doms.immediate_dominator(f + 3), Some(f));
    }
}

#[test]
fn self_loops_and_duplicate_edges() {
    let edges = [
        (0, 0),
        (0, 1),
        (0, 1),
        (1, 1),
        (1, 2),
        (1, 2),
        (2, 2),
        (2, 0),
        (0, 3),
        (3, 2),
    ];
    let doms = check_against_petgraph(4, &edges, 0);
    assert_eq!(doms.immediate_dominator(1), Some(0));
    assert_eq!(doms.immediate_dominator(2), Some(0));
    assert_eq!(doms.immediate_dominator(3), Some(0));
}

#[test]
fn root_without_edges() {
    let edges = [(1, 2), (2, 3), (3, 1)];
    let succs = succs_of(4, &edges);
    let doms = Dominators::compute(&succs, 0);
    assert_eq!(doms.preorder(), &[0]);
    assert_eq!(doms.idom(), &[0, NONE, NONE, NONE]);
    assert_eq!(doms.immediate_dominator(0), None);
    assert!(doms.is_reachable(0));
    assert!(!doms.is_reachable(1));
    assert_eq!(doms.dominators_of(2).count(), 0);
    // A single-node graph.
    let succs = succs_of(1, &[]);
    let doms = Dominators::compute(&succs, 0);
    assert_eq!(doms.preorder(), &[0]);
}

#[test]
fn random_medium_graphs() {
    // Heap-like: a random tree plus a few cross edges, 5k nodes.
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let n = 5_000u32;
    for _ in 0..4 {
        let mut edges: Vec<(u32, u32)> = (1..n).map(|v| (rng.below(v), v)).collect();
        edges.extend((0..n / 2).map(|_| (rng.below(n), rng.below(n))));
        check_against_petgraph(n as usize, &edges, 0);
    }
    // Larger than one predecessor block of the semidominator pass.
    let n = 60_000u32;
    let mut edges: Vec<(u32, u32)> = (1..n).map(|v| (rng.below(v), v)).collect();
    edges.extend((0..n / 3).map(|_| (rng.below(n), rng.below(n))));
    edges.extend((0..n / 3).map(|_| (rng.below(n), rng.below(n) / 8)));
    check_against_petgraph(n as usize, &edges, 0);
}

#[test]
#[should_panic(expected = "out of range")]
fn root_out_of_range_panics() {
    let succs = succs_of(3, &[(0, 1)]);
    Dominators::compute(&succs, 3);
}

/// A heap's shape over more nodes than one parallel group of set-aside
/// leaves: a random graph of inner nodes, each pointing at leaves and at
/// parents of leaves (a string header and its bytes), with the leaf ids
/// interleaved with the inner ones.
#[test]
fn many_leaves_and_leaf_parents() {
    let mut rng = XorShift(0x51_7cc1_b727_220a);
    let n = 300_000u32;
    // Every fourth node is inner; the rest hang off the inner nodes below them.
    let inner = |v: u32| v.is_multiple_of(4);
    let mut edges = Vec::new();
    for v in (4..n).step_by(4) {
        // Inner nodes form a random graph; a few have no tree edge.
        if v % 1000 != 0 {
            edges.push((rng.below(v / 4) * 4, v));
        }
        edges.push((v, rng.below(n / 4) * 4));
    }
    for v in (0..n).filter(|&v| !inner(v)) {
        let owner = v / 4 * 4;
        match v % 4 {
            // A leaf of its owner, and sometimes shared with another.
            1 => {
                edges.push((owner, v));
                if rng.below(8) == 0 {
                    edges.push((rng.below(n / 4) * 4, v));
                }
            }
            // A leaf parent: its owner's, pointing at leaf v + 1.
            2 => edges.extend([(owner, v), (v, v + 1)]),
            _ => {}
        }
    }
    let doms = check_against_petgraph(n as usize, &edges, 0);
    assert_eq!(doms.immediate_dominator(6), Some(4));
    assert_eq!(doms.immediate_dominator(7), Some(6));
}
