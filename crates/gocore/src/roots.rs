//! GC roots that are not goroutine stacks: globals (data and bss, through the
//! module's GC masks), span specials (finalizers, cleanups, weak handles) and
//! the queues of finalizers and cleanups waiting to run.
//!
//! Stack roots are produced by `process.rs` from the unwinder's live slots.

use gotypes::dwarf::TypeShape;
use gotypes::{Addr, Memory};

use crate::error::Error;
use crate::heap::Heap;
use crate::layout::Lookup;
use crate::moduledata::{Bitvector, ModuleData};

/// Where a root comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RootKind {
    /// A package-level variable of the program or its libraries.
    Global,
    /// A live slot of a goroutine's stack frame (or a saved register).
    Stack,
    /// The function of a finalizer set on an object, and the object's contents.
    Finalizer,
    /// A cleanup (`runtime.AddCleanup`, Go 1.24+) waiting on an object.
    Cleanup,
    /// A weak handle (`weak.Pointer`, `unique`): the handle object only.
    WeakHandle,
    /// A finalizer or cleanup queued to run.
    Queued,
    /// Runtime-internal globals (`runtime.*`).
    Runtime,
}

impl RootKind {
    pub const ALL: [RootKind; 7] = [
        RootKind::Global,
        RootKind::Stack,
        RootKind::Finalizer,
        RootKind::Cleanup,
        RootKind::WeakHandle,
        RootKind::Queued,
        RootKind::Runtime,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RootKind::Global => "global",
            RootKind::Stack => "stack",
            RootKind::Finalizer => "finalizer",
            RootKind::Cleanup => "cleanup",
            RootKind::WeakHandle => "weak",
            RootKind::Queued => "queued",
            RootKind::Runtime => "runtime",
        }
    }
}

/// One pointer the GC starts from.
#[derive(Debug, Clone)]
pub struct Root {
    pub kind: RootKind,
    /// Index into [`Roots::names`]: the variable, or a description.
    pub name: u32,
    /// Where the pointer is stored (a global's word, a stack slot); null for
    /// roots that are not stored in memory we can name.
    pub slot: Addr,
    /// The pointer value.
    pub target: Addr,
    /// Goroutine id for stack roots.
    pub goroutine: Option<u64>,
    /// Index into [`Roots::names`] of the function, for stack roots.
    pub function: Option<u32>,
}

/// All roots, with interned names.
#[derive(Default)]
pub struct Roots {
    pub roots: Vec<Root>,
    pub names: Vec<String>,
    name_index: std::collections::HashMap<String, u32>,
    /// What could not be read (reported as warnings).
    pub warnings: Vec<String>,
    /// Objects whose pointer type the runtime recorded (a finalizer's `ot`):
    /// `(object, *T type descriptor)`.
    pub typed_objects: Vec<(Addr, Addr)>,
    /// Weak references `(handle, object)`: the weak handle (`weak.Pointer`,
    /// `unique`) holds the object's address as a `uintptr`, which the GC does
    /// not follow.
    pub weak_refs: Vec<(Addr, Addr)>,
}

impl Roots {
    pub fn intern(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.name_index.get(s) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(s.to_string());
        self.name_index.insert(s.to_string(), i);
        i
    }

    pub fn name(&self, i: u32) -> &str {
        &self.names[i as usize]
    }

    pub fn push(&mut self, kind: RootKind, name: &str, slot: Addr, target: Addr) {
        if target.is_null() {
            return;
        }
        let name = self.intern(name);
        self.roots.push(Root {
            kind,
            name,
            slot,
            target,
            goroutine: None,
            function: None,
        });
    }
}

/// Names a global address: DWARF variable, else symbol, else section+offset.
pub trait GlobalNamer {
    /// `(name, offset inside it)`.
    fn name_global(&self, addr: Addr) -> Option<(String, u64)>;

    /// Whether globals the binary does not name may be the program's own
    /// (it has no DWARF), rather than the runtime's internals.
    fn unnamed_are_user_globals(&self) -> bool {
        false
    }
}

/// Pointer words of data and bss, per the module's GC masks (authoritative:
/// they are what the GC scans).
pub fn global_roots(
    mem: &dyn Memory,
    md: &ModuleData,
    namer: &dyn GlobalNamer,
    roots: &mut Roots,
) -> Result<(), Error> {
    for (section, start, end, mask) in [
        (".data", md.data, md.edata, md.gcdatamask),
        (".bss", md.bss, md.ebss, md.gcbssmask),
    ] {
        scan_masked(mem, section, start, end, mask, namer, roots)?;
    }
    Ok(())
}

fn scan_masked(
    mem: &dyn Memory,
    section: &str,
    start: Addr,
    end: Addr,
    mask: Bitvector,
    namer: &dyn GlobalNamer,
    roots: &mut Roots,
) -> Result<(), Error> {
    let words = end.offset_from(start).unwrap_or(0) / 8;
    let nbits = mask.nbits.min(words);
    // Read in chunks: the section bounds come from the core, and a corrupt
    // moduledata must not size one allocation.
    const CHUNK_WORDS: u64 = 1 << 16;
    let mut bits = vec![0u8; (CHUNK_WORDS / 8) as usize];
    let mut data = vec![0u8; (CHUNK_WORDS * 8) as usize];
    let mut unreadable = 0u64;
    for chunk in 0..nbits.div_ceil(CHUNK_WORDS) {
        let first = chunk * CHUNK_WORDS;
        let n = (nbits - first).min(CHUNK_WORDS);
        let bits = &mut bits[..n.div_ceil(8) as usize];
        let data = &mut data[..(n * 8) as usize];
        if mem.read(mask.data + first / 8, bits).is_err()
            || mem.read(start + first * 8, data).is_err()
        {
            unreadable += n;
            continue;
        }
        for i in 0..n {
            if bits[(i / 8) as usize] >> (i % 8) & 1 == 0 {
                continue;
            }
            let off = (i * 8) as usize;
            let v = u64::from_le_bytes(data[off..off + 8].try_into().unwrap_or([0; 8]));
            if v == 0 {
                continue;
            }
            let w = first + i;
            let slot = start + w * 8;
            let (name, kind) = match namer.name_global(slot) {
                Some((n, _)) => {
                    let kind = if is_runtime_name(&n) {
                        RootKind::Runtime
                    } else {
                        RootKind::Global
                    };
                    (n, kind)
                }
                None if namer.unnamed_are_user_globals() => {
                    (format!("{section}+{:#x}", w * 8), RootKind::Global)
                }
                None => (format!("{section}+{:#x}", w * 8), RootKind::Runtime),
            };
            roots.push(kind, &name, slot, Addr(v));
        }
    }
    if unreadable > 0 {
        roots.warnings.push(format!(
            "{unreadable} words of {section} could not be read; their pointers are not roots"
        ));
    }
    Ok(())
}

/// Globals of the runtime and its internal packages are labelled as runtime
/// roots: they are not what a user asks about first.
pub fn is_runtime_name(n: &str) -> bool {
    n.starts_with("runtime.") || n.starts_with("internal/") || n.starts_with("sync.runtime")
}

/// Layout of specials and of the finalizer/cleanup queues.
pub struct SpecialLayout {
    next: u64,
    offset: (u64, u64),
    kind: u64,
    kind_finalizer: Option<u8>,
    kind_weak: Option<u8>,
    kind_cleanup: Option<u8>,
    finalizer_fn: u64,
    /// `specialfinalizer.ot`: the `*T` type of the finalized object.
    finalizer_ot: Option<u64>,
    weak_handle: Option<u64>,
    /// Offsets of the pointer words of a cleanup special: `fn` (1.24–1.25)
    /// or `cleanup.call/fn/arg` (1.26+).
    cleanup_ptrs: Vec<u64>,
    allfin: Option<Addr>,
    finblock_alllink: u64,
    finblock_cnt: u64,
    finblock_fin: u64,
    finblock_cap: u64,
    finalizer_size: u64,
    finalizer_fn_off: u64,
    finalizer_arg_off: u64,
    /// `finalizer.ot`: the `*T` type of the object.
    finalizer_ot_off: Option<u64>,
    cleanup_queue_all: Option<Addr>,
    cleanup_block: Option<CleanupBlockLayout>,
}

struct CleanupBlockLayout {
    alllink: u64,
    n: u64,
    entries: u64,
    entry_size: u64,
    cap: u64,
}

impl SpecialLayout {
    pub fn read(l: &Lookup<'_>) -> Result<SpecialLayout, Error> {
        let special = l.strukt("runtime.special")?;
        let fin = l.strukt("runtime.specialfinalizer")?;
        let weak = l.dwarf.struct_layout("runtime.specialWeakHandle");
        let cleanup = l.dwarf.struct_layout("runtime.specialCleanup");
        let mut cleanup_ptrs = Vec::new();
        if let Some(c) = cleanup {
            if let Some(o) = c.offset("fn") {
                cleanup_ptrs.push(o);
            } else {
                for f in ["cleanup.call", "cleanup.fn", "cleanup.arg"] {
                    if let Some(o) = c.offset(f) {
                        cleanup_ptrs.push(o);
                    }
                }
            }
        }
        let finblock = l.strukt_any(&["runtime.finBlock", "runtime.finblock"])?;
        let finalizer = l.strukt("runtime.finalizer")?;
        let fin_field = finblock
            .field("fin")
            .ok_or_else(|| Error::Layout("finblock has no field fin".into()))?;
        let cleanup_block = match l.dwarf.struct_layout("runtime.cleanupBlock") {
            Some(b) => {
                let entries = b
                    .field("cleanups")
                    .ok_or_else(|| Error::Layout("cleanupBlock has no field cleanups".into()))?;
                let count = match &l.dwarf.ty(entries.ty).shape {
                    TypeShape::Array { count, .. } => count.unwrap_or(0),
                    _ => 0,
                };
                let total = entries.size.unwrap_or(0);
                Some(CleanupBlockLayout {
                    alllink: l.off(b, "alllink")?,
                    n: l.off(b, "n")?,
                    entries: entries.offset,
                    entry_size: total.checked_div(count).unwrap_or(8),
                    cap: count,
                })
            }
            None => None,
        };
        let cleanup_queue_all = match (
            l.global_opt("runtime.gcCleanups"),
            l.dwarf.struct_layout("runtime.cleanupQueue"),
        ) {
            (Some(q), Some(s)) => s.offset("all").map(|o| q + o),
            _ => None,
        };
        let kind = |n: &str| l.constant(n).map(|v| v as u8);
        Ok(SpecialLayout {
            next: l.off(special, "next")?,
            offset: l.int_field(special, "offset")?,
            kind: l.off(special, "kind")?,
            kind_finalizer: kind("runtime._KindSpecialFinalizer"),
            kind_weak: kind("runtime._KindSpecialWeakHandle"),
            kind_cleanup: kind("runtime._KindSpecialCleanup"),
            finalizer_fn: l.off(fin, "fn")?,
            finalizer_ot: fin.offset("ot"),
            weak_handle: weak.and_then(|w| w.offset("handle")),
            cleanup_ptrs,
            allfin: l.global_opt("runtime.allfin"),
            finblock_alllink: l.off(finblock, "alllink")?,
            finblock_cnt: l.off(finblock, "cnt")?,
            finblock_fin: fin_field.offset,
            finblock_cap: fin_field.size.unwrap_or(0) / finalizer.size.max(1),
            finalizer_size: finalizer.size,
            finalizer_fn_off: l.off(finalizer, "fn")?,
            finalizer_arg_off: l.off(finalizer, "arg")?,
            finalizer_ot_off: finalizer.offset("ot"),
            cleanup_queue_all,
            cleanup_block,
        })
    }
}

/// Longest special list or block chain we follow.
const MAX_CHAIN: usize = 1 << 20;
/// Bound on the specials read over all spans (each is a distinct object of
/// at least 16 bytes; a corrupt core must not make the walk unbounded).
const MAX_SPECIALS: usize = 1 << 26;

/// Specials and queued finalizers/cleanups.
pub fn special_roots(
    mem: &dyn Memory,
    heap: &Heap,
    l: &SpecialLayout,
    func_name: &dyn Fn(Addr) -> Option<String>,
    roots: &mut Roots,
) {
    let mut broken = 0usize;
    let mut cyclic = 0usize;
    // Every special belongs to one list: one seen twice means a cycle (in
    // one list, or through two spans' lists).
    let mut seen = std::collections::HashSet::new();
    for s in &heap.spans {
        let mut sp = s.specials;
        let mut steps = 0;
        while !sp.is_null() {
            steps += 1;
            if steps > MAX_CHAIN || seen.len() >= MAX_SPECIALS {
                broken += 1;
                break;
            }
            if !seen.insert(sp) {
                cyclic += 1;
                break;
            }
            let (Ok(next), Ok(offset), Ok(kind)) = (
                mem.read_ptr(sp + l.next),
                mem.read_uint(sp + l.offset.0, l.offset.1),
                mem.read_u8(sp + l.kind),
            ) else {
                broken += 1;
                break;
            };
            // The special's offset may point inside the object (a header
            // object's data, a tiny block's sub-object): name the slot.
            let object = s.base + offset / s.elemsize.max(1) * s.elemsize;
            let user = heap
                .find_object(object)
                .map_or(object, |id| heap.user_addr(id));
            if Some(kind) == l.kind_finalizer {
                if let Ok(f) = mem.read_ptr(sp + l.finalizer_fn) {
                    let name = describe("finalizer of", user, f, mem, func_name);
                    roots.push(RootKind::Finalizer, &name, Addr::NULL, f);
                    // The GC scans the object rather than marking it, but it
                    // will be resurrected to run the finalizer: to the user it
                    // is kept alive by its finalizer.
                    roots.push(RootKind::Finalizer, &name, Addr::NULL, user);
                    if let Some(ot) = l.finalizer_ot.and_then(|o| mem.read_ptr(sp + o).ok()) {
                        roots.typed_objects.push((user, ot));
                    }
                }
            } else if Some(kind) == l.kind_weak {
                if let Some(h) = l.weak_handle {
                    if let Ok(handle) = mem.read_ptr(sp + h) {
                        roots.push(
                            RootKind::WeakHandle,
                            &format!("weak handle of {user}"),
                            Addr::NULL,
                            handle,
                        );
                        roots.weak_refs.push((handle, user));
                    }
                }
            } else if Some(kind) == l.kind_cleanup {
                for &o in &l.cleanup_ptrs {
                    if let Ok(p) = mem.read_ptr(sp + o) {
                        let name = describe("cleanup of", user, p, mem, func_name);
                        roots.push(RootKind::Cleanup, &name, Addr::NULL, p);
                    }
                }
            }
            sp = next;
        }
    }
    if broken > 0 {
        roots.warnings.push(format!(
            "{broken} span special lists could not be read; some finalizers or cleanups may be missing"
        ));
    }
    if cyclic > 0 {
        roots.warnings.push(format!(
            "{cyclic} span special lists are cyclic; each was read up to the first repeated special"
        ));
    }
    queued_finalizers(mem, l, func_name, roots);
    queued_cleanups(mem, l, roots);
}

fn describe(
    what: &str,
    object: Addr,
    func: Addr,
    mem: &dyn Memory,
    func_name: &dyn Fn(Addr) -> Option<String>,
) -> String {
    match mem.read_ptr(func).ok().and_then(func_name) {
        Some(f) => format!("{what} {object} ({f})"),
        None => format!("{what} {object}"),
    }
}

impl SpecialLayout {
    /// Whether the finalizer queue (`runtime.allfin`) is known.
    pub fn has_finalizer_queue(&self) -> bool {
        self.allfin.is_some()
    }

    /// Whether the cleanup queue (`runtime.gcCleanups`, 1.25+) is known,
    /// or the release has none.
    pub fn has_cleanup_queue(&self) -> bool {
        self.cleanup_block.is_none() || self.cleanup_queue_all.is_some()
    }

    /// Find `runtime.allfin` among `candidates` (the words of a binary
    /// without symbols): the word heading the chain of finalizer blocks
    /// with the most entries, every entry checked by `valid(pc, arg, ot)`
    /// (the code pointer of its `fn`, its object, its `*T` type). Without an
    /// entry there is nothing to check, and nothing to miss: `None`.
    pub fn find_finalizer_queue(
        &mut self,
        mem: &dyn Memory,
        candidates: impl Iterator<Item = Addr>,
        valid: &dyn Fn(Addr, Addr, Addr) -> bool,
    ) {
        let Some(ot_off) = self.finalizer_ot_off else {
            return;
        };
        // Bounds the work of all candidates together: a hostile core could
        // point every word at one long chain.
        let budget = std::cell::Cell::new(MAX_SCAN_WORK);
        let entries = |head: Addr| -> Option<u64> {
            let mut block = mem.read_ptr(head).ok()?;
            let mut total = 0;
            for _ in 0..MAX_SCANNED_BLOCKS {
                if block.is_null() {
                    break;
                }
                let n = u64::from(mem.read_u32(block + self.finblock_cnt).ok()?);
                if n > self.finblock_cap || budget.get() < n + 1 {
                    return None;
                }
                budget.set(budget.get() - n - 1);
                for i in 0..n {
                    let e = block + self.finblock_fin + i * self.finalizer_size;
                    let func = mem.read_ptr(e + self.finalizer_fn_off).ok()?;
                    let arg = mem.read_ptr(e + self.finalizer_arg_off).ok()?;
                    let ot = mem.read_ptr(e + ot_off).ok()?;
                    let pc = mem.read_ptr(func).ok()?;
                    if !valid(pc, arg, ot) {
                        return None;
                    }
                }
                total += n;
                block = mem.read_ptr(block + self.finblock_alllink).ok()?;
            }
            (total > 0).then_some(total)
        };
        self.allfin = candidates
            .filter_map(|c| Some((entries(c)?, c)))
            .max_by_key(|&(n, c)| (n, std::cmp::Reverse(c)))
            .map(|(_, c)| c);
    }
}

/// Blocks of one candidate finalizer queue checked before giving up.
const MAX_SCANNED_BLOCKS: usize = 1024;
/// Blocks and entries checked for all candidates together.
const MAX_SCAN_WORK: u64 = 1 << 22;

/// Walk a runtime queue of blocks (`finblock`, `cleanupBlock`) from the
/// head pointer at `head`: `visit(roots, block, count)` gets each block and
/// the entry count read at `count_off`; blocks link through `link_off`. A
/// cycle or an unreadable block ends the walk with a warning naming `what`.
fn walk_blocks(
    mem: &dyn Memory,
    head: Addr,
    count_off: u64,
    link_off: u64,
    what: &str,
    roots: &mut Roots,
    mut visit: impl FnMut(&mut Roots, Addr, u64),
) {
    let mut block = mem.read_ptr(head).unwrap_or(Addr::NULL);
    let mut steps = 0;
    let mut seen = std::collections::HashSet::new();
    while !block.is_null() && steps < MAX_CHAIN {
        steps += 1;
        if !seen.insert(block) {
            roots.warnings.push(format!(
                "the {what} queue is cyclic; it was read up to the repeated block"
            ));
            return;
        }
        let Ok(n) = mem.read_u32(block + count_off) else {
            roots
                .warnings
                .push(format!("the {what} queue could not be read"));
            return;
        };
        visit(roots, block, u64::from(n));
        block = mem.read_ptr(block + link_off).unwrap_or(Addr::NULL);
    }
}

fn queued_finalizers(
    mem: &dyn Memory,
    l: &SpecialLayout,
    func_name: &dyn Fn(Addr) -> Option<String>,
    roots: &mut Roots,
) {
    let Some(allfin) = l.allfin else { return };
    let (cnt, link) = (l.finblock_cnt, l.finblock_alllink);
    walk_blocks(
        mem,
        allfin,
        cnt,
        link,
        "finalizer",
        roots,
        |roots, block, n| {
            for i in 0..n.min(l.finblock_cap) {
                let e = block + l.finblock_fin + i * l.finalizer_size;
                let func = mem.read_ptr(e + l.finalizer_fn_off).unwrap_or(Addr::NULL);
                let arg = mem.read_ptr(e + l.finalizer_arg_off).unwrap_or(Addr::NULL);
                let name = describe("queued finalizer of", arg, func, mem, func_name);
                roots.push(RootKind::Queued, &name, e + l.finalizer_fn_off, func);
                roots.push(RootKind::Queued, &name, e + l.finalizer_arg_off, arg);
            }
        },
    );
}

fn queued_cleanups(mem: &dyn Memory, l: &SpecialLayout, roots: &mut Roots) {
    let (Some(all), Some(b)) = (l.cleanup_queue_all, &l.cleanup_block) else {
        return;
    };
    walk_blocks(
        mem,
        all,
        b.n,
        b.alllink,
        "cleanup",
        roots,
        |roots, block, n| {
            for i in 0..n.min(b.cap) {
                let e = block + b.entries + i * b.entry_size;
                for w in 0..b.entry_size / 8 {
                    if let Ok(p) = mem.read_ptr(e + w * 8) {
                        roots.push(RootKind::Queued, "queued cleanup", e + w * 8, p);
                    }
                }
            }
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime_table::RuntimeTable;
    use gotypes::mem::FlatMemory;

    /// A finalizer queue in memory: candidate words at 0x1000.., blocks at
    /// 0x2000 (two entries, linked to 0x4000 with one), a decoy at 0x3000
    /// whose entry is not a function, funcvals at 0x5000.
    #[test]
    fn the_finalizer_queue_is_found_by_its_checked_entries() {
        let version = crate::loader::GoVersion {
            major: 1,
            minor: 24,
            patch: 0,
        };
        let (table, _) = RuntimeTable::builtin(version, &[]).unwrap();
        let dwarf = table.dwarf(Vec::new());
        let mut l = SpecialLayout::read(&Lookup {
            dwarf: &dwarf,
            bias: 0,
        })
        .unwrap();
        let base = 0x1000u64;
        let mut data = vec![0u8; 0x6000];
        let mut put = |at: u64, v: u64| {
            let o = (at - base) as usize;
            data[o..o + 8].copy_from_slice(&v.to_le_bytes());
        };
        let (pc, ot) = (0x40_1000, 0x7000);
        let entry = |block: u64, i: u64| block + l.finblock_fin + i * l.finalizer_size;
        put(0x1000, 0x2000);
        put(0x1008, 0x3000);
        put(0x1010, 0x4000);
        put(0x5000, pc);
        put(0x5008, pc + 1);
        for (block, n, link, func) in [
            (0x2000, 2, 0x4000, 0x5000),
            (0x4000, 1, 0, 0x5000),
            (0x3000, 1, 0, 0x5008),
        ] {
            put(block + l.finblock_alllink, link);
            put(block + l.finblock_cnt, n);
            for i in 0..n {
                put(entry(block, i) + l.finalizer_fn_off, func);
                put(entry(block, i) + l.finalizer_arg_off, 0xc000_0000 + i * 16);
                put(entry(block, i) + l.finalizer_ot_off.unwrap(), ot);
            }
        }
        let mem = FlatMemory {
            base: Addr(base),
            data: &data,
        };
        let valid = |p: Addr, arg: Addr, t: Addr| p.0 == pc && arg.0 >= 0xc000_0000 && t.0 == ot;
        let candidates = [0x1008, 0x1010, 0x1000].map(Addr);
        l.find_finalizer_queue(&mem, candidates.into_iter(), &valid);
        assert_eq!(l.allfin, Some(Addr(0x1000)));

        let mut roots = Roots::default();
        queued_finalizers(&mem, &l, &|_| None, &mut roots);
        let queued = roots.roots.iter().filter(|r| r.kind == RootKind::Queued);
        assert_eq!(queued.count(), 6, "fn and arg of three entries");

        // Only the decoy: nothing found.
        l.allfin = None;
        l.find_finalizer_queue(&mem, [Addr(0x1008)].into_iter(), &valid);
        assert_eq!(l.allfin, None);
    }
}
