//! Runtime struct layouts and constants, read from the binary's DWARF by
//! field name, so that field moves between Go releases need no code change.
//!
//! Only what DWARF lacks is hard-coded here, with the Go versions that need it.

use gotypes::dwarf::{DwarfInfo, StructLayout};
use gotypes::Addr;

use crate::error::Error;
use crate::heap::HeapLayout;

/// Looks up structs and constants, turning absence into a clear error.
pub struct Lookup<'a> {
    pub dwarf: &'a DwarfInfo,
    /// PIE bias added to link-time addresses.
    pub bias: u64,
}

impl<'a> Lookup<'a> {
    pub fn strukt(&self, name: &str) -> Result<&'a StructLayout, Error> {
        self.dwarf
            .struct_layout(name)
            .ok_or_else(|| Error::Layout(format!("type {name} not found in DWARF")))
    }

    /// First of `names` that exists (types renamed between releases).
    pub fn strukt_any(&self, names: &[&str]) -> Result<&'a StructLayout, Error> {
        names
            .iter()
            .find_map(|n| self.dwarf.struct_layout(n))
            .ok_or_else(|| Error::Layout(format!("none of the types {names:?} is in DWARF")))
    }

    /// Offset of `field`, looking through embedded structs as Go does.
    pub fn off(&self, s: &StructLayout, field: &str) -> Result<u64, Error> {
        s.offset(field)
            .or_else(|| {
                s.fields
                    .iter()
                    .filter(|f| f.embedded)
                    .find_map(|f| s.offset(&format!("{}.{field}", f.name)))
            })
            .ok_or_else(|| Error::Layout(format!("{} has no field {field}", s.name)))
    }

    /// Offset and size of an integer field.
    pub fn int_field(&self, s: &StructLayout, field: &str) -> Result<(u64, u64), Error> {
        let f = s
            .field(field)
            .ok_or_else(|| Error::Layout(format!("{} has no field {field}", s.name)))?;
        Ok((f.offset, f.size.unwrap_or(8)))
    }

    pub fn constant(&self, name: &str) -> Option<i64> {
        self.dwarf.constant(name)
    }

    pub fn constant_or(&self, name: &str, default: i64) -> i64 {
        self.constant(name).unwrap_or(default)
    }

    pub fn global(&self, name: &str) -> Result<Addr, Error> {
        self.dwarf
            .global(name)
            .map(|g| Addr(g.addr.wrapping_add(self.bias)))
            .ok_or_else(|| Error::Layout(format!("global {name} not found in DWARF")))
    }

    pub fn global_opt(&self, name: &str) -> Option<Addr> {
        self.dwarf
            .global(name)
            .map(|g| Addr(g.addr.wrapping_add(self.bias)))
    }
}

/// amd64 `arenaBaseOffset`. The untyped constant does not fit an `int`, so
/// the compiler drops it from DWARF; `arenaBaseOffsetUintptr` carries it
/// (stored signed) in every release 1.21–1.27.
const AMD64_ARENA_BASE_OFFSET: u64 = 0xffff_8000_0000_0000;

/// The heap's layout, for the `runtime.mheap_` at `mheap_addr`.
pub fn heap_layout(l: &Lookup<'_>, mheap_addr: Addr) -> Result<HeapLayout, Error> {
    let mheap = l.strukt("runtime.mheap")?;
    let span = l.strukt("runtime.mspan")?;
    let arena = l.strukt("runtime.heapArena")?;
    // 1.21 has heapArena.bitmap; 1.22 noallocheaders nests it in a non-empty
    // heapArenaPtrScalar.
    let arena_bitmap = arena.offset("bitmap").or_else(|| {
        let f = arena.field("heapArenaPtrScalar")?;
        (f.size.unwrap_or(0) > 0).then_some(f.offset)
    });
    let heap_arena_bytes = l.constant_or("runtime.heapArenaBytes", 64 << 20) as u64;
    if !heap_arena_bytes.is_power_of_two() || heap_arena_bytes < 1 << 20 {
        return Err(Error::Layout(format!(
            "runtime.heapArenaBytes is {heap_arena_bytes}"
        )));
    }
    Ok(HeapLayout {
        mheap_addr,
        mheap_allspans: l.off(mheap, "allspans")?,
        mheap_arenas: l.off(mheap, "arenas")?,
        span_size: span.size,
        span_start_addr: l.off(span, "startAddr")?,
        span_npages: l.off(span, "npages")?,
        span_freeindex: l.int_field(span, "freeindex")?,
        span_nelems: l.int_field(span, "nelems")?,
        span_alloc_bits: l.off(span, "allocBits")?,
        span_spanclass: l.off(span, "spanclass")?,
        span_state: l.off(span, "state")?,
        span_elemsize: l.off(span, "elemsize")?,
        span_limit: l.off(span, "limit")?,
        span_specials: l.off(span, "specials")?,
        span_large_type: span.offset("largeType"),
        span_is_user_arena_chunk: span.offset("isUserArenaChunk"),
        arena_bitmap,
        arena_base_offset: l
            .constant("runtime.arenaBaseOffsetUintptr")
            .map_or(AMD64_ARENA_BASE_OFFSET, |v| v as u64),
        heap_arena_bytes,
        state_in_use: l.constant_or("runtime.mSpanInUse", 1) as u8,
        state_manual: l.constant_or("runtime.mSpanManual", 2) as u8,
        mheap_arena_list: mheap
            .offset("heapArenas")
            .or_else(|| mheap.offset("allArenas")),
        page_chunks: mheap
            .offset("pages.chunks")
            .zip(l.dwarf.struct_layout("runtime.pallocData").map(|p| p.size)),
    })
}
