//! The analysed heap as plain arrays: everything queries need after the
//! analysis (objects, their types and sizes, liveness, the reference graph
//! and its dominators), detached from the spans and the core's layout so it
//! can be saved to an index ([`crate::index`]) and loaded back without
//! re-analysing the core.

use crate::graph::HeapGraph;
use crate::heap::ObjId;
use crate::process::Analysis;
use crate::progress::Progress;
use crate::typing::{self, TypeRef};
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
    pub slot: Vec<u64>,
    /// Bytes the object occupies (its slot size).
    pub size: Vec<u64>,
    pub flags: Vec<u8>,
    /// Index into [`HeapModel::types`]; 0 is "unknown".
    pub type_index: Vec<u32>,
    /// Array length of a backing array, or 0 for a single value; pointer
    /// words of an untyped object.
    pub count: Vec<u32>,
}

/// The analysed heap.
pub struct HeapModel {
    pub objects: Objects,
    /// Distinct types; index 0 is "unknown".
    pub types: Vec<Option<TypeRef>>,
    /// Display names, by index into `types`.
    pub type_names: Vec<String>,
    pub graph: HeapGraph,
}

impl HeapModel {
    /// Collect the analysis' results and build the reference graph.
    pub fn build(a: &mut Analysis<'_>, progress: &dyn Progress) -> Result<HeapModel, crate::Error> {
        let graph = HeapGraph::build(a, progress)?;
        let heap = &a.heap;
        let n = heap.object_count();
        let mut objects = Objects {
            slot: Vec::with_capacity(n),
            size: Vec::with_capacity(n),
            flags: Vec::with_capacity(n),
            type_index: a.types.objs.iter().map(|o| o.ty).collect(),
            count: a.types.objs.iter().map(|o| o.count).collect(),
        };
        // Span by span (objects are numbered span after span), so that the
        // per-span facts are looked up once.
        for s in &heap.spans {
            let mut span_flags = 0;
            if heap.span_has_headers(s) {
                span_flags |= FLAG_HEADER;
            }
            if s.noscan() {
                span_flags |= FLAG_NOSCAN;
            }
            let first = s.first_object as usize;
            let ids = first..first + s.object_count as usize;
            for (&slot, i) in heap.objects[ids.clone()].iter().zip(ids) {
                objects.slot.push(slot);
                objects.size.push(s.elemsize);
                let live = if a.is_live(ObjId(i as u32)) {
                    FLAG_LIVE
                } else {
                    0
                };
                objects.flags.push(span_flags | live);
            }
        }
        Ok(HeapModel {
            objects,
            types: a.types.types.clone(),
            type_names: a.types.names.clone(),
            graph,
        })
    }

    pub fn object_count(&self) -> usize {
        self.objects.slot.len()
    }

    /// The object containing `addr` (any interior address, header included).
    pub fn find_object(&self, addr: Addr) -> Option<ObjId> {
        let o = &self.objects;
        let i = o.slot.partition_point(|&s| s <= addr.0).checked_sub(1)?;
        (addr.0 - o.slot[i] < o.size[i]).then_some(ObjId(i as u32))
    }

    pub fn slot(&self, id: ObjId) -> Addr {
        Addr(self.objects.slot[id.index()])
    }

    pub fn size(&self, id: ObjId) -> u64 {
        self.objects.size[id.index()]
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
        self.types[self.objects.type_index[id.index()] as usize]
    }

    pub fn array_count(&self, id: ObjId) -> u32 {
        self.objects.count[id.index()]
    }

    /// The type as Go prints it with `%T`; backing arrays as `[N]T`.
    pub fn display_name(&self, id: ObjId) -> String {
        let t = self.objects.type_index[id.index()] as usize;
        typing::display_name(
            (t != 0).then(|| self.type_names[t].as_str()),
            self.objects.count[id.index()],
            self.size(id),
            self.flag(id, FLAG_NOSCAN),
        )
    }
}
