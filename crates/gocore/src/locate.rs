//! The runtime's globals in a binary without DWARF: from the symbol table
//! when one survives (`-ldflags=-w`), else found by what they hold
//! (`-s -w`, `strip`), each candidate checked against the release's layouts
//! so that a false match is rejected rather than misread.
//!
//! - `runtime.firstmoduledata` is the only word in the data sections that
//!   points to `.gopclntab` and whose `text` is `.text` (Go 1.26+ gives it
//!   its own `.go.module` section);
//! - `runtime.mheap_` holds `allspans`, whose in-use spans the arena index
//!   (`mheap_.arenas` → `heapArena.spans`) maps back to themselves;
//! - `runtime.allgs` is a slice of distinct goroutines with sane stacks and
//!   states.
//!
//! The finalizer queue (`runtime.allfin`) is found later, by
//! [`crate::roots::SpecialLayout::find_finalizer_queue`] over
//! [`data_words`]; the cleanup queue (`runtime.gcCleanups`, 1.25+) only
//! through a symbol.

use gotypes::dwarf::GlobalVar;
use gotypes::{Addr, Memory};

use crate::error::Error;
use crate::heap::HeapLayout;
use crate::layout::{self, Lookup};
use crate::loader::Loaded;
use crate::stacks;

/// Sections that may hold the runtime's data, in search order.
const DATA_SECTIONS: &[&str] = &[".go.module", ".noptrdata", ".data", ".data.rel.ro"];
const BSS_SECTIONS: &[&str] = &[".bss", ".noptrbss"];

/// Bounds the bytes of one section scanned for a global (Go programs'
/// `.bss` is a few MiB), and so the candidates checked.
const MAX_SCAN: u64 = 64 << 20;
/// In-use spans checked per `mheap_` candidate, and elements per `allgs` one.
const SAMPLE: u64 = 64;

/// The runtime globals gorefs needs, as link-time variables of a table-built
/// `DwarfInfo` (see [`crate::runtime_table`]).
pub fn runtime_globals(loaded: &Loaded, l: &Lookup<'_>) -> Result<Vec<GlobalVar>, Error> {
    let var = |name: &str, addr: Addr, size: u64| GlobalVar {
        name: name.to_string(),
        addr: addr.0.wrapping_sub(loaded.bias),
        ty: None,
        size,
    };
    let md_size = l.strukt("runtime.moduledata")?.size;
    let md = loaded
        .symbol_addr("runtime.firstmoduledata")
        .or_else(|| firstmoduledata(loaded, l))
        .ok_or_else(|| not_found("runtime.firstmoduledata"))?;
    let mheap_size = l.strukt("runtime.mheap")?.size;
    let heap = layout::heap_layout(l, Addr::NULL)?;
    let mheap = loaded
        .symbol_addr("runtime.mheap_")
        .or_else(|| mheap(loaded, l, &heap))
        .ok_or_else(|| not_found("runtime.mheap_"))?;
    let allgs = loaded
        .symbol_addr("runtime.allgs")
        .or_else(|| allgs(loaded, l))
        .ok_or_else(|| not_found("runtime.allgs"))?;
    let mut globals = vec![
        var("runtime.firstmoduledata", md, md_size),
        var("runtime.mheap_", mheap, mheap_size),
        var("runtime.allgs", allgs, 24),
    ];
    // Optional: found only through symbols.
    let queue_size = |s: &str| l.dwarf.struct_layout(s).map_or(8, |s| s.size);
    for (name, size) in [
        ("runtime.allfin", 8),
        ("runtime.gcCleanups", queue_size("runtime.cleanupQueue")),
    ] {
        if let Some(a) = loaded.symbol_addr(name) {
            globals.push(var(name, a, size));
        }
    }
    Ok(globals)
}

fn not_found(what: &str) -> Error {
    Error::Stripped(format!(
        "{what} not found by scanning (is the binary a build of another Go release, or the core corrupt?)"
    ))
}

/// The words of `.data`, `.bss` and `.noptrbss` as they are in the core.
pub fn data_words(loaded: &Loaded) -> impl Iterator<Item = (Addr, u64)> + '_ {
    words(loaded, &[".noptrbss", ".bss", ".data"])
}

/// The 8-byte-aligned words of a section as it is in the core, with their
/// runtime addresses.
fn words<'a>(loaded: &'a Loaded, names: &'a [&str]) -> impl Iterator<Item = (Addr, u64)> + 'a {
    names
        .iter()
        .filter_map(|n| loaded.exe.section(n))
        .flat_map(move |s| {
            let start = Addr(s.addr.0.wrapping_add(loaded.bias));
            let len = s.size.min(MAX_SCAN) & !7;
            let mut buf = vec![0u8; len as usize];
            let ok = loaded.image.read(start, &mut buf).is_ok();
            let n = if ok { buf.len() / 8 } else { 0 };
            (0..n).map(move |i| {
                let w = u64::from_le_bytes(buf[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]));
                (start + i as u64 * 8, w)
            })
        })
}

fn firstmoduledata(loaded: &Loaded, l: &Lookup<'_>) -> Option<Addr> {
    let mem = &loaded.image;
    let runtime = |name: &str| {
        let s = loaded.exe.section(name)?;
        Some(s.addr.0.wrapping_add(loaded.bias))
    };
    // PIE builds before 1.26 name it `.data.rel.ro.gopclntab`.
    let pclntab = runtime(".gopclntab").or_else(|| runtime(".data.rel.ro.gopclntab"))?;
    let text = runtime(".text")?;
    let md = l.strukt("runtime.moduledata").ok()?;
    let (pc_header, text_field) = (l.off(md, "pcHeader").ok()?, l.off(md, "text").ok()?);
    words(loaded, DATA_SECTIONS)
        .filter(|&(_, w)| w == pclntab)
        .map(|(at, _)| Addr(at.0.wrapping_sub(pc_header)))
        .find(|&base| mem.read_u64(base + text_field).ok() == Some(text))
}

fn mheap(loaded: &Loaded, l: &Lookup<'_>, heap: &HeapLayout) -> Option<Addr> {
    let mem = &loaded.image;
    let spans_field = l.off(l.strukt("runtime.heapArena").ok()?, "spans").ok()?;
    let pages_per_arena = heap.heap_arena_bytes / PAGE;
    let maps_back = |base: Addr| -> bool {
        let Some((ptr, len)) = pointer_slice(mem, base + heap.mheap_allspans) else {
            return false;
        };
        let Ok(l2) = mem.read_ptr(base + heap.mheap_arenas) else {
            return false;
        };
        let mut in_use = 0;
        for i in 0..len.min(SAMPLE) {
            let Ok(sp) = mem.read_ptr(ptr + i * 8) else {
                return false;
            };
            let state = mem.read_u8(sp + heap.span_state);
            if state.ok() != Some(heap.state_in_use) {
                continue;
            }
            let Ok(start) = mem.read_u64(sp + heap.span_start_addr) else {
                return false;
            };
            let arena = start.wrapping_sub(heap.arena_base_offset) / heap.heap_arena_bytes;
            let page = (start / PAGE) % pages_per_arena;
            let back = mem
                .read_ptr(l2 + arena.wrapping_mul(8))
                .and_then(|ha| mem.read_ptr(ha + spans_field + page * 8));
            if !start.is_multiple_of(PAGE) || back.ok() != Some(sp) {
                return false;
            }
            in_use += 1;
        }
        in_use > 0
    };
    words(loaded, BSS_SECTIONS)
        .filter(|&(_, w)| w != 0)
        .map(|(at, _)| Addr(at.0.wrapping_sub(heap.mheap_allspans)))
        .find(|&base| maps_back(base))
}

/// The array and length of a non-empty slice header at `at` (of pointers:
/// at most 2^32 of them).
fn pointer_slice(mem: &dyn Memory, at: Addr) -> Option<(Addr, u64)> {
    let ptr = mem.read_ptr(at).ok()?;
    let len = mem.read_u64(at + 8).ok()?;
    let cap = mem.read_u64(at + 16).ok()?;
    (!ptr.is_null() && len > 0 && len <= cap && cap <= 1 << 32).then_some((ptr, len))
}

/// A goroutine stack as `stackalloc` makes them: a power of two of at least
/// 2 KiB, aligned to its size up to a page, with the saved SP inside it
/// (or none: a dead goroutine may have freed its stack).
fn plausible_stack(lo: u64, hi: u64, sp: u64) -> bool {
    if lo == 0 && hi == 0 {
        return true;
    }
    let size = hi.wrapping_sub(lo);
    lo < hi
        && size.is_power_of_two()
        && (2048..=1 << 30).contains(&size)
        && lo.is_multiple_of(size.min(PAGE))
        && (sp == 0 || (lo..=hi).contains(&sp))
}

/// Go's page size (`_PageSize`), the same in every release.
const PAGE: u64 = 8192;

fn allgs(loaded: &Loaded, l: &Lookup<'_>) -> Option<Addr> {
    let mem = &loaded.image;
    let g = stacks::g_layout(l).ok()?;
    let plausible = |at: Addr| -> bool {
        let Some((ptr, len)) = pointer_slice(mem, at) else {
            return false;
        };
        let mut ids = Vec::new();
        let mut running = false;
        for i in 0..len.min(SAMPLE) {
            let Ok(gp) = mem.read_ptr(ptr + i * 8) else {
                return false;
            };
            let read = |off: u64| mem.read_u64(gp + off);
            let (Ok(lo), Ok(hi), Ok(goid), Ok(sp)) = (
                read(g.stack_lo),
                read(g.stack_hi),
                read(g.goid),
                read(g.sched_sp),
            ) else {
                return false;
            };
            let status = mem.read_u32(gp + g.atomicstatus).unwrap_or(u32::MAX) & !0x1000;
            if !plausible_stack(lo, hi, sp) || status > 16 || goid > 1 << 48 {
                return false;
            }
            running |= lo < hi && goid > 0;
            ids.push(goid);
        }
        ids.sort_unstable();
        running && ids.windows(2).all(|w| w[0] != w[1])
    };
    words(loaded, BSS_SECTIONS)
        .filter(|&(_, w)| w != 0)
        .map(|(at, _)| at)
        .find(|&at| plausible(at))
}
