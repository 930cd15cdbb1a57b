//! CSR construction (chunks, parts, edge lists), validation errors and the
//! transpose.

mod common;

use common::{arb_graph, XorShift};
use gograph::{Ascending, Chunk, Csr, CsrError, SparseRows};
use proptest::prelude::*;

/// The graph as sorted (source, target) pairs.
fn edge_set(g: &Csr) -> Vec<(u32, u32)> {
    let mut edges: Vec<(u32, u32)> = (0..g.node_count() as u32)
        .flat_map(|v| g.successors(v).iter().map(move |&t| (v, t)))
        .collect();
    edges.sort_unstable();
    edges
}

/// Splits a graph into chunks of `size` source nodes, leaving out chunks
/// whose nodes have no edges (so the result has gaps).
fn chunks_of(g: &Csr, size: usize) -> Vec<Chunk> {
    (0..g.node_count())
        .step_by(size)
        .map(|first| {
            let nodes = first as u32..(first + size).min(g.node_count()) as u32;
            Chunk {
                first_node: first as u32,
                counts: nodes.clone().map(|v| g.degree(v) as u32).collect(),
                targets: nodes.flat_map(|v| g.successors(v).to_vec()).collect(),
            }
        })
        .filter(|c| !c.targets.is_empty())
        .collect()
}

#[test]
fn from_edges_basics() {
    let g = Csr::from_edges(4, &[(0, 1), (2, 3), (0, 2), (0, 1)]).unwrap();
    assert_eq!(g.node_count(), 4);
    assert_eq!(g.edge_count(), 4);
    assert_eq!(g.successors(0), &[1, 2, 1]);
    assert_eq!(g.successors(1), &[] as &[u32]);
    assert_eq!(g.successors(2), &[3]);
    assert_eq!(g.degree(0), 3);
    assert_eq!(offsets(&g), [0, 3, 3, 4, 4]);
    assert_eq!(
        Csr::from_edges(2, &[(0, 2)]),
        Err(CsrError::TargetOutOfRange { target: 2, n: 2 })
    );
    let empty = Csr::from_edges(0, &[]).unwrap();
    assert_eq!((empty.node_count(), empty.edge_count()), (0, 0));
}

#[test]
fn from_chunks_with_gaps_and_empty_chunks() {
    let chunks = vec![
        Chunk {
            first_node: 2,
            counts: vec![2, 0, 1],
            targets: vec![0, 7, 3],
        },
        Chunk {
            first_node: 5,
            counts: vec![],
            targets: vec![],
        },
        Chunk {
            first_node: 6,
            counts: vec![1],
            targets: vec![6],
        },
    ];
    let g = Csr::from_chunks(9, chunks).unwrap();
    assert_eq!(offsets(&g), [0, 0, 0, 2, 2, 3, 3, 4, 4, 4]);
    assert_eq!(g.successors(2), &[0, 7]);
    assert_eq!(g.successors(4), &[3]);
    assert_eq!(g.successors(6), &[6]);
    assert_eq!(
        offsets(&Csr::from_chunks(3, Vec::new()).unwrap()),
        [0, 0, 0, 0]
    );
}

#[test]
fn from_chunks_rejects_bad_input() {
    let chunk = |first_node, counts: &[u32], targets: &[u32]| Chunk {
        first_node,
        counts: counts.to_vec(),
        targets: targets.to_vec(),
    };
    let overlap = vec![chunk(0, &[1, 1], &[1, 1]), chunk(1, &[1], &[0])];
    assert!(matches!(
        Csr::from_chunks(4, overlap),
        Err(CsrError::ChunkOutOfOrder { chunk: 1, .. })
    ));
    let past_end = vec![chunk(3, &[0, 0], &[])];
    assert!(matches!(
        Csr::from_chunks(4, past_end),
        Err(CsrError::ChunkOutOfOrder { .. })
    ));
    let mismatch = vec![chunk(0, &[2], &[1])];
    assert_eq!(
        Csr::from_chunks(4, mismatch),
        Err(CsrError::CountMismatch {
            chunk: 0,
            counts: 2,
            targets: 1
        })
    );
    let bad_target = vec![chunk(0, &[1], &[4])];
    assert_eq!(
        Csr::from_chunks(4, bad_target),
        Err(CsrError::TargetOutOfRange { target: 4, n: 4 })
    );
    assert!(matches!(
        Csr::from_chunks(u32::MAX as usize + 1, Vec::new()),
        Err(CsrError::TooManyNodes(_))
    ));
}

#[test]
fn from_parts_validates() {
    let parts = |o: &[u64]| Ascending::from_u64s(o).unwrap();
    assert!(Csr::from_parts(parts(&[0, 1, 2]), vec![1, 0]).is_ok());
    assert_eq!(
        Csr::from_parts(parts(&[]), vec![]),
        Err(CsrError::BadOffsets)
    );
    assert!(Ascending::from_u64s(&[0, 2, 1]).is_err());
    assert_eq!(
        Csr::from_parts(parts(&[1, 1]), vec![0]),
        Err(CsrError::BadOffsets)
    );
    assert_eq!(
        Csr::from_parts(parts(&[0, 2]), vec![0]),
        Err(CsrError::BadOffsets)
    );
    assert_eq!(
        Csr::from_parts(parts(&[0, 1]), vec![1]),
        Err(CsrError::TargetOutOfRange { target: 1, n: 1 })
    );
}

fn offsets(g: &Csr) -> Vec<u64> {
    g.offsets().iter().collect()
}

#[test]
fn transpose_large_graph() {
    // Enough edges for the parallel, partitioned transpose.
    let n = 200_000u32;
    let mut rng = XorShift(42);
    let edges: Vec<(u32, u32)> = (0..600_000)
        .map(|_| (rng.below(n), rng.below(n / 3)))
        .collect();
    let g = Csr::from_edges(n as usize, &edges).unwrap();
    let t = g.transpose();
    assert_eq!(t.node_count(), g.node_count());
    assert_eq!(t.edge_count(), g.edge_count());
    let mut expected: Vec<(u32, u32)> = edges.iter().map(|&(s, d)| (d, s)).collect();
    expected.sort_unstable();
    assert_eq!(edge_set(&t), expected);
    // Rows come out sorted by source.
    assert!((0..n).all(|v| t.successors(v).windows(2).all(|w| w[0] <= w[1])));
    let rebuilt = Csr::from_chunks(n as usize, chunks_of(&g, 4096)).unwrap();
    assert_eq!(rebuilt, g);
}

proptest! {
    #[test]
    fn transpose_reverses_every_edge((n, edges) in arb_graph(100)) {
        let g = Csr::from_edges(n, &edges).unwrap();
        let t = g.transpose();
        let mut reversed: Vec<(u32, u32)> = edges.iter().map(|&(s, d)| (d, s)).collect();
        reversed.sort_unstable();
        prop_assert_eq!(edge_set(&t), reversed);
        prop_assert_eq!(edge_set(&t.transpose()), edge_set(&g));
    }

    #[test]
    fn retain_rows_keeps_exactly_the_kept_rows((n, edges) in arb_graph(100), modulus in 1u32..5) {
        let keep = |v: u32| !v.is_multiple_of(modulus);
        let mut g = Csr::from_edges(n, &edges).unwrap();
        g.retain_rows(keep);
        let kept: Vec<(u32, u32)> = edges.iter().copied().filter(|&(s, _)| keep(s)).collect();
        prop_assert_eq!(&g, &Csr::from_edges(n, &kept).unwrap());
        prop_assert_eq!(g.edge_count(), kept.len() as u64);
    }

    #[test]
    fn sparse_rows_are_the_csr_rows((n, edges) in arb_graph(100)) {
        let g = Csr::from_edges(n, &edges).unwrap();
        let sparse = SparseRows::from_edges(n, &edges).unwrap();
        prop_assert_eq!(sparse.node_count(), n);
        prop_assert_eq!(sparse.edge_count(), g.edge_count());
        for v in 0..n as u32 {
            prop_assert_eq!(sparse.successors(v), g.successors(v));
        }
        let (nodes, offsets, targets) = sparse.parts();
        let again = SparseRows::from_parts(n, nodes.to_vec(), offsets.to_vec(), targets.to_vec());
        prop_assert_eq!(again.as_ref(), Ok(&sparse));
        if !nodes.is_empty() {
            let mut bad = offsets.to_vec();
            bad[0] = 1;
            prop_assert!(SparseRows::from_parts(n, nodes.to_vec(), bad, targets.to_vec()).is_err());
            prop_assert!(SparseRows::from_parts(nodes[nodes.len() - 1] as usize, nodes.to_vec(), offsets.to_vec(), targets.to_vec()).is_err());
        }
    }

    #[test]
    fn chunks_rebuild_the_graph((n, edges) in arb_graph(100), size in 1usize..20) {
        let g = Csr::from_edges(n, &edges).unwrap();
        prop_assert_eq!(Csr::from_chunks(n, chunks_of(&g, size)).unwrap(), g);
    }
}
