//! The analysed heap as plain arrays: everything queries need after the
//! analysis (objects, their types and sizes, liveness, the reference graph
//! and its dominators), detached from the spans and the core's layout so it
//! can be saved to an index ([`crate::index`]) and loaded back without
//! re-analysing the core.

use gograph::Ascending;
use rayon::prelude::*;

use crate::graph::HeapGraph;
use crate::heap::{Heap, ObjId};
use crate::process::Analysis;
use crate::progress::Progress;
use crate::sizes::ObjectSizes;
use crate::typing::{self, ObjType, TypeRef};
use crate::Addr;

/// Per-object flag: the object starts with a malloc header (Go 1.22+).
pub const FLAG_HEADER: u8 = 1;
/// Per-object flag: the span holds no pointers.
pub const FLAG_NOSCAN: u8 = 2;
/// Per-object flag: reachable from the roots.
pub const FLAG_LIVE: u8 = 4;

/// Every allocated object, in address order (index = [`ObjId`]).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Objects {
    /// Slot address (where the malloc header is, if any).
    pub slot: Ascending,
    /// Bytes the object occupies (its slot size), 1 byte each.
    pub size: ObjectSizes,
    pub flags: Vec<u8>,
    /// Index into [`HeapModel::types`] (0 is "unknown"), and the array
    /// length of a backing array, or 0 for a single value; pointer words of
    /// an untyped object.
    pub types: Vec<ObjType>,
}

/// The analysed heap.
pub struct HeapModel {
    pub objects: Objects,
    /// Distinct types; index 0 is "unknown".
    pub types: Vec<Option<TypeRef>>,
    /// Display names, by index into `types`.
    pub type_names: Vec<String>,
    pub graph: HeapGraph,
    /// What the analysis could not read or skipped (its warnings): printed
    /// when it ran, and kept so that a query answered from the index says
    /// the same.
    pub warnings: Vec<String>,
}

impl HeapModel {
    /// Collect the analysis' results and build the reference graph; the
    /// analysis stays usable (its arrays are copied).
    pub fn build(a: &mut Analysis<'_>, progress: &dyn Progress) -> Result<HeapModel, crate::Error> {
        let graph = HeapGraph::build(a, progress)?;
        let (slot, types) = (a.heap.objects.clone(), a.types.objs.clone());
        Ok(HeapModel {
            objects: objects(a, slot, types),
            types: a.types.types.clone(),
            type_names: a.types.names.clone(),
            graph,
            warnings: a.warnings.clone(),
        })
    }

    /// [`HeapModel::build`] from an analysis no longer needed: its arrays
    /// move into the model, and the rest is freed before the graph's
    /// arrays are allocated.
    pub fn from_analysis(
        mut a: Analysis<'_>,
        progress: &dyn Progress,
    ) -> Result<HeapModel, crate::Error> {
        let refs = a.take_references(progress)?;
        let weak = a.weak_edges();
        let slot = std::mem::take(&mut a.heap.objects);
        let types = std::mem::take(&mut a.types.objs);
        let objects = objects(&a, slot, types);
        let (types, type_names, warnings) = (
            std::mem::take(&mut a.types.types),
            std::mem::take(&mut a.types.names),
            std::mem::take(&mut a.warnings),
        );
        drop(a);
        let size = |v: u32| objects.size.get(v as usize);
        let graph = HeapGraph::from_references(refs, &weak, size, progress)?;
        Ok(HeapModel {
            objects,
            types,
            type_names,
            graph,
            warnings,
        })
    }

    pub fn object_count(&self) -> usize {
        self.objects.slot.len()
    }

    /// The object containing `addr` (any interior address, header included).
    pub fn find_object(&self, addr: Addr) -> Option<ObjId> {
        let o = &self.objects;
        let i = o.slot.partition_point(|s| s <= addr.0).checked_sub(1)?;
        (addr.0 - o.slot.get(i) < o.size.get(i)).then_some(ObjId(i as u32))
    }

    pub fn slot(&self, id: ObjId) -> Addr {
        Addr(self.objects.slot.get(id.index()))
    }

    pub fn size(&self, id: ObjId) -> u64 {
        self.objects.size.get(id.index())
    }

    fn flag(&self, id: ObjId, f: u8) -> bool {
        self.objects.flags[id.index()] & f != 0
    }

    pub fn is_live(&self, id: ObjId) -> bool {
        self.flag(id, FLAG_LIVE)
    }

    /// The address Go code prints with `%p` (after the malloc header).
    pub fn user_addr(&self, id: ObjId) -> Addr {
        let header = if self.flag(id, FLAG_HEADER) {
            crate::heap::MALLOC_HEADER_SIZE
        } else {
            0
        };
        self.slot(id) + header
    }

    /// End of the object's slot.
    pub fn end(&self, id: ObjId) -> Addr {
        self.slot(id) + self.size(id)
    }

    pub fn type_of(&self, id: ObjId) -> Option<TypeRef> {
        self.types[self.objects.types[id.index()].ty as usize]
    }

    pub fn array_count(&self, id: ObjId) -> u32 {
        self.objects.types[id.index()].count
    }

    /// The type as Go prints it with `%T`; backing arrays as `[N]T`.
    pub fn display_name(&self, id: ObjId) -> String {
        let o = self.objects.types[id.index()];
        let t = o.ty as usize;
        typing::display_name(
            (t != 0).then(|| self.type_names[t].as_str()),
            o.count,
            self.size(id),
            self.flag(id, FLAG_NOSCAN),
        )
    }
}

/// The slot sizes of the heap's objects: each span's objects, numbered in
/// span order, make a run.
fn sizes_of(heap: &Heap) -> ObjectSizes {
    ObjectSizes::from_runs(
        heap.spans
            .iter()
            .map(|s| (s.object_count as usize, s.elemsize)),
    )
}

/// The model's object arrays: `slot` and `types` as given (the analysis'
/// own, or copies), sizes (by span) and flags (in parallel) from the spans.
fn objects(a: &Analysis<'_>, slot: Ascending, types: Vec<ObjType>) -> Objects {
    let heap = &a.heap;
    // Not `heap.object_count()`: the heap's slots may have moved to `slot`.
    let n = slot.len();
    let flags = |i: usize| {
        let s = heap.span_of_object(ObjId(i as u32));
        let mut f = 0;
        if heap.span_has_headers(s) {
            f |= FLAG_HEADER;
        }
        if s.noscan() {
            f |= FLAG_NOSCAN;
        }
        if a.is_live(ObjId(i as u32)) {
            f |= FLAG_LIVE;
        }
        f
    };
    let size = sizes_of(heap);
    debug_assert!(
        size.len() == n && (0..n).all(|i| size.get(i) == heap.size(ObjId(i as u32))),
        "sizes by span runs differ from the spans' sizes"
    );
    Objects {
        slot,
        size,
        flags: (0..n).into_par_iter().map(flags).collect(),
        types,
    }
}
