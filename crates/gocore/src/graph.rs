//! The reference graph of the heap, its roots as named nodes, liveness, and
//! the dominator tree over it: who keeps what alive, and how much.
//!
//! Node numbering (all `u32`, see [`gograph`]):
//! - `0..n_objects`: heap objects, by [`ObjId`] (address order);
//! - then one node per named root ([`RootNode`]): a global variable, a stack
//!   variable of one goroutine's function, a finalizer, ...; the stack
//!   variables of a goroutine hang below one node for the goroutine, so a
//!   goroutine dominates what only its stack keeps alive;
//! - last, the super-root, pointing to every top-level root node.
//!
//! Edges are the pointers the GC follows (its own pointer bits), read by
//! [`References::extract`] during the analysis; marking is the search from
//! the super-root over them, so liveness is exactly reachability. Field
//! names are not stored: a query names the few edges it prints by reading
//! the source object ([`crate::describe`]). Weak references (weak handles)
//! are kept apart and never count as retention.

use std::collections::HashMap;
use std::sync::OnceLock;

use gograph::{Chunk, Csr, CsrBuilder, DomTree, Dominators, NodeSet, Retained, SparseRows};
use gotypes::rtype::TypeReader;
use rayon::prelude::*;

use crate::error::Error;
use crate::heap::{Heap, ObjId};
use crate::index::StoredTreeOrder;
use crate::loader::Image;
use crate::process::Analysis;
use crate::progress::Progress;
use crate::roots::{RootKind, Roots};
use crate::Addr;

/// A named source of references: one node of the graph above the objects.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RootNode {
    pub kind: RootKind,
    /// Index into [`HeapGraph::names`]: the variable, or a description.
    pub name: u32,
    /// The goroutine of a stack variable or goroutine node.
    pub goroutine: Option<u64>,
    /// Index into [`HeapGraph::names`]: the function of a stack variable.
    pub function: Option<u32>,
    /// A goroutine node (parent of the goroutine's stack variables).
    pub is_goroutine: bool,
}

/// Where a root node's reference is stored, for naming the first step of a
/// path (`main.registry` may be a struct whose field holds the pointer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RootSlot {
    pub node: u32,
    /// Address of the pointer (null when it is not stored in named memory).
    pub slot: Addr,
    pub object: ObjId,
}

/// The live heap as a graph, with dominators and retained sizes.
pub struct HeapGraph {
    pub n_objects: u32,
    pub root_nodes: Vec<RootNode>,
    pub names: Vec<String>,
    pub root_slots: Vec<RootSlot>,
    pub succ: Csr,
    /// Predecessors (the transpose of `succ`), made when first asked for
    /// (see [`HeapGraph::pred`]): `retained` and the other reports of a
    /// fresh analysis never need them.
    pub pred: OnceLock<Csr>,
    /// Weak references, as predecessor lists: row `v` lists the weak handles
    /// that refer to object `v` (few rows: stored sparsely).
    pub weak_pred: SparseRows,
    pub idom: Vec<u32>,
    /// The dominator tree in preorder (from `idom`), for the passes over
    /// every subtree (retained by type); see [`HeapGraph::tree`].
    pub tree: OnceLock<DomTree>,
    /// Where a loaded index keeps the tree's preorder, from which
    /// [`HeapGraph::tree`] builds the tree when first asked for, so queries
    /// that need no tree do not pay for it. `None` when `tree` was built
    /// with the graph.
    pub stored_tree: Option<StoredTreeOrder>,
    pub retained: Retained,
}

/// Objects per parallel work unit when extracting edges.
const CHUNK: usize = 4096;
/// Work units per wave of extraction (see [`References::extract`]).
const WAVE_CHUNKS: usize = 64;

/// Liveness: one bit per object, set when the roots reach it.
pub type MarkBits = NodeSet;

/// The reference graph before dominators: what [`HeapGraph::build`] starts
/// from, made by the analysis, which marks live objects on it.
pub struct References {
    /// Successors of every node (objects, root nodes, super-root); the rows
    /// of garbage objects are empty.
    pub succ: Csr,
    /// Object nodes come first: `0..n_objects`.
    pub n_objects: u32,
    pub root_nodes: Vec<RootNode>,
    pub names: Vec<String>,
    pub root_slots: Vec<RootSlot>,
    pub super_root: u32,
}

impl References {
    /// Read the pointers of every allocated object, in address order, and
    /// add the root nodes; then mark what the super-root reaches (exactly
    /// the objects the GC would keep) and drop garbage objects' rows.
    ///
    /// Reading the pointers of every object once, in address order, costs
    /// less than marking by scanning from the roots and reading the live
    /// objects' pointers again for the graph: the core is read
    /// sequentially, each pointer is located once, and marking becomes a
    /// search over compact arrays.
    ///
    /// It reads the core for the last time, as typing does, which runs at
    /// the same time: the caller lets the kernel take back the core's pages
    /// when both are done ([`Image::release_resident`]). It advances
    /// `progress` by one per object read, in a phase the caller begins.
    pub(crate) fn extract(
        heap: &Heap,
        mem: &Image,
        rtypes: &TypeReader<'_>,
        roots: &Roots,
        progress: &dyn Progress,
    ) -> Result<(References, MarkBits), Error> {
        let n_objects = heap.object_count();
        let too_big = |n: usize| Error::Corrupt(format!("{n} graph nodes is more than 2^32"));
        let n_objects_u32 = u32::try_from(n_objects).map_err(|_| too_big(n_objects))?;

        let (root_nodes, names, root_edges, root_slots) = root_nodes(heap, roots, n_objects_u32);
        let n_roots = root_nodes.len();
        let n = n_objects + n_roots + 1;
        let super_root = u32::try_from(n - 1).map_err(|_| too_big(n))?;

        // In waves of address order, each in parallel. Each wave's rows go
        // into the graph before the next wave is read, which reuses their
        // memory.
        let mut succ = CsrBuilder::new(n).map_err(graph_error)?;
        let n_chunks = n_objects.div_ceil(CHUNK);
        for wave in (0..n_chunks).step_by(WAVE_CHUNKS) {
            let wave = wave..(wave + WAVE_CHUNKS).min(n_chunks);
            let rows = (wave.into_par_iter().map(|c| {
                let first = c * CHUNK;
                let last = (first + CHUNK).min(n_objects);
                let chunk = object_rows(heap, mem, rtypes, first..last);
                progress.advance((last - first) as u64);
                chunk
            }))
            .collect();
            succ.append(rows).map_err(graph_error)?;
        }

        // Root nodes' rows, in node order, then the super-root's.
        let mut rows: Vec<Vec<u32>> = vec![Vec::new(); n_roots];
        for &(from, to) in &root_edges {
            rows[(from - n_objects_u32) as usize].push(to);
        }
        let mut top = Vec::new();
        for (i, r) in root_nodes.iter().enumerate() {
            if r.kind != RootKind::Stack || r.is_goroutine {
                top.push(n_objects_u32 + i as u32);
            }
        }
        rows.push(top);
        let mut root_chunk = Chunk {
            first_node: n_objects_u32,
            counts: Vec::with_capacity(rows.len()),
            targets: Vec::new(),
        };
        for mut row in rows {
            row.sort_unstable();
            row.dedup();
            root_chunk.counts.push(row.len() as u32);
            root_chunk.targets.extend(row);
        }
        succ.append(vec![root_chunk]).map_err(graph_error)?;
        let mut succ = succ.finish();

        let mut marks = gograph::reachable(&succ, [super_root]);
        marks.truncate(n_objects);
        succ.retain_rows(|v| v >= n_objects_u32 || marks.contains(v));
        let refs = References {
            succ,
            n_objects: n_objects_u32,
            root_nodes,
            names,
            root_slots,
            super_root,
        };
        Ok((refs, marks))
    }
}

/// The rows of the objects `ids`: the objects each points to, as the GC
/// sees its pointers.
fn object_rows(
    heap: &Heap,
    mem: &Image,
    rtypes: &TypeReader<'_>,
    ids: std::ops::Range<usize>,
) -> Chunk {
    let mut chunk = Chunk {
        first_node: ids.start as u32,
        counts: Vec::with_capacity(ids.len()),
        targets: Vec::new(),
    };
    for i in ids {
        let id = ObjId(i as u32);
        let before = chunk.targets.len();
        heap.for_each_pointer(mem, rtypes, id, |_, p| {
            if let Some(t) = heap.find_object(p) {
                // Skip self references and runs of pointers into one object
                // (a slice's data word repeated, a struct pointing twice).
                // Only within this object's row: the previous object's last
                // target is no repeat.
                if t != id && chunk.targets[before..].last() != Some(&t.0) {
                    chunk.targets.push(t.0);
                }
            }
        });
        chunk.counts.push((chunk.targets.len() - before) as u32);
    }
    chunk
}

impl HeapGraph {
    /// Predecessors of every node: strong references into it.
    pub fn pred(&self) -> &Csr {
        self.pred.get_or_init(|| self.succ.transpose())
    }

    /// The dominator tree in preorder.
    pub fn tree(&self) -> &DomTree {
        self.tree.get_or_init(|| {
            let super_root = (self.idom.len() - 1) as u32;
            // A stored order that is unreadable or not a tree order of
            // `idom` (the file changed or is corrupt) costs a slower build
            // of the same tree, never a wrong one.
            let stored = self.stored_tree.as_ref().and_then(StoredTreeOrder::read);
            stored
                .filter(|order| order.first() == Some(&super_root))
                .and_then(|order| DomTree::from_topological(&self.idom, &order))
                .unwrap_or_else(|| DomTree::from_idom(&self.idom, super_root))
        })
    }

    /// Build the graph of the analysed heap and compute its dominators, from
    /// the analysis' [`References`] (taken from it; extracted anew if they
    /// were taken before).
    pub fn build(a: &mut Analysis<'_>, progress: &dyn Progress) -> Result<HeapGraph, Error> {
        let refs = a.take_references(progress)?;
        let weak = a.weak_edges();
        let heap = &a.heap;
        HeapGraph::from_references(refs, &weak, |v| heap.size(ObjId(v)), progress)
    }

    /// The graph of `refs` with its dominators: `weak` are the weak handles'
    /// `(object, handle)` edges, `object_size` the size of each object node.
    pub fn from_references(
        refs: References,
        weak: &[(u32, u32)],
        object_size: impl Fn(u32) -> u64 + Sync,
        progress: &dyn Progress,
    ) -> Result<HeapGraph, Error> {
        let n = refs.succ.node_count();
        let n_objects = refs.n_objects;
        let weak_pred = SparseRows::from_edges(n, weak).map_err(graph_error)?;

        progress.phase("computing dominators", None);
        let dom = Dominators::compute(&refs.succ, refs.super_root);
        // The tree first, so that the search's preorder is gone (4 bytes
        // per node) before the retained sizes are made from the tree's.
        let tree = dom.tree();
        let (idom, _) = dom.into_parts();
        let retained =
            tree.retained_with(&idom, |v| if v < n_objects { object_size(v) } else { 0 });
        Ok(HeapGraph {
            n_objects,
            root_nodes: refs.root_nodes,
            names: refs.names,
            root_slots: refs.root_slots,
            succ: refs.succ,
            pred: OnceLock::new(),
            weak_pred,
            idom,
            tree: tree.into(),
            stored_tree: None,
            retained,
        })
    }
}

fn graph_error(e: gograph::CsrError) -> Error {
    Error::Corrupt(format!("reference graph: {e}"))
}

type RootParts = (Vec<RootNode>, Vec<String>, Vec<(u32, u32)>, Vec<RootSlot>);

/// One node per distinct named root, one per goroutine with stack roots, and
/// the edges from root nodes (to objects, and from goroutines to their
/// variables).
fn root_nodes(heap: &Heap, roots: &Roots, n_objects: u32) -> RootParts {
    let mut names = roots.names.clone();
    let mut nodes: Vec<RootNode> = Vec::new();
    let mut index: HashMap<RootNode, u32> = HashMap::new();
    let mut edges = Vec::new();
    let mut slots = Vec::new();
    let mut goroutine_names: HashMap<u64, u32> = HashMap::new();
    let mut node_of = |node: RootNode, nodes: &mut Vec<RootNode>| -> u32 {
        if let Some(&i) = index.get(&node) {
            return i;
        }
        let i = n_objects + nodes.len() as u32;
        index.insert(node.clone(), i);
        nodes.push(node);
        i
    };
    for r in &roots.roots {
        let Some(obj) = heap.find_object(r.target) else {
            continue;
        };
        let node = node_of(
            RootNode {
                kind: r.kind,
                name: r.name,
                goroutine: r.goroutine,
                function: r.function,
                is_goroutine: false,
            },
            &mut nodes,
        );
        if let (RootKind::Stack, Some(gid)) = (r.kind, r.goroutine) {
            let name = *goroutine_names.entry(gid).or_insert_with(|| {
                names.push(format!("goroutine {gid}"));
                (names.len() - 1) as u32
            });
            let g = node_of(
                RootNode {
                    kind: RootKind::Stack,
                    name,
                    goroutine: Some(gid),
                    function: None,
                    is_goroutine: true,
                },
                &mut nodes,
            );
            edges.push((g, node));
        }
        edges.push((node, obj.0));
        slots.push(RootSlot {
            node,
            slot: r.slot,
            object: obj,
        });
    }
    (nodes, names, edges, slots)
}
