//! Giving every live object its Go type.
//!
//! Two sources, in order of trust:
//! 1. *Fixed* types the runtime recorded itself: the malloc header of objects
//!    above 512 B and `mspan.largeType` of large objects (Go 1.22+).
//! 2. *Propagated* types: starting from typed roots (globals and stack
//!    variables named in DWARF), every pointer-typed word tells the type of
//!    the object it points to. Interfaces give exact dynamic types; maps,
//!    channels and closures are followed through their runtime structures.
//!
//! When two paths disagree the larger type wins (a pointer to a struct's
//! first field must not shrink the struct). Objects no path reaches keep no
//! type and are reported as `unknown N B`.

use rustc_hash::FxHashMap as HashMap;
use std::sync::Arc;

use gograph::prefetch;
use gotypes::dwarf::{DwarfInfo, DwarfTypeId, FieldLayout, TypeShape};
use gotypes::rtype::{Kind, KindDetail, MapLayout, RType, StructField, TypeReader};
use gotypes::{Addr, Memory};
use rayon::prelude::*;

use crate::heap::{read_in, Found, Heap, ObjId, MALLOC_HEADER_SIZE};

/// A type from either source, or a runtime structure with no Go type of its
/// own (map directories and tables, closure contexts, string bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TypeRef {
    /// A runtime type descriptor (`abi.Type`) at this address.
    Rt(Addr),
    /// A DWARF type without a runtime descriptor.
    Dw(DwarfTypeId),
    /// The header of a map, named by its map type descriptor.
    MapHeader(Addr),
    /// Swiss map directory: an array of `*table` (Go 1.24+).
    MapDirectory(Addr),
    /// Swiss map table (Go 1.24+).
    MapTable(Addr),
    /// A channel (`hchan`), named by its channel type.
    ChanHeader(TypeRef2),
    /// A closure context, named by its function's entry PC.
    Closure(Addr),
    /// The bytes of one or more strings.
    StringData,
}

/// `TypeRef` without recursion, for the channel element (a chan type is
/// either a descriptor or a DWARF type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TypeRef2 {
    Rt(Addr),
    Dw(DwarfTypeId),
}

impl From<TypeRef2> for TypeRef {
    fn from(t: TypeRef2) -> TypeRef {
        match t {
            TypeRef2::Rt(a) => TypeRef::Rt(a),
            TypeRef2::Dw(d) => TypeRef::Dw(d),
        }
    }
}

/// What a pointer-sized word of a typed value points to.
#[derive(Debug, Clone)]
enum Target {
    /// `*T`.
    Ptr(TypeRef),
    /// The data word of a slice; `len` and `cap` follow it.
    Slice(TypeRef),
    /// The data word of a string; `len` follows it.
    String,
    /// The data word of an `interface{}`; the type word precedes it.
    Eface,
    /// The data word of a non-empty interface; the itab word precedes it.
    Iface,
    /// A map value (pointer to its header); the map type descriptor.
    Map(Addr),
    /// A channel value; its channel type.
    Chan(TypeRef2),
    /// A func value (pointer to a funcval).
    Func,
    /// An `unsafe.Pointer` to an array of `elem` whose length is the `uintptr`
    /// `len_at` bytes after the pointer (`sync.Pool.local` and `localSize`).
    Counted { elem: TypeRef, len_at: i64 },
    /// An array of a pointerful element type, walked element by element.
    Array {
        elem: Arc<Layout>,
        stride: u64,
        count: u64,
    },
}

#[derive(Debug, Clone)]
struct Field {
    offset: u64,
    target: Target,
}

/// Where a type keeps the pointers typing follows.
#[derive(Debug, Default, Clone)]
pub struct Layout {
    size: u64,
    fields: Vec<Field>,
}

/// Offsets of runtime structures that typing walks.
#[derive(Debug, Clone, Default)]
pub struct TypingLayout {
    /// `runtime.hmap.{buckets, oldbuckets}` (old maps).
    pub hmap: Option<(u64, u64)>,
    /// `internal/runtime/maps.Map.{dirPtr, dirLen}` (swiss maps).
    pub swiss_map: Option<(u64, u64)>,
    /// `internal/runtime/maps.table.{groups.data, groups.lengthMask}`.
    pub swiss_table: Option<(u64, u64)>,
    /// `runtime.hchan.{buf, dataqsiz}`.
    pub hchan: Option<(u64, u64)>,
}

/// Resolves a closure's code pointer to its function.
pub trait FuncResolver {
    /// Entry PC and name of the function containing `pc`.
    fn func_for_pc(&self, pc: Addr) -> Option<(Addr, String)>;
}

/// The type of every object.
pub struct HeapTypes {
    /// Distinct types; index 0 is "unknown".
    pub types: Vec<Option<TypeRef>>,
    /// Per object, by [`ObjId`].
    pub objs: Vec<ObjType>,
    /// Display names, by index into `types`.
    pub names: Vec<String>,
}

/// The type of one object.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ObjType {
    /// Index into [`HeapTypes::types`].
    pub ty: u32,
    /// Array length, or 0 for a single value; for an untyped object, the
    /// number of pointer words the GC sees in it.
    pub count: u32,
}

impl HeapTypes {
    pub fn type_of(&self, id: ObjId) -> Option<TypeRef> {
        self.types[self.objs[id.index()].ty as usize]
    }

    /// Array length, or 0 for a single value; for an untyped object, the
    /// number of pointer words the GC sees in it.
    pub fn count(&self, id: ObjId) -> u32 {
        self.objs[id.index()].count
    }

    /// The name as Go prints it with `%T`; backing arrays as `[N]T`.
    pub fn display_name(&self, id: ObjId, heap: &Heap) -> String {
        let o = self.objs[id.index()];
        let s = heap.span_of_object(id);
        display_name(
            (o.ty != 0).then(|| self.names[o.ty as usize].as_str()),
            o.count,
            s.elemsize,
            s.noscan(),
        )
    }

    pub fn is_typed(&self, id: ObjId) -> bool {
        self.objs[id.index()].ty != 0
    }
}

/// How reports name an object's type: `T`, `[count]T` for a backing array,
/// or, untyped, `unknown <size> B, <count> ptrs` (`noscan` when its span
/// holds no pointers).
pub fn display_name(name: Option<&str>, count: u32, size: u64, noscan: bool) -> String {
    match name {
        None if noscan => format!("unknown {size} B noscan"),
        None if count == 1 => format!("unknown {size} B, 1 ptr"),
        None => format!("unknown {size} B, {count} ptrs"),
        Some(name) if count == 0 => name.to_string(),
        Some(name) => format!("[{count}]{name}"),
    }
}

/// A typed root value: a global or a stack variable.
pub struct TypedRoot {
    pub addr: Addr,
    pub ty: DwarfTypeId,
}

pub struct Typer<'a> {
    pub mem: &'a dyn Memory,
    pub rtypes: &'a TypeReader<'a>,
    pub dwarf: &'a DwarfInfo,
    /// `moduledata.types`: base of `DW_AT_go_runtime_type` offsets.
    pub types_base: Addr,
    /// PIE load bias: DWARF addresses + bias = runtime addresses.
    pub bias: u64,
    pub layout: &'a TypingLayout,
    pub funcs: &'a (dyn FuncResolver + Sync),
}

/// Work state of one typing run.
struct State<'a> {
    t: &'a Typer<'a>,
    heap: &'a Heap,
    interned: HashMap<TypeRef, u32>,
    types: Vec<Option<TypeRef>>,
    /// The layout of each interned type, by index into `types` (none for
    /// index 0), laid out when the type is interned: assigning, slicing and
    /// walking look an object's layout up by its type index, not by hashing
    /// its type.
    type_layouts: Vec<Option<Arc<Layout>>>,
    /// The size of each interned type's value, once an object is assigned
    /// the type: with an object's count, how many bytes of it its type
    /// covers (see [`covered`]).
    type_sizes: Vec<u64>,
    /// Whether walking an object of each interned type can propose anything
    /// (see [`State::walks_to_anything`]), kept apart from the layouts
    /// because every assignment asks.
    type_walks: Vec<bool>,
    /// Per object, by [`ObjId`]: the type so far.
    objs: Vec<ObjType>,
    /// One bit per object whose type the runtime recorded (see
    /// [`State::fix_header_types`]).
    fixed: Vec<u64>,
    /// What is known of each type met so far, in one map so that applying a
    /// proposal costs one lookup.
    known: HashMap<TypeRef, Known>,
    work: Vec<ObjId>,
}

/// Coverages are capped here (an object of 4 GiB or more counts as covered
/// by any type of 4 GiB or more).
const MAX_COVERED: u64 = u32::MAX as u64 - 1;

/// A type's layout, and what [`State::assign`] needs of it.
struct Known {
    layout: Arc<Layout>,
    /// `node[K,V]` → its `(entry[K,V], indirect[K,V])` (see
    /// [`State::trie_siblings`]); `None` until asked, then `Some(None)` for every
    /// other type.
    trie: Option<Option<(TypeRef, TypeRef)>>,
    /// Index into `State::types`, 0 until the type is first assigned.
    interned: u32,
    /// For a type descriptor: whether an interface holds a value of the type
    /// in its data word (a pointer-shaped type); `None` when the descriptor
    /// is unreadable. Kept here so that the parallel walk does not ask the
    /// shared descriptor cache for every interface value.
    direct_iface: Option<bool>,
}

/// How many bytes of an object of `data_size` bytes `count` values of `t`
/// of `size` bytes each cover (a count of 0 is one value), capped at
/// [`MAX_COVERED`].
fn covered(t: TypeRef, size: u64, count: u64, data_size: u64) -> u64 {
    match t {
        // A map or channel type names the object better than the runtime
        // struct (`runtime.hchan`) other paths reach it as.
        TypeRef::MapHeader(_) | TypeRef::ChanHeader(_) => data_size + 1,
        _ => size.max(1).saturating_mul(count.max(1)),
    }
    .min(MAX_COVERED)
}

/// What applying a proposal does to an object's record.
enum Effect {
    /// Its fixed type's array length becomes known.
    Length(u32),
    /// It gets the proposed type.
    Assign { count: u32 },
}

/// What walking a value found: a type for an object (with the pointer
/// into it and an array length; the object found in the parallel walk),
/// or a value whose layout was not computed yet.
#[derive(Clone, Copy)]
enum Proposal {
    /// A pointer to an object not looked up yet (see [`State::propose`]).
    Unlocated(Addr, TypeRef, Option<u64>),
    Assign(Found, Addr, TypeRef, Option<u64>),
    Walk(Addr, TypeRef, u32),
}

/// The bytes of the object being walked, so that reading its fields does
/// not look the address up in the core's mappings word by word; addresses
/// outside it are read from the core.
struct View<'a> {
    base: u64,
    data: &'a [u8],
    mem: &'a dyn Memory,
}

impl<'a> View<'a> {
    /// A view of no object's bytes: every read goes to memory.
    fn memory(mem: &'a dyn Memory) -> View<'a> {
        View {
            base: 0,
            data: &[],
            mem,
        }
    }

    fn read_u64(&self, at: Addr) -> Option<u64> {
        read_in(Some(self.data), Addr(self.base), at).or_else(|| self.mem.read_u64(at).ok())
    }

    fn read_ptr(&self, at: Addr) -> Option<Addr> {
        self.read_u64(at).map(Addr)
    }

    /// Whether `len` bytes at `at` lie in one mapping of the core.
    fn contiguous(&self, at: Addr, len: u64) -> bool {
        let inside = at.0.checked_sub(self.base).is_some_and(|off| {
            off.checked_add(len)
                .is_some_and(|end| end <= self.data.len() as u64)
        });
        inside || self.mem.slice(at, len).is_some()
    }
}

/// How many proposals ahead [`State::locate_proposals`] looks objects up.
const LOCATE_AHEAD: usize = 16;

/// Objects per parallel work unit when walking.
const WALK_CHUNK: usize = 256;

/// How many objects ahead [`State::next_slice`] asks for an object's record.
const SLICE_AHEAD: usize = 16;

/// How many walk units ahead the walk asks for a unit's bytes.
const WALK_AHEAD: usize = 4;

/// Bytes of objects walked before their proposals are applied: bounds the
/// proposals held at once (at most one per pointer word, before
/// [`State::locate_proposals`] drops those that change nothing). Typing
/// runs beside the extraction of references, so what it holds adds to the
/// extraction's graph: with 1 MiB, the two together made the heap peak of
/// the 1M bench core (61 MB, past its memory budget of 40 B per object and
/// 8 per reference); 512 KiB holds 12 MB less there, and is no slower at
/// 4M. 2 MiB held 30 MB more at the peak of typing on the 4M core.
const WALK_SLICE_BYTES: u64 = 512 << 10;
/// Bytes of one array walked as one unit: a large array (`[]*T` of the
/// whole heap, a map's groups) is split, so that no unit, and no slice,
/// holds an unbounded number of proposals.
const WALK_UNIT_BYTES: u64 = 64 << 10;

/// A walk of the elements `from..to` of an object (one element for a
/// single value).
#[derive(Debug, Clone, Copy)]
struct WalkUnit {
    id: ObjId,
    from: u32,
    to: u32,
}

/// `ids` (all below `n`) in ascending order without repeats: sorted when
/// they are few, else through a bitmap of all objects (a round that types
/// a large part of the heap would otherwise sort millions of ids).
fn sorted_unique(mut ids: Vec<ObjId>, n: usize) -> Vec<ObjId> {
    if ids.len() < n / 64 {
        ids.sort_unstable();
        ids.dedup();
        return ids;
    }
    let mut bits = vec![0u64; n.div_ceil(64)];
    for id in &ids {
        gograph::set_bit(&mut bits, id.0);
    }
    ids.clear();
    for (w, &word) in bits.iter().enumerate() {
        let mut word = word;
        while word != 0 {
            ids.push(ObjId((w * 64 + word.trailing_zeros() as usize) as u32));
            word &= word - 1;
        }
    }
    ids
}

/// The layout of a type with no pointers and no size.
static EMPTY_LAYOUT: Layout = Layout {
    size: 0,
    fields: Vec::new(),
};

/// Arrays longer than this are walked lazily (one layout per element type).
const MAX_NESTING: u32 = 64;

impl<'a> Typer<'a> {
    /// Type the heap from `roots` (DWARF-typed values) and `objects` (objects
    /// and the `*T` descriptor of a pointer to them). `untyped_slots`, for a
    /// binary without DWARF, are the root slots whose types are unknown: they
    /// and the pointer words of objects without a fixed type are searched for
    /// interface values (see [`State::guess_interfaces`]).
    pub fn run(
        &'a self,
        heap: &'a Heap,
        roots: &[TypedRoot],
        objects: &[(Addr, Addr)],
        untyped_slots: Option<&[Addr]>,
    ) -> HeapTypes {
        let n = heap.object_count();
        let mut st = State {
            t: self,
            heap,
            interned: HashMap::default(),
            types: vec![None],
            type_layouts: vec![None],
            type_sizes: vec![0],
            type_walks: vec![false],
            // Written at random by the sequential apply: faulted in first.
            objs: gograph::filled_vec(n, ObjType::default()),
            fixed: vec![0; n.div_ceil(64)],
            known: HashMap::default(),
            work: Vec::new(),
        };
        st.fix_header_types();
        for &(obj, ptr_type) in objects {
            if let Some(KindDetail::Ptr { elem }) = self.rtype(ptr_type).map(|t| t.detail.clone()) {
                st.assign(obj, TypeRef::Rt(elem), None);
            }
        }
        for r in roots {
            st.apply(&[Proposal::Walk(r.addr, TypeRef::Dw(r.ty), 0)]);
        }
        if let Some(slots) = untyped_slots {
            st.guess_interfaces(slots);
        }
        // Rounds: walk the objects whose type changed in parallel, then
        // apply what they propose in their order (deterministic).
        let mut buffers: Vec<Vec<Proposal>> = Vec::new();
        while !st.work.is_empty() {
            let batch = sorted_unique(std::mem::take(&mut st.work), n);
            // Slices bound the proposals held at once.
            let mut pending = WalkUnit {
                id: ObjId(0),
                from: 0,
                to: 0,
            };
            let mut rest = &batch[..];
            let mut slice = Vec::new();
            while st.next_slice(&mut rest, &mut pending, &mut slice) {
                // One vector per work unit, applied in unit order: the same
                // order as one concatenated vector, without the copy. The
                // vectors are kept from slice to slice (hundreds of MB of
                // proposals in all on a large heap, each vector reused).
                let chunks = slice.len().div_ceil(WALK_CHUNK);
                if buffers.len() < chunks {
                    buffers.resize_with(chunks, Vec::new);
                }
                {
                    let st = &st;
                    (slice.par_chunks(WALK_CHUNK))
                        .zip(buffers.par_iter_mut())
                        .for_each(|(units, out)| {
                            out.clear();
                            for (k, &u) in units.iter().enumerate() {
                                if let Some(next) = units.get(k + WALK_AHEAD) {
                                    st.prefetch_object(*next);
                                }
                                st.walk_object(u, out);
                            }
                            st.locate_proposals(out);
                        });
                }
                for out in &buffers[..chunks] {
                    st.apply(out);
                }
            }
        }
        drop(st.fixed);
        // What can be said of an untyped object: how many pointers it holds.
        st.objs
            .par_iter_mut()
            .enumerate()
            .filter(|(_, o)| o.ty == 0)
            .for_each(|(i, o)| {
                heap.for_each_pointer(self.mem, self.rtypes, ObjId(i as u32), |_, _| {
                    o.count = o.count.saturating_add(1)
                });
            });
        let names = st.types.iter().map(|t| self.name(*t)).collect();
        HeapTypes {
            types: st.types,
            objs: st.objs,
            names,
        }
    }

    fn rtype(&self, a: Addr) -> Option<Arc<RType>> {
        self.rtypes.get(a).ok()
    }

    /// A DWARF type, or its runtime descriptor when it has one (descriptors
    /// carry `%T` names and map layouts).
    pub(crate) fn canonical(&self, d: DwarfTypeId) -> TypeRef {
        // Check the typedef itself first: `map[K]V` and `chan T` are typedefs
        // of pointers to runtime structs, and only the typedef carries the
        // map or channel type descriptor.
        let mut id = d;
        for _ in 0..MAX_NESTING {
            let t = self.dwarf.ty(id);
            if let Some(off) = t.runtime_type {
                let a = self.types_base + off;
                if self.rtype(a).is_some() {
                    return TypeRef::Rt(a);
                }
            }
            match t.shape {
                TypeShape::Typedef { target } => id = target,
                _ => break,
            }
        }
        TypeRef::Dw(id)
    }

    pub fn name(&self, t: Option<TypeRef>) -> String {
        let Some(t) = t else {
            return "unknown".into();
        };
        match t {
            TypeRef::Rt(a) => self
                .rtype(a)
                .map_or_else(|| format!("type@{a}"), |r| r.name.clone()),
            TypeRef::Dw(d) => go_name(&self.dwarf.ty(d).name),
            TypeRef::MapHeader(m) => self.name(Some(TypeRef::Rt(m))),
            TypeRef::MapDirectory(m) => map_part_name(&self.name(Some(TypeRef::Rt(m))), "map.dir"),
            TypeRef::MapTable(m) => map_part_name(&self.name(Some(TypeRef::Rt(m))), "map.table"),
            TypeRef::ChanHeader(c) => self.name(Some(c.into())),
            TypeRef::Closure(pc) => match self.funcs.func_for_pc(pc) {
                Some((_, f)) => format!("closure {f}"),
                None => format!("closure {pc}"),
            },
            TypeRef::StringData => "string".into(),
        }
    }
}

/// `map[K]V` → `map.table[K]V`.
fn map_part_name(map: &str, part: &str) -> String {
    match map.strip_prefix("map") {
        Some(rest) => format!("{part}{rest}"),
        None => format!("{part} {map}"),
    }
}

/// DWARF spells types with full import paths (`*internal/abi.Type`); `%T`
/// uses the package name (`*abi.Type`).
pub fn go_name(dwarf_name: &str) -> String {
    let mut out = String::with_capacity(dwarf_name.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if let Some(i) = word.rfind('/') {
            out.push_str(&word[i + 1..]);
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in dwarf_name.chars() {
        if c.is_alphanumeric() || matches!(c, '_' | '.' | '/' | '-' | '~') {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out.replace("noalg.", "")
}

impl State<'_> {
    fn intern(&mut self, t: TypeRef) -> u32 {
        if let Some(&i) = self.interned.get(&t) {
            return i;
        }
        let i = self.types.len() as u32;
        let layout = self.layout(t, 0);
        self.types.push(Some(t));
        self.type_layouts.push(Some(layout));
        self.type_sizes.push(0);
        self.type_walks.push(self.walks_to_anything(i));
        self.interned.insert(t, i);
        i
    }

    /// What [`State::assign_found`] needs of `t` for a pointer `p`: the
    /// concrete type (see [`State::trie_siblings`]), its size and its index in
    /// `types` (0 if not interned yet). One map lookup in the common case.
    fn facts(&mut self, p: Addr, t: TypeRef) -> (TypeRef, u64, u32) {
        let (size, interned, trie) = match self.known.get(&t) {
            Some(Known {
                layout,
                interned,
                trie: Some(trie),
                ..
            }) => (layout.size, *interned, *trie),
            _ => {
                let size = self.layout(t, 0).size;
                let trie = self.trie_siblings(t);
                let k = self.known.get_mut(&t);
                let interned = k.as_ref().map_or(0, |k| k.interned);
                if let Some(k) = k {
                    k.trie = Some(trie);
                }
                (size, interned, trie)
            }
        };
        let Some((entry, indirect)) = trie else {
            return (t, size, interned);
        };
        let t = match self.t.mem.read_u8(p) {
            Ok(1) => entry,
            Ok(0) => indirect,
            _ => return (t, size, interned),
        };
        let size = self.layout(t, 0).size;
        let interned = self.known.get(&t).map_or(0, |k| k.interned);
        (t, size, interned)
    }

    /// [`State::intern`], remembered in the type's entry of `known`.
    fn intern_known(&mut self, t: TypeRef) -> u32 {
        let i = self.intern(t);
        if let Some(k) = self.known.get_mut(&t) {
            k.interned = i;
        }
        i
    }

    /// Objects whose type the runtime recorded (Go 1.22+), found in
    /// parallel (every object's span is looked at), interned in order.
    fn fix_header_types(&mut self) {
        let (heap, t) = (self.heap, self.t);
        let fixed: Vec<(ObjId, Addr, u32)> = (0..heap.object_count())
            .into_par_iter()
            .with_min_len(4096)
            .filter_map(|i| {
                let id = ObjId(i as u32);
                let s = heap.span_of_object(id);
                let (typ, data) = if heap.has_header(id) {
                    (
                        t.mem.read_ptr(heap.slot(id)).ok()?,
                        s.elemsize - MALLOC_HEADER_SIZE,
                    )
                } else if s.is_large() && !s.large_type.is_null() {
                    (
                        s.large_type,
                        s.limit.offset_from(s.base).unwrap_or(s.elemsize),
                    )
                } else {
                    return None;
                };
                // 1.22–1.23 synthetic types of GC-program objects have no name.
                let rt = t.rtype(typ)?;
                let count = if rt.size > 0 && data / rt.size >= 2 {
                    (data / rt.size).min(u64::from(u32::MAX)) as u32
                } else {
                    0
                };
                Some((id, typ, count))
            })
            .collect();
        for (id, typ, count) in fixed {
            let ty = self.intern(TypeRef::Rt(typ));
            self.objs[id.index()] = ObjType { ty, count };
            gograph::set_bit(&mut self.fixed, id.0);
            if self.type_walks[ty as usize] {
                self.work.push(id);
            }
        }
    }

    /// Apply proposals in order.
    fn apply(&mut self, proposals: &[Proposal]) {
        // The records of the objects proposals name are read at random:
        // ask for them a few proposals ahead.
        const AHEAD: usize = 8;
        for (i, p) in proposals.iter().enumerate() {
            if let Some(Proposal::Assign(f, ..)) = proposals.get(i + AHEAD) {
                prefetch(&self.objs, f.id.index());
            }
            match *p {
                Proposal::Unlocated(p, t, count) => self.assign(p, t, count),
                Proposal::Assign(found, p, t, count) => self.assign_found(found, p, t, count),
                Proposal::Walk(base, t, depth) => {
                    let layout = self.layout(t, 0);
                    let mut out = Vec::new();
                    let view = View::memory(self.t.mem);
                    self.walk_value(&view, base, &layout, depth, &mut out);
                    self.apply(&out);
                }
            }
        }
    }

    /// Record that the object at `p` holds a `t` (or `count` of them).
    fn assign(&mut self, p: Addr, t: TypeRef, count: Option<u64>) {
        if let Some(found) = self.heap.locate(p) {
            self.assign_found(found, p, t, count);
        }
    }

    /// [`State::assign`] to the object `found` that contains `p`.
    fn assign_found(&mut self, found: Found, p: Addr, t: TypeRef, count: Option<u64>) {
        let (t, size, interned) = self.facts(p, t);
        let i = found.id.index();
        match self.effect(&found, p, t, size, count) {
            None => {}
            Some(Effect::Length(count)) => self.objs[i].count = count,
            Some(Effect::Assign { count }) => {
                let ty = match interned {
                    0 => self.intern_known(t),
                    ti => ti,
                };
                self.type_sizes[ty as usize] = size;
                self.objs[i] = ObjType { ty, count };
                if self.type_walks[ty as usize] {
                    self.work.push(found.id);
                }
            }
        }
    }

    /// What holding a `t` of `size` bytes (or `count` of them) at `p` makes
    /// of the record of the object `found`, from its current record; `None`
    /// when nothing changes. `None` stays `None` whatever is applied first:
    /// coverage only grows, and a fixed type stays (which is why
    /// [`State::propose`] may drop proposals before they are applied).
    fn effect(
        &self,
        found: &Found,
        p: Addr,
        t: TypeRef,
        size: u64,
        count: Option<u64>,
    ) -> Option<Effect> {
        let size = size.max(1);
        let start = found.start;
        let i = found.id.index();
        let data_size = found.end.0 - start.0;
        // A pointer into an array of `t` at an element boundary names the
        // whole array (slices of slices, `&a[i]`).
        let (skip, interior_ok) = match p.offset_from(start) {
            Some(0) => (0, true),
            Some(off) if count.is_some() && off % size == 0 => (off / size, true),
            _ => (0, matches!(t, TypeRef::StringData)),
        };
        // `p` may point into the malloc header, before `start`.
        if !interior_ok || p.offset_from(start).is_none_or(|o| o >= data_size) {
            return None;
        }
        let count = count.map(|c| c.saturating_add(skip).min(data_size / size));
        let proposed = covered(t, size, count.unwrap_or(1), data_size);
        let o = self.objs[i];
        let count = count.map(|c| c.min(u64::from(u32::MAX)) as u32);
        if gograph::has_bit(&self.fixed, found.id.0) {
            // Trust the header's element type; only learn the exact length.
            return count
                .filter(|_| self.types[o.ty as usize] == Some(t))
                .map(Effect::Length);
        }
        if o.ty != 0 {
            // What the object's type covers, from the facts it was
            // assigned with (its type's size and the count kept).
            let ty = o.ty as usize;
            let held = self.types[ty].map_or(0, |held| {
                covered(held, self.type_sizes[ty], u64::from(o.count), data_size)
            });
            if proposed <= held {
                return None;
            }
        }
        Some(Effect::Assign {
            count: count.unwrap_or(0),
        })
    }

    /// The next walk units of a round into `slice`, about
    /// [`WALK_SLICE_BYTES`] of objects: one unit per object of `rest`, or
    /// several for a large array (see [`WALK_UNIT_BYTES`]); `pending` holds
    /// the elements of the current object not yet in a unit (`from == to`:
    /// none). False when the round is done.
    fn next_slice(
        &self,
        rest: &mut &[ObjId],
        pending: &mut WalkUnit,
        slice: &mut Vec<WalkUnit>,
    ) -> bool {
        slice.clear();
        let mut bytes = 0;
        while bytes < WALK_SLICE_BYTES {
            if pending.from < pending.to {
                let size = self
                    .type_layout(self.objs[pending.id.index()].ty)
                    .size
                    .max(1);
                let per_unit = (WALK_UNIT_BYTES / size).clamp(1, u64::from(u32::MAX)) as u32;
                let to = pending.from.saturating_add(per_unit).min(pending.to);
                slice.push(WalkUnit { to, ..*pending });
                bytes += size * u64::from(to - pending.from);
                pending.from = to;
                continue;
            }
            let Some((&id, tail)) = rest.split_first() else {
                break;
            };
            // The round's objects are far apart on a large heap: ask for
            // a later one's record.
            if let Some(ahead) = tail.get(SLICE_AHEAD) {
                prefetch(&self.objs, ahead.index());
            }
            *rest = tail;
            let o = self.objs[id.index()];
            let Some(t) = self.types[o.ty as usize] else {
                continue;
            };
            let elements = match t {
                TypeRef::MapHeader(_)
                | TypeRef::MapDirectory(_)
                | TypeRef::MapTable(_)
                | TypeRef::ChanHeader(_) => 1,
                _ => o.count.max(1),
            };
            *pending = WalkUnit {
                id,
                from: 0,
                to: elements,
            };
        }
        !slice.is_empty()
    }

    /// Asks for the first bytes of a walk unit's elements in the core: the
    /// walk reads objects in address order but far apart (the objects whose
    /// type changed), each read a miss of its own otherwise.
    fn prefetch_object(&self, unit: WalkUnit) {
        // The element size `walk_object` steps by.
        let size = self.type_layout(self.objs[unit.id.index()].ty).size;
        // From the slot, not the user address: the malloc header (if any)
        // shares the first line, and the slot is one lookup less.
        let at = self.heap.slot(unit.id) + u64::from(unit.from) * size;
        if let Some(bytes) = self.t.mem.slice(at, 1) {
            prefetch(bytes, 0);
        }
    }

    /// Propose types for what the walk unit points to (read-only: many
    /// objects are walked in parallel, then their proposals applied).
    fn walk_object(&self, unit: WalkUnit, out: &mut Vec<Proposal>) {
        let id = unit.id;
        let i = id.index();
        let o = self.objs[i];
        let Some(t) = self.types[o.ty as usize] else {
            return;
        };
        let heap = self.heap;
        let start = heap.user_addr(id);
        let end = heap.slot(id) + heap.size(id);
        match t {
            TypeRef::MapHeader(m) => self.walk_map_header(start, m, out),
            TypeRef::MapDirectory(m) => {
                // The length is the core's `dirLen`: bound it by the object.
                let n = u64::from(o.count).clamp(1, (end.0 - start.0) / 8);
                for k in 0..n {
                    if let Ok(tp) = self.t.mem.read_ptr(start + 8 * k) {
                        self.propose(out, tp, TypeRef::MapTable(m), None);
                    }
                }
            }
            TypeRef::MapTable(m) => self.walk_map_table(start, m, out),
            TypeRef::ChanHeader(c) => self.walk_chan(id, start, c, out),
            _ => {
                // Laid out when the type was interned.
                let Some(layout) = &self.type_layouts[o.ty as usize] else {
                    return;
                };
                if layout.fields.is_empty() {
                    return;
                }
                let view = View {
                    base: start.0,
                    data: self
                        .t
                        .mem
                        .slice(start, end.0.saturating_sub(start.0))
                        .unwrap_or(&[]),
                    mem: self.t.mem,
                };
                let n = u64::from(o.count).max(1);
                for k in u64::from(unit.from)..u64::from(unit.to).min(n) {
                    let base = start + k * layout.size;
                    if base + layout.size > end {
                        break;
                    }
                    self.walk_value(&view, base, layout, 0, out);
                }
            }
        }
    }

    /// The object containing `p`, proposed to hold a `t` (or `count` of
    /// them); found by [`State::locate_proposals`].
    fn propose(&self, out: &mut Vec<Proposal>, p: Addr, t: TypeRef, count: Option<u64>) {
        out.push(Proposal::Unlocated(p, t, count));
    }

    /// Finds the objects of a walk's [`Proposal::Unlocated`], in the
    /// parallel walk, so that applying the proposals (sequential) does not
    /// look objects up; for the same reason, proposals that can change
    /// nothing (half of them on a large heap: an object is reached through
    /// many pointers) are dropped here. Done apart from the walk, in one
    /// tight loop, so that the random reads of consecutive proposals
    /// overlap: each object's record is asked for [`LOCATE_AHEAD`]
    /// proposals before it is read.
    fn locate_proposals(&self, out: &mut Vec<Proposal>) {
        // The object of a proposal, its record asked for.
        let locate = |p: &Proposal| {
            let Proposal::Unlocated(a, ..) = *p else {
                return None;
            };
            let found = self.heap.locate(a)?;
            prefetch(&self.objs, found.id.index());
            Some(found)
        };
        let mut ahead: [Option<Found>; LOCATE_AHEAD] = [None; LOCATE_AHEAD];
        for (i, p) in out.iter().take(LOCATE_AHEAD).enumerate() {
            ahead[i] = locate(p);
        }
        let mut kept = 0;
        for i in 0..out.len() {
            let found = std::mem::replace(
                &mut ahead[i % LOCATE_AHEAD],
                out.get(i + LOCATE_AHEAD).and_then(locate),
            );
            let p = match out[i] {
                Proposal::Unlocated(p, t, count) => {
                    let Some(found) = found else { continue };
                    // The common case, without the facts of `t`: the object
                    // already holds a `t`, which covers at least what this
                    // pointer proposes.
                    let o = self.objs[found.id.index()];
                    if o.ty != 0
                        && count.is_none()
                        && p == found.start
                        && self.types[o.ty as usize] == Some(t)
                    {
                        continue;
                    }
                    Proposal::Assign(found, p, t, count)
                }
                ref other => *other,
            };
            out[kept] = p;
            kept += 1;
        }
        out.truncate(kept);
    }

    /// Follow every pointer of a value of `layout` stored at `base`.
    fn walk_value(
        &self,
        view: &View<'_>,
        base: Addr,
        layout: &Layout,
        depth: u32,
        out: &mut Vec<Proposal>,
    ) {
        if depth > MAX_NESTING {
            return;
        }
        for f in &layout.fields {
            let at = base + f.offset;
            let Some(p) = view.read_ptr(at) else { continue };
            match &f.target {
                Target::Array {
                    elem,
                    stride,
                    count,
                } => {
                    // An array too large for one mapping is not in the
                    // core (a corrupt type or span): do not walk it.
                    if !view.contiguous(at, stride.saturating_mul(*count)) {
                        continue;
                    }
                    for k in 0..*count {
                        self.walk_value(view, at + k * stride, elem, depth + 1, out);
                    }
                    continue;
                }
                _ if p.is_null() => continue,
                Target::Ptr(t) => self.propose(out, p, *t, None),
                Target::Slice(e) => {
                    let cap = view.read_u64(at + 16).unwrap_or(0);
                    self.propose(out, p, *e, Some(cap));
                }
                Target::Counted { elem, len_at } => {
                    let n = view
                        .read_u64(Addr(at.0.wrapping_add_signed(*len_at)))
                        .unwrap_or(0);
                    self.propose(out, p, *elem, Some(n));
                }
                Target::String => self.propose(out, p, TypeRef::StringData, None),
                Target::Eface => {
                    if let Some(t) = view.read_ptr(at - 8) {
                        self.iface_value(view, at, p, t, out);
                    }
                }
                Target::Iface => {
                    if let Some(t) = view
                        .read_ptr(at - 8)
                        .filter(|t| !t.is_null())
                        .and_then(|itab| self.t.rtypes.itab_type(itab).ok())
                    {
                        self.iface_value(view, at, p, t, out);
                    }
                }
                Target::Map(m) => self.propose(out, p, TypeRef::MapHeader(*m), None),
                Target::Chan(c) => self.propose(out, p, TypeRef::ChanHeader(*c), None),
                Target::Func => self.closure(p, out),
            }
        }
    }

    /// Without DWARF the static types of roots are unknown: take a pointer
    /// word preceded by a word that names a type descriptor or an itab
    /// ([`TypeReader::iface_dynamic_type`]) as an interface value, in the
    /// given root slots and in every object without a fixed (header) type.
    /// Run before propagation, so that propagated types, which cover more,
    /// replace a guess that was wrong.
    fn guess_interfaces(&mut self, root_slots: &[Addr]) {
        let (mem, rtypes, heap) = (self.t.mem, self.t.rtypes, self.heap);
        let st = &*self;
        let mut out = Vec::new();
        for &slot in root_slots {
            if let Ok(p) = mem.read_ptr(slot) {
                st.guess_interface(slot, p, &mut out);
            }
        }
        // Objects in parallel; few words are interfaces, so few proposals.
        out.par_extend(
            (0..heap.object_count())
                .into_par_iter()
                .with_min_len(WALK_CHUNK)
                .filter(|&i| !gograph::has_bit(&st.fixed, i as u32))
                .flat_map_iter(|i| {
                    let mut found = Vec::new();
                    heap.for_each_pointer(mem, rtypes, ObjId(i as u32), |slot, p| {
                        st.guess_interface(slot, p, &mut found)
                    });
                    st.locate_proposals(&mut found);
                    found
                }),
        );
        self.apply(&out);
    }

    /// The interface at `slot - 8`, if its first word names a dynamic type
    /// and `p`, its data word, fits that type.
    fn guess_interface(&self, slot: Addr, p: Addr, out: &mut Vec<Proposal>) {
        let rtypes = self.t.rtypes;
        if p.is_null() {
            return;
        }
        let Ok(word) = self.t.mem.read_ptr(Addr(slot.0.wrapping_sub(8))) else {
            return;
        };
        if let Some(t) = rtypes.iface_dynamic_type(word) {
            if self.holds_value_of(p, t) {
                let view = View::memory(self.t.mem);
                self.iface_value(&view, slot, p, t, out);
            }
        }
    }

    /// Whether `p`, the data word of a guessed interface of dynamic type `t`,
    /// is what the runtime makes of one: the start of an object allocated for
    /// the value (a pointer-shaped `*T`: for the `T`), whose size class fits
    /// the value's size. Go's size classes are at most 2× apart, so a fitting
    /// value is more than half the object (less its malloc header). This
    /// rejects values of the tiny allocator, which share 16-byte blocks.
    fn holds_value_of(&self, p: Addr, t: Addr) -> bool {
        let rtypes = self.t.rtypes;
        let Ok(rt) = rtypes.get(t) else { return false };
        let value = match (&rt.detail, rt.direct_iface) {
            (_, false) => rt,
            (KindDetail::Ptr { elem }, true) => match rtypes.get(*elem) {
                Ok(v) => v,
                Err(_) => return false,
            },
            // Maps, channels and funcs: their objects are runtime structs.
            (_, true) => return false,
        };
        let Some(found) = self.heap.locate(p) else {
            return false;
        };
        let size = found.end.0 - found.start.0;
        // A malloc header (objects over 512 B) takes 8 bytes of the class.
        let slack = if size > 512 { 16 } else { 0 };
        found.start == p && value.size <= size && value.size * 2 + slack > size
    }

    /// The data word of an interface at `at`, holding `p`, dynamic type `t`.
    fn iface_value(&self, view: &View<'_>, at: Addr, p: Addr, t: Addr, out: &mut Vec<Proposal>) {
        let known = self.known.get(&TypeRef::Rt(t));
        let direct = match known {
            Some(k) => k.direct_iface,
            None => self.t.rtype(t).map(|rt| rt.direct_iface),
        };
        match (direct, known) {
            (None, _) => {}
            // The word is the value itself (a pointer-shaped type).
            (Some(true), Some(k)) => self.walk_value(view, at, &k.layout, 1, out),
            (Some(true), None) => out.push(Proposal::Walk(at, TypeRef::Rt(t), 1)),
            (Some(false), _) => self.propose(out, p, TypeRef::Rt(t), None),
        }
    }

    fn closure(&self, fv: Addr, out: &mut Vec<Proposal>) {
        let heap = self.heap;
        let Some(id) = heap.find_object(fv) else {
            return; // static funcval of a top-level function
        };
        if heap.user_addr(id) != fv {
            return;
        }
        let Ok(pc) = self.t.mem.read_ptr(fv) else {
            return;
        };
        if let Some((entry, _)) = self.t.funcs.func_for_pc(pc) {
            self.propose(out, fv, TypeRef::Closure(entry), None);
        }
    }

    fn walk_map_header(&self, h: Addr, m: Addr, out: &mut Vec<Proposal>) {
        let Some(rt) = self.t.rtype(m) else { return };
        let KindDetail::Map(info) = &rt.detail else {
            return;
        };
        let mem = self.t.mem;
        match info.layout {
            MapLayout::Old => {
                let Some((buckets, old)) = self.t.layout.hmap else {
                    return;
                };
                // makeBucketArray preallocates overflow buckets in the same
                // allocation, after the 2^B regular ones: type the whole
                // object as buckets.
                for off in [buckets, old] {
                    if let Ok(p) = mem.read_ptr(h + off) {
                        self.propose(out, p, TypeRef::Rt(info.bucket), Some(u64::MAX));
                    }
                }
            }
            _ => {
                let Some((dir_ptr, dir_len)) = self.t.layout.swiss_map else {
                    return;
                };
                let (Ok(p), Ok(n)) = (mem.read_ptr(h + dir_ptr), mem.read_u64(h + dir_len)) else {
                    return;
                };
                if n == 0 {
                    // Small map: dirPtr is a single group.
                    self.propose(out, p, TypeRef::Rt(info.group), None);
                } else {
                    self.propose(out, p, TypeRef::MapDirectory(m), Some(n));
                }
            }
        }
    }

    fn walk_map_table(&self, t: Addr, m: Addr, out: &mut Vec<Proposal>) {
        let (Some((data, mask)), Some(rt)) = (self.t.layout.swiss_table, self.t.rtype(m)) else {
            return;
        };
        let KindDetail::Map(info) = &rt.detail else {
            return;
        };
        let mem = self.t.mem;
        if let (Ok(g), Ok(mask)) = (mem.read_ptr(t + data), mem.read_u64(t + mask)) {
            self.propose(
                out,
                g,
                TypeRef::Rt(info.group),
                Some(mask.saturating_add(1)),
            );
        }
    }

    fn walk_chan(&self, id: ObjId, c: Addr, chan: TypeRef2, out: &mut Vec<Proposal>) {
        let Some((buf_off, qsize_off)) = self.t.layout.hchan else {
            return;
        };
        let mem = self.t.mem;
        let (Ok(buf), Ok(n)) = (mem.read_ptr(c + buf_off), mem.read_u64(c + qsize_off)) else {
            return;
        };
        // Pointer-free elements live inside the hchan allocation itself.
        if buf.is_null() || self.heap.find_object(buf) == Some(id) {
            return;
        }
        if let Some(elem) = self.chan_elem(chan) {
            self.propose(out, buf, elem, Some(n));
        }
    }

    fn chan_elem(&self, chan: TypeRef2) -> Option<TypeRef> {
        match chan {
            TypeRef2::Rt(a) => match self.t.rtype(a)?.detail {
                KindDetail::Chan { elem, .. } => Some(TypeRef::Rt(elem)),
                _ => None,
            },
            TypeRef2::Dw(d) => self.t.dwarf.ty(d).go_elem.map(|e| self.t.canonical(e)),
        }
    }

    /// The layout of the interned type `ty`, from `type_layouts`.
    fn type_layout(&self, ty: u32) -> &Layout {
        self.type_layouts[ty as usize]
            .as_deref()
            .unwrap_or(&EMPTY_LAYOUT)
    }

    /// Whether [`State::walk_object`] proposes anything for an object of
    /// the interned type `ty`: runtime structures have walkers of their
    /// own, other types propose only through their pointer fields (objects
    /// of string bytes, `[]byte` arrays or numbers are not walked).
    fn walks_to_anything(&self, ty: u32) -> bool {
        match self.types[ty as usize] {
            Some(
                TypeRef::MapHeader(_)
                | TypeRef::MapDirectory(_)
                | TypeRef::MapTable(_)
                | TypeRef::ChanHeader(_),
            ) => true,
            Some(_) => !self.type_layout(ty).fields.is_empty(),
            None => false,
        }
    }

    /// Pointer layout of a type, cached.
    fn layout(&mut self, t: TypeRef, depth: u32) -> Arc<Layout> {
        if let Some(k) = self.known.get(&t) {
            return k.layout.clone();
        }
        let l = Arc::new(if depth > MAX_NESTING {
            Layout::default()
        } else {
            self.compute_layout(t, depth)
        });
        let direct_iface = match t {
            TypeRef::Rt(a) => self.t.rtype(a).map(|rt| rt.direct_iface),
            _ => None,
        };
        self.known.insert(
            t,
            Known {
                layout: l.clone(),
                trie: None,
                interned: 0,
                direct_iface,
            },
        );
        l
    }

    fn compute_layout(&mut self, t: TypeRef, depth: u32) -> Layout {
        match t {
            TypeRef::Rt(a) => self.rt_layout(a, depth),
            TypeRef::Dw(d) => self.dw_layout(d, depth),
            // Walked by their own walkers, not by a layout; a directory is
            // an array of 8-byte table pointers.
            TypeRef::MapDirectory(_)
            | TypeRef::MapHeader(_)
            | TypeRef::MapTable(_)
            | TypeRef::ChanHeader(_) => Layout {
                size: 8,
                fields: Vec::new(),
            },
            TypeRef::Closure(entry) => self.closure_layout(entry, depth),
            TypeRef::StringData => Layout {
                size: 1,
                fields: Vec::new(),
            },
        }
    }

    fn rt_layout(&mut self, a: Addr, depth: u32) -> Layout {
        let Some(rt) = self.t.rtype(a) else {
            return Layout::default();
        };
        let mut fields = Vec::new();
        if rt.ptr_bytes > 0 {
            match &rt.detail {
                KindDetail::Ptr { elem } => push(&mut fields, 0, Target::Ptr(TypeRef::Rt(*elem))),
                KindDetail::Slice { elem } => {
                    push(&mut fields, 0, Target::Slice(TypeRef::Rt(*elem)))
                }
                KindDetail::Map(_) => push(&mut fields, 0, Target::Map(a)),
                KindDetail::Chan { .. } => push(&mut fields, 0, Target::Chan(TypeRef2::Rt(a))),
                KindDetail::Interface { methods } => push(
                    &mut fields,
                    8,
                    if *methods == 0 {
                        Target::Eface
                    } else {
                        Target::Iface
                    },
                ),
                KindDetail::Func { .. } => push(&mut fields, 0, Target::Func),
                KindDetail::Array { elem, len } => {
                    let e = self.layout(TypeRef::Rt(*elem), depth + 1);
                    array(&mut fields, 0, e, *len);
                }
                KindDetail::Struct { fields: sf } => {
                    for f in sf.clone() {
                        let l = self.layout(TypeRef::Rt(f.typ), depth + 1);
                        embed(&mut fields, f.offset, &l);
                    }
                    if let Some((v, elem)) = self.atomic_pointer_rt(&rt, sf) {
                        push(&mut fields, v, Target::Ptr(TypeRef::Rt(elem)));
                    }
                    if rt.name == "sync.Pool" && rt.pkg_path.as_deref() == Some("sync") {
                        let offset = |n: &str| sf.iter().find(|f| f.name == n).map(|f| f.offset);
                        self.pool_locals(&mut fields, offset);
                    }
                }
                KindDetail::None if rt.kind == Kind::String => push(&mut fields, 0, Target::String),
                KindDetail::None => {}
            }
        }
        Layout {
            size: rt.size,
            fields,
        }
    }

    fn dw_layout(&mut self, d: DwarfTypeId, depth: u32) -> Layout {
        let canon = self.t.canonical(d);
        if let TypeRef::Rt(a) = canon {
            return (*self.layout(TypeRef::Rt(a), depth)).clone();
        }
        let d = self.t.dwarf.resolve_typedefs(d);
        let ty = self.t.dwarf.ty(d).clone();
        let size = ty.size.unwrap_or(0);
        let mut fields = Vec::new();
        // Go's DWARF kinds (abi.Kind) say what a struct-shaped type really is.
        match ty.go_kind {
            Some(24) => push(&mut fields, 0, Target::String),
            Some(23) => {
                if let Some(e) = ty.go_elem {
                    push(&mut fields, 0, Target::Slice(self.t.canonical(e)));
                }
            }
            Some(20) => {
                let iface = matches!(&ty.shape, TypeShape::Struct { fields } if fields.iter().any(|f| f.name == "tab"));
                push(
                    &mut fields,
                    8,
                    if iface { Target::Iface } else { Target::Eface },
                );
            }
            Some(18) => push(&mut fields, 0, Target::Chan(TypeRef2::Dw(d))),
            Some(19) => push(&mut fields, 0, Target::Func),
            _ => match &ty.shape {
                TypeShape::Pointer { target: Some(t) } => {
                    push(&mut fields, 0, Target::Ptr(self.t.canonical(*t)))
                }
                TypeShape::Struct { fields: sf } => {
                    for f in sf.clone() {
                        let l = self.layout(self.t.canonical(f.ty), depth + 1);
                        embed(&mut fields, f.offset, &l);
                    }
                    if let Some((v, elem)) = self.atomic_pointer_dw(&ty.name, sf) {
                        push(&mut fields, v, Target::Ptr(elem));
                    }
                    if ty.name == "sync.Pool" {
                        let offset = |n: &str| sf.iter().find(|f| f.name == n).map(|f| f.offset);
                        self.pool_locals(&mut fields, offset);
                    }
                }
                TypeShape::Array {
                    elem,
                    count: Some(n),
                } => {
                    let e = self.layout(self.t.canonical(*elem), depth + 1);
                    array(&mut fields, 0, e, *n);
                }
                TypeShape::Subroutine => push(&mut fields, 0, Target::Func),
                _ => {}
            },
        }
        Layout { size, fields }
    }

    /// Captured variables of a closure, at the offsets DWARF gives them
    /// (`DW_AT_go_closure_offset`, Go 1.23+). Older releases do not say where
    /// each variable lives, so their closures are named but not walked.
    fn closure_layout(&mut self, entry: Addr, depth: u32) -> Layout {
        let dwarf = self.t.dwarf;
        if let Some(l) = self.method_value_layout(entry, depth) {
            return l;
        }
        let Some(f) = dwarf.function_at(entry.0.wrapping_sub(self.t.bias)) else {
            return Layout::default();
        };
        let mut vars: Vec<(u64, DwarfTypeId)> = f
            .vars
            .iter()
            .filter_map(|v| Some((v.closure_offset?, v.ty?)))
            .collect();
        if vars.is_empty() {
            vars = self
                .t
                .closure_vars_by_order(&f.name)
                .into_iter()
                .map(|(off, ty, _)| (off, ty))
                .collect();
        }
        let mut fields = Vec::new();
        let mut size = 8;
        for (off, ty) in vars {
            let l = self.layout(self.t.canonical(ty), depth + 1);
            size = size.max(off + l.size);
            embed(&mut fields, off, &l);
        }
        Layout { size, fields }
    }
}

/// Go 1.24+ `sync.Map` is an `internal/sync.HashTrieMap` whose children are
/// `*node[K,V]`: the base of an `entry[K,V]` (`isEntry` true) or an
/// `indirect[K,V]`.
const TRIE_NODE: &str = "internal/sync.node[";

impl State<'_> {
    /// For a `node[K,V]`, its `(entry[K,V], indirect[K,V])`: a `*node` at
    /// `p` is really the one its first byte (`isEntry`) says (see
    /// [`State::facts`]). `None` for other types.
    fn trie_siblings(&self, t: TypeRef) -> Option<(TypeRef, TypeRef)> {
        let dwarf = self.t.dwarf;
        let d = match t {
            TypeRef::Rt(a) => {
                dwarf.type_by_runtime_offset(a.0.checked_sub(self.t.types_base.0)?)?
            }
            TypeRef::Dw(d) => d,
            _ => return None,
        };
        let args = dwarf.ty(d).name.strip_prefix(TRIE_NODE)?;
        let sibling = |kind: &str| {
            let id = dwarf.type_by_name(&format!("internal/sync.{kind}[{args}"))?;
            Some(self.t.canonical(id))
        };
        Some((sibling("entry")?, sibling("indirect")?))
    }
}

impl State<'_> {
    /// `sync.Pool` keeps its per-P `[P]poolLocal` arrays behind
    /// `local unsafe.Pointer` / `localSize uintptr` and `victim` /
    /// `victimSize`.
    fn pool_locals(&self, fields: &mut Vec<Field>, offset: impl Fn(&str) -> Option<u64>) {
        let Some(local) = self.t.dwarf.type_by_name("sync.poolLocal") else {
            return;
        };
        let elem = self.t.canonical(local);
        for (ptr, len) in [("local", "localSize"), ("victim", "victimSize")] {
            if let (Some(p), Some(n)) = (offset(ptr), offset(len)) {
                let len_at = n as i64 - p as i64;
                push(fields, p, Target::Counted { elem, len_at });
            }
        }
    }
}

/// `sync/atomic.Pointer[T]` keeps its value in `v unsafe.Pointer`; only the
/// zero-length field `_ [0]*T` says what it points to.
const ATOMIC_POINTER: &str = "sync/atomic.Pointer[";

impl State<'_> {
    /// `(offset of v, T)` of an `atomic.Pointer[T]` descriptor.
    fn atomic_pointer_rt(&self, rt: &RType, fields: &[StructField]) -> Option<(u64, Addr)> {
        let pkg = rt.pkg_path.as_deref()?;
        let name = rt.name.strip_prefix("atomic.")?;
        if !format!("{pkg}.{name}").starts_with(ATOMIC_POINTER) {
            return None;
        }
        let v = fields.iter().find(|f| f.name == "v")?.offset;
        let marker = fields
            .iter()
            .find_map(|f| match self.t.rtype(f.typ)?.detail {
                KindDetail::Array { elem, len: 0 } if f.name == "_" => Some(elem),
                _ => None,
            })?;
        match self.t.rtype(marker)?.detail {
            KindDetail::Ptr { elem } => Some((v, elem)),
            _ => None,
        }
    }

    /// `(offset of v, T)` of an `atomic.Pointer[T]` DWARF struct.
    fn atomic_pointer_dw(&self, name: &str, fields: &[FieldLayout]) -> Option<(u64, TypeRef)> {
        if !name.starts_with(ATOMIC_POINTER) {
            return None;
        }
        let dwarf = self.t.dwarf;
        let v = fields.iter().find(|f| f.name == "v")?.offset;
        let marker = fields.iter().find_map(|f| {
            let t = dwarf.ty(dwarf.resolve_typedefs(f.ty));
            match t.shape {
                TypeShape::Array {
                    elem,
                    count: Some(0),
                } if f.name == "_" => Some(elem),
                _ => None,
            }
        })?;
        match dwarf.ty(dwarf.resolve_typedefs(marker)).shape {
            TypeShape::Pointer { target: Some(t) } => Some((v, self.t.canonical(t))),
            _ => None,
        }
    }
}

impl State<'_> {
    /// A method value `x.M` is `struct { F uintptr; R <receiver> }` whose
    /// function is the wrapper `T.M-fm`; the receiver's type is the first
    /// parameter of `T.M`.
    fn method_value_layout(&mut self, entry: Addr, depth: u32) -> Option<Layout> {
        let (_, name) = self.t.funcs.func_for_pc(entry)?;
        let recv = self.t.method_value_receiver(name.strip_suffix("-fm")?)?;
        let l = self.layout(self.t.canonical(recv), depth + 1);
        let mut fields = Vec::new();
        embed(&mut fields, 8, &l);
        Some(Layout {
            size: 8 + l.size,
            fields,
        })
    }
}

impl<'a> Typer<'a> {
    /// The receiver type of the method `method` (`pkg.(*T).M`), bound by a
    /// method value.
    pub(crate) fn method_value_receiver(&self, method: &str) -> Option<DwarfTypeId> {
        match self.dwarf.function_by_name(method) {
            Some(f) => f.vars.iter().find(|v| v.is_param)?.ty,
            // T.M itself may be inlined everywhere: name the receiver type
            // from the symbol, `pkg.(*T).M` → `*pkg.T`, `pkg.T.M` → `pkg.T`.
            None => self.dwarf.type_by_name(&receiver_type_name(method)?),
        }
    }

    /// Go 1.21–1.22 emit no `DW_AT_go_closure_offset`. The compiler lays
    /// captured variables out in order from offset 8 with natural alignment
    /// (`typecheck.ClosureType`); a closure's captured variables are the ones
    /// its enclosing function also declares (`x`, or `&x` when captured by
    /// reference).
    pub(crate) fn closure_vars_by_order(&self, name: &str) -> Vec<(u64, DwarfTypeId, &'a str)> {
        let dwarf = self.dwarf;
        let Some(f) = dwarf.function_by_name(name) else {
            return Vec::new();
        };
        let Some(parent) = name
            .rfind(".func")
            .and_then(|i| dwarf.function_by_name(&name[..i]))
        else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut off = 8u64;
        for v in f.vars.iter().filter(|v| !v.is_param) {
            let Some(ty) = v.ty else { continue };
            if !parent.vars.iter().any(|p| p.name == v.name) {
                continue;
            }
            let size = dwarf.ty(ty).size.unwrap_or(8);
            let align = size.clamp(1, 8).next_power_of_two();
            off = off.div_ceil(align) * align;
            out.push((off, ty, v.name.as_str()));
            off += size;
        }
        out
    }
}

/// `pkg.(*T).M` → `*pkg.T`; `pkg.T.M` → `pkg.T`.
fn receiver_type_name(method: &str) -> Option<String> {
    if let Some(i) = method.find(".(*") {
        let rest = &method[i + 3..];
        let end = rest.find(").")?;
        return Some(format!("*{}.{}", &method[..i], &rest[..end]));
    }
    let i = method.rfind('.')?;
    Some(method[..i].to_string())
}

fn push(fields: &mut Vec<Field>, offset: u64, target: Target) {
    fields.push(Field { offset, target });
}

fn embed(fields: &mut Vec<Field>, offset: u64, inner: &Layout) {
    for f in &inner.fields {
        fields.push(Field {
            offset: offset + f.offset,
            target: f.target.clone(),
        });
    }
}

fn array(fields: &mut Vec<Field>, offset: u64, elem: Arc<Layout>, len: u64) {
    if elem.fields.is_empty() || len == 0 {
        return;
    }
    if len <= 4 {
        for k in 0..len {
            embed(fields, offset + k * elem.size, &elem);
        }
    } else {
        let stride = elem.size;
        fields.push(Field {
            offset,
            target: Target::Array {
                elem,
                stride,
                count: len,
            },
        });
    }
}
