//! Bodies of the fuzz targets over this crate (`fuzz/` runs them with
//! cargo-fuzz; the crate's tests replay the inputs that once crashed them,
//! kept under `testdata/fuzz-regressions/<target>/`). Not a stable API.
//!
//! * [`core_file`]: the bytes of an ELF core (notes, segments), checked
//!   against a Go executable and spliced into an address space;
//! * [`pclntab`]: a header (`ModuleTables` and an unwind start) then memory
//!   chunks (`gotypes::fuzzing::Chunks`): `Pclntab::new`, lookups, pc-value
//!   tables, inline trees, an unwind and the stack maps of every frame;
//! * pipeline: `(offset, bytes)` patches ([`parse_patches`]) applied to a
//!   decompressed test core, then [`run_pipeline`].

use std::path::Path;

use gotypes::fuzzing::{u64_at, Chunks};
use gotypes::{Addr, Memory};

use crate::loader::{Bytes, CoreFile, Exe, Loaded, AT_ENTRY, AT_EXECFN};
use crate::pclntab::{ModuleTables, Pclntab};
use crate::unwind::{StackRoots, UnwindStart, Unwinder};

// ---- core_file -------------------------------------------------------------

/// An ELF core: notes, segments, the executable check and the address space.
pub fn core_file(data: &[u8], exe: &Exe) {
    let Ok(core) = CoreFile::parse(Path::new("fuzz.core"), Bytes::Owned(data.to_vec())) else {
        return;
    };
    let _ = core.truncation();
    if let Some(entry) = core.auxv_value(AT_ENTRY) {
        let _ = core.file_at(Addr(entry));
    }
    if let Some(a) = core.auxv_value(AT_EXECFN) {
        let _ = core.dumped_c_string(Addr(a), 4096);
    }
    for s in core.segments.iter().take(256) {
        let _ = core.dumped_bytes(s.vaddr, 64);
        let _ = core.dumped_c_string(s.vaddr, 64);
    }
    let Ok(loaded) = Loaded::from_parts(core, exe.clone()) else {
        return;
    };
    let img = &loaded.image;
    let mut buf = [0u8; 64];
    for m in img.mappings().iter().take(1024) {
        let _ = img.source_at(m.start);
        let _ = img.read(m.start, &mut buf);
        let _ = img.read(m.end - 8, &mut buf);
        let _ = img.slice(m.start, (m.end.0 - m.start.0).min(1 << 16));
        let _ = img.read_u64(m.end - 4);
    }
    for sym in ["runtime.mheap_", "runtime.allgs", "runtime.firstmoduledata"] {
        if let Some(a) = loaded.symbol_addr(sym) {
            let _ = img.read(a, &mut buf);
        }
    }
}

// ---- pclntab ---------------------------------------------------------------

/// Size of the [`pclntab`] header: 19 `ModuleTables` words and the unwind
/// start (pc, sp, stack lo, stack hi).
pub const PCLNTAB_HEADER: usize = 23 * 8;

/// The `ModuleTables` fields in header order.
pub fn tables_to_words(t: &ModuleTables) -> [u64; 19] {
    [
        t.pc_header.0,
        t.funcnametab.0,
        t.funcnametab_len,
        t.cutab.0,
        t.cutab_len,
        t.filetab.0,
        t.filetab_len,
        t.pctab.0,
        t.pctab_len,
        t.pclntable.0,
        t.pclntable_len,
        t.ftab.0,
        t.ftab_len,
        t.text.0,
        t.etext.0,
        t.minpc.0,
        t.maxpc.0,
        t.gofunc.0,
        t.rodata.0,
    ]
}

fn words_to_tables(h: &[u8]) -> ModuleTables {
    let w = |i| u64_at(h, i);
    ModuleTables {
        pc_header: Addr(w(0)),
        funcnametab: Addr(w(1)),
        funcnametab_len: w(2),
        cutab: Addr(w(3)),
        cutab_len: w(4),
        filetab: Addr(w(5)),
        filetab_len: w(6),
        pctab: Addr(w(7)),
        pctab_len: w(8),
        pclntable: Addr(w(9)),
        pclntable_len: w(10),
        ftab: Addr(w(11)),
        ftab_len: w(12),
        text: Addr(w(13)),
        etext: Addr(w(14)),
        minpc: Addr(w(15)),
        maxpc: Addr(w(16)),
        gofunc: Addr(w(17)),
        rodata: Addr(w(18)),
    }
}

/// `Pclntab::new`, lookups, pc-value tables, inline trees, an unwind and
/// the stack maps of its frames.
pub fn pclntab(data: &[u8]) {
    if data.len() < PCLNTAB_HEADER {
        return;
    }
    let (h, rest) = data.split_at(PCLNTAB_HEADER);
    let mem = Chunks::parse(rest);
    let Ok(pcln) = Pclntab::new(&mem, words_to_tables(h)) else {
        return;
    };
    let mut frames = Vec::new();
    for f in pcln.funcs().iter().take(512) {
        let _ = pcln.func_name(f);
        let _ = pcln.find_func(f.entry);
        for pc in [f.entry, f.entry + 1, f.end - 1] {
            let _ = pcln.spdelta(f, pc);
            let _ = pcln.file_line(f, pc);
            let _ = pcln.pcdata(f, 1, pc);
            let _ = pcln.pcdata(f, 2, pc);
        }
        for i in 0..4 {
            let _ = pcln.funcdata(f, i);
        }
        frames.clear();
        pcln.logical_frames(&mem, f, f.entry, &mut frames);
    }
    let _ = pcln.find_by_name("runtime.goexit");
    let unwinder = Unwinder::new(&pcln);
    let start = UnwindStart {
        pc: Addr(u64_at(h, 19)),
        sp: Addr(u64_at(h, 20)),
        trap: u64_at(h, 19) & 1 != 0,
    };
    let mut frames = Vec::new();
    let _ = unwinder.unwind(
        &mem,
        start,
        Addr(u64_at(h, 21)),
        Addr(u64_at(h, 22)),
        &mut frames,
    );
    let mut roots = StackRoots::default();
    let mut buf = Vec::new();
    for (i, fr) in frames.iter().enumerate() {
        unwinder.frame_roots(&mem, fr, i as u32, &mut roots, &mut buf);
        let _ = fr.sym_pc();
    }
}

/// Parse `[offset u32][len u8][bytes]...` patches for the core `core`.
/// An offset with the top bit clear is a file offset (modulo the size);
/// with the top bit set, its low 31 bits index the "hot" bytes (see
/// [`hot_ranges`]), so that most mutations land on runtime structures
/// rather than on heap data.
pub fn parse_patches<'a>(mut data: &'a [u8], core: &[u8]) -> Vec<(usize, &'a [u8])> {
    let size = core.len();
    let hot = hot_ranges(core);
    let hot_len: usize = hot.iter().map(|r| r.len()).sum();
    let mut out = Vec::new();
    while data.len() >= 5 && out.len() < 64 && size > 0 {
        let raw = u32::from_le_bytes(data[..4].try_into().unwrap_or_default()) as usize;
        let mut off = raw % size;
        if raw & (1 << 31) != 0 && hot_len > 0 {
            let mut k = (raw & !(1 << 31)) % hot_len;
            for r in &hot {
                if k < r.len() {
                    off = r.start + k;
                    break;
                }
                k -= r.len();
            }
        }
        let len = usize::from(data[4]).min(data.len() - 5).min(size - off);
        out.push((off, &data[5..5 + len]));
        data = &data[5 + len..];
    }
    out
}

/// File ranges of the core's small stored segments (at most 8 MiB: the
/// executable's data and bss, goroutine stacks, spans, runtime metadata),
/// where the runtime structures gorefs reads live; the heap arenas are the
/// big ones.
pub fn hot_ranges(core: &[u8]) -> Vec<std::ops::Range<usize>> {
    use object::read::elf::{FileHeader, ProgramHeader};
    type Elf = object::elf::FileHeader64<object::LittleEndian>;
    let le = object::LittleEndian;
    let Ok(h) = Elf::parse(core) else {
        return Vec::new();
    };
    let Ok(phdrs) = h.program_headers(le, core) else {
        return Vec::new();
    };
    phdrs
        .iter()
        .filter(|p| p.p_type(le) == object::elf::PT_LOAD)
        .filter_map(|p| {
            let (off, len) = (p.p_offset(le) as usize, p.p_filesz(le) as usize);
            let end = off.checked_add(len)?.min(core.len());
            (len > 0 && len <= 8 << 20 && off < end).then_some(off..end)
        })
        .collect()
}

/// Append a patch in the [`parse_patches`] format.
pub fn push_patch(out: &mut Vec<u8>, offset: u32, bytes: &[u8]) {
    for (i, c) in bytes.chunks(255).enumerate() {
        out.extend_from_slice(&(offset + 255 * i as u32).to_le_bytes());
        out.push(c.len() as u8);
        out.extend_from_slice(c);
    }
}

/// `Core::open` and `Core::analyze` on a core and binary (with
/// `GOREFS_FUZZ_DEBUG` set, says how far it got on stderr).
pub fn run_pipeline(core: &Path, exe: &Path) {
    let debug = std::env::var_os("GOREFS_FUZZ_DEBUG").is_some();
    let c = match crate::process::Core::open(core, Some(exe)) {
        Ok(c) => c,
        Err(e) => {
            if debug {
                eprintln!("open: {e}");
            }
            return;
        }
    };
    let a = match c.analyze() {
        Ok(a) => a,
        Err(e) => {
            if debug {
                eprintln!("analyze: {e}");
            }
            return;
        }
    };
    if debug {
        eprintln!(
            "{} objects, {} goroutines, {} roots, warnings {:?}",
            a.heap.object_count(),
            a.goroutines.len(),
            a.roots.roots.len(),
            a.warnings
        );
    }
    let _ = a.heap.page_usage(c.mem());
    let _ = a.heap.arena_bases(c.mem());
    for id in (0..a.heap.object_count()).step_by(97).take(64) {
        let id = crate::heap::ObjId(id as u32);
        a.heap.for_each_pointer(c.mem(), &a.rtypes, id, |_, _| {});
        let _ = a.heap.find_object(a.heap.user_addr(id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gotypes::fuzzing::regressions;
    use std::io::Read;

    fn testdata_variant(v: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../testdata/cores")
            .join(v)
    }

    fn unzstd(p: &Path) -> Vec<u8> {
        let f = std::fs::File::open(p).unwrap();
        let mut d = ruzstd::decoding::StreamingDecoder::new(f).unwrap();
        let mut v = Vec::new();
        d.read_to_end(&mut v).unwrap();
        v
    }

    #[test]
    fn pclntab_regressions_do_not_panic() {
        for (_, data) in regressions("pclntab") {
            pclntab(&data);
        }
    }

    #[test]
    fn core_file_regressions_do_not_panic() {
        let cases = regressions("core_file");
        if cases.is_empty() {
            return;
        }
        let p = testdata_variant("go1.24.11").join("heapzoo.zst");
        let exe = Exe::parse(&p, Bytes::Owned(unzstd(&p))).unwrap();
        for (_, data) in cases {
            core_file(&data, &exe);
        }
    }

    /// Patched copies of the go1.24.11 core, analysed whole.
    #[test]
    fn pipeline_regressions_do_not_panic() {
        replay_pipeline(regressions("pipeline"));
    }

    fn replay_pipeline(cases: Vec<(std::path::PathBuf, Vec<u8>)>) {
        if cases.is_empty() {
            return;
        }
        let v = testdata_variant("go1.24.11");
        let core = unzstd(&v.join("core.zst"));
        let dir = tempfile::tempdir().unwrap();
        let (core_path, exe_path) = (dir.path().join("core"), dir.path().join("exe"));
        std::fs::write(&exe_path, unzstd(&v.join("heapzoo.zst"))).unwrap();
        for (_, data) in cases {
            let mut patched = core.clone();
            for (off, bytes) in parse_patches(&data, &core) {
                patched[off..off + bytes.len()].copy_from_slice(bytes);
            }
            std::fs::write(&core_path, &patched).unwrap();
            run_pipeline(&core_path, &exe_path);
        }
    }
}
