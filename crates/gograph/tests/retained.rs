//! Retained sizes, the dominator tree in preorder, and retained-by-key
//! totals: hand-computed small graphs plus brute force on random graphs.

mod common;

use common::{arb_graph, succs_of};
use gograph::{CompactU64s, DomTree, Dominators, KeyTotals, Retained, NONE};
use proptest::prelude::*;

fn dominators(n: usize, edges: &[(u32, u32)]) -> Dominators {
    Dominators::compute(&succs_of(n, edges), 0)
}

/// Brute force: every node's size is charged to itself and each of its
/// dominators.
fn brute_retained(doms: &Dominators, size: &[u64]) -> Retained {
    let n = doms.node_count();
    let mut bytes = vec![0; n];
    let mut objects = vec![0; n];
    for v in (0..n as u32).filter(|&v| doms.is_reachable(v)) {
        for d in std::iter::once(v).chain(doms.dominators_of(v)) {
            bytes[d as usize] += size[v as usize];
            objects[d as usize] += u32::from(size[v as usize] > 0);
        }
    }
    Retained {
        bytes: CompactU64s::from_fn(n, |v| bytes[v]),
        objects,
    }
}

/// Brute force: a node counts for its key unless a strict dominator has the
/// same key.
fn brute_by_key(doms: &Dominators, r: &Retained, key: &[u32], n_keys: usize) -> Vec<KeyTotals> {
    let mut totals = vec![KeyTotals::default(); n_keys];
    for v in (0..doms.node_count() as u32).filter(|&v| doms.is_reachable(v)) {
        let k = key[v as usize];
        if k != NONE && !doms.dominators_of(v).any(|d| key[d as usize] == k) {
            totals[k as usize].bytes += r.bytes.get(v as usize);
            totals[k as usize].objects += u64::from(r.objects[v as usize]);
        }
    }
    totals
}

#[test]
fn diamond_charges_shared_child_to_fork() {
    // 0 (root, size 0) -> 1 (fork) -> 2, 3 -> 4 (shared); 4 -> 5 (private).
    let edges = [(0, 1), (1, 2), (1, 3), (2, 4), (3, 4), (4, 5)];
    let doms = dominators(6, &edges);
    let size = [0, 10, 20, 30, 40, 50];
    let r = doms.retained(&size);
    assert_eq!(
        r.bytes.iter().collect::<Vec<_>>(),
        [150, 150, 20, 30, 90, 50]
    );
    assert_eq!(r.objects, vec![5, 5, 1, 1, 2, 1]);
}

#[test]
fn unreachable_nodes_retain_nothing() {
    // 2 and 3 are garbage; 3 points into the live graph.
    let edges = [(0, 1), (3, 1), (2, 3)];
    let doms = dominators(4, &edges);
    let r = doms.retained(&[0, 8, 16, 32]);
    assert_eq!(r.bytes.iter().collect::<Vec<_>>(), [8, 8, 0, 0]);
    assert_eq!(r.objects, vec![1, 1, 0, 0]);
}

/// The nodes of `v`'s children in `tree`, ascending.
fn children_of(tree: &DomTree, v: u32) -> Vec<u32> {
    let at = tree.positions()[v as usize];
    let mut kids: Vec<u32> = (at != NONE)
        .then(|| tree.children(at as usize).map(|c| tree.preorder()[c]))
        .into_iter()
        .flatten()
        .collect();
    kids.sort_unstable();
    kids
}

#[test]
fn tree_children_and_subtrees() {
    let edges = [(0, 1), (1, 2), (1, 3), (2, 4), (3, 4), (4, 5), (0, 6)];
    let tree = dominators(8, &edges).tree();
    assert_eq!((tree.root(), tree.len(), tree.node_count()), (0, 7, 8));
    assert_eq!(children_of(&tree, 0), [1, 6]);
    assert_eq!(children_of(&tree, 1), [2, 3, 4]);
    assert_eq!(children_of(&tree, 4), [5]);
    assert_eq!(children_of(&tree, 5), [] as [u32; 0]);
    let at = tree.positions();
    assert_eq!(at[7], NONE); // unreachable
    assert_eq!(tree.subtree(0), 0..7);
    assert_eq!(tree.subtree(at[1] as usize).len(), 5);
    assert_eq!(tree.subtree(at[4] as usize).len(), 2);
}

#[test]
fn single_node_and_deep_chain() {
    let tree = DomTree::from_topological(&[0, NONE], &[0]).unwrap();
    assert_eq!((tree.len(), tree.subtree(0)), (1, 0..1));
    assert_eq!(tree.children(0).count(), 0);

    let n = 100_000u32;
    let edges: Vec<(u32, u32)> = (0..n - 1).map(|i| (i, i + 1)).collect();
    let tree = dominators(n as usize, &edges).tree();
    assert!(tree.preorder().iter().copied().eq(0..n));
    assert!((0..n as usize).all(|p| tree.subtree(p) == (p..n as usize)));
}

#[test]
fn from_topological_refuses_what_is_not_a_tree_order() {
    // 0 -> 1 -> 2, and 3 outside the tree.
    let idom = [0, 0, 1, NONE];
    assert!(DomTree::from_topological(&idom, &[0, 1, 2]).is_some());
    for topo in [
        &[][..],       // empty
        &[5, 1],       // root out of range
        &[0, 9],       // node out of range
        &[0, 2, 1],    // before its dominator
        &[0, 1, 1],    // twice
        &[0, 1, 2, 0], // the root twice
        &[0, 3],       // its dominator out of range
    ] {
        assert_eq!(DomTree::from_topological(&idom, topo), None, "{topo:?}");
    }
}

#[test]
fn by_key_counts_nested_holders_once() {
    // root 0 -> list head 1 -> 2 -> 3 (all key 1, a linked list), each list
    // node owns a payload (4, 5, 6; key 0). 0 -> 7 (key 1) shares payload 6
    // with list node 3, so 6 is dominated by the root only.
    let edges = [
        (0, 1),
        (1, 2),
        (2, 3),
        (1, 4),
        (2, 5),
        (3, 6),
        (0, 7),
        (7, 6),
    ];
    let doms = dominators(8, &edges);
    let size = [0, 16, 16, 16, 100, 200, 400, 8];
    let key = [NONE, 1, 1, 1, 0, 0, 0, 1];
    let r = doms.retained(&size);
    assert_eq!(r.bytes.get(1), 16 * 3 + 100 + 200);
    let totals = doms.tree().retained_by_key(&r, &key, 3);
    // Key 1: the list (counted once, through its head) and node 7.
    assert_eq!(
        totals[1],
        KeyTotals {
            bytes: 348 + 8,
            objects: 5 + 1
        }
    );
    // Key 0: each payload once (none nests in another).
    assert_eq!(
        totals[0],
        KeyTotals {
            bytes: 700,
            objects: 3
        }
    );
    assert_eq!(totals[2], KeyTotals::default());
    assert_eq!(totals, brute_by_key(&doms, &r, &key, 3));
}

#[test]
fn by_key_long_list_counted_once() {
    let n = 100_000u32;
    let edges: Vec<(u32, u32)> = (0..n - 1).map(|i| (i, i + 1)).collect();
    let doms = dominators(n as usize, &edges);
    let mut size = vec![24u64; n as usize];
    size[0] = 0;
    let mut key = vec![1u32; n as usize];
    key[0] = NONE;
    let r = doms.retained(&size);
    let totals = doms.tree().retained_by_key(&r, &key, 2);
    let list = u64::from(n - 1);
    assert_eq!(
        totals[1],
        KeyTotals {
            bytes: 24 * list,
            objects: list
        }
    );
    assert_eq!(totals[0], KeyTotals::default());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn retained_matches_brute_force(
        (n, edges) in arb_graph(120),
        seed in any::<u64>(),
        wide in any::<bool>(),
    ) {
        let doms = dominators(n, &edges);
        // Sizes 0..=3 (so some nodes are not objects), in units of 3 GiB
        // when `wide` (so that sums pass 4 GiB); keys 0..3 or none.
        let unit = if wide { 3 << 30 } else { 1 };
        let mut rng = common::XorShift(seed | 1);
        let size: Vec<u64> = (0..n).map(|_| rng.next() % 4 * unit).collect();
        let key: Vec<u32> = (0..n)
            .map(|_| match rng.below(4) { 3 => NONE, k => k })
            .collect();
        let r = doms.retained(&size);
        prop_assert_eq!(&r, &brute_retained(&doms, &size));
        let totals = doms.tree().retained_by_key(&r, &key, 3);
        prop_assert_eq!(&totals, &brute_by_key(&doms, &r, &key, 3));
        // The same keys in 16 bits (NONE as u16::MAX) give the same totals.
        let narrow: Vec<u16> = key.iter().map(|&k| u16::try_from(k).unwrap_or(u16::MAX)).collect();
        prop_assert_eq!(doms.tree().retained_by_key(&r, &narrow, 3), totals);
    }

    #[test]
    fn tree_is_a_preorder_of_the_dominators((n, edges) in arb_graph(120)) {
        let doms = dominators(n, &edges);
        let tree = doms.tree();
        prop_assert_eq!(tree.len(), doms.preorder().len());
        prop_assert_eq!(tree.root(), 0);
        let order = tree.preorder();
        for p in 0..tree.len() {
            let v = order[p];
            for c in tree.children(p) {
                prop_assert_eq!(doms.immediate_dominator(order[c]), Some(v));
            }
            // A subtree holds exactly the nodes `v` dominates.
            let sub = tree.subtree(p);
            for (q, &w) in order.iter().enumerate() {
                let dominated = w == v || doms.dominators_of(w).any(|d| d == v);
                prop_assert_eq!(sub.contains(&q), dominated);
            }
        }
        // Its own preorder gives the same tree back.
        prop_assert_eq!(DomTree::from_topological(doms.idom(), order), Some(tree.clone()));
        // Built from `idom` alone, it has the same nodes, children and
        // subtree sizes (siblings may come in another order).
        let again = DomTree::from_idom(doms.idom(), 0);
        prop_assert_eq!(again.len(), tree.len());
        let at = again.positions();
        for v in 0..n as u32 {
            prop_assert_eq!(children_of(&again, v), children_of(&tree, v));
            if at[v as usize] != NONE {
                let sub = again.subtree(at[v as usize] as usize).len();
                prop_assert_eq!(sub, tree.subtree(tree.positions()[v as usize] as usize).len());
            }
        }
    }
}

#[test]
fn from_idom_leaves_out_what_does_not_reach_the_root() {
    // 0 -> 1 -> 2; 3 and 4 dominate each other (bad data); 5 outside.
    let tree = DomTree::from_idom(&[0, 0, 1, 4, 3, NONE], 0);
    assert_eq!(tree.preorder(), [0, 1, 2]);
    assert_eq!(tree.subtree(1), 1..3);
}
