//! Helpers shared by the integration tests: graph construction, random graph
//! strategies and petgraph-based reference answers.
#![allow(dead_code)] // each test binary uses a different subset

use gograph::Csr;
use petgraph::algo::dominators::simple_fast;
use petgraph::graph::{DiGraph, NodeIndex};
use proptest::prelude::*;

/// Successor graph.
pub fn succs_of(n: usize, edges: &[(u32, u32)]) -> Csr {
    Csr::from_edges(n, edges).expect("valid test graph")
}

/// Successor graph and its transpose.
pub fn graphs(n: usize, edges: &[(u32, u32)]) -> (Csr, Csr) {
    let succs = Csr::from_edges(n, edges).expect("valid test graph");
    let preds = succs.transpose();
    (succs, preds)
}

/// Immediate dominators according to petgraph (None for the root and for
/// unreachable nodes).
pub fn petgraph_idoms(n: usize, edges: &[(u32, u32)], root: u32) -> Vec<Option<u32>> {
    let mut g = DiGraph::<(), ()>::with_capacity(n, edges.len());
    for _ in 0..n {
        g.add_node(());
    }
    for &(s, t) in edges {
        g.add_edge(NodeIndex::new(s as usize), NodeIndex::new(t as usize), ());
    }
    let doms = simple_fast(&g, NodeIndex::new(root as usize));
    (0..n)
        .map(|v| {
            doms.immediate_dominator(NodeIndex::new(v))
                .map(|d| d.index() as u32)
        })
        .collect()
}

/// Random graphs: 1..max_n nodes, up to 3 edges per node on average
/// (self loops, duplicates and unreachable nodes included).
pub fn arb_graph(max_n: usize) -> impl Strategy<Value = (usize, Vec<(u32, u32)>)> {
    (1..max_n).prop_flat_map(|n| {
        let node = 0..n as u32;
        (
            Just(n),
            proptest::collection::vec((node.clone(), node), 0..n * 3),
        )
    })
}

/// Deterministic xorshift64 for large fixed test graphs.
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: u32) -> u32 {
        (self.next() % u64::from(n)) as u32
    }
}
